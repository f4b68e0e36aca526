"""The seam between `fund data update` and a market-data provider: what it is asked for (a ticker and a
span of days) and what it answers (raw daily bars and the ex-date events that adjust them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import pandas as pd

# The frames a provider answers with; dates are datetime.date (the exchange's day), prices raw as traded.
BAR_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "volume")
EVENT_COLUMNS = ("ticker", "date", "dividend", "split_coef")


@dataclass(frozen=True)
class BarRequest:
    """Daily bars of one ticker from `start` to `end`, both days inclusive."""

    ticker: str
    start: date
    end: date


@dataclass(frozen=True)
class FetchedBars:
    """A provider's whole answer to one update.

    `bars` holds BAR_COLUMNS, one row per (ticker, day) the provider has, as it sent them (the
    importer validates them). `events` holds EVENT_COLUMNS, one row per (ticker, ex-date): the cash
    dividend per share and the split coefficient (2.0 for a 2:1 split), already combined when a day
    has several. `unavailable` names the tickers the provider cannot serve at all, with the reason.
    """

    bars: pd.DataFrame
    events: pd.DataFrame
    unavailable: dict[str, str] = field(default_factory=dict)


def empty_bars() -> pd.DataFrame:
    return pd.DataFrame(
        {column: pd.Series(dtype=object if column in ("ticker", "date") else float) for column in BAR_COLUMNS}
    )


def empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {column: pd.Series(dtype=object if column in ("ticker", "date") else float) for column in EVENT_COLUMNS}
    )


class BarProvider(Protocol):
    """A source of daily bars. Alpaca implements it; a Schwab provider plugs in the same way.

    `fetch` either answers every request or raises a FundError (after its own retries of transient
    failures, through trading/brokers/base.py `call_with_retry`): the update never writes part of an
    answer. A ticker the provider cannot serve goes to `unavailable`, never fails the fetch.
    """

    @property
    def name(self) -> str:
        """Short name, as given to `fund data update --provider`."""
        ...

    def unsupported(self, ticker: str) -> str | None:
        """Why the provider can never serve `ticker` (an index symbol, say), or None: such a ticker is
        reported and not asked for."""
        ...

    def fetch(self, requests: Sequence[BarRequest]) -> FetchedBars: ...
