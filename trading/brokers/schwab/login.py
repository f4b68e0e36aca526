"""Schwab's manual login: a person opens the authorization address, logs in, and pastes back the address the
browser was redirected to; its code is exchanged for a token, written to the token file.

schwab-py's own `client_from_manual_flow` does the same but builds its HTTP client itself; this uses its
pieces (`get_auth_context`, the token endpoint) with the fund's transport, so that a proxy URL setting
and the tests' fake server reach the token exchange too. Cron has no browser: a run never logs in, it
refuses an expired token and says to run this.
"""

from __future__ import annotations

from datetime import datetime

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client
from schwab.auth import TOKEN_ENDPOINT, AuthContext, get_auth_context

from trading.brokers.schwab.client import SchwabAuthenticationFailed, app_keys, transport_for
from trading.brokers.schwab.tokens import TokenFile
from trading.errors import BrokerUnavailable
from trading.settings import BrokerCredentials


def start_login(credentials: BrokerCredentials) -> AuthContext:
    """The address a person opens to log in (with its state, checked when the redirect comes back)."""
    api_key, _secret = app_keys(credentials)
    context: AuthContext = get_auth_context(api_key, credentials.schwab_callback_url)
    return context


def finish_login(
    credentials: BrokerCredentials,
    context: AuthContext,
    received_url: str,
    tokens: TokenFile,
    *,
    now: datetime,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Exchange the redirect's code for a token and write the token file (owner-only)."""
    api_key, app_secret = app_keys(credentials)
    received = received_url.strip()
    if not received.startswith(context.callback_url.rstrip("/")):
        raise SchwabAuthenticationFailed(
            f"the pasted address does not start with the app's callback URL {context.callback_url}: paste the whole "
            "address the browser was sent to after you allowed the app"
        )
    oauth = OAuth2Client(api_key, redirect_uri=context.callback_url, transport=transport_for(credentials, transport))
    try:
        token = oauth.fetch_token(
            TOKEN_ENDPOINT,
            authorization_response=received,
            client_id=api_key,
            auth=(api_key, app_secret),
            state=context.state,
        )
    except AuthlibBaseError as exc:
        raise SchwabAuthenticationFailed(f"Schwab refused the login ({exc}): start again") from exc
    except httpx.TransportError as exc:
        raise BrokerUnavailable(f"Schwab's token endpoint could not be reached ({type(exc).__name__})") from exc
    finally:
        oauth.close()
    tokens.write_raw({"creation_timestamp": int(now.timestamp()), "token": dict(token)})
