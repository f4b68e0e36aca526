"""An in-process fake of Alpaca's REST API (trading v2, daily stock bars, and dividends and splits from the
corporate actions API), served over real HTTP on 127.0.0.1 so the real alpaca-py 0.44.0 clients run against it
unchanged: pass `fake.url` as `url_override` to every client.

Facts about alpaca-py and Alpaca that shaped it (see also /work/shared/docs/brokers.md, section 9):
- Both clients build every URL as `url_override + "/v2" + path`, so one server serves both. The data client calls
  only `GET /v2/stocks/bars` (multi-symbol form, symbols=A,B), never `/v2/stocks/{symbol}/bars`.
- CorporateActionsClient builds `url_override + "/v1/corporate-actions"` (one server serves it too). alpaca-py passes
  the client the type name as `corporate_action_type`, so an action's JSON must not carry that key; every action
  needs a UUID `id` and the keys its model requires (a cash dividend: symbol, cusip, rate, special, foreign,
  process_date, ex_date; a forward split: symbol, cusip, new_rate, old_rate, process_date, ex_date; a reverse split
  old_cusip and new_cusip instead of cusip). Alpaca filters by process date (start/end, default today), sorts by
  it, and caps the *total* with `limit` (alpaca-py's default 1000), paging with `next_page_token`.
- StockBarsRequest's `limit` caps the *total* number of bars: the client asks for min(limit - received, 10000) per
  page and stops once it has `limit` bars. Pages therefore only appear past the server's page size (Alpaca: 10 000;
  here `bars_page_size`, which tests lower to exercise paging).
- The client retries every method (not only POST) on 429 and 504, 3 times, with `time.sleep(3)` where the module
  `alpaca.common.rest` did `import time`. Patch it there with `monkeypatch.setattr(alpaca.common.rest, "time", ...)`
  so the process-wide `time.sleep` (and this server's threads) stay untouched.
- Bad keys get 401 `{"message": "unauthorized."}` with no "code": that is what the paper API answered in public
  recorded notes and Alpaca's own error guide (401 "unauthorized"), not 403. `APIError.code` then raises KeyError,
  and on a gateway's HTML body (502/503/504) it raises json.JSONDecodeError.
- Order refusals carry an 8-digit code: 403/40310000 for buying power and held quantity, 422/42210000 for asset
  rules, 422/40010001 for a duplicate client_order_id. Messages marked "unverified" below are modelled, not recorded.

Simplifications (documented, deliberate): buying_power = cash (no margin, no reservation for open buys); long
positions only (a sell with nothing held is refused as a short); trading days are weekdays unless `set_calendar`
says otherwise; only 1Day bars; new orders rest with status `new_order_status` until a test fills them; an action's
process, record and payable dates default to its ex-date (a real dividend is often processed weeks later: pass
`process_date=` to model that); only cash dividends and forward and reverse splits.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
# Everything that is not final; "open" in GET /v2/orders?status=open means exactly these.
OPEN_STATUSES = frozenset(
    {"new", "accepted", "pending_new", "partially_filled", "accepted_for_bidding", "pending_cancel"}
    | {"pending_replace", "held", "calculated", "done_for_day"}
)
TIMES_IN_FORCE = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
NINE_PLACES = Decimal("0.000000001")  # Alpaca takes quantities and notionals to 9 decimal places
GATEWAY_STATUSES = frozenset({502, 503, 504})
# Order keys Alpaca sends as null until they apply (alpaca-py needs none of them, but an adapter may read them).
NULL_ORDER_FIELDS = [
    "filled_at",
    "expired_at",
    "expires_at",
    "canceled_at",
    "failed_at",
    "replaced_at",
    "replaced_by",
    "replaces",
    "filled_avg_price",
    "stop_price",
    "legs",
    "trail_percent",
    "trail_price",
    "hwm",
]

Json = Any
Reply = tuple[int, Json]  # (HTTP status, JSON body or None for an empty body)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Json


class _Refusal(Exception):
    """An error answer; raised from deep inside a handler and turned into the response by the dispatcher."""

    def __init__(self, status: int, body: Json) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _refuse(status: int, code: int, message: str, **extra: Any) -> _Refusal:
    return _Refusal(status, {"code": code, "message": message, **extra})


def _s(amount: Decimal) -> str:
    """Alpaca's money and quantity strings: plain notation, no exponent, no trailing zeros."""
    text = format(amount.normalize(), "f")
    return "0" if text == "-0" else text


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(text: str) -> datetime:
    # A "+" that arrived unencoded in a query string has become a space.
    return _aware(datetime.fromisoformat(text.strip().replace(" ", "+")))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _refuse(422, 40010001, f"invalid {name}") from None
    if not number.is_finite() or number <= 0:
        raise _refuse(422, 40010001, f"{name} must be > 0")
    return number


