from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, update

from tests.factories import BAR_HEADER, market_file, sessions, write_text
from trading.db.schema import PriceBar
from trading.marketdata import view
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.view import LongHistory, load_panel

DAYS = sessions(date(2024, 1, 2), 40)
TICKERS = ["AAA", "BBB", "CCC"]


@pytest.fixture
def market(engine: Engine, tmp_path: Path) -> Engine:
    import_bar_files(engine, [market_file(tmp_path / "bars.csv", TICKERS, DAYS)])
    return engine


def test_frames_are_dates_by_tickers_up_to_and_including_the_date(market: Engine) -> None:
    panel = load_panel(market, DAYS[19])
    assert list(panel.tickers) == TICKERS
    assert panel.dates[-1] == pd.Timestamp(DAYS[19])
    assert len(panel.dates) == 20
    assert panel.adj_close.loc[pd.Timestamp(DAYS[19]), "BBB"] == 100 + 19 + 1
    assert set(panel.frames) == {"adj_close", "close", "open", "volume", "dividend"}
    assert all(frame.dtypes.eq(np.float64).all() for frame in panel.frames.values())


def test_changing_every_bar_after_the_date_changes_nothing_in_the_view(market: Engine) -> None:
    as_of = DAYS[24]
    before = load_panel(market, as_of, fields=("adj_close", "close", "open", "volume", "dividend", "split_coef"))
    with market.begin() as connection:
        connection.execute(
            update(PriceBar)
            .where(PriceBar.date > as_of)
            .values(
                adj_close=PriceBar.adj_close * 3,
                close=PriceBar.close * 3,
                open=PriceBar.open * 3,
                volume=PriceBar.volume + 7,
                dividend=1,
                split_coef=2,
            )
        )
    after = load_panel(market, as_of, fields=("adj_close", "close", "open", "volume", "dividend", "split_coef"))
    for name, frame in before.frames.items():
        pd.testing.assert_frame_equal(frame, after.frames[name])
    assert load_panel(market, DAYS[-1]).adj_close.iloc[-1, 0] != before.adj_close.iloc[-1, 0]


def test_start_and_ticker_filters_narrow_the_frames(market: Engine) -> None:
    panel = load_panel(market, DAYS[30], start=DAYS[10], tickers=["CCC", "AAA"], fields=("close",))
    assert list(panel.tickers) == ["AAA", "CCC"]
    assert panel.dates[0] == pd.Timestamp(DAYS[10])
    assert len(panel.dates) == 21


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_a_long_read_split_into_parallel_parts_holds_every_bar_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    # Three years: on PostgreSQL a read this long is split by date into parts read on their own connections.
    days = sessions(date(2020, 1, 2), 780)
    import_bar_files(engine, [market_file(tmp_path / "long.csv", TICKERS, days)])
    monkeypatch.setattr(view, "PARALLEL_READS", parts)
    start = days[100]
    panel = load_panel(
        engine, days[-1], start=start, fields=("adj_close", "close"), long_history=LongHistory(("BBB",), days[40])
    )
    assert list(panel.dates) == [pd.Timestamp(d) for d in days[40:]]
    expected = np.array([[100.0 + i + j for j in range(len(TICKERS))] for i in range(40, len(days))])
    expected[: 100 - 40, [0, 2]] = np.nan  # before `start`, only the long history's ticker
    np.testing.assert_array_equal(panel.adj_close.to_numpy(), expected)
    assert list(panel.adj_close.columns) == TICKERS


def test_missing_values_are_nan_not_errors(engine: Engine, tmp_path: Path) -> None:
    write_text(
        tmp_path / "mixed.csv",
        f"""{BAR_HEADER}
        2024-01-02,AAA,10,11,9,10,10,100,0,1
        2024-01-02,GLD,,,,,190,,0,1
        2024-01-03,GLD,,,,,191,,0,1""",
    )
    import_bar_files(engine, [tmp_path / "mixed.csv"])
    panel = load_panel(engine, date(2024, 1, 3))
    assert np.isnan(panel["close"].loc[pd.Timestamp("2024-01-02"), "GLD"])
    assert np.isnan(panel.adj_close.loc[pd.Timestamp("2024-01-03"), "AAA"])
    assert panel.adj_close.loc[pd.Timestamp("2024-01-03"), "GLD"] == 191


def test_unknown_fields_and_reversed_ranges_are_errors(market: Engine) -> None:
    with pytest.raises(ValueError, match="unknown bar field"):
        load_panel(market, DAYS[5], fields=("vwap",))
    with pytest.raises(ValueError, match="is after as_of"):
        load_panel(market, DAYS[5], start=DAYS[6])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=len(DAYS) - 1))
def test_no_frame_ever_holds_a_date_after_as_of(market: Engine, cut: int) -> None:
    panel = load_panel(market, DAYS[cut])
    assert panel.dates.max() == pd.Timestamp(DAYS[cut])
    assert len(panel.dates) == cut + 1
