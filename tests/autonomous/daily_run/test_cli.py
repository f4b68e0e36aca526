"""`fund accounts`, `fund rebalance` and `fund approvals` as a person or cron uses them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from autonomous.cli.app import fund
from tests.autonomous.daily_run.conftest import ACCOUNT
from trading.store.accounts import get_paper_account
from trading.store.rebalances import list_approvals, recent_runs

REPO = Path(__file__).resolve().parents[3]


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", *args], catch_exceptions=False, input=input)


def test_accounts_create_and_show_a_paper_account(engine: Engine, database_url: str) -> None:
    created = run("accounts", "create", "--account-id", "ALPHA", "--cash", "250000.50", "--fractional")
    assert created.exit_code == 0, created.output
    assert created.stdout == "created paper account ALPHA: 250,000.50 USD, fractional shares\n"
    shown = run("accounts", "show", "--account-id", "ALPHA")
    assert shown.exit_code == 0
    assert "equity 250,000.50  cash 250,000.50" in shown.stdout
    assert get_paper_account(engine, "ALPHA").fractional_shares


@pytest.mark.parametrize(
    ("cash", "message"), [("-5", "must be a finite amount >= 0"), ("lots", "is not a number"), ("NaN", ">= 0")]
)
def test_accounts_create_refuses_bad_cash(engine: Engine, database_url: str, cash: str, message: str) -> None:
    result = run("accounts", "create", "--cash", cash)
    assert result.exit_code == 2
    assert message in result.stderr


def test_accounts_create_twice_and_show_unknown_say_what_to_do(engine: Engine, database_url: str) -> None:
    assert run("accounts", "create", "--cash", "1000").exit_code == 0
    again = run("accounts", "create", "--cash", "1000")
    assert again.exit_code == 1
    assert "PAPER_AUTONOMOUS_FUND' already exists" in again.stderr
    unknown = run("accounts", "show", "--account-id", "NOPE")
    assert unknown.exit_code == 1
    assert "no paper account 'NOPE' (existing: PAPER_AUTONOMOUS_FUND)" in unknown.stderr


def test_rebalance_trades_the_paper_account_and_reports_the_outcome(
    funded: Engine, database_url: str, sessions: list[date]
) -> None:
    day = sessions[-5]
    result = run("rebalance", "--account-id", ACCOUNT, "--use-mock", "--date", str(day))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{day} {ACCOUNT} paper: completed: run 1: completed")
    again = run("rebalance", "--paper-trading", "--account-id", ACCOUNT, "--use-mock", "--date", str(day))
    assert again.exit_code == 0
    assert ": already_done: " in again.stdout
    shown = run("accounts", "show", "--account-id", ACCOUNT)
    assert f"run 1: {day} paper completed" in shown.stdout


@pytest.mark.parametrize("spelling", [["--dry-run"], ["--mode", "dry-run"]])
def test_rebalance_dry_run_spellings_plan_and_send_nothing(
    funded: Engine, database_url: str, sessions: list[date], spelling: list[str]
) -> None:
    result = run("rebalance", *spelling, "--account-id", ACCOUNT, "--use-mock", "--date", str(sessions[-5]))
    assert result.exit_code == 0, result.output
    assert "dry_run: run 1: dry run" in result.stdout
    assert [r.status for r in recent_runs(funded, ACCOUNT)] == ["dry_run"]


def test_rebalance_on_a_weekend_exits_zero_and_writes_nothing(
    funded: Engine, database_url: str, sessions: list[date]
) -> None:
    saturday = next(d for d in reversed(sessions) if d.weekday() == 4) + timedelta(days=1)
    result = run("rebalance", "--account-id", ACCOUNT, "--date", str(saturday))
    assert result.exit_code == 0
    assert "not a trading session" in result.stdout
    assert recent_runs(funded) == []


def test_rebalance_refuses_two_modes_at_once(engine: Engine, database_url: str) -> None:
    result = run("rebalance", "--dry-run", "--live")
    assert result.exit_code == 2
    assert "choose one mode, got dry-run, live" in result.stderr


def test_live_mode_refuses_to_start_unless_armed(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUND_LIVE_ARMED", raising=False)
    not_armed = run("rebalance", "--live")
    assert not_armed.exit_code == 1
    assert "live mode is not armed" in not_armed.stderr
    yes_alone = run("rebalance", "--live", "--yes")
    assert yes_alone.exit_code == 1
    assert "FUND_LIVE_ARMED=1" in yes_alone.stderr
    monkeypatch.setenv("FUND_LIVE_ARMED", "1")
    armed = run("rebalance", "--live", "--yes", "--account-id", "U123")
    assert armed.exit_code == 1
    assert "no live broker is configured for account U123" in armed.stderr


def test_approvals_list_approve_and_reject_from_the_command_line(
    funded: Engine, database_url: str, sessions: list[date], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUND_RISK__APPROVAL_MIN_CONFIDENCE", "1.0")
    assert run("approvals", "list").stdout == "no pending approvals\n"
    waiting = run("rebalance", "--account-id", ACCOUNT, "--use-mock", "--date", str(sessions[-5]))
    assert waiting.exit_code == 0
    assert ": awaiting_approval: " in waiting.stdout
    [pending] = list_approvals(funded)

    listed = run("approvals", "list")
    assert listed.stdout.split()[0:6] == [
        str(pending.id),
        "run",
        str(pending.rebalance_id),
        ACCOUNT,
        str(sessions[-5]),
        "paper",
    ]
    # The demo's sessions are years ago: their approvals expired long before this test ran.
    late = run("approvals", "approve", str(pending.id), "--by", "pm")
    assert late.exit_code == 1
    assert "expired" in late.stderr
    assert run("approvals", "reject", str(pending.id), "--reason", "x").exit_code == 1
    assert list_approvals(funded, pending_only=False)[0].decision == "expired"
    assert get_paper_account(funded, ACCOUNT).cash == Decimal("100000.0000")


def test_a_paper_run_for_a_session_the_ledger_has_passed_is_one_line_and_exit_status_one(
    funded: Engine, database_url: str, sessions: list[date]
) -> None:
    assert run("rebalance", "--account-id", ACCOUNT, "--use-mock", "--date", str(sessions[-3])).exit_code == 0

    earlier = CliRunner().invoke(
        fund, ["--log-level", "ERROR", "rebalance", "--account-id", ACCOUNT, "--use-mock", "--date", str(sessions[-5])]
    )

    assert earlier.exit_code == 1
    assert earlier.exception is None or isinstance(earlier.exception, SystemExit)
    assert "Traceback" not in earlier.output
    [line] = earlier.stdout.splitlines()
    assert line.startswith(f"{sessions[-5]} {ACCOUNT} paper: failed: failed, nothing sent: ")
    assert f"is settled through {sessions[-3]}" in line


def test_the_specifications_spellings_run_the_same_commands(
    funded: Engine, database_url: str, sessions: list[date]
) -> None:
    if funded.dialect.name != "sqlite":
        pytest.skip("a subprocess per spelling: once, on SQLite, is enough")
    day = str(sessions[-5])
    env = {**os.environ, "FUND_LOG_LEVEL": "WARNING"}

    def spelled(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    rebalance = spelled(
        "scripts/run_daily_rebalance.py", "--dry-run", "--account-id", ACCOUNT, "--use-mock", "--date", day
    )
    assert rebalance.returncode == 0, rebalance.stderr
    assert rebalance.stdout.startswith(f"{day} {ACCOUNT} dry_run: dry_run: ")
    regime = spelled("autonomous/market_regime_detector.py", "--date", day)
    assert regime.returncode == 0, regime.stderr
    assert f"on {day} (confidence" in regime.stdout
    target = spelled("autonomous/hybrid_portfolio_generator.py", "--strategy", "growth_largecap", "--date", day)
    assert target.returncode == 0, target.stderr
    assert target.stdout.startswith(f"growth_largecap on {day} ")
    # No ranker is stored: the hybrid generator says it falls back to the mock portfolio.
    assert "hybrid/mock" in target.stdout
    assert "cash" in target.stdout.splitlines()[-1]
