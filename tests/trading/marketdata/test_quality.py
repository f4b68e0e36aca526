from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import CheckConstraint, Engine, delete, insert, update
from sqlalchemy.schema import AddConstraint

from tests.factories import market_file, sessions, write_text
from trading.db.schema import PriceBar
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.quality import check_data_gate, data_status, gate_verdict, universe_lookback_start
from trading.marketdata.reference_import import import_securities
from trading.settings import DataSettings

DAYS = sessions(date(2024, 1, 2), 30)  # XNYS sessions 2024-01-02 .. 2024-02-13
STOCKS = [f"S{i:02d}" for i in range(20)]
SETTINGS = DataSettings()


@pytest.fixture
def market(engine: Engine, tmp_path: Path) -> Engine:
    import_bar_files(engine, [market_file(tmp_path / "bars.csv", ["SPY", "GLD", *STOCKS], DAYS)])
    import_securities(engine, write_text(tmp_path / "s.csv", "ticker,asset_type\nSPY,etf\nGLD,etf"))
    return engine


def _delete(engine: Engine, tickers: list[str], day: date) -> None:
    with engine.begin() as connection:
        connection.execute(delete(PriceBar).where(PriceBar.ticker.in_(tickers), PriceBar.date == day))


def test_status_counts_rows_and_the_sessions_missing_inside_each_span(market: Engine) -> None:
    _delete(market, ["S03"], DAYS[10])
    _delete(market, ["S04"], DAYS[-1])  # a ticker that ends early has no gap for it
    status = data_status(market, "SPY").per_ticker.set_index("ticker")
    assert status.loc["S03", "gaps"] == 1
    assert status.loc["S04", "gaps"] == 0
    assert status.loc["S04", "last_date"] == DAYS[-2]
    assert status.loc["SPY", "rows"] == 30
    assert data_status(market, "SPY").total_rows == 22 * 30 - 2
    assert not data_status(market, "SPY").is_synthetic


def test_the_gate_passes_a_complete_session(market: Engine) -> None:
    result = check_data_gate(market, DAYS[-1], SETTINGS)
    assert result.passed, result.reasons
    assert (result.universe_size, result.covered) == (20, 20)


def test_status_counts_gaps_against_exchange_sessions_even_where_the_benchmark_has_none(market: Engine) -> None:
    _delete(market, ["SPY", "S03"], DAYS[10])
    status = data_status(market, "SPY").per_ticker.set_index("ticker")
    assert (status.loc["S03", "gaps"], status.loc["SPY", "gaps"], status.loc["S04", "gaps"]) == (1, 1, 0)


def test_status_does_not_count_a_bar_on_a_holiday_as_filling_a_gap(market: Engine) -> None:
    # Planted directly: the import refuses bars on days the exchange is closed.
    _delete(market, ["S03"], DAYS[10])
    with market.begin() as connection:
        connection.execute(insert(PriceBar).values(ticker="S03", date=date(2024, 1, 15), adj_close=5))
    status = data_status(market, "SPY").per_ticker.set_index("ticker")
    assert (status.loc["S03", "rows"], status.loc["S03", "gaps"]) == (30, 1)


def test_the_gate_names_a_missing_benchmark_bar_inside_the_history(market: Engine) -> None:
    _delete(market, ["SPY"], DAYS[20])
    result = check_data_gate(market, DAYS[20], SETTINGS)
    assert result.reasons == [f"no SPY bar on {DAYS[20]}, a XNYS session"]
    assert (result.universe_size, result.covered) == (20, 20)


def test_a_holiday_inside_the_history_is_still_not_a_trading_session(market: Engine) -> None:
    assert check_data_gate(market, date(2024, 1, 15), SETTINGS).reasons == [
        "2024-01-15 is not a trading session (XNYS)"
    ]


def test_the_gate_names_a_session_before_the_benchmarks_first_bar(market: Engine) -> None:
    assert check_data_gate(market, date(2023, 12, 29), SETTINGS).reasons[0] == (
        "no SPY bar on 2023-12-29, a XNYS session: its bars start on 2024-01-02"
    )


def test_the_gate_fails_when_coverage_is_below_the_threshold(market: Engine) -> None:
    _delete(market, STOCKS[:3], DAYS[20])
    result = check_data_gate(market, DAYS[20], SETTINGS)
    assert result.reasons == [
        f"coverage 85.0% of the active universe on {DAYS[20]} is below 90% (3 of 20 missing, e.g. S00, S01, S02)"
    ]
    assert check_data_gate(market, DAYS[20], DataSettings(gate_min_coverage=0.85)).passed


def test_a_ticker_gone_for_longer_than_the_lookback_leaves_the_universe(market: Engine) -> None:
    with market.begin() as connection:
        connection.execute(delete(PriceBar).where(PriceBar.ticker == "S05", PriceBar.date >= DAYS[5]))
    result = check_data_gate(market, DAYS[-1], DataSettings(gate_universe_lookback_sessions=10))
    assert result.passed
    assert result.universe_size == 19


