"""The decision store: market regimes, strategy performance evidence and drawdown halts.

Every function takes an Engine (it then commits its own transaction) or a Connection (it joins
the caller's transaction, and the caller commits at the use-case boundary).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

Bind = Engine | Connection


@contextmanager
def connection_for(bind: Bind) -> Iterator[Connection]:
    """A connection inside a transaction: a new committed one for an Engine, the caller's own otherwise."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.begin() as connection:
        yield connection
