"""The Broker interface over Schwab's trader API (schwab-py). Schwab has no paper environment: this adapter
is for live mode (and, read-only, for dry runs).

What the fund sends: a market order for whole shares, duration DAY, session NORMAL (schwab-py's
`equity_buy_market` / `equity_sell_market`), after the close, to be filled at the next open.

Schwab takes no client order id. So before each `place_order` the intent (ticker, side, quantity, type
and the time it is sent) is written to `broker_order_intents`; the order id is read from the answer's
Location header and written beside it. A run that died between the two finds the order again by
matching the account's orders entered since the send on those fields. At most one order per (account,
ticker, side) may be working at a time, so that match cannot be ambiguous. Order writes (place, cancel)
respect Schwab's per-app throttle (`schwab_orders_per_minute`).
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from schwab.client import Client
from schwab.orders.equities import equity_buy_market, equity_sell_market
from sqlalchemy import Engine

from trading.brokers.base import BrokerCapabilities, SyncReport, VenueEvent, VenueEventKind
from trading.brokers.numbers import broker_decimal
from trading.brokers.schwab.client import call_schwab, check_schwab, error_message, send_schwab
from trading.brokers.schwab.tokens import TokenFile
from trading.db.schema import utcnow
from trading.errors import BrokerError, OrderNotFound, OrderRejected
from trading.orders import AccountSnapshot, BrokerOrder, BrokerPosition, OrderRequest, OrderSide, OrderStatus
from trading.store import order_intents
from trading.store.order_intents import OrderIntent, client_ids_of_orders

logger = logging.getLogger(__name__)

BROKER_NAME = "schwab"
NEW_YORK = ZoneInfo("America/New_York")
# A matched order may have been entered a little before our clock's send time (clock skew).
MATCH_SLACK = timedelta(minutes=2)
# A DAY order is done within a session; one sent longer ago than this cannot be working any more.
WORKING_DAYS = timedelta(days=7)
_LOCATION = re.compile(r"/accounts/(\w+)/orders/(\d+)$")
_STATUSES = {
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REPLACED": OrderStatus.CANCELED,  # the fund never replaces; a person's replacement ends this order
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
_EVENTS = {OrderStatus.FILLED: VenueEventKind.FILL, OrderStatus.REJECTED: VenueEventKind.REJECTED}
_EVENTS[OrderStatus.EXPIRED] = VenueEventKind.EXPIRED


class OrderThrottle:
    """At most `per_minute` order writes in any 60 seconds: a write beyond that waits for the window."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limit, self._clock, self._sleep = per_minute, clock, sleep
        self._writes: deque[float] = deque()

    def wait(self) -> None:
        now = self._clock()
        while self._writes and now - self._writes[0] >= 60.0:
            self._writes.popleft()
        if len(self._writes) >= self._limit:
            pause = 60.0 - (now - self._writes[0])
            logger.info("Schwab's order throttle: waiting %.1f s", pause)
            self._sleep(pause)
            self._writes.popleft()
            now = self._clock()
        self._writes.append(now)


