"""Alpaca (alpaca-py): the Broker over its paper or live trading API, and its daily bars."""

from trading.brokers.alpaca.broker import BROKER_NAME, AlpacaBroker
from trading.brokers.alpaca.client import AuthenticationFailed, trading_client

__all__ = ["BROKER_NAME", "AlpacaBroker", "AuthenticationFailed", "trading_client"]
