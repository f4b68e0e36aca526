from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from autonomous.cli.app import fund
from autonomous.cli.risk import risk
from trading.store.accounts import DEFAULT_ACCOUNT_ID as DEFAULT_ACCOUNT
from trading.store.risk_halts import active_halt, open_halt, resume_halt


@pytest.fixture(autouse=True)
def risk_commands() -> None:
    # Until the root group registers `risk` itself.
    if "risk" not in fund.commands:
        fund.add_command(risk)


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, list(args), catch_exceptions=False)


def halt(engine: Engine, account: str = DEFAULT_ACCOUNT, day: date = date(2024, 3, 1)) -> None:
    open_halt(engine, account, day, 0.16, Decimal("84000"), Decimal("100000"), "drawdown 16.0% above the 15.0% limit")


def test_status_says_so_when_the_account_is_not_halted(engine: Engine, database_url: str) -> None:
    result = run("risk", "status")
    assert result.exit_code == 0
    assert result.stdout == "account PAPER_AUTONOMOUS_FUND: no active halt\n"


def test_status_shows_the_active_halt_and_how_to_lift_it(engine: Engine, database_url: str) -> None:
    halt(engine)
    result = run("risk", "status")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "account PAPER_AUTONOMOUS_FUND: HALTED since 2024-03-01, reduce-only; drawdown 16.00% "
        "(equity 84,000.00 vs peak 100,000.00): drawdown 16.0% above the 15.0% limit",
        "  lift it with: fund risk resume --account-id PAPER_AUTONOMOUS_FUND --by NAME --reason TEXT",
    ]


def test_resume_lifts_the_halt_and_status_then_lists_it_as_history(engine: Engine, database_url: str) -> None:
    halt(engine)
    resumed = run("risk", "resume", "--by", "alice", "--reason", "reviewed the losses")
    assert resumed.exit_code == 0
    assert resumed.stdout.startswith("account PAPER_AUTONOMOUS_FUND: lifted the halt of 2024-03-01 (drawdown 16.00%")
    assert "by alice (manual): reviewed the losses; the next run may take new risk" in resumed.stdout
    assert active_halt(engine, DEFAULT_ACCOUNT) is None

    status = run("risk", "status").stdout.splitlines()
    assert status[:2] == ["account PAPER_AUTONOMOUS_FUND: no active halt", "recent halts:"]
    assert status[2].startswith("  2024-03-01: drawdown 16.00%")
    assert status[2].endswith("by alice (manual): reviewed the losses")


def test_the_account_option_chooses_which_account(engine: Engine, database_url: str) -> None:
    halt(engine, "live-1")
    assert run("risk", "status").stdout == "account PAPER_AUTONOMOUS_FUND: no active halt\n"
    assert "account live-1: HALTED since 2024-03-01" in run("risk", "status", "--account", "live-1").stdout
    assert run("risk", "resume", "--account", "live-1", "--by", "bob", "--reason", "ok").exit_code == 0
    assert active_halt(engine, "live-1") is None


def test_status_lists_the_requested_number_of_lifted_halts_besides_the_active_one(
    engine: Engine, database_url: str
) -> None:
    for day in (date(2024, 1, 2), date(2024, 2, 1), date(2024, 3, 1)):
        halt(engine, day=day)
        resume_halt(engine, DEFAULT_ACCOUNT, "alice", "ok", at=datetime.combine(day, datetime.min.time(), UTC))
    lines = run("risk", "status", "--history", "2").stdout.splitlines()
    assert [line[:12] for line in lines[2:]] == ["  2024-03-01", "  2024-02-01"]
    halt(engine, day=date(2024, 4, 1))
    lines = run("risk", "status", "--history", "2").stdout.splitlines()
    assert lines[0].startswith("account PAPER_AUTONOMOUS_FUND: HALTED since 2024-04-01")
    assert [line[:12] for line in lines[3:]] == ["  2024-03-01", "  2024-02-01"]


def test_resume_without_an_active_halt_fails_cleanly(engine: Engine, database_url: str) -> None:
    result = run("risk", "resume", "--by", "alice", "--reason", "ok")
    assert result.exit_code == 1
    assert result.stderr == "Error: account 'PAPER_AUTONOMOUS_FUND' has no active risk halt to resume\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--reason", "ok"), "Missing option '--by'"),
        (("--by", "alice"), "Missing option '--reason'"),
        (("--by", " ", "--reason", "ok"), "Invalid value for '--by': must not be empty"),
    ],
)
def test_resume_needs_a_name_and_a_reason(
    engine: Engine, database_url: str, args: tuple[str, ...], message: str
) -> None:
    halt(engine)
    result = run("risk", "resume", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert active_halt(engine, DEFAULT_ACCOUNT) is not None


def test_risk_commands_refuse_an_unmigrated_database(blank_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUND_DATABASE_URL", blank_engine.url.render_as_string(hide_password=False))
    result = run("risk", "status")
    assert result.exit_code == 1
    assert "run `fund db upgrade` first" in result.stderr