class SchwabBroker:
    """The fund account `account_id`, Schwab account number `account_number`, through `client`."""

    def __init__(
        self,
        client: Client,
        engine: Engine,
        account_id: str,
        account_number: str,
        *,
        tokens: TokenFile,
        throttle: OrderThrottle,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._client = client
        self._engine = engine
        self._account_id = account_id
        self._number = account_number
        self._tokens = tokens
        self._throttle = throttle
        self._clock = clock
        self._hash: str | None = None

    @property
    def name(self) -> str:
        return BROKER_NAME

    @property
    def client(self) -> Client:
        """schwab-py's client, for the health check's calls beyond the Broker interface."""
        return self._client

    @property
    def capabilities(self) -> BrokerCapabilities:
        # Fractional quantities at Schwab are unverified (brokers.md §3): the fund sends whole shares.
        return BrokerCapabilities(
            fractional_shares=False, notional_orders=False, client_order_ids=False, max_client_order_id_length=None
        )

    def _account_hash(self) -> str:
        if self._hash is None:
            numbers = _json(call_schwab(self._client.get_account_numbers, "account numbers"), list)
            hashes = {str(row.get("accountNumber")): str(row.get("hashValue")) for row in numbers}
            if self._number not in hashes:
                reached = ", ".join(sorted(hashes)) or "none"
                raise BrokerError(
                    f"the Schwab login reaches account(s) {reached}, not {self._number} (linked to {self._account_id})"
                )
            self._hash = hashes[self._number]
        return self._hash

    # --- the account ------------------------------------------------------------------------------

    def sync(self, session: date) -> SyncReport:
        """Refuse an expired token, find the account, and report its orders' fills, rejections and expiries
        of `session` (Schwab applies splits and dividends to the positions itself)."""
        self._tokens.require_fresh(self._clock())
        start = datetime.combine(session, clock_time(0), NEW_YORK).astimezone(UTC)
        events = []
        for order in self._broker_orders(self._orders(start, start + timedelta(days=1))):
            kind = _EVENTS.get(order.status)
            if kind is not None:
                detail = f"{order.side} {order.quantity} {order.ticker}: {order.status}"
                events.append(VenueEvent(session, kind, order.ticker, detail))
        return SyncReport(session, tuple(events))

    def account(self) -> AccountSnapshot:
        account = self._securities_account(with_positions=False)
        current, initial = account.get("currentBalances", {}), account.get("initialBalances", {})
        aggregated = account.get("aggregatedBalance", {})
        cash = _first(current, "cashBalance", "totalCash", "cashAvailableForTrading", "availableFunds")
        equity = _first(current, "liquidationValue", "equity") or _first(aggregated, "liquidationValue")
        equity = equity if equity is not None else _first(initial, "liquidationValue", "accountValue")
        buying = _first(current, "buyingPower", "cashAvailableForTrading", "availableFunds")
        if cash is None or equity is None:
            raise BrokerError(f"Schwab's account answer has no cash or liquidation value: {sorted(current)}")
        return AccountSnapshot(self._account_id, cash, buying if buying is not None else cash, equity, self._clock())

    def positions(self) -> Sequence[BrokerPosition]:
        account = self._securities_account(with_positions=True)
        held = []
        for row in account.get("positions", []):
            instrument = row.get("instrument", {})
            quantity = _decimal(row.get("longQuantity", 0)) - _decimal(row.get("shortQuantity", 0))
            market_value = row.get("marketValue")
            held.append(
                BrokerPosition(
                    str(instrument.get("symbol")),
                    quantity,
                    _decimal(row.get("averagePrice", 0)),
                    None if market_value is None else _decimal(market_value),
                )
            )
        return held

    def _securities_account(self, *, with_positions: bool) -> dict[str, Any]:
        fields = [Client.Account.Fields.POSITIONS] if with_positions else None
        answer = call_schwab(lambda: self._client.get_account(self._account_hash(), fields=fields), "account")
        account = _json(answer, dict).get("securitiesAccount")
        if not isinstance(account, dict):
            raise BrokerError("Schwab's account answer has no securitiesAccount")
        return account

    # --- orders -----------------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> BrokerOrder:
        quantity = request.quantity
        if quantity != quantity.to_integral_value():
            raise OrderRejected(f"{request.ticker}: Schwab orders are for whole shares, not {quantity}")
        # A repeated submit of an intent that reached Schwab answers that order, as a broker with client
        # order ids would: the intent table gives Schwab's orders the fund's ids.
        already = self.find_by_client_order_id(request.client_order_id)
        if already is not None:
            return already
        self._one_in_flight(request)
        sent_at = self._clock()
        intent = OrderIntent(
            request.client_order_id, self._account_id, BROKER_NAME, request.ticker, request.side, quantity,
            "market", sent_at, None,
        )  # fmt: skip
        order_intents.record_intent(self._engine, intent)
        build = equity_buy_market if request.side is OrderSide.BUY else equity_sell_market
        spec = build(request.ticker, int(quantity)).build()
        account_hash = self._account_hash()
        self._throttle.wait()
        what = f"place {request.client_order_id} ({request.side} {quantity} {request.ticker})"
        response = send_schwab(lambda: self._client.place_order(account_hash, spec), what)
        if response.status_code in (400, 422):
            raise OrderRejected(f"Schwab {what}: {error_message(response)}")
        check_schwab(response, what)
        location = _LOCATION.search(response.headers.get("Location", ""))
        if location is None:
            found = self.find_by_client_order_id(request.client_order_id)
            if found is None:
                raise BrokerError(f"Schwab {what}: accepted without an order id, and no order matches it")
            return found
        order_id = location.group(2)
        order_intents.set_intent_order_id(self._engine, request.client_order_id, order_id)
        return self.get_order(order_id)

    def _one_in_flight(self, request: OrderRequest) -> None:
        """Refuse a second working order for the same ticker and side (the crash match needs one)."""
        recent = order_intents.recent_intents(self._engine, self._account_id, BROKER_NAME, self._clock() - WORKING_DAYS)
        for other in recent:
            if other.client_order_id == request.client_order_id or other.order_id is None:
                continue
            if (other.ticker, other.side) != (request.ticker, request.side):
                continue
            if not self.get_order(other.order_id).status.is_final:
                raise OrderRejected(
                    f"{request.side} {request.ticker}: order {other.order_id} is still working at Schwab; one order "
                    "per ticker and side at a time"
                )

    def get_order(self, order_id: str) -> BrokerOrder:
        if not order_id.isdigit():
            raise OrderNotFound(f"Schwab has no order {order_id!r}: its order ids are numbers")
        answer = call_schwab(lambda: self._client.get_order(int(order_id), self._account_hash()), f"order {order_id}")
        return self._broker_orders([_json(answer, dict)])[0]

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order sent for this intent: by its recorded id, else by matching the account's orders
        entered since the send (module doc); None when it never reached Schwab."""
        intent = order_intents.intent(self._engine, client_order_id)
        if intent is None:
            return None
        if intent.order_id is not None:
            return self.get_order(intent.order_id)
        since = intent.sent_at - MATCH_SLACK
        # Orders already given to other intents (any of the last week's: clocks differ) are not candidates.
        week = intent.sent_at - WORKING_DAYS
        known = {i.order_id for i in order_intents.recent_intents(self._engine, self._account_id, BROKER_NAME, week)}
        matches = [
            raw
            for raw in self._orders(since, self._clock() + MATCH_SLACK)
            if str(raw.get("orderId")) not in known and _matches(raw, intent, since)
        ]
        if not matches:
            return None
        if len(matches) > 1:
            ids = ", ".join(str(m.get("orderId")) for m in matches)
            raise BrokerError(f"Schwab orders {ids} all match the intent {client_order_id}: a person must decide")
        order_id = str(matches[0]["orderId"])
        logger.info("intent %s matched Schwab order %s", client_order_id, order_id)
        order_intents.set_intent_order_id(self._engine, client_order_id, order_id)
        return self._broker_orders(matches[:1])[0]

    def cancel(self, order_id: str) -> None:
        if not order_id.isdigit():
            raise OrderNotFound(f"Schwab has no order {order_id!r}: its order ids are numbers")
        account_hash = self._account_hash()
        self._throttle.wait()
        what = f"cancel {order_id}"
        response = send_schwab(lambda: self._client.cancel_order(int(order_id), account_hash), what)
        if response.status_code in (400, 422):
            logger.info("Schwab %s: %s", what, error_message(response))  # already final: read back by the caller
            return
        check_schwab(response, what)

    def open_orders(self) -> Sequence[BrokerOrder]:
        now = self._clock()
        orders = self._broker_orders(self._orders(now - timedelta(days=60), now + MATCH_SLACK))
        return [o for o in orders if not o.status.is_final]

    def _orders(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        answer = call_schwab(
            lambda: self._client.get_orders_for_account(
                self._account_hash(), from_entered_datetime=start, to_entered_datetime=end
            ),
            "orders",
        )
        return [o for o in _json(answer, list) if isinstance(o, dict)]

    def _broker_orders(self, raws: Sequence[dict[str, Any]]) -> list[BrokerOrder]:
        """Schwab's orders with the fund's client ids from their intents (one look-up for them all)."""
        ids = client_ids_of_orders(self._engine, BROKER_NAME, (str(raw.get("orderId")) for raw in raws))
        return [to_broker_order(raw, ids.get(str(raw.get("orderId")))) for raw in raws]


def to_broker_order(raw: dict[str, Any], client_order_id: str | None) -> BrokerOrder:
    """Schwab's order JSON in the fund's vocabulary; the average price is over its execution legs."""
    legs = raw.get("orderLegCollection") or [{}]
    leg = legs[0]
    executions = [
        leg_fill
        for activity in raw.get("orderActivityCollection", [])
        for leg_fill in activity.get("executionLegs", [])
    ]
    shares = sum((_decimal(e.get("quantity", 0)) for e in executions), Decimal(0))
    paid = sum((_decimal(e.get("quantity", 0)) * _decimal(e.get("price", 0)) for e in executions), Decimal(0))
    filled = _decimal(raw.get("filledQuantity", shares))
    status = str(raw.get("status", "UNKNOWN"))
    mapped = _STATUSES.get(status, OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.SUBMITTED)
    quantity = _decimal(raw.get("quantity", leg.get("quantity", 0)))
    return BrokerOrder(
        order_id=str(raw.get("orderId")),
        client_order_id=client_order_id,
        ticker=str(leg.get("instrument", {}).get("symbol")),
        side=OrderSide.BUY if str(leg.get("instruction", "")).startswith("BUY") else OrderSide.SELL,
        quantity=max(quantity, filled),
        filled_quantity=filled,
        average_fill_price=(paid / shares).quantize(Decimal("0.000001")) if filled > 0 and shares > 0 else None,
        status=mapped,
        submitted_at=schwab_time(str(raw.get("enteredTime"))),
        filled_at=schwab_time(str(raw["closeTime"])) if status == "FILLED" and raw.get("closeTime") else None,
        reason=raw.get("statusDescription") if mapped is OrderStatus.REJECTED else None,
    )


def _matches(raw: dict[str, Any], intent: OrderIntent, since: datetime) -> bool:
    legs = raw.get("orderLegCollection") or []
    if len(legs) != 1 or raw.get("orderType") != "MARKET":
        return False
    leg = legs[0]
    instruction = "BUY" if intent.side is OrderSide.BUY else "SELL"
    return (
        leg.get("instrument", {}).get("symbol") == intent.ticker
        and leg.get("instruction") == instruction
        and _decimal(leg.get("quantity", 0)) == intent.quantity
        # Filtered here as well: an early report had the server truncate the query's times to dates.
        and schwab_time(str(raw.get("enteredTime"))) >= since
    )


def schwab_time(text: str) -> datetime:
    """Schwab's '2024-06-03T20:00:00+0000' (or with 'Z', or milliseconds) as an aware UTC datetime."""
    normalised = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise BrokerError(f"Schwab answered a time that cannot be read: {text!r}") from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _first(values: dict[str, Any], *names: str) -> Decimal | None:
    for name in names:
        if values.get(name) is not None:
            return _decimal(values[name])
    return None


def _decimal(value: Any) -> Decimal:
    return broker_decimal(value, "Schwab", "number")


def _json(response: Any, kind: type) -> Any:
    try:
        body = response.json()
    except ValueError as exc:
        raise BrokerError(f"Schwab answered something that is not JSON: {response.text[:120]!r}") from exc
    if not isinstance(body, kind):
        raise BrokerError(f"Schwab answered a {type(body).__name__} where a {kind.__name__} was expected")
    return body
