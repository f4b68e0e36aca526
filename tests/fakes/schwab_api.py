"""A fake of Schwab's trader API and OAuth token endpoint, as one function from an httpx.Request to an
httpx.Response: the real schwab-py (and Authlib's OAuth2 client under it) runs against it through an
`httpx.MockTransport`, or over real HTTP through `serve()` for a command in another process.

Shapes follow Schwab's published OpenAPI specification as summarised in /work/shared/docs/brokers.md
(sections 2, 3, 6): `get_account_numbers` answers [{accountNumber, hashValue}]; `place_order` answers 201
with an empty body and the order's URL in the Location header (always on api.schwabapi.com, as the real
service writes it); errors carry {"message", "errors"}; every call needs `Authorization: Bearer <access
token>` (401 otherwise); the token endpoint takes the authorization_code and refresh_token grants.

Simplifications: one CASH account; orders rest as WORKING until a test fills, expires or rejects them;
market orders only; positions long only.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx

HOST = "https://api.schwabapi.com"
FINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", "REPLACED"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeSchwab:
    def __init__(self, *, cash: str = "100000", account_number: str = "12345678", app_key: str = "app-key") -> None:
        self.account_number = account_number
        self.account_hash = "HASH" + account_number
        self.app_key = app_key
        self.cash = Decimal(cash)
        self.positions: dict[str, dict[str, Decimal]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.order_posts = 0
        self.access_token = "access-1"
        self.refresh_token = "refresh-1"
        self.refused_refresh = False
        self._ids = itertools.count(1001)
        self._tokens = itertools.count(2)
        self._faults: list[list[Any]] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # --- controls --------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(self, method: str, path_prefix: str, status: int, count: int = 1, *, after: bool = False) -> None:
        """The next `count` calls answer `status` (after doing their work when `after`: an order placed, then lost)."""
        with self._lock:
            self._faults.append([method, path_prefix, status, count, after])

    def fill(self, order_id: int, quantity: Decimal | None = None, price: str = "100") -> None:
        with self._lock:
            order = self.orders[order_id]
            leg = order["orderLegCollection"][0]
            symbol, instruction = leg["instrument"]["symbol"], leg["instruction"]
            shares = quantity if quantity is not None else Decimal(str(order["remainingQuantity"]))
            px = Decimal(price)
            order["filledQuantity"] = float(Decimal(str(order["filledQuantity"])) + shares)
            order["remainingQuantity"] = float(Decimal(str(order["quantity"])) - Decimal(str(order["filledQuantity"])))
            activity = {"executionType": "FILL", "quantity": float(shares), "executionLegs": []}
            activity["executionLegs"].append({"price": float(px), "quantity": float(shares), "time": _now()})
            order.setdefault("orderActivityCollection", []).append(activity)
            order["status"] = "FILLED" if order["remainingQuantity"] == 0 else "WORKING"
            if order["status"] == "FILLED":
                order["closeTime"] = _now()
            sign = 1 if instruction == "BUY" else -1
            held = self.positions.setdefault(symbol, {"qty": Decimal(0), "avg": px})
            if sign > 0:
                held["avg"] = (held["qty"] * held["avg"] + shares * px) / (held["qty"] + shares)
            held["qty"] += sign * shares
            if held["qty"] == 0:
                del self.positions[symbol]
            self.cash -= sign * shares * px

    def fill_all_open(self, price: str = "100") -> None:
        with self._lock:
            for order_id, order in list(self.orders.items()):
                if order["status"] not in FINAL:
                    self.fill(order_id, price=price)

    def expire_open(self) -> None:
        with self._lock:
            for order in self.orders.values():
                if order["status"] not in FINAL:
                    order["status"], order["closeTime"] = "EXPIRED", _now()

    def orders_placed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(o) for o in self.orders.values()]

    # --- serving over HTTP, for another process --------------------------------------------------

    def serve(self) -> str:
        """Serve the same API on 127.0.0.1 (returns its base URL, e.g. for FUND_BROKERS__SCHWAB_API_URL)."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(
                    self.command, HOST + self.path, headers=dict(self.headers.items()), content=body
                )
                response = fake.handle(request)
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    # http.server writes its own Date (and the length) itself.
                    if name.lower() not in ("content-length", "transfer-encoding", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the API -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = self._handle(request)
        response.headers["Date"] = formatdate(usegmt=True)
        return response

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        with self._lock:
            self.requests.append((method, path))
            self.order_posts += method == "POST" and path.endswith("/orders")
            if path == "/v1/oauth/token":
                return self._token(request)
            if request.headers.get("Authorization") != f"Bearer {self.access_token}":
                return _error(401, "Client not authorized")
            fault = next((f for f in self._faults if f[0] == method and path.startswith(f[1]) and f[3] > 0), None)
            if fault is not None:
                fault[3] -= 1
                if not fault[4]:
                    return _error(fault[2], "injected fault")
            response = self._route(method, path, request)
            return _error(fault[2], "injected fault") if fault is not None else response

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        grant = form.get("grant_type")
        if grant == "refresh_token" and (self.refused_refresh or form.get("refresh_token") != self.refresh_token):
            return httpx.Response(400, json={"error": "invalid_client", "error_description": "refresh token invalid"})
        if grant not in ("authorization_code", "refresh_token"):
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        self.access_token = f"access-{next(self._tokens)}"
        token = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": 1800,
            "scope": "api",
            "id_token": "id",
        }
        return httpx.Response(200, json=token)

    def _route(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        if method == "GET" and path == "/marketdata/v1/markets":
            day = request.url.params.get("date", datetime.now(UTC).date().isoformat())
            weekday = datetime.fromisoformat(day).weekday() < 5
            hours = {"start": f"{day}T09:30:00-05:00", "end": f"{day}T16:00:00-05:00"}
            product = {"date": day, "marketType": "EQUITY", "product": "EQ", "isOpen": weekday}
            if weekday:
                product["sessionHours"] = {"regularMarket": [hours]}
            return httpx.Response(200, json={"equity": {"EQ": product}})
        if method == "GET" and path == "/trader/v1/accounts/accountNumbers":
            return httpx.Response(200, json=[{"accountNumber": self.account_number, "hashValue": self.account_hash}])
        match = re.fullmatch(r"/trader/v1/accounts/(\w+)(/orders)?(?:/(\d+))?", path)
        if match is None:
            return _error(404, f"no such path {path}")
        account, orders, order_id = match.groups()
        if account != self.account_hash:
            return _error(400, "Invalid account hash")
        if not orders:
            return httpx.Response(200, json=self._account(request))
        if order_id is None:
            if method == "POST":
                return self._place(json.loads(request.content))
            return httpx.Response(200, json=self._list(request))
        order = self.orders.get(int(order_id))
        if order is None:
            return _error(404, f"Order {order_id} not found")
        if method == "DELETE":
            if order["status"] in FINAL:
                return _error(400, f"order {order_id} cannot be canceled: it is {order['status']}")
            order["status"], order["closeTime"] = "CANCELED", _now()
            return httpx.Response(200)
        return httpx.Response(200, json=order)

    def _account(self, request: httpx.Request) -> dict[str, Any]:
        with_positions = "positions" in request.url.params.get("fields", "")
        value = sum((p["qty"] * p["avg"] for p in self.positions.values()), Decimal(0))
        account: dict[str, Any] = {
            "type": "CASH",
            "accountNumber": self.account_number,
            "roundTrips": 0,
            "isDayTrader": False,
            "isClosingOnlyRestricted": False,
            "pfcbFlag": False,
            "initialBalances": {"cashBalance": float(self.cash), "liquidationValue": float(self.cash + value)},
            "currentBalances": {
                "cashAvailableForTrading": float(self.cash),
                "cashAvailableForWithdrawal": float(self.cash),
                "totalCash": float(self.cash),
                "unsettledCash": 0.0,
                "liquidationValue": float(self.cash + value),
            },
        }
        if with_positions:
            account["positions"] = [
                {
                    "instrument": {"symbol": symbol, "assetType": "EQUITY"},
                    "longQuantity": float(p["qty"]),
                    "shortQuantity": 0.0,
                    "averagePrice": float(p["avg"]),
                    "marketValue": float(p["qty"] * p["avg"]),
                    "longOpenProfitLoss": 0.0,
                }
                for symbol, p in sorted(self.positions.items())
            ]
        return {"securitiesAccount": account}

    def _place(self, spec: dict[str, Any]) -> httpx.Response:
        legs = spec.get("orderLegCollection") or []
        if spec.get("orderType") != "MARKET" or len(legs) != 1:
            return _error(400, "the fake takes single-leg market orders only")
        leg = legs[0]
        quantity = Decimal(str(leg["quantity"]))
        symbol, instruction = leg["instrument"]["symbol"], leg["instruction"]
        if quantity <= 0:
            return _error(400, "quantity must be positive")
        if instruction == "SELL" and quantity > self.positions.get(symbol, {}).get("qty", Decimal(0)):
            return _error(400, f"You do not have enough shares of {symbol} to sell")
        order_id = next(self._ids)
        self.orders[order_id] = {
            "orderId": order_id,
            "accountNumber": int(self.account_number),
            "session": spec.get("session", "NORMAL"),
            "duration": spec.get("duration", "DAY"),
            "orderType": "MARKET",
            "orderStrategyType": spec.get("orderStrategyType", "SINGLE"),
            "quantity": float(quantity),
            "filledQuantity": 0.0,
            "remainingQuantity": float(quantity),
            "status": "WORKING",
            "enteredTime": _now(),
            "orderLegCollection": [
                {
                    "orderLegType": "EQUITY",
                    "legId": 1,
                    "instrument": {"symbol": symbol, "assetType": "EQUITY"},
                    "instruction": instruction,
                    "quantity": float(quantity),
                }
            ],
        }
        location = f"{HOST}/trader/v1/accounts/{self.account_hash}/orders/{order_id}"
        return httpx.Response(201, headers={"Location": location})

    def _list(self, request: httpx.Request) -> list[dict[str, Any]]:
        params = request.url.params
        start = _parse_time(params["fromEnteredTime"]) if "fromEnteredTime" in params else None
        end = _parse_time(params["toEnteredTime"]) if "toEnteredTime" in params else None
        status = params.get("status")
        found = []
        for order in self.orders.values():
            entered = _parse_time(order["enteredTime"])
            if (start and entered < start) or (end and entered > end) or (status and order["status"] != status):
                continue
            found.append(order)
        return found


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message, "errors": [message]})
