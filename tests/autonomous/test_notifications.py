"""The daily run's notifications as cron sends them: `fund rebalance` with `[notify]` targets posts to a real
local webhook what the run recorded (completed, failed on stale data, awaiting approval), halts opened and
lifted, an expiring Schwab token; `fund notify test` and `targets` check the set-up. A notification that
cannot be delivered changes neither what the run did nor its exit status."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from autonomous.cli.app import fund
from autonomous.daily_run.request import Outcome, RunMode, RunResult
from autonomous.notifications import run_notices
from tests.autonomous import conftest as market_fixtures
from tests.fakes.webhook_server import webhook_server
from trading.db.schema import RebalancingLog
from trading.marketdata.calendar import TradingCalendar
from trading.notify import EventKind
from trading.settings import load_settings
from trading.store.accounts import create_paper_account
from trading.store.risk_halts import open_halt, resume_halt

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

ACCOUNT = "NOTIFIED"


@pytest.fixture
def funded(market: Engine, database_url: str) -> Engine:
    create_paper_account(market, ACCOUNT, Decimal("100000"))
    return market


@pytest.fixture
def last_session(market: Engine) -> date:
    return TradingCalendar.from_database(market, "SPY").history[-1].date()


def rebalance(day: date, *extra: str) -> Result:
    args = ["--log-level", "WARNING", "rebalance", "--account-id", ACCOUNT, "--use-mock", "--date", str(day), *extra]
    return CliRunner().invoke(fund, args, catch_exceptions=False)


def targets(monkeypatch: pytest.MonkeyPatch, *urls: str, **switches: str) -> None:
    monkeypatch.setenv("FUND_NOTIFY__TARGETS", json.dumps(list(urls)))
    monkeypatch.setenv("FUND_NOTIFY__RETRY_SECONDS", "0")
    for name, value in switches.items():
        monkeypatch.setenv(f"FUND_NOTIFY__{name.upper()}", value)


def test_a_completed_run_posts_a_paragraph_of_what_it_decided_and_did(
    funded: Engine, last_session: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_server() as hook:
        targets(monkeypatch, hook.url())
        result = rebalance(last_session)
    assert result.exit_code == 0, result.output
    [message] = hook.messages
    assert message["title"] == f"Run completed: {ACCOUNT} (paper), session {last_session}"
    with funded.connect() as connection:
        run = connection.execute(select(RebalancingLog.__table__)).mappings().one()
    assert f"Regime {run['market_regime']}, strategy {run['strategy_selected']}" in message["message"]
    assert "order(s) sent" in message["message"]
    assert message["type"] == "success"


def test_a_run_stopped_by_stale_data_posts_the_failure_and_the_stale_data(
    funded: Engine, last_session: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    after = last_session + timedelta(days=1)
    while after.weekday() >= 5:
        after += timedelta(days=1)
    with webhook_server() as hook:
        targets(monkeypatch, hook.url())
        result = rebalance(after)
    assert result.exit_code == 1
    titles = [m["title"] for m in hook.messages]
    assert titles == [
        f"Run failed: {ACCOUNT} (paper), session {after}",
        f"Data stale, nothing traded: {ACCOUNT} (paper), session {after}",
    ]
    assert "DataGateFailed: data gate failed" in hook.messages[1]["message"]


def test_a_plan_awaiting_approval_posts_its_reasons_expiry_and_how_to_decide(
    funded: Engine, last_session: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUND_RISK__APPROVAL_MIN_CONFIDENCE", "1.0")  # every plan needs a person
    with webhook_server() as hook:
        targets(monkeypatch, hook.url())
        result = rebalance(last_session)
    assert result.exit_code == 0, result.output
    [message] = hook.messages
    assert message["title"].startswith("Plan awaits approval")
    assert "needs approval" in message["message"]
    assert "It expires at" in message["message"]
    assert "fund approvals approve 1 --by NAME" in message["message"]


def test_a_switched_off_event_and_an_unreachable_target_change_nothing_about_the_run(
    funded: Engine, last_session: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_server(failures=100) as broken:
        targets(monkeypatch, broken.url(), attempts="2")
        result = rebalance(last_session)
    assert result.exit_code == 0
    assert "notifications: 0 delivered, 1 not (see the log)" in result.output
    with funded.connect() as connection:
        assert connection.execute(select(func.count()).select_from(RebalancingLog)).scalar_one() == 1
    with webhook_server() as hook:
        targets(monkeypatch, hook.url(), run_completed="false")
        again = rebalance(last_session, "--force")
    assert again.exit_code == 0
    assert hook.messages == []


def test_halts_opened_or_lifted_during_the_run_and_an_expiring_token_are_reported(funded: Engine) -> None:
    settings = load_settings(None)
    started = datetime.now(UTC) - timedelta(seconds=1)
    open_halt(funded, ACCOUNT, date(2014, 6, 2), 0.2, Decimal("80000"), Decimal("100000"), "drawdown 20.0% >= 15.0%")
    result = RunResult(Outcome.REJECTED, date(2014, 6, 2), "run 1: risk rejected the target", run_id=None)
    notices = run_notices(funded, settings, ACCOUNT, RunMode.PAPER, result, started_at=started, now=datetime.now(UTC))
    assert [n.kind for n in notices] == [EventKind.HALT_OPENED]
    assert "Drawdown 20.0% from the peak 100,000.00" in notices[0].body
    assert f"fund risk resume --account-id {ACCOUNT}" in notices[0].body

    later = datetime.now(UTC)  # after the halt opened, before it is lifted
    resume_halt(funded, ACCOUNT, "ops", "reviewed", at=datetime.now(UTC))
    notices = run_notices(
        funded, settings, ACCOUNT, RunMode.PAPER, result, started_at=later, now=datetime.now(UTC), token_age_days=6.5
    )
    assert [n.kind for n in notices] == [EventKind.HALT_LIFTED, EventKind.TOKEN_EXPIRING]
    assert "Lifted by ops: reviewed." in notices[0].body
    assert "expires in 0.5 days" in notices[1].body
    fresh = run_notices(
        funded,
        settings,
        ACCOUNT,
        RunMode.PAPER,
        result,
        started_at=datetime.now(UTC),
        now=datetime.now(UTC),
        token_age_days=3.0,
    )
    assert fresh == []


def test_notify_test_and_targets_check_the_set_up_without_showing_secrets(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    assert "no notification target configured" in runner.invoke(fund, ["notify", "targets"]).output
    missing = runner.invoke(fund, ["notify", "test"])
    assert missing.exit_code == 1
    assert "no notification target configured" in missing.output
    with webhook_server() as hook, webhook_server(failures=100) as broken:
        targets(monkeypatch, hook.url("secret-path-123456"), broken.url("other-secret-654321"), attempts="1")
        shown = runner.invoke(fund, ["notify", "targets"])
        tested = runner.invoke(fund, ["notify", "test"])
    assert "secret-path-123456" not in shown.output + tested.output
    assert "other-secret-654321" not in shown.output + tested.output
    assert shown.output.count("target: json://127.0.0.1") == 2
    assert "events on: awaiting_approval, data_stale, drawdown_halt" in shown.output
    assert tested.exit_code == 1
    assert "delivered: json://127.0.0.1" in tested.output
    assert "NOT delivered: json://127.0.0.1" in tested.output
    assert [m["title"] for m in hook.messages] == ["Autofund test"]


def test_the_daily_report_says_what_the_session_did_and_why_with_a_chart_and_sends_both(
    funded: Engine, market: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runner = CliRunner()
    nothing = runner.invoke(fund, ["report", "daily", "--account-id", ACCOUNT, "--output", str(tmp_path)])
    assert nothing.exit_code == 1
    assert f"account {ACCOUNT} has no run recorded: nothing to report" in nothing.output

    days = [stamp.date() for stamp in TradingCalendar.from_database(market, "SPY").history[-3:]]
    for day in days:
        assert rebalance(day).exit_code == 0
    with webhook_server() as hook:
        targets(monkeypatch, hook.url())
        result = runner.invoke(fund, ["report", "daily", "--account-id", ACCOUNT, "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / f"daily-{ACCOUNT}-{days[-1]}.txt").read_text()
    assert text.startswith(f"Daily report {ACCOUNT} {days[-1]} (paper): completed")
    for expected in ("Regime ", "Strategy: ", "Risk: ", "Trades: ", f"Unchanged since {days[-2]}", "Drawdown from"):
        assert expected in text or expected.replace("Unchanged", "Since") in text
    assert "against SPY" in text
    chart = tmp_path / f"daily-{ACCOUNT}-{days[-1]}.png"
    assert chart.read_bytes().startswith(b"\x89PNG")
    [message] = hook.messages
    assert message["title"] == f"Daily report {ACCOUNT} {days[-1]} (paper): completed"
    [attachment] = message["attachments"]
    assert attachment["filename"] == chart.name
    assert "sent to 1 target(s)" in result.output

    earlier = runner.invoke(
        fund,
        ["report", "daily", "--account-id", ACCOUNT, "--date", str(days[0]), "--output", str(tmp_path), "--no-send"],
    )
    assert earlier.exit_code == 0
    assert "No earlier run to compare with." in earlier.output
    missing = runner.invoke(fund, ["report", "daily", "--account-id", ACCOUNT, "--date", "2013-01-02"])
    assert missing.exit_code == 1
    assert f"has no run on 2013-01-02; its latest run is on {days[-1]}" in missing.output
