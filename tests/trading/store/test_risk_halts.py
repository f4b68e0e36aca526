from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trading.db.engine import make_session_factory
from trading.db.schema import RiskHalt
from trading.errors import FundError
from trading.store.risk_halts import HaltRecord, NoActiveHalt, active_halt, open_halt, recent_halts, resume_halt

DAY = date(2024, 3, 1)
NOON = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)


def breach(engine: Any, account: str = "paper", day: date = DAY, drawdown: float = 0.16) -> HaltRecord:
    peak = Decimal("100000.00")
    equity = peak * (1 - Decimal(str(drawdown)))
    return open_halt(engine, account, day, drawdown, equity, peak, f"drawdown {drawdown:.0%} above the 15% limit")


def halt_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(RiskHalt)).scalar_one())


def test_an_account_never_halted_has_no_active_halt(engine: Engine) -> None:
    assert active_halt(engine, "paper") is None
    assert recent_halts(engine, "paper") == []


def test_opening_a_halt_records_the_breach_and_makes_it_active(engine: Engine) -> None:
    halt = breach(engine)
    assert halt.is_active
    assert (halt.account_id, halt.triggered_on, halt.drawdown) == ("paper", DAY, 0.16)
    assert (halt.equity, halt.peak_equity) == (Decimal("84000.0000"), Decimal("100000.0000"))
    assert halt.reason == "drawdown 16% above the 15% limit"
    assert halt.created_at.tzinfo is not None
    assert active_halt(engine, "paper") == halt


def test_opening_again_while_halted_returns_the_existing_halt_unchanged(engine: Engine) -> None:
    first = breach(engine)
    again = breach(engine, day=date(2024, 3, 4), drawdown=0.2)
    assert again == first
    assert halt_rows(engine) == 1


def test_resuming_lifts_the_halt_and_records_when_who_why_and_how(engine: Engine) -> None:
    opened = breach(engine)
    lifted = resume_halt(engine, "paper", "alice", "losses understood; limits unchanged", at=NOON)
    assert lifted.id == opened.id
    assert not lifted.is_active
    assert (lifted.resumed_at, lifted.resumed_by, lifted.resume_policy) == (NOON, "alice", "manual")
    assert lifted.resume_reason == "losses understood; limits unchanged"
    assert active_halt(engine, "paper") is None
    assert recent_halts(engine, "paper") == [lifted]


def test_an_automatic_policy_is_recorded_as_such(engine: Engine) -> None:
    breach(engine)
    lifted = resume_halt(engine, "paper", "autofund", "drawdown back to 4% (below 5%)", "on_recovery", at=NOON)
    assert lifted.resume_policy == "on_recovery"


def test_a_breach_after_a_resume_opens_a_new_halt(engine: Engine) -> None:
    first = breach(engine)
    resume_halt(engine, "paper", "alice", "ok", at=NOON)
    second = breach(engine, day=date(2024, 4, 1))
    assert second.id != first.id
    assert second.is_active
    assert [h.triggered_on for h in recent_halts(engine, "paper")] == [date(2024, 4, 1), DAY]
    assert [h.triggered_on for h in recent_halts(engine, "paper", limit=1)] == [date(2024, 4, 1)]


def test_resuming_an_account_that_is_not_halted_is_a_clear_fund_error(engine: Engine) -> None:
    with pytest.raises(NoActiveHalt, match="account 'paper' has no active risk halt to resume") as refused:
        resume_halt(engine, "paper", "alice", "ok", at=NOON)
    assert isinstance(refused.value, FundError)
    breach(engine)
    resume_halt(engine, "paper", "alice", "ok", at=NOON)
    with pytest.raises(NoActiveHalt):
        resume_halt(engine, "paper", "bob", "again", at=NOON)


def test_accounts_are_halted_and_resumed_independently(engine: Engine) -> None:
    breach(engine, "paper")
    breach(engine, "live-1")
    resume_halt(engine, "paper", "alice", "ok", at=NOON)
    assert active_halt(engine, "paper") is None
    halted = active_halt(engine, "live-1")
    assert halted is not None
    assert halted.account_id == "live-1"


