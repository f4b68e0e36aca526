"""The one Broker interface that the paper ledger and the live adapters implement, the records it speaks in,
deterministic client order ids, and the single place where broker calls are retried."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol, TypeVar

from trading.errors import RetryableBrokerError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Alpaca's order schema allows 48 characters; the trade_executions column is String(48) to match.
MAX_CLIENT_ORDER_ID_LENGTH = 48
# Quantities are stored as Numeric(24, 9) and Alpaca accepts at most nine decimals.
QUANTITY_PLACES = 9


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    """The life of an order as the ledger records it; values are trade_executions.status values.

    Adapters map their broker's richer vocabulary onto these (Alpaca `new`/`accepted`/`pending_new`
    -> submitted, `done_for_day` -> expired, ...).
    """

    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    # One "l", as the schema, Alpaca and Schwab spell it.
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """Whether the broker will never change this order again."""
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


def _require_decimal(value: object, field: str, where: str) -> None:
    # A float that slipped in (0.1 -> 0.1000000000000000055...) would corrupt every sum after it.
    if not isinstance(value, Decimal):
        raise TypeError(f"{where}: {field} must be a Decimal built from a string, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{where}: {field} must be finite, got {value}")


def decimal_places(value: Decimal) -> int:
    """Decimal places a finite Decimal needs; trailing zeros do not count (1.50 -> 1, 100 -> 0)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _require_utc(value: datetime, field: str, where: str) -> None:
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(f"{where}: {field} must be a timezone-aware UTC datetime, got {value!r}")


@dataclass(frozen=True)
class BrokerCapabilities:
    """What a broker can do; the order planner and the reconciliation read this, never the broker's name."""

    fractional_shares: bool
    notional_orders: bool
    # False for Schwab: reconciliation after a crash then matches on ticker, side, quantity and time.
    client_order_ids: bool
    max_client_order_id_length: int | None


@dataclass(frozen=True)
class AccountSnapshot:
    account_id: str
    cash: Decimal
    buying_power: Decimal
    equity: Decimal
    as_of: datetime

    def __post_init__(self) -> None:
        where = f"account {self.account_id}"
        for field in ("cash", "buying_power", "equity"):
            _require_decimal(getattr(self, field), field, where)
        _require_utc(self.as_of, "as_of", where)


@dataclass(frozen=True)
class BrokerPosition:
    ticker: str
    quantity: Decimal
    average_price: Decimal
    market_value: Decimal | None

    def __post_init__(self) -> None:
        where = f"position {self.ticker}"
        _require_decimal(self.quantity, "quantity", where)
        _require_decimal(self.average_price, "average_price", where)
        if self.market_value is not None:
            _require_decimal(self.market_value, "market_value", where)


@dataclass(frozen=True)
class OrderRequest:
    """A market day order as the fund sends it: always with the client order id it was recorded under."""

    client_order_id: str
    ticker: str
    side: OrderSide
    quantity: Decimal
    order_type: Literal["market"] = "market"
    time_in_force: Literal["day"] = "day"

    def __post_init__(self) -> None:
        where = f"order {self.client_order_id!r} ({self.side} {self.ticker!r})"
        if not self.ticker or self.ticker != self.ticker.strip():
            raise ValueError(f"{where}: ticker must be non-empty without surrounding spaces")
        if not 0 < len(self.client_order_id) <= MAX_CLIENT_ORDER_ID_LENGTH:
            raise ValueError(f"{where}: client_order_id must have 1 to {MAX_CLIENT_ORDER_ID_LENGTH} characters")
        # Rejects "BUY" and other strings that are not a side, whatever the static type said.
        OrderSide(self.side)
        _require_decimal(self.quantity, "quantity", where)
        if self.quantity <= 0:
            raise ValueError(f"{where}: quantity must be positive, got {self.quantity}")
        if decimal_places(self.quantity) > QUANTITY_PLACES:
            raise ValueError(f"{where}: quantity {self.quantity} has more than {QUANTITY_PLACES} decimal places")


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker reports it."""

    order_id: str
    client_order_id: str | None
    ticker: str
    side: OrderSide
    quantity: Decimal
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    status: OrderStatus
    submitted_at: datetime
    filled_at: datetime | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        where = f"broker order {self.order_id} ({self.side} {self.ticker})"
        _require_decimal(self.quantity, "quantity", where)
        _require_decimal(self.filled_quantity, "filled_quantity", where)
        if not 0 <= self.filled_quantity <= self.quantity:
            raise ValueError(f"{where}: filled_quantity {self.filled_quantity} is outside [0, {self.quantity}]")
        if self.average_fill_price is not None:
            _require_decimal(self.average_fill_price, "average_fill_price", where)
        elif self.filled_quantity > 0:
            raise ValueError(f"{where}: a filled quantity needs an average_fill_price")
        _require_utc(self.submitted_at, "submitted_at", where)
        if self.filled_at is not None:
            _require_utc(self.filled_at, "filled_at", where)


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


_TICKER_UNSAFE = re.compile(r"[^A-Za-z0-9]")


def deterministic_client_order_id(
    account_id: str, session: date, ticker: str, side: OrderSide, attempt: int = 0
) -> str:
    """The client order id of one order intent: the same inputs always give the same id.

    Shape: "af-YYYYMMDD-b|s-TICKER-<16 hex>", at most 41 characters of [A-Za-z0-9-], which Alpaca
    accepts. The date, side and (cleaned, cut to 10 characters) ticker are there for a person
    reading trade_executions; uniqueness comes from the hash of all inputs verbatim, so
    "BRK.B" and "BRKB" still differ. `attempt` distinguishes a deliberate resubmission after the
    broker rejected or expired the first order.
    """
    if not account_id or not ticker:
        raise ValueError(f"a client order id needs an account id and a ticker, got {account_id!r} and {ticker!r}")
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    side = OrderSide(side)
    intent = "|".join((account_id, session.isoformat(), ticker, side.value, str(attempt)))
    digest = hashlib.sha256(intent.encode()).hexdigest()[:16]
    readable_ticker = _TICKER_UNSAFE.sub("", ticker)[:10] or "X"
    return f"af-{session:%Y%m%d}-{side.value[0]}-{readable_ticker}-{digest}"


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
