"""The point-in-time market view: wide frames (dates x tickers) of bar fields up to and including
a date, never after. Every decision and feature reads prices through this, so nothing can see
the future by accident."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from psycopg import sql
from sqlalchemy import Engine

BAR_FIELDS = ("open", "high", "low", "close", "adj_close", "volume", "dividend", "split_coef")
DEFAULT_FIELDS = ("adj_close", "close", "open", "volume", "dividend")
_SQLITE_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class MarketPanel:
    """Bar fields as of one date. Each frame has a DatetimeIndex named 'date' (ascending, no date
    after `as_of`) and one float64 column per ticker; NaN where a ticker has no value."""

    as_of: date
    frames: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    @property
    def adj_close(self) -> pd.DataFrame:
        return self.frames["adj_close"]

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(next(iter(self.frames.values())).index)

    @property
    def tickers(self) -> list[str]:
        return list(next(iter(self.frames.values())).columns)


def load_panel(
    engine: Engine,
    as_of: date,
    *,
    start: date | None = None,
    fields: Sequence[str] = DEFAULT_FIELDS,
    tickers: Sequence[str] | None = None,
) -> MarketPanel:
    unknown = [f for f in fields if f not in BAR_FIELDS]
    if unknown or not fields:
        raise ValueError(f"unknown bar field(s) {unknown}; expected some of {BAR_FIELDS}")
    if start is not None and start > as_of:
        raise ValueError(f"start {start} is after as_of {as_of}")
    long = _read_long(engine, as_of, start, list(fields), list(tickers) if tickers else None)
    return MarketPanel(as_of=as_of, frames=_to_wide(long, list(fields)))


def _read_long(
    engine: Engine, as_of: date, start: date | None, fields: list[str], tickers: list[str] | None
) -> pd.DataFrame:
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            return _read_long_postgres(raw, as_of, start, fields, tickers)
        return _read_long_sqlite(raw, as_of, start, fields, tickers)


def _read_long_postgres(
    raw: object, as_of: date, start: date | None, fields: list[str], tickers: list[str] | None
) -> pd.DataFrame:
    # COPY ... TO STDOUT in CSV is several times faster than fetching Decimal rows one by one.
    conditions = [sql.SQL("date <= {}").format(sql.Literal(as_of))]
    if start is not None:
        conditions.append(sql.SQL("date >= {}").format(sql.Literal(start)))
    if tickers is not None:
        conditions.append(sql.SQL("ticker = ANY({})").format(sql.Literal(tickers)))
    query = sql.SQL(
        "COPY (SELECT date, ticker, {fields} FROM price_bars WHERE {where}) TO STDOUT WITH (FORMAT csv)"
    ).format(
        fields=sql.SQL(", ").join(sql.SQL("{}::float8").format(sql.Identifier(f)) for f in fields),
        where=sql.SQL(" AND ").join(conditions),
    )
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(query) as copy:  # type: ignore[attr-defined]
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    dtypes = {"date": str, "ticker": str} | {f: np.float64 for f in fields}
    return pd.read_csv(buffer, names=["date", "ticker", *fields], dtype=dtypes, keep_default_na=False, na_values=[""])


def _read_long_sqlite(
    raw: object, as_of: date, start: date | None, fields: list[str], tickers: list[str] | None
) -> pd.DataFrame:
    conditions, params = ["date <= ?"], [as_of.isoformat()]
    if start is not None:
        conditions.append("date >= ?")
        params.append(start.isoformat())
    if tickers is not None:
        conditions.append(f"ticker IN ({', '.join('?' * len(tickers))})")
        params.extend(tickers)
    columns = ", ".join(f"CAST({f} AS REAL)" for f in fields)
    cursor = raw.execute(  # type: ignore[attr-defined]
        f"SELECT date, ticker, {columns} FROM price_bars WHERE {' AND '.join(conditions)}", params
    )
    # Batches keep the Python row tuples of only one batch alive at a time: fetchall() of a
    # 10-year panel held ~1.3 M tuples and about doubled the peak memory.
    names = ["date", "ticker", *fields]
    batches = []
    while rows := cursor.fetchmany(_SQLITE_BATCH_ROWS):
        batch = pd.DataFrame.from_records(rows, columns=names)
        batch["date"] = batch["date"].astype("category")
        batch["ticker"] = batch["ticker"].astype("category")
        batches.append(batch)
        del rows
    if not batches:
        return pd.DataFrame(
            {name: pd.Series(dtype=object if name in ("date", "ticker") else np.float64) for name in names}
        )
    return pd.concat(batches, ignore_index=True)


def _to_wide(long: pd.DataFrame, fields: list[str]) -> dict[str, pd.DataFrame]:
    # Scatter into preallocated arrays by integer codes: much faster than DataFrame.pivot.
    date_codes, date_values = pd.factorize(long["date"], sort=True)
    ticker_codes, ticker_values = pd.factorize(long["ticker"], sort=True)
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(date_values, dtype=str), format="%Y-%m-%d"), name="date")
    columns = pd.Index(np.asarray(ticker_values, dtype=object), name="ticker")
    frames = {}
    for field in fields:
        grid = np.full((len(index), len(columns)), np.nan)
        grid[date_codes, ticker_codes] = pd.to_numeric(long[field], errors="coerce").to_numpy(dtype=np.float64)
        frames[field] = pd.DataFrame(grid, index=index, columns=columns)
    return frames