def _gateway_or_json(status: int) -> Reply:
    phrase = HTTPStatus(status).phrase
    if status in GATEWAY_STATUSES:  # a real gateway answers these with HTML, not Alpaca's JSON
        return status, f"<html><body><h1>{status} {phrase}</h1></body></html>"
    return status, {"code": status * 100000 + 10000, "message": phrase.lower()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAlpaca


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' session expects; every reply sets Content-Length
    # A reply is written as headers then body: with Nagle's algorithm on a kept-alive connection the body
    # waits for the client's delayed acknowledgement, 40 ms a request.
    disable_nagle_algorithm = True
    server: _Server

    def _any(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _any

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


class FakeAlpaca:
    def __init__(
        self,
        *,
        api_key: str = "test-key",
        secret_key: str = "test-secret",
        cash: str = "100000",
        account_number: str = "PA0000TEST",
    ) -> None:
        self._keys = (api_key, secret_key)
        # Re-entrant so that a control method may call another (fill_all_open -> fill) under the same lock.
        self._lock = threading.RLock()
        self._cash = Decimal(cash)
        self._account = {"id": str(uuid.uuid4()), "number": account_number, "status": "ACTIVE", "blocked": False}
        self._created_at = _now()
        self._positions: dict[str, dict[str, Decimal]] = {}  # symbol -> qty, avg, last (last fill price)
        self._prices: dict[str, Decimal] = {}
        self._assets: dict[str, dict[str, Any]] = {}
        self._removed_assets: set[str] = set()
        self._orders: dict[str, dict[str, Any]] = {}  # id -> order JSON, in creation order
        self._bars: dict[str, dict[date, dict[str, Any]]] = {}
        self._actions: list[tuple[str, dict[str, Any]]] = []  # (response key such as "cash_dividends", action JSON)
        self._calendar: list[date] | None = None
        self._clock: dict[str, Any] | None = None
        self._order_faults: list[tuple[Any, ...]] = []
        self._faults: list[list[Any]] = []  # [method, path_prefix, status, remaining]
        self.request_log: list[RecordedRequest] = []
        self.order_posts = 0
        self.new_order_status = "accepted"  # what Alpaca answers outside market hours
        self.bars_page_size = 10_000
        self.actions_page_size = 1000  # Alpaca's largest page
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeAlpaca:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # A short poll interval: shutdown() waits for the loop to notice, and the default 0.5 s adds up over a suite.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-alpaca", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAlpaca:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAlpaca is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(r.method, r.path) for r in self.request_log]

    # ------------------------------------------------------------------ control methods for tests

    def set_price(self, symbol: str, price: Decimal | str | float) -> None:
        with self._lock:
            self._prices[symbol] = Decimal(str(price))

    def set_asset(
        self, symbol: str, *, fractionable: bool = True, tradable: bool = True, exchange: str = "NASDAQ"
    ) -> None:
        with self._lock:
            self._removed_assets.discard(symbol)
            self._assets[symbol] = {"fractionable": fractionable, "tradable": tradable, "exchange": exchange}

    def remove_asset(self, symbol: str) -> None:
        with self._lock:
            self._removed_assets.add(symbol)

    def set_position(self, symbol: str, qty: Decimal | str, avg_entry_price: Decimal | str) -> None:
        """Start a test already holding shares (no cash changes hands)."""
        with self._lock:
            avg = Decimal(str(avg_entry_price))
            self._positions[symbol] = {"qty": Decimal(str(qty)), "avg": avg, "last": avg}

    def set_account_status(self, status: str) -> None:
        with self._lock:
            self._account["status"] = status

    def set_trading_blocked(self, blocked: bool) -> None:
        with self._lock:
            self._account["blocked"] = blocked

    def set_clock(
        self,
        timestamp: datetime,
        is_open: bool | None = None,
        next_open: datetime | None = None,
        next_close: datetime | None = None,
    ) -> None:
        """Freeze GET /v2/clock; whatever is left out is derived from the trading days around `timestamp`
        (a naive timestamp is taken as UTC)."""
        with self._lock:
            self._clock = {"timestamp": timestamp, "is_open": is_open, "next_open": next_open, "next_close": next_close}

    def set_calendar(self, days: list[date]) -> None:
        with self._lock:
            self._calendar = sorted(days)

    def add_bars(self, symbol: str, rows: list[dict[str, Any]]) -> None:
        """rows: dict(date=, open=, high=, low=, close=, volume=[, trade_count=, vwap=]); vwap defaults to close."""
        with self._lock:
            series = self._bars.setdefault(symbol, {})
            for row in rows:
                day: date = row["date"]
                volume = Decimal(str(row["volume"]))
                series[day] = {
                    "t": datetime.combine(day, time(0), NEW_YORK).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "o": float(row["open"]),
                    "h": float(row["high"]),
                    "l": float(row["low"]),
                    "c": float(row["close"]),
                    "v": int(volume) if volume == volume.to_integral_value() else float(volume),
                    "n": int(row.get("trade_count", 1)),
                    "vw": float(row.get("vwap", row["close"])),
                }

    def add_dividend(
        self,
        symbol: str,
        ex_date: date,
        rate: Decimal | str | float,
        *,
        process_date: date | None = None,
        special: bool = False,
        foreign: bool = False,
    ) -> None:
        """A cash dividend of `rate` per share, going ex on `ex_date`."""
        processed = process_date or ex_date
        action = {
            "id": str(uuid.uuid4()),
            "symbol": symbol,
            "cusip": _cusip(symbol),
            "rate": float(rate),
            "special": special,
            "foreign": foreign,
            "process_date": processed.isoformat(),
            "ex_date": ex_date.isoformat(),
            "record_date": ex_date.isoformat(),
            "payable_date": processed.isoformat(),
        }
        with self._lock:
            self._actions.append(("cash_dividends", action))

    def add_split(
        self,
        symbol: str,
        ex_date: date,
        new_rate: Decimal | str | float,
        old_rate: Decimal | str | float,
        *,
        process_date: date | None = None,
    ) -> None:
        """A split of old_rate shares into new_rate on `ex_date`: forward when new_rate > old_rate, else reverse."""
        processed = (process_date or ex_date).isoformat()
        action: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "symbol": symbol,
            "new_rate": float(new_rate),
            "old_rate": float(old_rate),
            "process_date": processed,
            "ex_date": ex_date.isoformat(),
            "record_date": ex_date.isoformat(),
            "payable_date": processed,
        }
        if float(new_rate) > float(old_rate):
            key = "forward_splits"
            action["cusip"] = _cusip(symbol)
        else:  # a reverse split changes the CUSIP
            key = "reverse_splits"
            action.update(old_cusip=_cusip(symbol), new_cusip=_cusip(symbol + "-new"))
        with self._lock:
            self._actions.append((key, action))

    def fail_next_order_posts(self, *faults: tuple[Any, ...]) -> None:
        """Queue faults for the next POST /v2/orders, one each: ("status", code), ("after_create", code), ("drop",),
        ("drop_after_create",), ("delay", seconds)."""
        unknown = [f for f in faults if f[0] not in ("status", "after_create", "drop", "drop_after_create", "delay")]
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        with self._lock:
            self._order_faults.extend(faults)

    def fail_next(self, method: str, path_prefix: str, status: int, count: int = 1) -> None:
        with self._lock:
            self._faults.append([method.upper(), path_prefix, status, count])

    def fill(
        self, order_id: str, qty: Decimal | str | None = None, price: Decimal | str | None = None
    ) -> dict[str, Any]:
        """Fill an open order fully, or by `qty` shares, at `price` (default: set_price's); returns the order."""
        with self._lock:
            order = self._orders[order_id]
            if order["status"] not in OPEN_STATUSES:
                raise ValueError(f"order {order_id} is {order['status']}")
            symbol = order["symbol"]
            px = Decimal(str(price)) if price is not None else self._prices.get(symbol)
            if px is None:
                raise ValueError(f"no price for {symbol}: pass price= or call set_price")
            filled = Decimal(order["filled_qty"])
            average = Decimal(order["filled_avg_price"] or "0")
            if order["qty"] is not None:
                remaining = Decimal(order["qty"]) - filled
            else:  # a notional order: whatever the unspent dollars buy at this price
                remaining = ((Decimal(order["notional"]) - filled * average) / px).quantize(NINE_PLACES, ROUND_DOWN)
            shares = remaining if qty is None else Decimal(str(qty))
            if not 0 < shares <= remaining:
                raise ValueError(f"cannot fill {shares} of {order_id}: {remaining} remaining")
            total = filled + shares
            now = _now()
            complete = shares == remaining
            order.update(
                filled_qty=_s(total),
                filled_avg_price=_s(((filled * average + shares * px) / total).quantize(NINE_PLACES)),
                status="filled" if complete else "partially_filled",
                updated_at=_ts(now),
                filled_at=_ts(now) if complete else None,
            )
            self._book_fill(symbol, order["side"], shares, px)
            return dict(order)

    def fill_all_open(self, prices: dict[str, Decimal | str] | None = None) -> None:
        with self._lock:
            for order in list(self._orders.values()):
                if order["status"] in OPEN_STATUSES:
                    self.fill(order["id"], price=(prices or {}).get(order["symbol"]))

    def expire_open(self) -> None:
        """Day orders at the close: every open order (partially filled ones keep their fills) becomes expired."""
        self._finish_open(lambda order: True, "expired", "expired_at")

    def reject(self, order_id: str, reason: str) -> None:
        """Alpaca's order JSON has no field for the reason; it only shows status "rejected" and failed_at."""
        self._finish_open(lambda order: order["id"] == order_id, "rejected", "failed_at")

    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(order) for order in self._orders.values()]

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._find_by_client_id(client_order_id)
            return dict(found) if found else None

    def positions(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {symbol: self._position_json(symbol) for symbol in sorted(self._positions)}

    @property
    def cash(self) -> Decimal:
        with self._lock:
            return self._cash

    def deposit(self, amount: Decimal) -> None:
        """Cash moved into (or, negative, out of) the account outside any order: a transfer."""
        with self._lock:
            self._cash += amount

    def place_order_by_hand(self, symbol: str, side: str, qty: str) -> dict[str, Any]:
        """An order placed at Alpaca by someone else (a person on the web site): its own client id."""
        body = {"symbol": symbol, "side": side, "type": "market", "time_in_force": "day", "qty": qty}
        with self._lock:
            return dict(self._submit(body))

    # ------------------------------------------------------------------ state helpers (call with the lock held)

    def _finish_open(self, chosen: Callable[[dict[str, Any]], bool], status: str, stamp: str) -> None:
        with self._lock:
            now = _ts(_now())
            for order in self._orders.values():
                if order["status"] in OPEN_STATUSES and chosen(order):
                    order.update({"status": status, stamp: now, "updated_at": now})

    def _book_fill(self, symbol: str, side: str, shares: Decimal, px: Decimal) -> None:
        position = self._positions.get(symbol, {"qty": Decimal(0), "avg": Decimal(0), "last": px})
        if side == "buy":
            self._cash -= shares * px
            qty = position["qty"] + shares
            position["avg"] = ((position["qty"] * position["avg"] + shares * px) / qty).quantize(NINE_PLACES)
        else:
            self._cash += shares * px
            qty = position["qty"] - shares
        position.update(qty=qty, last=px)
        if qty == 0:
            self._positions.pop(symbol, None)
        else:
            self._positions[symbol] = position

    def _find_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        return next((o for o in self._orders.values() if o["client_order_id"] == client_order_id), None)

    def _held_for_orders(self, symbol: str) -> Decimal:
        return sum(
            (
                Decimal(o["qty"]) - Decimal(o["filled_qty"])
                for o in self._orders.values()
                if o["symbol"] == symbol and o["side"] == "sell" and o["status"] in OPEN_STATUSES and o["qty"]
            ),
            Decimal(0),
        )

    def _asset_json(self, symbol: str) -> dict[str, Any]:
        if symbol in self._removed_assets:
            raise _refuse(404, 40410000, f"asset not found for {symbol}")  # message unverified
        asset = self._assets.get(symbol, {"fractionable": True, "tradable": True, "exchange": "NASDAQ"})
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-asset:{symbol}")),
            "class": "us_equity",  # alpaca-py reads asset_class from the key "class"
            "exchange": asset["exchange"],
            "symbol": symbol,
            "name": f"{symbol} Inc. Common Stock",
            "status": "active",
            "tradable": asset["tradable"],
            "marginable": True,
            "maintenance_margin_requirement": 30,
            "shortable": True,
            "easy_to_borrow": True,
            "fractionable": asset["fractionable"],
            "attributes": [],
        }

    def _position_json(self, symbol: str) -> dict[str, Any]:
        position = self._positions[symbol]
        qty, avg = position["qty"], position["avg"]
        price = self._prices.get(symbol, position["last"])
        value, cost = qty * price, qty * avg
        pl_pct = ((value - cost) / cost).quantize(Decimal("1e-10")) if cost else Decimal(0)
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-asset:{symbol}")),
            "symbol": symbol,
            "exchange": self._assets.get(symbol, {}).get("exchange", "NASDAQ"),
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": _s(qty),
            "qty_available": _s(qty - self._held_for_orders(symbol)),
            "avg_entry_price": _s(avg),
            "side": "long",
            "market_value": _s(value),
            "cost_basis": _s(cost),
            "unrealized_pl": _s(value - cost),
            "unrealized_plpc": _s(pl_pct),
            "unrealized_intraday_pl": _s(value - cost),
            "unrealized_intraday_plpc": _s(pl_pct),
            "current_price": _s(price),
            "lastday_price": _s(price),
            "change_today": "0",
        }

    def _account_json(self) -> dict[str, Any]:
        long_value = sum((Decimal(self._position_json(s)["market_value"]) for s in self._positions), Decimal(0))
        equity, cash = self._cash + long_value, _s(self._cash)
        return {
            "id": self._account["id"],
            "account_number": self._account["number"],
            "status": self._account["status"],
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": cash,  # simplification: no margin and no reservation for open buy orders
            "regt_buying_power": cash,
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": cash,
            "cash": cash,
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": _s(equity),
            "pattern_day_trader": False,
            "trading_blocked": self._account["blocked"],
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": _ts(self._created_at),
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": False,
            "equity": _s(equity),
            "last_equity": _s(equity),
            "long_market_value": _s(long_value),
            "short_market_value": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = unquote(split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))  # always drain: keep-alive
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = _Refusal(400, {"code": 40010000, "message": "request body format is invalid"})
        method = handler.command
        is_order_post = method == "POST" and path.rstrip("/") == "/v2/orders"
        with self._lock:
            self.request_log.append(RecordedRequest(method, path, query, None if isinstance(body, _Refusal) else body))
            self.order_posts += is_order_post
        if (handler.headers.get("APCA-API-KEY-ID"), handler.headers.get("APCA-API-SECRET-KEY")) != self._keys:
            return self._write(handler, (401, {"message": "unauthorized."}))
        with self._lock:
            generic = next((f for f in self._faults if f[0] == method and path.startswith(f[1]) and f[3] > 0), None)
            if generic:
                generic[3] -= 1
            fault = self._order_faults.pop(0) if is_order_post and self._order_faults and not generic else None
        if generic:
            return self._write(handler, _gateway_or_json(generic[2]))
        if fault and fault[0] == "delay":
            threading.Event().wait(fault[1])  # not time.sleep, which a test may have patched
        elif fault and fault[0] == "status":
            return self._write(handler, _gateway_or_json(fault[1]))
        elif fault and fault[0] == "drop":
            handler.close_connection = True  # the client sees the socket close with no response
            return None
        reply = self._dispatch(method, path, query, body)
        if fault and fault[0] == "after_create":
            reply = _gateway_or_json(fault[1])
        elif fault and fault[0] == "drop_after_create":
            handler.close_connection = True
            return None
        return self._write(handler, reply)

    def _write(self, handler: _Handler, reply: Reply) -> None:
        status, body = reply
        if body is None:
            data, content_type = b"", "application/json"
        elif isinstance(body, str):
            data, content_type = body.encode(), "text/html"
        else:
            data, content_type = json.dumps(body).encode(), "application/json; charset=UTF-8"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Json) -> Reply:
        try:
            if isinstance(body, _Refusal):
                raise body
            with self._lock:
                return self._route(method, tuple(p for p in path.split("/") if p), query, body)
        except _Refusal as refusal:
            return refusal.status, refusal.body
        except ValueError as exc:  # a malformed query value (a date, a limit); message unverified
            return 422, {"code": 40010001, "message": str(exc)}

    def _route(self, method: str, parts: tuple[str, ...], query: dict[str, str], body: Json) -> Reply:
        match (method, parts):
            case ("GET", ("v2", "account")):
                return 200, self._account_json()
            case ("GET", ("v2", "positions")):
                return 200, [self._position_json(s) for s in sorted(self._positions)]
            case ("GET", ("v2", "positions", symbol)):
                if symbol not in self._positions:
                    raise _refuse(404, 40410000, "position does not exist")
                return 200, self._position_json(symbol)
            case ("GET", ("v2", "assets", symbol)):
                return 200, self._asset_json(symbol)
            case ("POST", ("v2", "orders")):
                return 200, dict(self._submit(body if isinstance(body, dict) else {}))
            case ("GET", ("v2", "orders")):
                return 200, self._list_orders(query)
            case ("DELETE", ("v2", "orders")):
                return 207, [self._cancel(o["id"]) for o in list(self._orders.values()) if o["status"] in OPEN_STATUSES]
            case ("GET", ("v2", "orders:by_client_order_id")):
                cid = query.get("client_order_id", "")
                found = self._find_by_client_id(cid)
                if found is None:
                    raise _refuse(404, 40410000, f"order not found for {cid}")
                return 200, dict(found)
            case ("GET", ("v2", "orders", order_id)):
                return 200, dict(self._order(order_id))
            case ("DELETE", ("v2", "orders", order_id)):
                self._cancel(order_id)
                return 204, None
            case ("GET", ("v2", "clock")):
                return 200, self._clock_json()
            case ("GET", ("v2", "calendar")):
                return 200, self._calendar_json(query)
            case ("GET", ("v2", "stocks", "bars")):
                return 200, self._bars_page(query)
            case ("GET", ("v1", "corporate-actions")):
                return 200, self._corporate_actions_page(query)
        raise _refuse(404, 40410000, "endpoint not found")

    # ------------------------------------------------------------------ orders

    def _order(self, order_id: str) -> dict[str, Any]:
        if order_id not in self._orders:
            raise _refuse(404, 40410000, f"order not found for {order_id}")
        return self._orders[order_id]

    def _cancel(self, order_id: str) -> dict[str, Any]:
        order = self._order(order_id)
        if order["status"] not in OPEN_STATUSES:
            raise _refuse(422, 42210000, "order is not cancelable")
        now = _ts(_now())
        order.update(status="canceled", canceled_at=now, updated_at=now)
        return {"id": order_id, "status": 200, "body": dict(order)}

    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        symbol, side, kind, tif = (body.get(k) for k in ("symbol", "side", "type", "time_in_force"))
        if not isinstance(symbol, str) or not symbol:
            raise _refuse(422, 40010001, "symbol is required")
        if side not in ("buy", "sell"):
            raise _refuse(422, 40010001, "invalid side")  # message unverified
        if kind not in ("market", "limit"):
            raise _refuse(422, 40010001, f"order type {kind!r} is not supported by the fake")
        if tif not in TIMES_IN_FORCE:
            raise _refuse(422, 40010001, "invalid time_in_force")  # message unverified
        if (body.get("qty") is None) == (body.get("notional") is None):
            raise _refuse(422, 40010001, "exactly one of qty or notional is required")  # message unverified
        qty = _decimal(body["qty"], "qty") if body.get("qty") is not None else None
        notional = _decimal(body["notional"], "notional") if qty is None else None
        limit_price = _decimal(body["limit_price"], "limit_price") if kind == "limit" else None
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if len(cid) > 48:  # Alpaca's documented maxLength; message unverified
            raise _refuse(422, 40010001, "client_order_id must be no more than 48 characters")
        if self._find_by_client_id(cid) is not None:
            raise _refuse(422, 40010001, "client_order_id must be unique")
        if self._account["status"] != "ACTIVE" or self._account["blocked"]:
            raise _refuse(403, 40310000, "account is not allowed to trade")  # message unverified
        if symbol in self._removed_assets:
            raise _refuse(422, 42210000, f'asset "{symbol}" not found')
        asset = self._asset_json(symbol)
        if not asset["tradable"]:
            raise _refuse(422, 42210000, f'asset "{symbol}" is not tradable')  # message unverified
        fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
        if fractional and not asset["fractionable"]:
            raise _refuse(422, 42210000, f'asset "{symbol}" is not fractionable')
        if fractional and tif != "day":
            raise _refuse(422, 42210000, "fractional orders must be DAY orders")
        price = limit_price or self._prices.get(symbol)
        if side == "sell":
            estimate = notional / price if notional is not None and price else None  # a notional sell's shares
            self._check_sell(symbol, qty if qty is not None else estimate, fractional)
        else:
            cost = notional if notional is not None else (qty * price if qty is not None and price else None)
            if cost is not None and cost > self._cash:
                raise _refuse(
                    403, 40310000, "insufficient buying power", buying_power=_s(self._cash), cost_basis=_s(cost)
                )
        now = _ts(_now())
        order_id = str(uuid.uuid4())
        self._orders[order_id] = {
            "id": order_id,
            "client_order_id": cid,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            **dict.fromkeys(NULL_ORDER_FIELDS),
            "asset_id": asset["id"],
            "symbol": symbol,
            "asset_class": "us_equity",
            "notional": _s(notional) if notional is not None else None,
            "qty": _s(qty) if qty is not None else None,
            "filled_qty": "0",
            "order_class": "simple",
            "order_type": kind,
            "type": kind,
            "side": side,
            "position_intent": "buy_to_open" if side == "buy" else "sell_to_close",
            "time_in_force": tif,
            "limit_price": _s(limit_price) if limit_price is not None else None,
            "status": self.new_order_status,
            "extended_hours": bool(body.get("extended_hours", False)),
        }
        return self._orders[order_id]

    def _check_sell(self, symbol: str, qty: Decimal | None, fractional: bool) -> None:
        held = self._positions.get(symbol, {}).get("qty", Decimal(0))
        if held <= 0:  # the fake holds long positions only, as if no asset could be shorted
            message = (
                "fractional orders cannot be sold short" if fractional else f'asset "{symbol}" cannot be sold short'
            )
            raise _refuse(422, 42210000, message)
        reserved = self._held_for_orders(symbol)
        if qty is not None and qty > held - reserved:
            raise _refuse(
                403,
                40310000,
                f"insufficient qty available for order (requested: {_s(qty)}, available: {_s(held - reserved)})",
                available=_s(held - reserved),
                existing_qty=_s(held),
                held_for_orders=_s(reserved),
                related_orders=[],
                symbol=symbol,
            )

    def _list_orders(self, query: dict[str, str]) -> list[dict[str, Any]]:
        wanted = query.get("status", "open")
        symbols = {s for s in query.get("symbols", "").split(",") if s}
        after = _parse_time(query["after"]) if query.get("after") else None
        until = _parse_time(query["until"]) if query.get("until") else None
        chosen = []
        for order in self._orders.values():
            submitted = _parse_time(order["submitted_at"])
            is_open = order["status"] in OPEN_STATUSES
            if (wanted == "open" and not is_open) or (wanted == "closed" and is_open):
                continue
            if (symbols and order["symbol"] not in symbols) or query.get("side", order["side"]) != order["side"]:
                continue
            if (after and submitted <= after) or (until and submitted >= until):
                continue
            chosen.append(dict(order))
        chosen.sort(key=lambda o: o["submitted_at"])  # stable: ties keep creation order
        if query.get("direction", "desc") == "desc":
            chosen.reverse()
        return chosen[: min(int(query.get("limit") or 50), 500)]  # Alpaca's default 50, maximum 500

    # ------------------------------------------------------------------ clock and calendar

    def _is_trading_day(self, day: date) -> bool:
        return day in self._calendar if self._calendar is not None else day.weekday() < 5

    def _session(self, day: date) -> tuple[datetime, datetime]:
        return datetime.combine(day, time(9, 30), NEW_YORK), datetime.combine(day, time(16), NEW_YORK)

    def _clock_json(self) -> dict[str, Any]:
        frozen = self._clock or {}
        now = _aware(frozen.get("timestamp") or _now()).astimezone(NEW_YORK)
        opens, closes = self._session(now.date())
        is_open = self._is_trading_day(now.date()) and opens <= now < closes
        day = now.date()
        while not (self._is_trading_day(day) and self._session(day)[0] > now):
            day += timedelta(days=1)
            if day > now.date() + timedelta(days=366):
                raise _refuse(500, 50010000, "no trading day within a year")
        next_open = self._session(day)[0]
        next_close = closes if is_open else self._session(day)[1]
        values = {
            "timestamp": now,
            "is_open": is_open if frozen.get("is_open") is None else frozen["is_open"],
            "next_open": _aware(frozen.get("next_open") or next_open),
            "next_close": _aware(frozen.get("next_close") or next_close),
        }
        # Alpaca states clock times with New York's offset, e.g. 2024-01-04T09:30:00-05:00.
        return {k: v.astimezone(NEW_YORK).isoformat() if isinstance(v, datetime) else v for k, v in values.items()}

    def _calendar_json(self, query: dict[str, str]) -> list[dict[str, str]]:
        # Without bounds Alpaca sends decades; the fake sends this year and next.
        today = _now().date()
        start = date.fromisoformat(query["start"]) if query.get("start") else date(today.year, 1, 1)
        end = date.fromisoformat(query["end"]) if query.get("end") else date(today.year + 1, 12, 31)
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        return [
            {
                "date": day.isoformat(),
                "open": "09:30",  # alpaca-py parses "%H:%M" only
                "close": "16:00",
                "session_open": "0400",
                "session_close": "2000",
            }
            for day in days
            if self._is_trading_day(day)
        ]

    # ------------------------------------------------------------------ market data

    def _bars_page(self, query: dict[str, str]) -> dict[str, Any]:
        symbols = sorted({s for s in query.get("symbols", "").split(",") if s})
        if not symbols:
            raise _refuse(400, 40010001, "missing symbols")  # message unverified
        if query.get("timeframe") not in ("1Day", "1D"):
            raise _refuse(422, 42210000, "the fake serves 1Day bars only")
        # Alpaca's defaults: from the start of the current New York day until now.
        start = (
            _parse_time(query["start"])
            if query.get("start")
            else datetime.combine(_now().astimezone(NEW_YORK).date(), time(0), NEW_YORK)
        )
        end = _parse_time(query["end"]) if query.get("end") else _now()
        limit = int(query.get("limit") or 1000)
        if not 1 <= limit <= 10_000:
            raise _refuse(422, 42210000, "invalid limit: must be between 1 and 10000")
        try:
            offset = int(base64.urlsafe_b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
        except ValueError:
            raise _refuse(400, 40010001, "invalid page token") from None
        descending = query.get("sort") == "desc"
        rows = [
            (symbol, bar)
            for symbol in symbols
            for bar in sorted(self._bars.get(symbol, {}).values(), key=lambda b: b["t"], reverse=descending)
            if start <= _parse_time(bar["t"]) <= end
        ]
        size = min(limit, self.bars_page_size)
        bars: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in rows[offset : offset + size]:
            bars.setdefault(symbol, []).append(dict(bar))
        more = offset + size < len(rows)
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else None
        return {"bars": bars, "next_page_token": token}

    def _corporate_actions_page(self, query: dict[str, str]) -> dict[str, Any]:
        symbols = {s for s in query.get("symbols", "").split(",") if s}
        # Types are singular in the query (cash_dividend) and plural as response keys (cash_dividends).
        types = {f"{t}s" for t in query.get("types", "").split(",") if t}
        today = _now().astimezone(NEW_YORK).date()
        start = date.fromisoformat(query["start"]) if query.get("start") else today
        end = date.fromisoformat(query["end"]) if query.get("end") else today
        limit = int(query.get("limit") or 100)  # Alpaca's default page is 100 actions
        if not 1 <= limit <= 1000:
            raise _refuse(422, 42210000, "invalid limit: must be between 1 and 1000")  # message unverified
        try:
            offset = int(base64.urlsafe_b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
        except ValueError:
            raise _refuse(400, 40010001, "invalid page token") from None
        chosen = [
            (key, action)
            for key, action in self._actions
            if (not symbols or action.get("symbol", action.get("old_symbol")) in symbols)
            and (not types or key in types)
            and start <= date.fromisoformat(action["process_date"]) <= end
        ]
        chosen.sort(key=lambda item: item[1]["process_date"], reverse=query.get("sort") == "desc")
        size = min(limit, self.actions_page_size)
        page: dict[str, list[dict[str, Any]]] = {}
        for key, action in chosen[offset : offset + size]:
            page.setdefault(key, []).append(dict(action))
        more = offset + size < len(chosen)
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else None
        return {"corporate_actions": page, "next_page_token": token}


def _cusip(symbol: str) -> str:
    """A stable 9-character stand-in for a CUSIP (not a valid one: nothing here checks the digit)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"cusip:{symbol}").hex[:9].upper()
