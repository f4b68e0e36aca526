"""Market-data providers for `fund data update`: the seam (base.py) and one module per provider.

A provider module imports its client library; this package does not, so the CLI loads a library
only when its provider is chosen.
"""

from __future__ import annotations

from trading.errors import ConfigurationError
from trading.marketdata.providers.base import BarProvider, BarRequest, FetchedBars
from trading.settings import BrokerCredentials

# The names `fund data update --provider` accepts. "schwab" is accepted to say why it is refused.
PROVIDERS: tuple[str, ...] = ("alpaca", "schwab")


def make_provider(name: str, credentials: BrokerCredentials) -> BarProvider:
    """The named provider, built from the brokers' settings (ConfigurationError if its keys are missing)."""
    if name == "alpaca":
        from trading.marketdata.providers.alpaca import AlpacaBarProvider

        return AlpacaBarProvider.from_settings(credentials)
    if name == "schwab":
        # Schwab's price history (`get_price_history_every_day`) carries no dividends and no splits, and
        # whether its candles are split-adjusted is unverified. Bars without them would make every
        # split and ex-date a false return in the adjusted series and a wrong position in the ledger.
        raise ConfigurationError(
            "Schwab's price history carries no dividends or splits, which the ledger and the adjusted closes "
            "need: take bars from Alpaca (`--provider alpaca`; its free IEX feed works with paper keys), even "
            "for an account held at Schwab, or import them from files (`fund data import`)"
        )
    raise ConfigurationError(f"unknown market-data provider {name!r}; expected one of {', '.join(PROVIDERS)}")


__all__ = ["PROVIDERS", "BarProvider", "BarRequest", "FetchedBars", "make_provider"]
