"""`fund data update` as cron runs it: a fresh database filled from the fake Alpaca data API, then the data gate."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

import trading.marketdata.providers.alpaca
from autonomous.cli.app import fund
from tests.fakes.alpaca_server import FakeAlpaca
from trading.db.schema import PriceBar
from trading.marketdata.calendar import TradingCalendar, exchange_today
from trading.marketdata.update import last_completed_session

# Sessions whose close has passed whenever the test runs: the last 30 before today in New York.
DAYS = [day.date() for day in TradingCalendar(pd.DatetimeIndex([])).sessions_before(exchange_today(), 30)]


@pytest.fixture
def alpaca(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as fake:
        monkeypatch.setenv("FUND_BROKERS__ALPACA_API_KEY", "test-key")
        monkeypatch.setenv("FUND_BROKERS__ALPACA_SECRET_KEY", "test-secret")
        monkeypatch.setenv("FUND_BROKERS__ALPACA_DATA_URL", fake.url)
        yield fake


@pytest.fixture
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The provider waits between retries through the `time` module it imported; replace only that reference."""
    waits: list[float] = []
    monkeypatch.setattr(trading.marketdata.providers.alpaca, "time", types.SimpleNamespace(sleep=waits.append))
    return waits


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", "data", *args], catch_exceptions=False)


def rows(base: float, **changes: Any) -> list[dict[str, Any]]:
    bars = [
        {"date": day, "open": base + n, "high": base + n + 1, "low": base + n - 1, "close": base + n, "volume": 500}
        for n, day in enumerate(DAYS)
    ]
    return [bar | changes.get(str(bar["date"]), {}) for bar in bars]


def serve_market(fake: FakeAlpaca) -> None:
    for number, ticker in enumerate(("SPY", "GLD", "AAA", "BBB", "CCC")):
        fake.add_bars(ticker, rows(50.0 + 10 * number))


def bar_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(PriceBar)).scalar_one())


def test_update_fills_a_fresh_database_and_the_data_gate_passes_then_a_second_run_changes_nothing(
    engine: Engine, alpaca: FakeAlpaca, tmp_path: Path
) -> None:
    securities = tmp_path / "securities.csv"
    securities.write_text("ticker,name,sector,asset_type\nAAA,A Inc,Tech,stock\nBBB,B Inc,Energy,stock\n")
    assert run("import-securities", str(securities)).exit_code == 0
    serve_market(alpaca)
    bad_day = str(DAYS[10])
    alpaca.add_bars("BBB", [bar | {"high": 1.0} for bar in rows(70.0) if str(bar["date"]) == bad_day])

    first = run("update")
    gate = run("check", "--date", str(DAYS[-1]))
    stored = bar_count(engine)
    second = run("update", "--provider", "alpaca")

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        f"alpaca: 4 ticker(s) updated through {last_completed_session(datetime.now(UTC))}, the last completed session: "
        f"{4 * len(DAYS) - 1} bars inserted, 0 updated, 0 unchanged, 1 rejected (bars from {DAYS[0]} to {DAYS[-1]})",
        "^VIX: not available from alpaca (not a stock symbol)",
    ]
    assert f"BBB {bad_day}: high < low" in first.stderr
    assert gate.exit_code == 0, gate.output
    assert f"data gate passed for {DAYS[-1]}" in gate.stdout
    assert stored == 4 * len(DAYS) - 1
    assert second.exit_code == 0, second.output
    assert bar_count(engine) == stored
    # After today's close the last completed session is today, which the fake has no bars for.
    assert second.stdout.startswith(("alpaca: nothing to fetch: 4 ticker(s)", "alpaca: no new bars for 4 ticker(s)"))


def test_only_the_named_tickers_are_fetched_and_a_refetch_since_a_day_changes_nothing(
    engine: Engine, alpaca: FakeAlpaca
) -> None:
    serve_market(alpaca)
    assert run("update", "--tickers", "SPY, CCC").exit_code == 0

    again = run("update", "--tickers", "SPY,CCC", "--since", str(DAYS[20]))

    assert again.exit_code == 0, again.output
    assert "0 bars inserted, 0 updated, 20 unchanged, 0 rejected" in again.stdout
    assert bar_count(engine) == 2 * len(DAYS)


def test_missing_keys_exit_1_naming_the_settings_to_set(
    engine: Engine, alpaca: FakeAlpaca, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUND_BROKERS__ALPACA_SECRET_KEY")

    result = run("update")

    assert result.exit_code == 1
    assert "FUND_BROKERS__ALPACA_API_KEY and FUND_BROKERS__ALPACA_SECRET_KEY" in result.stderr
    assert alpaca.request_log == []


def test_a_server_error_on_every_bars_call_exits_1_and_writes_nothing(
    engine: Engine, alpaca: FakeAlpaca, no_retry_wait: list[float]
) -> None:
    serve_market(alpaca)
    alpaca.fail_next("GET", "/v2/stocks/bars", 500, count=100)

    result = run("update")

    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: Alpaca daily bars for 2 symbol(s) (GLD, SPY)")
    assert "HTTP 500" in line
    assert line.endswith("nothing was written")
    assert len(no_retry_wait) == 3
    assert bar_count(engine) == 0
    assert "test-secret" not in result.output


def test_schwab_as_a_provider_is_refused_with_the_reason_and_what_to_use(engine: Engine, database_url: str) -> None:
    result = CliRunner().invoke(fund, ["data", "update", "--provider", "schwab"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "Schwab's price history carries no dividends or splits" in result.output
    assert "--provider alpaca" in result.output