def _constraint(name: str) -> CheckConstraint:
    return next(c for c in PriceBar.__table__.constraints if isinstance(c, CheckConstraint) and c.name == name)


def test_the_gate_fails_on_non_positive_prices(market: Engine) -> None:
    # The import and the schema refuse such rows; the gate checks anyway, as the last line before
    # trading. To plant one, the check is lifted, and put back afterwards (the PostgreSQL database
    # is shared by the session's tests).
    planted = update(PriceBar).where(PriceBar.ticker == "S07", PriceBar.date == DAYS[-1])
    with market.begin() as connection:
        if market.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        else:
            connection.exec_driver_sql("ALTER TABLE price_bars DROP CONSTRAINT ck_price_bars_ohlc_positive")
        connection.execute(planted.values(close=-1))
    try:
        result = check_data_gate(market, DAYS[-1], SETTINGS)
    finally:
        with market.begin() as connection:
            connection.execute(planted.values(close=PriceBar.adj_close))
            if market.dialect.name == "postgresql":
                connection.execute(AddConstraint(_constraint("ck_price_bars_ohlc_positive")))
    assert result.reasons == [f"non-positive prices on {DAYS[-1]}: S07"]
    assert check_data_gate(market, DAYS[-1], SETTINGS).passed


def test_the_gate_fails_on_a_date_after_the_data(market: Engine) -> None:
    # 2024-02-14, 15, 16 and 20: Presidents' Day (02-19) is not a session.
    result = check_data_gate(market, date(2024, 2, 20), SETTINGS)
    assert result.reasons == [f"stale data: the benchmark SPY's last bar is {DAYS[-1]}, 4 session(s) before 2024-02-20"]


def test_the_gate_fails_on_a_weekend_and_on_an_empty_database(market: Engine, engine: Engine) -> None:
    assert check_data_gate(market, date(2024, 1, 6), SETTINGS).reasons == ["2024-01-06 is not a trading session (XNYS)"]
    with engine.begin() as connection:
        connection.execute(delete(PriceBar))
    assert check_data_gate(engine, DAYS[3], SETTINGS).reasons == ["no bars for the benchmark SPY: import data first"]


def _bars(tickers: list[str], price: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame({"adj_close": price, "close": price}, index=pd.Index(tickers, name="ticker"))


HISTORY = TradingCalendar(pd.DatetimeIndex(pd.to_datetime(DAYS), name="date"))


def test_the_gate_verdict_is_a_pure_function_of_its_inputs() -> None:
    universe = ["SPY", "GLD", *STOCKS]  # the special tickers are left out of the universe by the verdict
    passed = gate_verdict(DAYS[-1], HISTORY, _bars(["SPY", *STOCKS]), universe, SETTINGS)
    assert (passed.passed, passed.universe_size, passed.covered, passed.coverage) == (True, 20, 20, 1.0)

    short = gate_verdict(DAYS[-1], HISTORY, _bars(STOCKS[:17]), universe, SETTINGS)
    assert short.reasons == [
        f"no SPY bar on {DAYS[-1]}, a XNYS session",
        f"coverage 85.0% of the active universe on {DAYS[-1]} is below 90% (3 of 20 missing, e.g. S17, S18, S19)",
    ]
    assert short.missing == ["S17", "S18", "S19"]

    negative = gate_verdict(DAYS[-1], HISTORY, _bars(["SPY", *STOCKS], price=-1), universe, SETTINGS)
    assert negative.reasons[0].startswith(f"non-positive prices on {DAYS[-1]}: SPY, S00, S01")


def test_the_gate_verdict_refuses_a_holiday_an_empty_history_and_an_empty_universe() -> None:
    nothing = _bars([])
    assert gate_verdict(date(2024, 1, 15), HISTORY, nothing, [], SETTINGS).reasons == [
        "2024-01-15 is not a trading session (XNYS)"
    ]
    empty = TradingCalendar(pd.DatetimeIndex([]))
    assert gate_verdict(DAYS[3], empty, nothing, [], SETTINGS).reasons == [
        "no bars for the benchmark SPY: import data first"
    ]
    assert gate_verdict(DAYS[3], HISTORY, _bars(["SPY"]), [], SETTINGS).reasons == [
        f"no active universe: no stock has a bar in the 20 sessions before {DAYS[3]}"
    ]


def test_the_universe_lookback_counts_exchange_sessions_not_benchmark_bars() -> None:
    gappy = TradingCalendar(pd.DatetimeIndex(pd.to_datetime([d for d in DAYS if d != DAYS[25]]), name="date"))
    settings = DataSettings(gate_universe_lookback_sessions=5)
    assert universe_lookback_start(gappy, DAYS[-1], settings) == DAYS[-6]
