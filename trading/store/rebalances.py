"""The daily run's records: rebalancing_log (one row per run attempt, with its status machine),
the trade_executions rows of its orders, and the approvals of runs that need a person."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, insert, select, update

from trading.db.schema import (
    REBALANCE_ACTIVE_STATUSES,
    REBALANCE_UNFINISHED_STATUSES,
    Approval,
    RebalancingLog,
    TradeExecution,
    utcnow,
)
from trading.errors import FundError
from trading.orders import BrokerOrder
from trading.store import Bind, connection_for


class UnknownApproval(FundError):
    """No approval has this id, or it can no longer be decided."""


@dataclass(frozen=True)
class RunRecord:
    id: int
    rebalance_date: date
    account_id: str
    mode: str
    attempt: int
    forced: bool
    status: str
    strategy: str | None
    regime: str | None
    risk_verdict: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OrderRecord:
    """One trade_executions row."""

    id: int
    client_order_id: str
    order_id: str | None
    broker: str
    ticker: str
    side: str
    quantity: Decimal
    status: str
    price: Decimal | None
    filled_quantity: Decimal | None
    commission: Decimal | None
    reason: str | None
    session_date: date | None


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    rebalance_id: int
    decision: str
    decided_by: str | None
    reason: str | None
    requested_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None
    account_id: str
    rebalance_date: date
    mode: str
    run_status: str


_RUN_COLUMNS = (
    RebalancingLog.id,
    RebalancingLog.rebalance_date,
    RebalancingLog.account_id,
    RebalancingLog.mode,
    RebalancingLog.attempt,
    RebalancingLog.forced,
    RebalancingLog.status,
    RebalancingLog.strategy_selected,
    RebalancingLog.market_regime,
    RebalancingLog.risk_verdict,
    RebalancingLog.error,
    RebalancingLog.created_at,
    RebalancingLog.updated_at,
)
_ORDER_COLUMNS = (
    TradeExecution.id,
    TradeExecution.client_order_id,
    TradeExecution.order_id,
    TradeExecution.broker,
    TradeExecution.ticker,
    TradeExecution.side,
    TradeExecution.quantity,
    TradeExecution.status,
    TradeExecution.price,
    TradeExecution.filled_quantity,
    TradeExecution.commission,
    TradeExecution.reason,
    TradeExecution.session_date,
)


def _run(row: Row[Any]) -> RunRecord:
    return RunRecord(*row)


def _order(row: Row[Any]) -> OrderRecord:
    return OrderRecord(*row)


def active_run(bind: Bind, account_id: str, day: date, mode: str) -> RunRecord | None:
    """The newest run of (account, day, mode) that owns the session: in flight, done, or awaiting approval."""
    query = (
        select(*_RUN_COLUMNS)
        .where(
            RebalancingLog.account_id == account_id,
            RebalancingLog.rebalance_date == day,
            RebalancingLog.mode == mode,
            RebalancingLog.status.in_(REBALANCE_ACTIVE_STATUSES),
        )
        .order_by(RebalancingLog.attempt.desc())
        .limit(1)
    )
    with connection_for(bind) as connection:
        row = connection.execute(query).one_or_none()
    return None if row is None else _run(row)


def next_attempt(bind: Bind, account_id: str, day: date, mode: str) -> int:
    """One more than any attempt of (account, day, mode), failed ones included, so client order ids never repeat."""
    query = select(func.max(RebalancingLog.attempt)).where(
        RebalancingLog.account_id == account_id, RebalancingLog.rebalance_date == day, RebalancingLog.mode == mode
    )
    with connection_for(bind) as connection:
        latest = connection.execute(query).scalar_one()
    return 1 if latest is None else int(latest) + 1


def pending_runs(bind: Bind, account_id: str, mode: str, through: date) -> list[RunRecord]:
    """Runs on or before `through` that a later run must finish or close: unfinished plans, and plans
    awaiting approval."""
    query = (
        select(*_RUN_COLUMNS)
        .where(
            RebalancingLog.account_id == account_id,
            RebalancingLog.mode == mode,
            RebalancingLog.rebalance_date <= through,
            RebalancingLog.status.in_((*REBALANCE_UNFINISHED_STATUSES, "awaiting_approval")),
        )
        .order_by(RebalancingLog.rebalance_date, RebalancingLog.attempt)
    )
    with connection_for(bind) as connection:
        return [_run(row) for row in connection.execute(query)]


def recent_runs(bind: Bind, account_id: str | None = None, *, limit: int = 10) -> list[RunRecord]:
    query = select(*_RUN_COLUMNS).order_by(RebalancingLog.rebalance_date.desc(), RebalancingLog.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(RebalancingLog.account_id == account_id)
    with connection_for(bind) as connection:
        return [_run(row) for row in connection.execute(query)]


def insert_run(bind: Bind, values: dict[str, Any]) -> int:
    with connection_for(bind) as connection:
        result = connection.execute(insert(RebalancingLog).values(values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def update_run(bind: Bind, run_id: int, **values: Any) -> None:
    with connection_for(bind) as connection:
        connection.execute(
            update(RebalancingLog).where(RebalancingLog.id == run_id).values(**values, updated_at=utcnow())
        )


def run_steps(bind: Bind, run_id: int) -> list[dict[str, Any]]:
    with connection_for(bind) as connection:
        steps = connection.execute(select(RebalancingLog.steps).where(RebalancingLog.id == run_id)).scalar_one()
    return list(steps or [])


def insert_orders(bind: Bind, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    with connection_for(bind) as connection:
        connection.execute(insert(TradeExecution), list(rows))


def run_orders(bind: Bind, run_id: int) -> list[OrderRecord]:
    """The run's orders in the order they are sent: the plan wrote sales first, each group by ticker."""
    query = select(*_ORDER_COLUMNS).where(TradeExecution.rebalance_id == run_id).order_by(TradeExecution.id)
    with connection_for(bind) as connection:
        return [_order(row) for row in connection.execute(query)]


