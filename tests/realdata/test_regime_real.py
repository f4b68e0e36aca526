"""The regime detector on 1999-2021 S&P 500 data agrees with what everyone remembers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autonomous.regime import detect_regimes
from tests.realdata.wide import real_market
from trading.settings import RegimeSettings

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def regimes(real_data_dir: Path) -> pd.DataFrame:
    market = real_market(real_data_dir)
    return detect_regimes(
        market.benchmark,
        market.stocks["adj_close"],
        sectors=market.sectors,
        settings=RegimeSettings(),
        volatility_index=market.volatility_index,
    ).frame


@pytest.mark.parametrize("month", ["2008-10", "2020-03"])
def test_the_crashes_of_october_2008_and_march_2020_are_bear_markets_with_high_or_extreme_volatility(
    regimes: pd.DataFrame, month: str
) -> None:
    days = regimes.loc[month]
    assert (days["trend_regime"] == "bear").mean() >= 0.8, days["trend_regime"].value_counts()
    assert days["volatility_regime"].isin(["high", "extreme"]).all(), days["volatility_regime"].value_counts()


@pytest.mark.parametrize("year", ["2013", "2017"])
def test_the_calm_rallies_of_2013_and_2017_are_bull_markets_with_low_volatility(
    regimes: pd.DataFrame, year: str
) -> None:
    days = regimes.loc[year]
    assert (days["trend_regime"] == "bull").mean() >= 0.95, days["trend_regime"].value_counts()
    assert (days["volatility_regime"] == "low").mean() >= 0.9, days["volatility_regime"].value_counts()
    assert days["regime_confidence"].mean() > 0.6


def test_sector_momentum_names_the_real_gics_sectors(regimes: pd.DataFrame) -> None:
    sectors = regimes.loc[pd.Timestamp("2021-04-21"), "sector_momentum"]
    assert {"Information Technology", "Energy", "Utilities"} <= set(sectors)
