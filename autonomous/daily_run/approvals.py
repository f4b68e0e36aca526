"""A person's decision on a run the risk manager sent for approval. Approving lets the next run
(or `fund rebalance --resume`) send the plan exactly as it was reviewed; rejecting closes it.
Either must happen before the approval expires at the next session's open."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from trading.store.rebalances import (
    ApprovalRecord,
    UnknownApproval,
    approval_for_run,
    close_orders,
    decide_approval,
    get_approval,
    run_orders,
    update_run,
)

logger = logging.getLogger(__name__)


def _pending(engine: Engine, approval_id: int, now: datetime) -> ApprovalRecord:
    approval = get_approval(engine, approval_id)
    if approval.decision != "pending":
        raise UnknownApproval(f"approval {approval_id} was already {approval.decision}")
    if approval.expires_at is not None and now >= approval.expires_at:
        expire(engine, approval, now, by="fund approvals")
        raise UnknownApproval(
            f"approval {approval_id} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC (the next session's open): "
            "its plan was priced at a close the market has moved on from; the next run plans afresh"
        )
    return approval


def _close_run(engine: Engine, approval: ApprovalRecord, decision: str, by: str, reason: str, now: datetime) -> None:
    with engine.begin() as connection:
        decide_approval(connection, approval.id, decision, by, reason, now)
        close_orders(connection, [o.id for o in run_orders(connection, approval.rebalance_id)], "canceled", reason)
        update_run(connection, approval.rebalance_id, status="rejected", error=reason)


def expire(engine: Engine, approval: ApprovalRecord, now: datetime, by: str = "daily run") -> str:
    """Close a plan whose approval (pending, or approved too late) passed the next session's open; the reason."""
    reason = f"approval {approval.id} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC before the plan was sent"
    with engine.begin() as connection:
        if approval.decision == "pending":
            decide_approval(connection, approval.id, "expired", by, "expired at the next open", now)
        close_orders(connection, [o.id for o in run_orders(connection, approval.rebalance_id)], "canceled", reason)
        update_run(connection, approval.rebalance_id, status="rejected", error=reason)
    return reason


def approve(engine: Engine, approval_id: int, by: str, now: datetime, reason: str | None = None) -> ApprovalRecord:
    """Approve a pending plan; UnknownApproval when it is not pending or has expired."""
    _pending(engine, approval_id, now)
    decide_approval(engine, approval_id, "approved", by, reason, now)
    logger.info("approval %d approved by %s", approval_id, by)
    return get_approval(engine, approval_id)


def reject(engine: Engine, approval_id: int, by: str, reason: str, now: datetime) -> ApprovalRecord:
    """Reject a pending plan: the run becomes rejected and its unsent orders are canceled with the reason."""
    approval = _pending(engine, approval_id, now)
    _close_run(engine, approval, "rejected", by, f"rejected by {by}: {reason}", now)
    logger.info("approval %d rejected by %s: %s", approval_id, by, reason)
    return get_approval(engine, approval_id)


def supersede(engine: Engine, run_id: int, now: datetime) -> None:
    """Close a plan still waiting for approval because a forced run of its session replaces it, so
    that a later approval can never send both."""
    approval = approval_for_run(engine, run_id)
    if approval is not None and approval.decision == "pending":
        _close_run(engine, approval, "rejected", "fund rebalance --force", "superseded by a forced re-run", now)
