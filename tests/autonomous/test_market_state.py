"""The market state a decision at t reads from the database: nothing after t may change it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, update

from autonomous.market_state import regime_on, regimes_between
from autonomous.marketview.database import market_state_on
from autonomous.regime import detect_regimes
from trading.db.schema import PriceBar
from trading.errors import DataError
from trading.marketdata.decision_view import load_decision_market
from trading.marketdata.reference_import import import_fundamentals
from trading.settings import FundSettings, load_settings

DAY = date(2014, 6, 2)


def _universes(engine: Engine, settings: FundSettings) -> dict[str, tuple[tuple[str, ...], list[float]]]:
    state = market_state_on(engine, settings, DAY)
    return {name: (u.tickers, [round(float(s), 12) for s in u.scores]) for name, u in state.universes.items()}


def test_universes_and_regime_at_a_date_ignore_every_later_bar_and_fundamentals_snapshot(
    market: Engine, tmp_path: Path
) -> None:
    settings = FundSettings()
    universes_before = _universes(market, settings)
    regime_before = regime_on(market, settings, DAY)
    assert any(tickers for tickers, _ in universes_before.values()), "the test must compare real universes"

    with market.begin() as connection:
        connection.execute(
            update(PriceBar)
            .where(PriceBar.date > DAY)
            .values(adj_close=PriceBar.adj_close * 3, close=PriceBar.close * 3, volume=PriceBar.volume * 7)
        )
    later = tmp_path / "later.csv"
    pd.DataFrame(
        {"ticker": ["DSCA", "TECA"], "market_cap": [1e15, 1.0], "price_to_book": [0.01, 900.0], "pe_ratio": [1.0, 500]}
    ).to_csv(later, index=False)
    import_fundamentals(market, later, date(2014, 6, 3), strict=True)

    assert _universes(market, settings) == universes_before
    assert regime_on(market, settings, DAY) == regime_before


def test_the_history_window_of_one_date_gives_the_same_regime_as_a_long_backfill(market: Engine) -> None:
    settings = FundSettings()
    long_run = regimes_between(market, settings, date(2013, 1, 1), date(2014, 12, 31)).frame
    single = regime_on(market, settings, DAY)
    row = long_run.loc[pd.Timestamp(DAY)]
    assert single.label == row["regime_label"]
    assert single.confidence == pytest.approx(row["regime_confidence"])
    assert single.realized_volatility_20d == pytest.approx(row["realized_volatility_20d"])


def test_regimes_read_through_their_windows_equal_regimes_computed_over_all_history(market: Engine) -> None:
    # The daily run reads the stocks for about a year and the benchmark for the volatility window;
    # every column must come out as if the whole history had been read.
    settings = load_settings(None)
    everything = load_decision_market(market, date(2014, 12, 31), start=date(2000, 1, 1), data=settings.data)
    reference = detect_regimes(
        everything.benchmark,
        everything.stock_prices,
        sectors=everything.sectors,
        settings=settings.regime,
        volatility_index=everything.volatility_index,
    ).frame
    windowed = regimes_between(market, settings, date(2014, 3, 3), date(2014, 4, 30)).frame
    assert len(windowed) > 30
    expected = reference.loc[windowed.index]
    numeric = [
        c for c in expected.columns if c not in ("sector_momentum", "volatility_regime", "trend_regime", "regime_label")
    ]
    pd.testing.assert_frame_equal(windowed[numeric], expected[numeric], check_exact=False, rtol=1e-12, atol=1e-12)
    for column in ("sector_momentum", "volatility_regime", "trend_regime", "regime_label"):
        assert windowed[column].tolist() == expected[column].tolist(), column


def test_a_date_without_bars_is_a_data_error_naming_it(market: Engine) -> None:
    with pytest.raises(DataError, match="no bars on 2014-06-01"):
        market_state_on(market, FundSettings(), date(2014, 6, 1))
