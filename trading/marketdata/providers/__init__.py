"""Market-data providers for `fund data update`: the seam (base.py) and one module per provider.

A provider module imports its client library; this package does not, so the CLI loads a library
only when its provider is chosen.
"""

from __future__ import annotations

from trading.errors import ConfigurationError
from trading.marketdata.providers.base import BarProvider, BarRequest, FetchedBars
from trading.settings import BrokerCredentials

# The names `fund data update --provider` accepts; a Schwab provider adds its name and a branch below.
PROVIDERS: tuple[str, ...] = ("alpaca",)


def make_provider(name: str, credentials: BrokerCredentials) -> BarProvider:
    """The named provider, built from the brokers' settings (ConfigurationError if its keys are missing)."""
    if name == "alpaca":
        from trading.marketdata.providers.alpaca import AlpacaBarProvider

        return AlpacaBarProvider.from_settings(credentials)
    raise ConfigurationError(f"unknown market-data provider {name!r}; expected one of {', '.join(PROVIDERS)}")


__all__ = ["PROVIDERS", "BarProvider", "BarRequest", "FetchedBars", "make_provider"]
