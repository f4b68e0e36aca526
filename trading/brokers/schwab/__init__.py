"""Schwab (schwab-py): the Broker over its trader API (live only: Schwab has no paper environment), the
token file and the manual login."""

import trading.brokers.schwab._quiet  # noqa: F401  (before anything imports Authlib's httpx client)
from trading.brokers.schwab.broker import BROKER_NAME, OrderThrottle, SchwabBroker
from trading.brokers.schwab.client import SchwabAuthenticationFailed, schwab_client
from trading.brokers.schwab.tokens import SchwabTokenExpired, TokenFile

__all__ = [
    "BROKER_NAME",
    "OrderThrottle",
    "SchwabAuthenticationFailed",
    "SchwabBroker",
    "SchwabTokenExpired",
    "TokenFile",
    "schwab_client",
]