def test_the_database_refuses_a_second_active_halt_for_the_same_account(engine: Engine) -> None:
    breach(engine)

    def direct_halt(account: str) -> RiskHalt:
        return RiskHalt(
            account_id=account,
            triggered_on=DAY,
            drawdown=0.2,
            equity=Decimal(80),
            peak_equity=Decimal(100),
            reason="inserted directly",
        )

    with Session(engine) as session:
        session.add(direct_halt("other"))
        session.commit()
        session.add(direct_halt("paper"))
        with pytest.raises(IntegrityError):
            session.commit()


def _direct_row(**overrides: Any) -> RiskHalt:
    fields: dict[str, Any] = {
        "account_id": "paper",
        "triggered_on": DAY,
        "drawdown": 0.2,
        "equity": Decimal(80),
        "peak_equity": Decimal(100),
        "reason": "r",
    }
    return RiskHalt(**(fields | overrides))


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"drawdown": 1.5}, "drawdown above 1"),
        ({"drawdown": -0.1}, "negative drawdown"),
        ({"resumed_at": NOON}, "a resume without who, why and how"),
        (
            {"resumed_at": NOON, "resumed_by": "a", "resume_reason": "r", "resume_policy": "whenever"},
            "an unknown resume policy",
        ),
    ],
)
def test_the_database_refuses_halt_rows_that_break_the_rules(
    engine: Engine, overrides: dict[str, Any], why: str
) -> None:
    with make_session_factory(engine)() as session:
        session.add(_direct_row(**overrides))
        with pytest.raises(IntegrityError):
            session.commit()


@pytest.mark.parametrize(
    ("drawdown", "equity", "peak", "message"),
    [
        (1.2, Decimal(0), Decimal(100), "drawdown 1.2 is not a fraction in"),
        (float("nan"), Decimal(84), Decimal(100), "drawdown nan is not a fraction in"),
        (0.16, Decimal(120), Decimal(100), "must satisfy 0 <= equity <= peak"),
        (0.16, Decimal(-1), Decimal(100), "must satisfy 0 <= equity <= peak"),
    ],
)
def test_an_impossible_breach_is_refused_before_anything_is_written(
    engine: Engine, drawdown: float, equity: Decimal, peak: Decimal, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        open_halt(engine, "paper", DAY, drawdown, equity, peak, "r")
    assert halt_rows(engine) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"at": datetime(2024, 3, 4, 12, 0)}, "must be timezone-aware"),
        ({"at": datetime(2024, 2, 29, 12, 0, tzinfo=UTC)}, "its halt began on 2024-03-01"),
        ({"policy": "whenever"}, "unknown resume policy 'whenever'"),
        ({"resumed_by": "  "}, "resumed_by must not be empty"),
        ({"reason": ""}, "reason must not be empty"),
    ],
)
def test_a_bad_resume_is_refused_and_the_halt_stays_active(
    engine: Engine, arguments: dict[str, Any], message: str
) -> None:
    breach(engine)
    call: dict[str, Any] = {"resumed_by": "alice", "reason": "ok", "policy": "manual", "at": NOON} | arguments
    with pytest.raises(ValueError, match=message):
        resume_halt(engine, "paper", **call)
    assert active_halt(engine, "paper") is not None


def test_a_halt_opened_inside_the_callers_transaction_rolls_back_with_it(engine: Engine) -> None:
    with engine.connect() as connection:
        breach(connection)
        assert active_halt(connection, "paper") is not None
        connection.rollback()
    assert active_halt(engine, "paper") is None


def test_two_runs_racing_to_open_a_halt_both_get_the_same_one(engine: Engine) -> None:
    with engine.connect() as first_run, ThreadPoolExecutor(max_workers=1) as pool:
        mine = breach(first_run)
        # The second run's insert waits on the first's uncommitted row, then finds it.
        theirs = pool.submit(breach, engine, "paper", date(2024, 3, 4), 0.2)
        time.sleep(0.3)
        first_run.commit()
        assert theirs.result(timeout=30) == mine
    assert halt_rows(engine) == 1
