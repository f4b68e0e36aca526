"""The daily run against a Schwab account in live mode: the real `fund` command and the real schwab-py,
with Schwab played by a local HTTP server the test starts (tests/fakes/schwab_api.py), reached through the
`schwab_api_url` setting. A run sends its plan once, the next records the fills, a dry run sends
nothing, paper mode is refused, and a run killed with SIGKILL after any step is finished by the next one
with every order placed exactly once (Schwab has no client order ids: the intents find them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from autonomous.cli.app import fund
from autonomous.daily_run.run import RunMode, Step
from tests.autonomous.daily_run.kills import kill_run_after
from tests.fakes.schwab_api import FakeSchwab
from tests.fakes.schwab_tokens import write_token
from trading.db.schema import TradeExecution
from trading.store.broker_accounts import link_broker_account

SCHWAB_ACCOUNT = "SCHWAB_LIVE"


@pytest.fixture
def schwab(market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeSchwab]:
    """A Schwab account holding 100,000 in cash, linked to SCHWAB_LIVE, with a fresh token; live mode armed."""
    fake = FakeSchwab(cash="100000")
    url = fake.serve()
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_API_KEY", "app-key")
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_APP_SECRET", "app-secret")
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_API_URL", url)
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_TOKEN_PATH", str(write_token(tmp_path / "token.json", fake)))
    monkeypatch.setenv("FUND_BROKERS__TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("FUND_LIVE_ARMED", "1")
    link_broker_account(market, SCHWAB_ACCOUNT, "schwab", fake.account_number)
    yield fake
    fake.stop()


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", *args], catch_exceptions=False)


def rebalance(day: date, *extra: str) -> Result:
    return run("rebalance", "--account-id", SCHWAB_ACCOUNT, "--use-mock", "--date", str(day), *extra)


def fund_orders(engine: Engine) -> dict[str, tuple[str, str | None]]:
    query = select(TradeExecution.client_order_id, TradeExecution.status, TradeExecution.order_id).where(
        TradeExecution.account_id == SCHWAB_ACCOUNT
    )
    with engine.connect() as connection:
        return {cid: (status, order_id) for cid, status, order_id in connection.execute(query)}


def placed(fake: FakeSchwab) -> Counter[tuple[str, str]]:
    """Orders at Schwab per (ticker, instruction): the fund sends at most one of each a session."""
    return Counter(
        (o["orderLegCollection"][0]["instrument"]["symbol"], o["orderLegCollection"][0]["instruction"])
        for o in fake.orders_placed()
    )


def test_a_live_run_on_a_schwab_account_places_its_plan_once_and_the_next_records_the_fills(
    market: Engine, schwab: FakeSchwab, sessions: list[date]
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    first = rebalance(day, "--live", "--yes")
    assert first.exit_code == 0, first.output
    sent = fund_orders(market)
    assert sent
    assert {status for status, _ in sent.values()} == {"submitted"}
    assert sorted(order_id for _, order_id in sent.values()) == sorted(
        str(o["orderId"]) for o in schwab.orders_placed()
    )
    assert set(placed(schwab).values()) == {1}
    assert all(o["orderType"] == "MARKET" and o["duration"] == "DAY" for o in schwab.orders_placed())

    schwab.fill_all_open(price="50")
    second = rebalance(next_day, "--live", "--yes")
    assert second.exit_code == 0, second.output
    assert {fund_orders(market)[cid][0] for cid in sent} == {"filled"}


def test_paper_mode_on_a_schwab_account_is_refused_and_a_dry_run_sends_nothing(
    market: Engine, schwab: FakeSchwab, sessions: list[date]
) -> None:
    paper = rebalance(sessions[-5], "--mode", "paper")
    assert paper.exit_code == 1
    assert "Schwab, which has no paper environment" in paper.output
    dry = rebalance(sessions[-5], "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert ": dry_run: " in dry.stdout
    assert schwab.order_posts == 0
    assert fund_orders(market) == {}


def test_an_expired_token_stops_the_run_with_how_to_log_in(
    market: Engine, schwab: FakeSchwab, sessions: list[date], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = write_token(tmp_path / "old.json", schwab, age_days=7.5)
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_TOKEN_PATH", str(old))
    result = rebalance(sessions[-5], "--live", "--yes")
    assert result.exit_code == 1
    assert "refresh token has expired" in result.output
    assert "fund broker login schwab" in result.output
    assert schwab.order_posts == 0


@pytest.mark.parametrize("step", list(Step), ids=lambda s: s.value)
def test_a_live_run_killed_after_any_step_is_finished_by_the_next_and_schwab_gets_each_order_once(
    market: Engine, schwab: FakeSchwab, sessions: list[date], database_url: str, step: Step
) -> None:
    if market.dialect.name == "postgresql" and step is not Step.SUBMIT_ORDER:
        pytest.skip("each step is killed on SQLite; on PostgreSQL the window between Schwab's answer and the record")
    day, next_day = sessions[-5], sessions[-4]
    kill_run_after(step, SCHWAB_ACCOUNT, day, RunMode.LIVE)
    if step is Step.SUBMIT_ORDER:
        # The dangerous window: Schwab has the first order, the fund has not recorded it.
        assert len(schwab.orders_placed()) == 1
        assert {status for status, _ in fund_orders(market).values()} == {"planned"}

    resumed = rebalance(day, "--live", "--yes")
    assert resumed.exit_code == 0, resumed.output

    planned = fund_orders(market)
    assert set(placed(schwab).values()) == {1}, "no order reached Schwab twice"
    assert sorted(order_id or "" for _, order_id in planned.values()) == sorted(
        str(o["orderId"]) for o in schwab.orders_placed()
    )
    schwab.fill_all_open(price="50")
    assert rebalance(next_day, "--live", "--yes").exit_code == 0
    assert {fund_orders(market)[cid][0] for cid in planned} == {"filled"}
