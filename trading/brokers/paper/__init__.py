"""The paper venue: a broker kept in the database, with its own order book, fills and cash journal."""

from trading.brokers.paper.venue import BROKER_NAME, LedgerAhead, PaperVenue, ReadOnlyVenue

__all__ = ["BROKER_NAME", "LedgerAhead", "PaperVenue", "ReadOnlyVenue"]
