"""The Broker interface over Alpaca's trading API (alpaca-py), in its paper or live environment.

What the fund sends: a market order, time in force `day`, for a quantity of shares (fractional where
the asset is `fractionable`, else whole shares), always with the fund's deterministic client order id.
The daily run sends after the close; Alpaca queues a day order sent then for the next session, where
it fills at the open auction, which is what the paper venue and the backtest model. `day`, not `opg`:
Alpaca accepts fractional orders only as `day`, and an `opg` order sent after 9:28 ET is rejected
rather than queued. An order the day leaves unfilled expires at that session's close, and the next
run records it as the paper venue's expired orders are recorded.

A submit may reach Alpaca twice (a timeout after Alpaca accepted it, then a retry): Alpaca refuses the
second under the same client order id with a 422 (code 40010001), which this adapter answers with the
order Alpaca already has, so a retried submit is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import PositionSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Asset, Order, Position, TradeAccount
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest

from trading.brokers.alpaca.client import (
    DUPLICATE_CLIENT_ORDER_ID,
    api_error_body,
    call_alpaca,
    translate_api_error,
    translate_error,
)
from trading.brokers.base import BrokerCapabilities, SyncReport, VenueEvent, VenueEventKind
from trading.brokers.numbers import broker_decimal
from trading.db.schema import utcnow
from trading.errors import BrokerError, InsufficientFunds, OrderNotFound, OrderRejected
from trading.orders import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    QUANTITY_PLACES,
    AccountSnapshot,
    BrokerOrder,
    BrokerPosition,
    OrderRequest,
    OrderSide,
    OrderStatus,
)

logger = logging.getLogger(__name__)

BROKER_NAME = "alpaca"
NEW_YORK = ZoneInfo("America/New_York")
# Alpaca answers at most 500 orders a page.
PAGE = 500

# Alpaca's order statuses onto the ledger's (trading/orders.py OrderStatus); anything else is still working.
_STATUSES: dict[str, OrderStatus] = {
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    # The fund never replaces an order; one replaced by a person is, for the fund, canceled.
    "replaced": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    # No more fills today: a day order then expires at the close.
    "done_for_day": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_EVENTS = {
    OrderStatus.FILLED: VenueEventKind.FILL,
    OrderStatus.REJECTED: VenueEventKind.REJECTED,
    OrderStatus.EXPIRED: VenueEventKind.EXPIRED,
}


class AlpacaBroker:
    """The fund account `account_id` held at Alpaca, reached through `client` (client.py builds it)."""

    def __init__(
        self,
        client: TradingClient,
        account_id: str,
        *,
        external_account: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._client = client
        self._account_id = account_id
        self._external_account = external_account
        self._clock = clock
        self._assets: dict[str, Asset] = {}

    @property
    def name(self) -> str:
        return BROKER_NAME

    @property
    def capabilities(self) -> BrokerCapabilities:
        return BrokerCapabilities(
            fractional_shares=True,
            notional_orders=True,
            client_order_ids=True,
            max_client_order_id_length=MAX_CLIENT_ORDER_ID_LENGTH,
        )

    # --- the account ------------------------------------------------------------------------------

    def sync(self, session: date) -> SyncReport:
        """Check that the keys reach the linked, active account, then report what became of the
        account's orders on `session` (fills, rejections, expiries; Alpaca applies splits and
        dividends to the positions itself)."""
        self._trade_account()
        start = datetime.combine(session, time(0), NEW_YORK).astimezone(UTC)
        end = datetime.combine(session + timedelta(days=1), time(0), NEW_YORK).astimezone(UTC)
        events = []
        for order in self._orders(QueryOrderStatus.CLOSED, after=start - timedelta(days=5)):
            broker_order = to_broker_order(order)
            kind = _EVENTS.get(broker_order.status)
            updated = order.updated_at
            if kind is None or not start <= updated.astimezone(UTC) < end:
                continue
            detail = f"{broker_order.side} {broker_order.quantity} {broker_order.ticker}: {broker_order.status}"
            if broker_order.average_fill_price is not None:
                detail += f" {broker_order.filled_quantity} at {broker_order.average_fill_price}"
            events.append(VenueEvent(session, kind, broker_order.ticker, detail))
        return SyncReport(session, tuple(events))

    def account(self) -> AccountSnapshot:
        account = self._trade_account()
        return AccountSnapshot(
            account_id=self._account_id,
            cash=_alpaca_decimal(account.cash, "cash"),
            buying_power=_alpaca_decimal(account.buying_power, "buying power"),
            equity=_alpaca_decimal(account.equity, "equity"),
            as_of=self._clock(),
        )

    def positions(self) -> Sequence[BrokerPosition]:
        held = _models(Position, call_alpaca(self._client.get_all_positions, "positions"))
        return [
            BrokerPosition(
                ticker=p.symbol,
                quantity=_signed(_alpaca_decimal(p.qty, "qty"), p.side),
                average_price=_alpaca_decimal(p.avg_entry_price, "avg_entry_price"),
                market_value=None if p.market_value is None else _alpaca_decimal(p.market_value, "market_value"),
            )
            for p in held
        ]

    def _trade_account(self) -> TradeAccount:
        account = _model(TradeAccount, call_alpaca(self._client.get_account, "account"))
        number = account.account_number
        if self._external_account is not None and number != self._external_account:
            raise BrokerError(
                f"the Alpaca keys reach account {number}, but {self._account_id} is linked to "
                f"{self._external_account}: are these the other environment's keys (paper against live)?"
            )
        status = getattr(account.status, "value", account.status)
        if status != "ACTIVE" or account.trading_blocked or account.account_blocked:
            raise BrokerError(
                f"Alpaca account {number} cannot trade: status {status}, trading blocked {account.trading_blocked}, "
                f"account blocked {account.account_blocked}"
            )
        return account

    # --- orders -----------------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> BrokerOrder:
        quantity = self._sendable_quantity(request)
        what = f"submit {request.client_order_id} ({request.side} {quantity} {request.ticker})"
        try:
            # Inside the try: alpaca-py validates the request itself, and its refusal is translated too.
            order_data = MarketOrderRequest(
                symbol=request.ticker,
                qty=float(quantity),
                side=AlpacaSide.BUY if request.side is OrderSide.BUY else AlpacaSide.SELL,
                time_in_force=TimeInForce.DAY,
                client_order_id=request.client_order_id,
            )
            order = _model(Order, self._client.submit_order(order_data))
        except APIError as exc:
            code, message = api_error_body(exc)
            if exc.status_code == 422 and code == DUPLICATE_CLIENT_ORDER_ID:
                # It reached Alpaca before (a retried submit): answer with the order Alpaca has.
                known = self.find_by_client_order_id(request.client_order_id)
                if known is None:
                    raise BrokerError(f"Alpaca {what}: refused as a duplicate, but no order has that id") from exc
                logger.info("%s had already reached Alpaca as %s", request.client_order_id, known.order_id)
                return known
            if exc.status_code == 403 and "buying power" in message.lower():
                raise InsufficientFunds(f"Alpaca {what}: {message}") from exc
            if exc.status_code == 403 and "not authorized" not in message.lower():
                raise OrderRejected(f"Alpaca {what}: {message}") from exc
            raise translate_api_error(exc, what) from exc
        except Exception as exc:
            translated = translate_error(exc, what)
            if translated is None:
                raise
            raise translated from exc
        return to_broker_order(order)

    def _sendable_quantity(self, request: OrderRequest) -> Decimal:
        """The request's quantity, in whole shares where Alpaca cannot trade a fraction of the asset."""
        asset = self._asset(request.ticker)
        if not asset.tradable:
            raise OrderRejected(f"{request.ticker} is not tradable at Alpaca")
        quantity = request.quantity.quantize(Decimal(1).scaleb(-QUANTITY_PLACES), rounding=ROUND_DOWN)
        if quantity != quantity.to_integral_value() and not asset.fractionable:
            whole = quantity.to_integral_value(rounding=ROUND_DOWN)
            if whole == 0:
                raise OrderRejected(f"{request.ticker} is not fractionable at Alpaca and {quantity} is below one share")
            logger.warning(
                "%s is not fractionable at Alpaca: %s sends %s whole shares, not %s",
                request.ticker,
                request.client_order_id,
                whole,
                quantity,
            )
            quantity = whole
        return quantity

    def _asset(self, ticker: str) -> Asset:
        if ticker not in self._assets:
            try:
                answer = call_alpaca(lambda: self._client.get_asset(ticker), f"asset {ticker}")
                self._assets[ticker] = _model(Asset, answer)
            except OrderNotFound as exc:
                raise OrderRejected(f"Alpaca does not know the asset {ticker}") from exc
        return self._assets[ticker]

    def get_order(self, order_id: str) -> BrokerOrder:
        order = call_alpaca(lambda: self._client.get_order_by_id(order_id), f"order {order_id}")
        return to_broker_order(_model(Order, order))

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        try:
            order = call_alpaca(
                lambda: self._client.get_order_by_client_id(client_order_id), f"look up {client_order_id}"
            )
        except OrderNotFound:
            return None  # it never reached Alpaca: sending it is safe
        return to_broker_order(_model(Order, order))

    def cancel(self, order_id: str) -> None:
        try:
            call_alpaca(lambda: self._client.cancel_order_by_id(order_id), f"cancel {order_id}")
        except OrderRejected as exc:
            # 422: no longer cancelable (filled or closed meanwhile); the caller reads the outcome back.
            logger.info("%s", exc)

    def open_orders(self) -> Sequence[BrokerOrder]:
        return [to_broker_order(o) for o in self._orders(QueryOrderStatus.OPEN)]

    def _orders(self, status: QueryOrderStatus, after: datetime | None = None) -> list[Order]:
        """Every order with the status, oldest first, page by page (Alpaca gives at most 500 a call)."""
        found: list[Order] = []
        while True:
            query = GetOrdersRequest(status=status, limit=PAGE, after=after, direction=Sort.ASC, nested=False)
            answer = call_alpaca(lambda q=query: self._client.get_orders(q), f"{status.value} orders")  # type: ignore[misc]
            page = _models(Order, answer)
            found.extend(page)
            if len(page) < PAGE:
                return found
            after = page[-1].submitted_at


