"""The order vocabulary every layer speaks: sides, statuses, requests, the broker's answers, account
and position snapshots, and deterministic client order ids. Brokers, the fill engine and the store import it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

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
    # Commissions charged on the fills so far, where the broker reports them.
    commission: Decimal | None = None

    def __post_init__(self) -> None:
        where = f"broker order {self.order_id} ({self.side} {self.ticker})"
        if self.commission is not None:
            _require_decimal(self.commission, "commission", where)
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


_TICKER_UNSAFE = re.compile(r"[^A-Za-z0-9]")
# One letter per mode in the readable part; dry runs never send, so they need none.
_MODE_LETTERS = {"paper": "p", "live": "l"}


def deterministic_client_order_id(
    account_id: str,
    session: date,
    ticker: str,
    side: OrderSide,
    attempt: int = 0,
    *,
    broker: str,
    mode: str,
) -> str:
    """The client order id of one order intent: the same inputs always give the same id.

    Shape: "af-pYYYYMMDD-b|s-TICKER-<16 hex>" (p paper, l live), at most 42 characters of
    [A-Za-z0-9-], which Alpaca accepts. The mode, date, side and (cleaned, cut to 10 characters)
    ticker are there for a person reading trade_executions; uniqueness comes from the hash of all
    inputs verbatim, so "BRK.B" and "BRKB" still differ, and so do a paper and a live account of
    the same name at two brokers (the column is unique across every account). `attempt`
    distinguishes a deliberate re-run of the session (`--force`).

    The id is written with the order before it is sent and read back from there when a run is
    resumed, never recomputed: changing this formula cannot make a resumed run send twice.
    """
    if not account_id or not ticker or not broker:
        raise ValueError(
            f"a client order id needs an account id, a ticker and a broker, got {account_id!r}, {ticker!r}, {broker!r}"
        )
    if mode not in _MODE_LETTERS:
        raise ValueError(f"orders are sent in paper or live mode only, not {mode!r}")
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    side = OrderSide(side)
    intent = "|".join((broker, mode, account_id, session.isoformat(), ticker, side.value, str(attempt)))
    digest = hashlib.sha256(intent.encode()).hexdigest()[:16]
    readable_ticker = _TICKER_UNSAFE.sub("", ticker)[:10] or "X"
    return f"af-{_MODE_LETTERS[mode]}{session:%Y%m%d}-{side.value[0]}-{readable_ticker}-{digest}"
