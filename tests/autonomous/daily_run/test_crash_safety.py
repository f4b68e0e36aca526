"""A run that dies at any point is finished by the next one: no order reaches the venue twice, no fill is
lost, and the fund's record of its orders equals the venue's own books.

Deaths are real: a subprocess runs the daily run and kills itself with SIGKILL after a chosen step,
including the window between the venue accepting an order and the fund recording it, on SQLite and
on PostgreSQL. An in-process crash (an exception no handler catches) covers the stale-plan path."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from autonomous.daily_run.run import Outcome, Step
from tests.autonomous.daily_run.conftest import ACCOUNT, RunFactory, ledger_is_consistent, request
from tests.autonomous.daily_run.kills import kill_run_after
from trading.db.schema import PaperOrder, RebalancingLog, TradeExecution


class SimulatedCrash(BaseException):
    """Not an Exception: the run's handlers must not see it, as they would not see a kill."""


def crash_at(step: Step, occurrence: int = 1) -> object:
    seen: list[Step] = []

    def hook(current: Step) -> None:
        seen.append(current)
        if current is step and seen.count(step) == occurrence:
            raise SimulatedCrash(step.value)

    return hook


def _statuses(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(RebalancingLog.status).order_by(RebalancingLog.id)).scalars())


def _fund_orders(engine: Engine, day: date) -> dict[str, tuple[str, str | None, Decimal | None]]:
    """The fund's record of the session's orders: client id -> (status, venue order id, filled quantity)."""
    query = select(
        TradeExecution.client_order_id, TradeExecution.status, TradeExecution.order_id, TradeExecution.filled_quantity
    ).where(TradeExecution.session_date == day)
    with engine.connect() as connection:
        return {cid: (status, order_id, filled) for cid, status, order_id, filled in connection.execute(query)}


def _venue_orders(engine: Engine, day: date) -> dict[str, tuple[str, str, Decimal]]:
    """The venue's own book of the same orders: client id -> (status, order id, filled quantity)."""
    query = select(
        PaperOrder.client_order_id, PaperOrder.status, PaperOrder.order_id, PaperOrder.filled_quantity
    ).where(PaperOrder.sent_after == day)
    with engine.connect() as connection:
        return {cid: (status, order_id, filled) for cid, status, order_id, filled in connection.execute(query)}


def _venue_orders_per_intent(engine: Engine) -> int:
    """The most orders the venue ever accepted for one (session, ticker, side): it must be one."""
    query = (
        select(func.count()).select_from(PaperOrder).group_by(PaperOrder.sent_after, PaperOrder.ticker, PaperOrder.side)
    )
    with engine.connect() as connection:
        return max(connection.execute(query).scalars(), default=0)


def _books_agree(engine: Engine, day: date) -> None:
    fund, venue = _fund_orders(engine, day), _venue_orders(engine, day)
    assert set(fund) == set(venue), "every planned order reached the venue, and only those"
    for client_id, (status, order_id, filled) in venue.items():
        assert fund[client_id] == (status, order_id, filled if filled else None), client_id


@pytest.mark.parametrize("step", list(Step), ids=lambda s: s.value)
def test_a_run_killed_with_kill_9_after_any_step_is_finished_by_the_next_run_without_sending_twice(
    make_run: RunFactory, funded: Engine, sessions: list[date], database_url: str, step: Step
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    kill_run_after(step, ACCOUNT, day, FUND_DATABASE_URL=database_url)
    if step is Step.SUBMIT_ORDER:
        # The dangerous window: the venue has the first order, the fund has not recorded it.
        assert len(_venue_orders(funded, day)) == 1
        assert {status for status, *_ in _fund_orders(funded, day).values()} == {"planned"}

    resumed = make_run().run(request(day))

    assert resumed.outcome in (Outcome.COMPLETED, Outcome.ALREADY_DONE), resumed.message
    assert _statuses(funded).count("completed") == 1
    assert _statuses(funded)[-1] == "completed"
    assert _venue_orders_per_intent(funded) == 1
    _books_agree(funded, day)
    assert {status for status, *_ in _venue_orders(funded, day).values()} == {"submitted"}
    # The next session fills every order exactly once, and the two books still agree.
    assert make_run().run(request(next_day)).outcome is Outcome.COMPLETED
    assert {status for status, *_ in _venue_orders(funded, day).values()} == {"filled"}
    _books_agree(funded, day)
    assert _venue_orders_per_intent(funded) == 1
    ledger_is_consistent(funded)


def test_a_plan_interrupted_on_one_session_is_closed_by_the_next_sessions_run(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    with pytest.raises(SimulatedCrash):
        make_run(after_step=crash_at(Step.SUBMIT_ORDER, occurrence=2)).run(request(day))  # type: ignore[arg-type]

    result = make_run().run(request(next_day))

    assert result.outcome is Outcome.COMPLETED, result.message
    statuses = [status for status, *_ in _fund_orders(funded, day).values()]
    # Two orders had reached the venue (and filled at the next open); the rest were never sent.
    assert statuses.count("filled") == 2
    assert set(statuses) == {"filled", "canceled"}
    assert len(_venue_orders(funded, day)) == 2
    with funded.connect() as connection:
        status, error = connection.execute(
            select(RebalancingLog.status, RebalancingLog.error).where(RebalancingLog.rebalance_date == day)
        ).one()
    assert status == "completed"
    assert "2 orders had reached the broker" in (error or "")
    ledger_is_consistent(funded)