def _signed(quantity: Decimal, side: PositionSide) -> Decimal:
    """A short position (never opened by this long-only fund) as a negative quantity, however Alpaca signs it."""
    return -abs(quantity) if side == PositionSide.SHORT else abs(quantity)


def to_broker_order(order: Order) -> BrokerOrder:
    """Alpaca's order in the fund's vocabulary (trading/orders.py)."""
    status = getattr(order.status, "value", str(order.status))
    filled = _alpaca_decimal(order.filled_qty or "0", "filled_qty")
    mapped = _STATUSES.get(status, OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.SUBMITTED)
    # A notional order has no quantity until it fills; the fund sends none, but a person might.
    quantity = _alpaca_decimal(order.qty, "qty") if order.qty is not None else filled
    price = order.filled_avg_price
    side = getattr(order.side, "value", order.side)
    return BrokerOrder(
        order_id=str(order.id),
        client_order_id=order.client_order_id,
        ticker=str(order.symbol),
        side=OrderSide(str(side)),
        quantity=max(quantity, filled),
        filled_quantity=filled,
        average_fill_price=_alpaca_decimal(price, "filled_avg_price") if filled > 0 and price is not None else None,
        status=mapped,
        submitted_at=(order.submitted_at or order.created_at).astimezone(UTC),
        filled_at=None if order.filled_at is None else order.filled_at.astimezone(UTC),
        reason=None if status in _STATUSES or status in ("new", "accepted", "pending_new") else f"alpaca: {status}",
    )


M = TypeVar("M")


def _model(kind: type[M], answer: object) -> M:
    # alpaca-py's methods are typed "model or raw dict"; the fund's clients always ask for models.
    if not isinstance(answer, kind):
        raise BrokerError(f"Alpaca answered {type(answer).__name__} where a {kind.__name__} was expected")
    return answer


def _models(kind: type[M], answer: object) -> list[M]:
    if not isinstance(answer, list):
        raise BrokerError(f"Alpaca answered {type(answer).__name__} where a list of {kind.__name__} was expected")
    return [_model(kind, item) for item in answer]


def _alpaca_decimal(value: Any, field: str) -> Decimal:
    return broker_decimal(value, "Alpaca", field)