def session_orders(bind: Bind, account_id: str, day: date, mode: str) -> list[OrderRecord]:
    """Every order that the runs of (account, day, mode) planned, every attempt, in the order written."""
    attempts = select(RebalancingLog.id).where(
        RebalancingLog.account_id == account_id, RebalancingLog.rebalance_date == day, RebalancingLog.mode == mode
    )
    query = select(*_ORDER_COLUMNS).where(TradeExecution.rebalance_id.in_(attempts)).order_by(TradeExecution.id)
    with connection_for(bind) as connection:
        return [_order(row) for row in connection.execute(query)]


def open_ledger_orders(bind: Bind, account_id: str, broker: str) -> list[OrderRecord]:
    """Orders the ledger believes the broker still holds open: their fills must be fetched."""
    query = (
        select(*_ORDER_COLUMNS)
        .where(
            TradeExecution.account_id == account_id,
            TradeExecution.broker == broker,
            TradeExecution.order_id.is_not(None),
            TradeExecution.status.in_(("submitted", "accepted", "partially_filled")),
        )
        .order_by(TradeExecution.id)
    )
    with connection_for(bind) as connection:
        return [_order(row) for row in connection.execute(query)]


def record_broker_order(bind: Bind, order_row_id: int, order: BrokerOrder) -> None:
    """Copy the broker's view of an order onto its trade_executions row."""
    values: dict[str, Any] = {
        "order_id": order.order_id,
        "status": order.status.value,
        # A broker adjusts a resting order for a split; the ledger follows (the reason says so).
        "quantity": order.quantity,
        "submitted_at": order.submitted_at,
        "filled_at": order.filled_at,
        "reason": order.reason,
        "updated_at": utcnow(),
    }
    if order.filled_quantity > 0:
        values["filled_quantity"] = order.filled_quantity
        values["price"] = order.average_fill_price
    if order.commission is not None:
        values["commission"] = order.commission
    with connection_for(bind) as connection:
        connection.execute(update(TradeExecution).where(TradeExecution.id == order_row_id).values(values))


def close_orders(bind: Bind, order_row_ids: Iterable[int], status: str, reason: str) -> None:
    """Mark ledger-only orders (never sent) as canceled or rejected, with the reason."""
    ids = list(order_row_ids)
    if not ids:
        return
    with connection_for(bind) as connection:
        connection.execute(
            update(TradeExecution)
            .where(TradeExecution.id.in_(ids), TradeExecution.status == "planned")
            .values(status=status, reason=reason, updated_at=utcnow())
        )


# --- approvals ----------------------------------------------------------------------------------

_APPROVAL_COLUMNS = (
    Approval.id,
    Approval.rebalance_id,
    Approval.decision,
    Approval.decided_by,
    Approval.reason,
    Approval.requested_at,
    Approval.expires_at,
    Approval.decided_at,
    RebalancingLog.account_id,
    RebalancingLog.rebalance_date,
    RebalancingLog.mode,
    RebalancingLog.status,
)


def _approval(row: Row[Any]) -> ApprovalRecord:
    return ApprovalRecord(*row)


def _approval_query() -> Any:
    return select(*_APPROVAL_COLUMNS).join(RebalancingLog, RebalancingLog.id == Approval.rebalance_id)


def request_approval(bind: Bind, run_id: int, expires_at: datetime) -> int:
    with connection_for(bind) as connection:
        result = connection.execute(
            insert(Approval).values(rebalance_id=run_id, decision="pending", expires_at=expires_at)
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def approval_for_run(bind: Bind, run_id: int) -> ApprovalRecord | None:
    with connection_for(bind) as connection:
        row = connection.execute(_approval_query().where(Approval.rebalance_id == run_id)).one_or_none()
    return None if row is None else _approval(row)


def get_approval(bind: Bind, approval_id: int) -> ApprovalRecord:
    with connection_for(bind) as connection:
        row = connection.execute(_approval_query().where(Approval.id == approval_id)).one_or_none()
    if row is None:
        raise UnknownApproval(f"no approval {approval_id}: `fund approvals list` shows the pending ones")
    return _approval(row)


def list_approvals(bind: Bind, *, pending_only: bool = True, limit: int = 50) -> list[ApprovalRecord]:
    query = _approval_query().order_by(Approval.id.desc()).limit(limit)
    if pending_only:
        query = query.where(Approval.decision == "pending")
    with connection_for(bind) as connection:
        return [_approval(row) for row in connection.execute(query)]


def decide_approval(
    bind: Bind, approval_id: int, decision: str, decided_by: str, reason: str | None, at: datetime
) -> None:
    """Record a decision on a pending approval; UnknownApproval if it is not pending any more."""
    with connection_for(bind) as connection:
        changed = connection.execute(
            update(Approval)
            .where(Approval.id == approval_id, Approval.decision == "pending")
            .values(decision=decision, decided_by=decided_by, reason=reason, decided_at=at)
        ).rowcount
    if changed != 1:
        raise UnknownApproval(f"approval {approval_id} is not pending (already decided, expired, or unknown)")
