"""alpaca-py's trading client as the fund needs it, and the translation of its errors into trading.errors.

Two library defaults do not fit the fund, and are changed here once for every client it builds:

- alpaca-py sets no timeout on its `requests.Session`, so a call to a hung server would hang the
  run. The client's session is replaced by one that applies `timeout_seconds` to every request.
- alpaca-py repeats a request by itself on 429 and 504, three times, three seconds apart, with no
  way to configure it in `TradingClient`'s constructor. The fund's one retry path
  (trading/brokers/base.py `call_with_retry`) decides what may be repeated and logs it, so the
  library's own loop is turned off: a 429 or 5xx reaches the adapter at once as an APIError.

Both touch attributes of `alpaca.common.rest.RESTClient` (`_session`, `_retry`); alpaca-py is
pinned to one version in pyproject.toml, and tests/trading/brokers/test_alpaca.py shows both effects
against a local server, so an upgrade that moved them fails there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from alpaca.common.enums import BaseURL
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from pydantic import ValidationError

from trading.errors import (
    BrokerError,
    BrokerUnavailable,
    ConfigurationError,
    OrderNotFound,
    OrderRejected,
    RetryableBrokerError,
)
from trading.settings import BrokerCredentials

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Alpaca's code for a client_order_id it already has: the order reached it before.
DUPLICATE_CLIENT_ORDER_ID = 40010001


class AuthenticationFailed(BrokerError):
    """The broker refused the keys: waiting will not help, a person must fix the settings."""


class _TimeoutSession(requests.Session):
    """A session whose every request has a timeout unless the caller gave one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def trading_client(credentials: BrokerCredentials, *, paper: bool) -> TradingClient:
    """A TradingClient for Alpaca's paper or live endpoint (or the configured URL), with the fund's
    timeout and without the library's own retries (module doc)."""
    key, secret = credentials.alpaca_api_key, credentials.alpaca_secret_key
    if key is None or secret is None or not key.get_secret_value() or not secret.get_secret_value():
        raise ConfigurationError(
            "Alpaca's keys are not set: set FUND_BROKERS__ALPACA_API_KEY and FUND_BROKERS__ALPACA_SECRET_KEY "
            "(or alpaca_api_key and alpaca_secret_key under [brokers] in the settings file); "
            f"use the keys of Alpaca's {'paper' if paper else 'live'} environment"
        )
    client = TradingClient(
        key.get_secret_value(),
        secret.get_secret_value(),
        paper=paper,
        url_override=credentials.alpaca_trading_url or None,
    )
    disable_library_retries(client, credentials.timeout_seconds)
    return client


def endpoint(credentials: BrokerCredentials, *, paper: bool) -> str:
    """The trading host the fund calls for the environment: the configured URL, else Alpaca's own."""
    return credentials.alpaca_trading_url or (BaseURL.TRADING_PAPER if paper else BaseURL.TRADING_LIVE).value


def disable_library_retries(client: Any, timeout_seconds: float) -> None:
    """Give an alpaca-py REST client a timeout and no retry loop of its own (module doc)."""
    client._session = _TimeoutSession(timeout_seconds)
    client._retry = 0


def call_alpaca(call: Callable[[], T], what: str) -> T:
    """Run one alpaca-py call, translating every library and transport error (trading.errors)."""
    try:
        return call()
    except Exception as exc:
        translated = translate_error(exc, what)
        if translated is None:
            raise
        raise translated from exc


def translate_error(exc: Exception, what: str) -> BrokerError | None:
    """The fund's error for an alpaca-py or transport error; None for anything else (a bug: let it show)."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, APIError):
        return translate_api_error(exc, what)
    if isinstance(exc, requests.Timeout):
        return RetryableBrokerError(f"Alpaca {what}: no answer in time ({type(exc).__name__})")
    if isinstance(exc, requests.ConnectionError):
        return BrokerUnavailable(f"Alpaca {what}: could not reach the server ({type(exc).__name__})")
    if isinstance(exc, requests.RequestException):
        return BrokerError(f"Alpaca {what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, ValidationError):
        return BrokerError(f"Alpaca {what}: an answer the client could not read ({exc.error_count()} errors)")
    if isinstance(exc, ValueError):
        # alpaca-py checks an order id is a UUID before it asks: no Alpaca order has any other id.
        return OrderNotFound(f"Alpaca {what}: {exc}")
    return None


def api_error_body(exc: APIError) -> tuple[int | None, str]:
    """The error's Alpaca code and message. A gateway's 502/503/504 carries an HTML page, on which
    `APIError.code` itself would raise: such a body gives no code and a short excerpt."""
    text = str(exc)
    try:
        body = json.loads(text)
    except ValueError:
        return None, " ".join(text.split())[:120] or "(empty body)"
    if not isinstance(body, dict):
        return None, text[:120]
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message", text))[:300]


def translate_api_error(exc: APIError, what: str) -> BrokerError:
    status = exc.status_code
    code, message = api_error_body(exc)
    detail = f"Alpaca {what}: HTTP {status}: {message}"
    if status == 429 or (status is not None and status >= 500):
        return RetryableBrokerError(detail, retry_after=_retry_after(exc))
    if status == 401 or (status == 403 and "not authorized" in message.lower()):
        return AuthenticationFailed(
            f"{detail}. Alpaca refused the keys: check FUND_BROKERS__ALPACA_API_KEY and ..._SECRET_KEY, and that "
            "they are the keys of the environment this mode trades (paper keys for paper mode, live keys for live)"
        )
    if status == 404:
        return OrderNotFound(detail)
    if status in (403, 422):
        return OrderRejected(detail)
    return BrokerError(detail + (f" (code {code})" if code else ""))


def _retry_after(exc: APIError) -> float | None:
    response = exc.response
    value = None if response is None else response.headers.get("Retry-After")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
