"""A dry run reads the account as the venue would settle it, decides and logs its plan, and changes no
ledger table: no settlement, no order, no equity, no halt."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, select

from autonomous.daily_run.run import Outcome, RunMode
from tests.autonomous.daily_run.conftest import RunFactory, request
from trading.db.schema import Base, RebalancingLog
from trading.settings import FundSettings

# The run's own log and the regimes it read are written by a dry run too; nothing else is.
DECISION_LOG_TABLES = {"rebalancing_log", "market_regime"}


def ledger_tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the decision log, in a stable order: a byte-for-byte comparison."""
    contents = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in DECISION_LOG_TABLES:
                continue
            rows = connection.execute(select(table).order_by(*table.primary_key.columns)).all()
            contents[table.name] = [tuple(row) for row in rows]
    return contents


def test_a_dry_run_changes_no_ledger_table_even_with_orders_waiting_and_sessions_to_settle(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    paper = make_run()
    assert paper.run(request(sessions[-6])).outcome is Outcome.COMPLETED
    assert paper.run(request(sessions[-5])).outcome is Outcome.COMPLETED  # orders wait for the next open
    before = ledger_tables(funded)
    assert before["paper_orders"]
    assert before["paper_positions"]

    dry = make_run(RunMode.DRY_RUN).run(request(sessions[-2], RunMode.DRY_RUN))

    assert dry.outcome is Outcome.DRY_RUN, dry.message
    assert ledger_tables(funded) == before
    with funded.connect() as connection:
        logged = connection.execute(select(RebalancingLog.status, RebalancingLog.trades).order_by(RebalancingLog.id))
        status, trades = logged.all()[-1]
    assert status == "dry_run"
    assert trades["orders"], "the plan is logged"
    # The paper ledger did not move: the next paper session runs, where it used to die with LedgerAhead.
    assert paper.run(request(sessions[-4])).outcome is Outcome.COMPLETED


def test_a_dry_run_sees_the_account_as_the_venue_would_settle_it(
    make_run: RunFactory, funded: Engine, sessions: list[date], settings: FundSettings
) -> None:
    make_run().run(request(sessions[-6]))
    dry = make_run(RunMode.DRY_RUN).run(request(sessions[-5], RunMode.DRY_RUN))
    make_run().run(request(sessions[-5]))

    with funded.connect() as connection:
        rows = connection.execute(
            select(RebalancingLog.mode, RebalancingLog.pre_rebalance_value, RebalancingLog.strategy_selected).where(
                RebalancingLog.rebalance_date == sessions[-5]
            )
        ).all()
    by_mode = {mode: (value, strategy) for mode, value, strategy in rows}
    assert dry.outcome is Outcome.DRY_RUN
    # The dry run settled yesterday's orders in memory: its equity is the paper run's, to the cent.
    assert by_mode["dry_run"] == by_mode["paper"]
