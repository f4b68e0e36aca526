"""The one Broker interface that the paper venue and the live adapters implement, what a sync reports,
and the single place where broker calls are retried. The records brokers speak in are in trading/orders.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol, TypeVar

from trading.errors import RetryableBrokerError
from trading.orders import AccountSnapshot, BrokerOrder, BrokerPosition, OrderRequest

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class BrokerCapabilities:
    """What a broker can do; the order planner and the reconciliation read this, never the broker's name."""

    fractional_shares: bool
    notional_orders: bool
    # False for Schwab: reconciliation after a crash then matches on ticker, side, quantity and time.
    client_order_ids: bool
    max_client_order_id_length: int | None


class VenueEventKind(StrEnum):
    """What a venue did to an account while it moved to a session's close."""

    FILL = "fill"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SPLIT = "split"
    DIVIDEND = "dividend"
    CASH_IN_LIEU = "cash_in_lieu"
    DELISTING = "delisting"


@dataclass(frozen=True)
class VenueEvent:
    session: date
    kind: VenueEventKind
    ticker: str | None
    detail: str


@dataclass(frozen=True)
class SyncReport:
    """What `Broker.sync(session)` did: the venue's events since the last sync, in order."""

    session: date
    events: tuple[VenueEvent, ...] = ()

    def of(self, kind: VenueEventKind) -> tuple[VenueEvent, ...]:
        return tuple(e for e in self.events if e.kind is kind)

    def describe(self) -> str:
        counts = {kind: len(self.of(kind)) for kind in VenueEventKind}
        shown = ", ".join(f"{n} {kind.value.replace('_', ' ')}" for kind, n in counts.items() if n)
        return f"synced through {self.session}: {shown or 'nothing happened'}"


class Broker(Protocol):
    """What the daily run needs from a broker. Paper, Alpaca and Schwab implement all of it.

    Adapters translate library and HTTP errors into trading.errors: RetryableBrokerError for
    timeouts, 5xx and 429; OrderRejected / InsufficientFunds for refusals; OrderNotFound for
    unknown ids; BrokerError for the rest. They never let a library exception escape.
    """

    @property
    def name(self) -> str:
        """Short broker name as written in trade_executions.broker ("paper", "alpaca", "schwab")."""
        ...

    @property
    def capabilities(self) -> BrokerCapabilities: ...

    def sync(self, session: date) -> SyncReport:
        """Bring the account up to the close of `session` before the fund reads it.

        The paper venue settles: it fills the orders due at each session's open, applies splits,
        dividends and delistings, and marks positions at the close. A live broker fetches what
        happened (fills, corporate actions). The fund then learns its orders' fates through
        `get_order`, as it would from any broker.
        """
        ...

    def account(self) -> AccountSnapshot: ...

    def positions(self) -> Sequence[BrokerPosition]: ...

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Send the order. A broker that deduplicates client ids answers a repeat with the existing order.

        Alpaca rejects a duplicate client_order_id with HTTP 422; its adapter must then return
        `find_by_client_order_id(...)` rather than an error, so that a retried submit is harmless.
        """
        ...

    def get_order(self, order_id: str) -> BrokerOrder:
        """The order with the broker's id; OrderNotFound if the broker does not know it."""
        ...

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order sent under this client id, or None if it never reached the broker.

        This is how a run that crashed between submit and record learns whether to resubmit.
        Alpaca looks the id up directly. Schwab has no client order ids: its adapter must persist
        the intent before sending and match the account's recent orders on ticker, side, quantity,
        order type and entered time (>= the intent's UTC timestamp), allowing only one in-flight
        order per (account, ticker, side) so the match is unambiguous.
        """
        ...

    def cancel(self, order_id: str) -> None:
        """Ask the broker to cancel; the outcome is read back with get_order."""
        ...

    def open_orders(self) -> Sequence[BrokerOrder]: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: first_delay, then times multiplier each retry, never more than max_delay."""

    max_attempts: int = 4
    first_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.first_delay < 0 or self.multiplier < 1 or self.max_delay < 0:
            raise ValueError(f"invalid retry policy {self}")

    def delay_before_retry(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based); a broker's Retry-After wins if longer."""
        backoff = min(self.first_delay * self.multiplier ** (retry - 1), self.max_delay)
        return max(backoff, retry_after or 0.0)


DEFAULT_RETRY_POLICY = RetryPolicy()


def call_with_retry(
    call: Callable[[], T],
    *,
    idempotent: bool,
    what: str,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, repeating it after a RetryableBrokerError only if repeating cannot trade twice.

    `idempotent` is true for reads, cancels, and submits to a broker that deduplicates client
    order ids (`broker.capabilities.client_order_ids`). A submit to a broker without them is
    never repeated here: after a timeout the order may have arrived, and only reconciliation
    (find_by_client_order_id) can tell. Every other error propagates at once.
    """
    attempt = 1
    while True:
        try:
            return call()
        except RetryableBrokerError as exc:
            if not idempotent or attempt >= policy.max_attempts:
                raise
            delay = policy.delay_before_retry(attempt, exc.retry_after)
            logger.warning(
                "%s failed (%s); retry %d of %d in %.1fs", what, exc, attempt, policy.max_attempts - 1, delay
            )
            sleep(delay)
            attempt += 1


def submit_with_retry(
    broker: Broker,
    request: OrderRequest,
    *,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> BrokerOrder:
    """Submit through call_with_retry, retrying only when the broker deduplicates client order ids."""
    return call_with_retry(
        lambda: broker.submit(request),
        idempotent=broker.capabilities.client_order_ids,
        what=f"submit {request.client_order_id} ({request.side} {request.quantity} {request.ticker})",
        policy=policy,
        sleep=sleep,
    )
