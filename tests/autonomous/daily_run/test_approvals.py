"""Runs that need a person: the plan waits, is approved or rejected with the CLI's use cases, and
expires at the next session's open."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import Engine, select

from autonomous.daily_run import approvals
from autonomous.daily_run.run import Outcome
from tests.autonomous.daily_run.conftest import RunFactory, request
from trading.db.schema import RebalancingLog, TradeExecution
from trading.marketdata.calendar import session_open_utc
from trading.settings import FundSettings
from trading.store.rebalances import UnknownApproval, list_approvals


@pytest.fixture
def cautious(settings: FundSettings) -> FundSettings:
    # No strategy is ever fully confident, so every plan goes to a person.
    return settings.model_copy(update={"risk": settings.risk.model_copy(update={"approval_min_confidence": 1.0})})


def _after_close(day: date) -> datetime:
    return datetime.combine(day, time(22, 0), UTC)


def _statuses(engine: Engine) -> tuple[list[str], set[str]]:
    with engine.connect() as connection:
        runs = list(connection.execute(select(RebalancingLog.status).order_by(RebalancingLog.id)).scalars())
        orders = set(connection.execute(select(TradeExecution.status)).scalars())
    return runs, orders


def test_a_plan_needing_approval_waits_with_its_orders_planned_until_the_next_open(
    make_run: RunFactory, funded: Engine, sessions: list[date], cautious: FundSettings
) -> None:
    day = sessions[-5]
    run = make_run(with_settings=cautious, clock=lambda: _after_close(day))

    result = run.run(request(day))

    assert result.outcome is Outcome.AWAITING_APPROVAL
    assert result.exit_code == 0
    assert "needs approval" in result.message
    assert _statuses(funded) == (["awaiting_approval"], {"planned"})
    [pending] = list_approvals(funded)
    assert pending.rebalance_id == result.run_id
    assert pending.expires_at == session_open_utc(sessions[-4])
    again = run.run(request(day))
    assert again.outcome is Outcome.ALREADY_DONE
    assert f"awaiting approval {pending.id}" in again.message


def test_an_approved_plan_is_sent_by_a_resume_before_the_next_open(
    make_run: RunFactory, funded: Engine, sessions: list[date], cautious: FundSettings
) -> None:
    day = sessions[-5]
    run = make_run(with_settings=cautious, clock=lambda: _after_close(day))
    run.run(request(day))
    [pending] = list_approvals(funded)

    approvals.approve(funded, pending.id, "pm", _after_close(day), "checked the weights")
    resumed = run.run(request(day, resume_only=True))

    assert resumed.outcome is Outcome.COMPLETED, resumed.message
    assert resumed.orders_sent > 0
    assert _statuses(funded) == (["completed"], {"submitted"})
    assert list_approvals(funded) == []


def test_a_rejected_plan_is_closed_and_nothing_is_sent(
    make_run: RunFactory, funded: Engine, sessions: list[date], cautious: FundSettings
) -> None:
    day = sessions[-5]
    make_run(with_settings=cautious, clock=lambda: _after_close(day)).run(request(day))
    [pending] = list_approvals(funded)

    decided = approvals.reject(funded, pending.id, "pm", "too concentrated", _after_close(day))

    assert (decided.decision, decided.decided_by, decided.reason) == (
        "rejected",
        "pm",
        "rejected by pm: too concentrated",
    )
    assert _statuses(funded) == (["rejected"], {"canceled"})
    with pytest.raises(UnknownApproval, match="already rejected"):
        approvals.approve(funded, pending.id, "pm", _after_close(day))


def test_an_approval_expires_at_the_next_sessions_open_and_the_next_run_plans_afresh(
    make_run: RunFactory, funded: Engine, sessions: list[date], cautious: FundSettings, settings: FundSettings
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    make_run(with_settings=cautious, clock=lambda: _after_close(day)).run(request(day))
    [pending] = list_approvals(funded)
    too_late = session_open_utc(next_day) + timedelta(minutes=1)

    with pytest.raises(UnknownApproval, match="expired"):
        approvals.approve(funded, pending.id, "pm", too_late)
    result = make_run(clock=lambda: _after_close(next_day)).run(request(next_day))

    assert result.outcome is Outcome.COMPLETED, result.message
    runs, _ = _statuses(funded)
    assert runs == ["rejected", "completed"]
    [expired] = list_approvals(funded, pending_only=False)
    assert expired.decision == "expired"
    with funded.connect() as connection:
        stale = set(
            connection.execute(select(TradeExecution.status).where(TradeExecution.session_date == day)).scalars()
        )
    assert stale == {"canceled"}


def test_a_pending_approval_left_alone_is_expired_by_the_next_run(
    make_run: RunFactory, funded: Engine, sessions: list[date], cautious: FundSettings
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    make_run(with_settings=cautious, clock=lambda: _after_close(day)).run(request(day))

    make_run(clock=lambda: _after_close(next_day)).run(request(next_day))

    [expired] = list_approvals(funded, pending_only=False)
    assert (expired.decision, expired.decided_by) == ("expired", "daily run")


def test_a_forced_rerun_closes_the_plan_still_waiting_so_an_approval_cannot_send_both(
    make_run: RunFactory, funded: Engine, sessions: list[date], cautious: FundSettings
) -> None:
    day = sessions[-5]
    make_run(with_settings=cautious, clock=lambda: _after_close(day)).run(request(day))
    [pending] = list_approvals(funded)

    forced = make_run(clock=lambda: _after_close(day)).run(request(day, force=True))

    assert forced.outcome is Outcome.COMPLETED, forced.message
    runs, _ = _statuses(funded)
    assert runs == ["rejected", "completed"]
    with pytest.raises(UnknownApproval, match="already rejected"):
        approvals.approve(funded, pending.id, "pm", _after_close(day))
