"""Sending a persisted plan and recording the broker's answers, so that a run killed anywhere is finished
by the next one without sending anything twice.

Every send is preceded by asking the broker whether that client order id already reached it (a run
may have died after the broker accepted an order and before the fund recorded it), and followed at
once by recording the broker's answer.
"""

from __future__ import annotations

import logging
from functools import partial

from autonomous.daily_run.journal import Journal
from autonomous.daily_run.request import Step, StepHook
from trading.brokers.base import Broker, call_with_retry, submit_with_retry
from trading.errors import OrderRejected
from trading.orders import BrokerOrder, OrderRequest, OrderSide
from trading.store.rebalances import OrderRecord

logger = logging.getLogger(__name__)

# Orders the broker will never change again; anything else is refreshed when a run records.
FINAL_ORDER_STATUSES = frozenset({"filled", "canceled", "rejected", "expired"})


def submit_all(run_id: int, broker: Broker, journal: Journal, after_step: StepHook) -> int:
    """Send the run's orders that never reached the broker; the number sent by this call."""
    sent = 0
    for order in journal.run_orders(run_id):
        if order.status != "planned":
            continue
        answer = send_once(order, broker, journal)
        if answer is None:
            continue
        after_step(Step.SUBMIT_ORDER)  # the broker has the order; the fund has not recorded it yet
        journal.record_broker_order(order.id, answer)
        sent += 1
    return sent


def send_once(order: OrderRecord, broker: Broker, journal: Journal) -> BrokerOrder | None:
    """The broker's order for this row: the one it already has under the client id, or a new one
    (None when the broker refused it; the row is then closed as rejected with the reason)."""
    known = call_with_retry(
        partial(broker.find_by_client_order_id, order.client_order_id),
        idempotent=True,
        what=f"look up {order.client_order_id}",
    )
    if known is not None:
        logger.info(
            "order %s already reached the broker as %s; not sending it again", order.client_order_id, known.order_id
        )
        return known
    request = OrderRequest(order.client_order_id, order.ticker, OrderSide(order.side), order.quantity)
    try:
        return submit_with_retry(broker, request)
    except OrderRejected as exc:
        logger.warning("order %s rejected: %s", order.client_order_id, exc)
        # A venue that keeps refused orders (as a broker does) has one under this id: record it as it is.
        refused = call_with_retry(
            partial(broker.find_by_client_order_id, order.client_order_id), idempotent=True, what="look up"
        )
        if refused is not None:
            return refused
        journal.close_orders([order.id], "rejected", str(exc))
        return None


def record_all(run_id: int, broker: Broker, journal: Journal) -> str:
    """Refresh every sent, unfinished order of the run from the broker; a count of its orders by status."""
    counts: dict[str, int] = {}
    for order in journal.run_orders(run_id):
        status = order.status
        if order.order_id is not None and status not in FINAL_ORDER_STATUSES:
            fresh = call_with_retry(
                partial(broker.get_order, order.order_id), idempotent=True, what=f"order {order.order_id}"
            )
            journal.record_broker_order(order.id, fresh)
            status = fresh.status.value
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no orders"


def close_stale_plan(run_id: int, broker: Broker, journal: Journal, reason: str) -> tuple[int, int]:
    """A plan of an earlier session that never finished: record what reached the broker and cancel the
    rest (priced at a close the market has moved on from). The numbers sent and canceled."""
    sent = canceled = 0
    for order in journal.run_orders(run_id):
        if order.status != "planned":
            sent += 1
            continue
        known = call_with_retry(
            partial(broker.find_by_client_order_id, order.client_order_id), idempotent=True, what="look up"
        )
        if known is not None:
            journal.record_broker_order(order.id, known)
            sent += 1
        else:
            journal.close_orders([order.id], "canceled", reason)
            canceled += 1
    record_all(run_id, broker, journal)
    return sent, canceled
