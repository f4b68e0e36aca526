"""schwab-py's client as the fund needs it: from the token file, through one httpx transport, with every
answer checked and every error translated into trading.errors.

Schwab's API has one host, hard-coded in schwab-py (`https://api.schwabapi.com`). The transport here
sends each request to the configured `schwab_api_url` instead when one is set (a proxy, or a local test
server), and it is the seam tests fake with `httpx.MockTransport`. It makes no retries of its own: the
fund's one retry path (trading/brokers/base.py `call_with_retry`) does.

The session is the one schwab-py builds in `client_from_access_functions` (Authlib's OAuth2 client,
which refreshes the 30-minute access token by itself and rewrites the token file), built here so the
transport can be passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from schwab.auth import TOKEN_ENDPOINT, TokenMetadata
from schwab.client import Client

from trading.brokers.schwab.tokens import TokenFile
from trading.errors import BrokerError, BrokerUnavailable, ConfigurationError, OrderNotFound, RetryableBrokerError
from trading.settings import BrokerCredentials

logger = logging.getLogger(__name__)

SCHWAB_HOST = "https://api.schwabapi.com"


class SchwabAuthenticationFailed(BrokerError):
    """Schwab refused the app's keys or the token: a person must log in again."""


class HostTransport(httpx.BaseTransport):
    """Sends schwab-py's requests to `base_url` instead of Schwab's host (when given), through `inner`."""

    def __init__(self, inner: httpx.BaseTransport, base_url: str = "") -> None:
        self._inner = inner
        self._base = httpx.URL(base_url) if base_url else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._base is not None and request.url.host == "api.schwabapi.com":
            request.url = request.url.copy_with(scheme=self._base.scheme, host=self._base.host, port=self._base.port)
            request.headers["Host"] = request.url.netloc.decode()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def app_keys(credentials: BrokerCredentials) -> tuple[str, str]:
    key, secret = credentials.schwab_api_key, credentials.schwab_app_secret
    if key is None or secret is None or not key.get_secret_value() or not secret.get_secret_value():
        raise ConfigurationError(
            "Schwab's app keys are not set: set FUND_BROKERS__SCHWAB_API_KEY and FUND_BROKERS__SCHWAB_APP_SECRET "
            "(or schwab_api_key and schwab_app_secret under [brokers] in the settings file)"
        )
    return key.get_secret_value(), secret.get_secret_value()


def transport_for(credentials: BrokerCredentials, inner: httpx.BaseTransport | None = None) -> HostTransport:
    return HostTransport(inner or httpx.HTTPTransport(retries=0), credentials.schwab_api_url)


def schwab_client(
    credentials: BrokerCredentials, tokens: TokenFile, *, transport: httpx.BaseTransport | None = None
) -> Client:
    """A schwab-py client over the token file (which must exist and be fresh: tokens.py says why)."""
    api_key, app_secret = app_keys(credentials)
    stored = tokens.read()
    metadata = TokenMetadata.from_loaded_token(stored, tokens.write_raw)
    from authlib.integrations.httpx_client import OAuth2Client

    session = OAuth2Client(
        api_key,
        client_secret=app_secret,
        token=metadata.token,
        token_endpoint=TOKEN_ENDPOINT,
        update_token=metadata.wrapped_token_write_func(),
        leeway=300,
        transport=transport_for(credentials, transport),
        timeout=credentials.timeout_seconds,
    )
    client = Client(api_key, session, token_metadata=metadata, enforce_enums=True)
    client.set_timeout(credentials.timeout_seconds)
    return client


def call_schwab(call: Callable[[], httpx.Response], what: str) -> httpx.Response:
    """Run one schwab-py call and check its answer: errors come back as responses, not exceptions."""
    return check_schwab(send_schwab(call, what), what)


def send_schwab(call: Callable[[], httpx.Response], what: str) -> httpx.Response:
    """Run one schwab-py call, translating the exceptions of the transport and of the token's refresh;
    an error answer is returned as it is (the caller may read it before `check_schwab`)."""
    try:
        return call()
    except OAuthError as exc:
        raise SchwabAuthenticationFailed(
            f"Schwab {what}: the token was refused ({exc.error}): log in again with `fund broker login schwab`"
        ) from exc
    except httpx.TimeoutException as exc:
        raise RetryableBrokerError(f"Schwab {what}: no answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise BrokerUnavailable(f"Schwab {what}: could not reach the server ({type(exc).__name__})") from exc


def check_schwab(response: httpx.Response, what: str) -> httpx.Response:
    """The response, or the fund's error for an error answer."""
    if not response.is_error:
        return response
    status, message = response.status_code, error_message(response)
    detail = f"Schwab {what}: HTTP {status}: {message}"
    if status == 429 or status >= 500:
        retry_after = response.headers.get("Retry-After")
        seconds = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        raise RetryableBrokerError(detail, retry_after=seconds)
    if status in (401, 403):
        raise SchwabAuthenticationFailed(
            f"{detail}. Check FUND_BROKERS__SCHWAB_API_KEY and ..._SCHWAB_APP_SECRET, or log in again with "
            "`fund broker login schwab`"
        )
    if status == 404:
        raise OrderNotFound(detail)
    raise BrokerError(detail)


def error_message(response: httpx.Response) -> str:
    """The message of a Schwab error body ({"message", "errors"} or {"errors": [{"title", "detail"}]})."""
    try:
        body: Any = response.json()
    except ValueError:
        return " ".join(response.text.split())[:120] or "(empty body)"
    if isinstance(body, dict):
        if body.get("message"):
            return str(body["message"])[:300]
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            return str(first.get("detail") or first.get("title") or first) if isinstance(first, dict) else str(first)
        if body.get("error"):
            return f"{body['error']}: {body.get('error_description', '')}".strip()
    return str(body)[:120]
