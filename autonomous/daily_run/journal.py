"""The daily run's journal port: what it records about itself (runs, their step logs, planned orders and
the broker's answers, approvals), the account's equity and drawdown halts, the regimes it read and the
evidence it weighs. The daily run commits step by step to the database; a backtest will keep the same
records in memory and write them in bulk."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Engine

from autonomous.daily_run.approvals import expire, supersede
from autonomous.daily_run.lock import run_lock
from autonomous.regime import RegimeHistory
from trading.orders import BrokerOrder
from trading.settings import DrawdownResume
from trading.store import connection_for
from trading.store import rebalances as runs
from trading.store.accounts import peak_equity_between, record_equity
from trading.store.performance import performance_by_strategy
from trading.store.rebalances import ApprovalRecord, OrderRecord, RunRecord
from trading.store.regimes import upsert_regimes
from trading.store.risk_halts import HaltRecord, active_halt, last_resumed_at, open_halt, resume_halt


class Journal(Protocol):
    """Everything the daily run reads and writes about the fund itself."""

    def lock(self, account_id: str, mode: str) -> AbstractContextManager[None]: ...

    # --- runs ---------------------------------------------------------------------------------------
    def active_run(self, account_id: str, day: date, mode: str) -> RunRecord | None: ...
    def next_attempt(self, account_id: str, day: date, mode: str) -> int: ...
    def pending_runs(self, account_id: str, mode: str, through: date) -> list[RunRecord]: ...
    def persist_plan(
        self, run: dict[str, Any], orders: Sequence[dict[str, Any]], approval_expires: datetime | None
    ) -> int: ...
    def record_failure(self, run: dict[str, Any]) -> int: ...
    def update_run(self, run_id: int, **values: Any) -> None: ...
    def append_step(self, run_id: int, entry: dict[str, Any]) -> None: ...

    # --- orders ---------------------------------------------------------------------------------------
    def run_orders(self, run_id: int) -> list[OrderRecord]: ...
    def session_orders(self, account_id: str, day: date, mode: str) -> list[OrderRecord]: ...
    def open_orders(self, account_id: str, broker: str) -> list[OrderRecord]: ...
    def record_broker_order(self, order_row_id: int, order: BrokerOrder) -> None: ...
    def close_orders(self, order_row_ids: Sequence[int], status: str, reason: str) -> None: ...

    # --- approvals ------------------------------------------------------------------------------------
    def approval_for_run(self, run_id: int) -> ApprovalRecord | None: ...
    def expire_approval(self, approval: ApprovalRecord, now: datetime) -> str: ...
    def supersede(self, run_id: int, now: datetime) -> None: ...

    # --- equity and halts -----------------------------------------------------------------------------
    def record_equity(self, account_id: str, day: date, *, cash: Decimal, positions_value: Decimal) -> None: ...
    def peak_equity(self, account_id: str, start: date | None, end: date) -> Decimal | None: ...
    def active_halt(self, account_id: str) -> HaltRecord | None: ...
    def last_resume(self, account_id: str) -> datetime | None: ...
    def open_halt(
        self, account_id: str, day: date, drawdown: float, equity: Decimal, peak: Decimal, reason: str
    ) -> None: ...
    def resume_halt(self, account_id: str, reason: str, policy: DrawdownResume, at: datetime) -> None: ...

    # --- the market's record and the selector's evidence ----------------------------------------------
    def record_regimes(self, history: RegimeHistory) -> None: ...
    def strategy_evidence(self, regime: str, before: date) -> pd.DataFrame: ...


class DatabaseJournal:
    """The journal in the fund's database; every call commits on its own (or with the ones it groups)."""

    def __init__(self, engine: Engine, *, lock_wait_seconds: float) -> None:
        self._engine = engine
        self._lock_wait = lock_wait_seconds

    @contextmanager
    def lock(self, account_id: str, mode: str) -> Iterator[None]:
        with run_lock(self._engine, account_id, mode, wait_seconds=self._lock_wait):
            yield

    def active_run(self, account_id: str, day: date, mode: str) -> RunRecord | None:
        return runs.active_run(self._engine, account_id, day, mode)

    def next_attempt(self, account_id: str, day: date, mode: str) -> int:
        return runs.next_attempt(self._engine, account_id, day, mode)

    def pending_runs(self, account_id: str, mode: str, through: date) -> list[RunRecord]:
        return runs.pending_runs(self._engine, account_id, mode, through)

    def persist_plan(
        self, run: dict[str, Any], orders: Sequence[dict[str, Any]], approval_expires: datetime | None
    ) -> int:
        """The run's row, its orders and its approval request, in one transaction."""
        with self._engine.begin() as connection:
            run_id = runs.insert_run(connection, run)
            runs.insert_orders(connection, [order | {"rebalance_id": run_id} for order in orders])
            if approval_expires is not None:
                runs.request_approval(connection, run_id, approval_expires)
        return run_id

    def record_failure(self, run: dict[str, Any]) -> int:
        return runs.insert_run(self._engine, run)

    def update_run(self, run_id: int, **values: Any) -> None:
        runs.update_run(self._engine, run_id, **values)

    def append_step(self, run_id: int, entry: dict[str, Any]) -> None:
        with connection_for(self._engine) as connection:
            steps = runs.run_steps(connection, run_id)
            runs.update_run(connection, run_id, steps=[*steps, entry])

    def run_orders(self, run_id: int) -> list[OrderRecord]:
        return runs.run_orders(self._engine, run_id)

    def session_orders(self, account_id: str, day: date, mode: str) -> list[OrderRecord]:
        """Every order the runs of (account, day, mode) planned, in the order they were written."""
        return runs.session_orders(self._engine, account_id, day, mode)

    def open_orders(self, account_id: str, broker: str) -> list[OrderRecord]:
        return runs.open_ledger_orders(self._engine, account_id, broker)

    def record_broker_order(self, order_row_id: int, order: BrokerOrder) -> None:
        runs.record_broker_order(self._engine, order_row_id, order)

    def close_orders(self, order_row_ids: Sequence[int], status: str, reason: str) -> None:
        runs.close_orders(self._engine, order_row_ids, status, reason)

    def approval_for_run(self, run_id: int) -> ApprovalRecord | None:
        return runs.approval_for_run(self._engine, run_id)

    def expire_approval(self, approval: ApprovalRecord, now: datetime) -> str:
        return expire(self._engine, approval, now)

    def supersede(self, run_id: int, now: datetime) -> None:
        supersede(self._engine, run_id, now)

    def record_equity(self, account_id: str, day: date, *, cash: Decimal, positions_value: Decimal) -> None:
        record_equity(self._engine, account_id, day, cash=cash, positions_value=positions_value)

    def peak_equity(self, account_id: str, start: date | None, end: date) -> Decimal | None:
        return peak_equity_between(self._engine, account_id, start, end)

    def active_halt(self, account_id: str) -> HaltRecord | None:
        return active_halt(self._engine, account_id)

    def last_resume(self, account_id: str) -> datetime | None:
        """When the account's latest lifted halt was lifted: the drawdown baseline starts there."""
        return last_resumed_at(self._engine, account_id)

    def open_halt(
        self, account_id: str, day: date, drawdown: float, equity: Decimal, peak: Decimal, reason: str
    ) -> None:
        open_halt(self._engine, account_id, day, drawdown, equity, peak, reason)

    def resume_halt(self, account_id: str, reason: str, policy: DrawdownResume, at: datetime) -> None:
        resume_halt(self._engine, account_id, "daily run", reason, policy, at=at)

    def record_regimes(self, history: RegimeHistory) -> None:
        upsert_regimes(self._engine, history.table_rows())

    def strategy_evidence(self, regime: str, before: date) -> pd.DataFrame:
        return performance_by_strategy(self._engine, regime, before=before)
