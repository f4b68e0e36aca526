from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, Engine, delete, update
from sqlalchemy.schema import AddConstraint

from tests.factories import market_file, weekdays, write_text
from trading.db.schema import PriceBar
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.quality import check_data_gate, data_status
from trading.marketdata.reference_import import import_securities
from trading.settings import DataSettings

DAYS = weekdays(date(2024, 1, 2), 30)  # includes 2024-01-15 (MLK day) as a "weekday": fine for history
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


def test_the_gate_fails_without_the_benchmarks_bar(market: Engine) -> None:
    _delete(market, ["SPY"], DAYS[20])
    result = check_data_gate(market, DAYS[20], SETTINGS)
    assert not result.passed
    assert "not a trading session" in result.reasons[0]  # the benchmark's bars define history sessions


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
    result = check_data_gate(market, date(2024, 2, 14), SETTINGS)
    assert result.reasons == [f"stale data: the benchmark SPY's last bar is {DAYS[-1]}, 2 session(s) before 2024-02-14"]


def test_the_gate_fails_on_a_weekend_and_on_an_empty_database(market: Engine, engine: Engine) -> None:
    assert check_data_gate(market, date(2024, 1, 6), SETTINGS).reasons == ["2024-01-06 is not a trading session (XNYS)"]
    with engine.begin() as connection:
        connection.execute(delete(PriceBar))
    assert check_data_gate(engine, DAYS[3], SETTINGS).reasons == ["no bars for the benchmark SPY: import data first"]
