"""A run that dies at any point is finished by the next one: no order is sent twice, no fill is lost,
and the ledger equals the broker. Deaths are simulated after every step (an exception no handler
catches, like a killed process), and once for real with kill -9 of a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from autonomous.daily_run.run import DailyRun, Outcome, Step
from tests.autonomous.daily_run.conftest import (
    ACCOUNT,
    RunFactory,
    ledger_is_consistent,
    orders_per_intent,
    request,
)
from trading.brokers.paper import PaperBroker
from trading.db.engine import make_engine
from trading.db.schema import RebalancingLog, TradeExecution
from trading.execution.costs import CostModels
from trading.settings import FundSettings
from trading.store.accounts import create_paper_account

REPO = Path(__file__).resolve().parents[3]


class SimulatedCrash(BaseException):
    """Not an Exception: the run's handlers must not see it, as they would not see a kill."""


def crash_at(step: Step, occurrence: int = 1) -> tuple[list[Step], object]:
    seen: list[Step] = []

    def hook(current: Step) -> None:
        seen.append(current)
        if current is step and seen.count(step) == occurrence:
            raise SimulatedCrash(step.value)

    return seen, hook


def _statuses(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(RebalancingLog.status).order_by(RebalancingLog.id)).scalars())


def _orders(engine: Engine) -> list[tuple[str, str, str, Decimal, str | None]]:
    query = select(
        TradeExecution.client_order_id,
        TradeExecution.status,
        TradeExecution.ticker,
        TradeExecution.quantity,
        TradeExecution.order_id,
    ).order_by(TradeExecution.client_order_id)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


@pytest.mark.parametrize("step", [s for s in Step], ids=lambda s: s.value)
def test_a_run_killed_after_any_step_is_finished_by_the_next_run_without_sending_twice(
    make_run: RunFactory, funded: Engine, sessions: list[date], step: Step
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    _seen, hook = crash_at(step)
    with pytest.raises(SimulatedCrash):
        make_run(after_step=hook).run(request(day))  # type: ignore[arg-type]

    resumed = make_run().run(request(day))

    assert resumed.outcome in (Outcome.COMPLETED, Outcome.ALREADY_DONE), resumed.message
    assert _statuses(funded)[-1] == "completed"
    assert "completed" in _statuses(funded)
    assert _statuses(funded).count("completed") == 1
    orders = _orders(funded)
    assert orders
    assert {status for _, status, *_ in orders} == {"submitted"}
    assert max(orders_per_intent(funded).values()) == 1
    # The next session fills every order exactly once and the books agree.
    assert make_run().run(request(next_day)).outcome is Outcome.COMPLETED
    first_session = [o for o in _orders(funded) if o[0].startswith(f"af-{day:%Y%m%d}")]
    assert {status for _, status, *_ in first_session} == {"filled"}
    ledger_is_consistent(funded)


def test_a_plan_interrupted_on_one_session_is_closed_by_the_next_sessions_run(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    _seen, hook = crash_at(Step.SUBMIT_ORDER, occurrence=2)
    with pytest.raises(SimulatedCrash):
        make_run(after_step=hook).run(request(day))  # type: ignore[arg-type]

    result = make_run().run(request(next_day))

    assert result.outcome is Outcome.COMPLETED, result.message
    stale = [o for o in _orders(funded) if o[0].startswith(f"af-{day:%Y%m%d}")]
    statuses = [status for _, status, *_ in stale]
    # Two orders had reached the broker (and filled at the next open); the rest were never sent.
    assert statuses.count("filled") == 2
    assert set(statuses) == {"filled", "canceled"}
    with funded.connect() as connection:
        status, error = connection.execute(
            select(RebalancingLog.status, RebalancingLog.error).where(RebalancingLog.rebalance_date == day)
        ).one()
    assert status == "completed"
    assert "2 orders had reached the broker" in (error or "")
    ledger_is_consistent(funded)


def test_with_a_broker_apart_from_the_ledger_a_crash_between_submit_and_record_is_reconciled_by_client_id(
    market: Engine, settings: FundSettings, sessions: list[date], tmp_path: Path
) -> None:
    if market.dialect.name != "sqlite":
        pytest.skip("the separate broker database is a copy of the SQLite file")
    # The broker keeps its own books (a second database), as Alpaca or Schwab would.
    broker_path = tmp_path / "broker.db"
    market.dispose()
    assert market.url.database is not None
    shutil.copy(market.url.database, broker_path)
    broker_engine = make_engine(f"sqlite:///{broker_path}")
    create_paper_account(broker_engine, ACCOUNT, Decimal("100000"))
    costs = CostModels.from_settings(settings.execution)

    def brokers(session: date) -> PaperBroker:
        return PaperBroker(broker_engine, ACCOUNT, session=session, costs=costs, benchmark="SPY")

    day, next_day = sessions[-5], sessions[-4]
    _seen, hook = crash_at(Step.SUBMIT_ORDER, occurrence=1)
    with pytest.raises(SimulatedCrash):
        DailyRun(market, settings, brokers, after_step=hook).run(request(day))  # type: ignore[arg-type]
    ledger_before = _orders(market)
    assert [o[1] for o in ledger_before].count("planned") == len(ledger_before), "the crash came before the record"
    assert len(_orders(broker_engine)) == 1, "but after the broker took the first order"

    assert DailyRun(market, settings, brokers).run(request(day)).outcome is Outcome.COMPLETED
    assert DailyRun(market, settings, brokers).run(request(next_day)).outcome is Outcome.COMPLETED

    day_orders = [o for o in _orders(market) if o[0].startswith(f"af-{day:%Y%m%d}")]
    broker_orders = [o for o in _orders(broker_engine) if o[0].startswith(f"af-{day:%Y%m%d}")]
    assert day_orders == broker_orders
    assert {o[1] for o in day_orders} == {"filled"}
    broker_engine.dispose()


CRASHING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import date
    from autonomous.daily_run.brokers import broker_factory
    from autonomous.daily_run.run import DailyRun, RunMode, RunRequest, Step
    from trading.db.engine import make_engine
    from trading.settings import load_settings

    def die_after_the_first_send(step):
        if step is Step.SUBMIT_ORDER:
            os.kill(os.getpid(), signal.SIGKILL)

    settings = load_settings(None)
    engine = make_engine(settings.database_url.get_secret_value())
    account, day = sys.argv[1], date.fromisoformat(sys.argv[2])
    run = DailyRun(engine, settings, broker_factory(engine, settings, RunMode.PAPER, account),
                   after_step=die_after_the_first_send)
    run.run(RunRequest(account, RunMode.PAPER, day, use_mock=True))
    """
)


def test_a_real_kill_9_between_submit_and_record_loses_nothing_and_sends_nothing_twice(
    make_run: RunFactory, funded: Engine, sessions: list[date], database_url: str
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    env = {**os.environ, "FUND_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, ACCOUNT, day.isoformat()], env=env, capture_output=True, timeout=120
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert _statuses(funded) == ["submitting"]
    sent = [o for o in _orders(funded) if o[1] == "submitted"]
    assert len(sent) == 1

    resumed = make_run().run(request(day))

    assert resumed.outcome is Outcome.COMPLETED, resumed.message
    assert resumed.orders_sent == len(_orders(funded)) - 1
    assert _statuses(funded) == ["completed"]
    assert max(orders_per_intent(funded).values()) == 1
    assert make_run().run(request(next_day)).outcome is Outcome.COMPLETED
    assert {o[1] for o in _orders(funded) if o[0].startswith(f"af-{day:%Y%m%d}")} == {"filled"}
    ledger_is_consistent(funded)
