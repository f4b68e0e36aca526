"""The daily run's market port: the market as of a session's close, from the database (one panel load
per session) or from a panel preloaded once (the backtest's), with the same answers on the same data."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from autonomous.marketview.session import PriceQuote, SessionMarket
from trading.marketdata.calendar import TradingCalendar


class MarketView(Protocol):
    """Bars up to a session, its features, universes and regime history, and the exchange calendar."""

    def calendar(self) -> TradingCalendar:
        """The exchange calendar, with the benchmark's bar dates as data."""
        ...

    def session(self, day: date) -> SessionMarket:
        """The market as of `day`'s close; nothing after it."""
        ...


__all__ = ["MarketView", "PriceQuote", "SessionMarket"]
