"""The point-in-time market view: wide frames (dates x tickers) of bar fields up to and including
a date, never after. Every decision and feature reads prices through this, so nothing can see
the future by accident."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from psycopg import sql
from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select

from trading.db.schema import PriceBar

logger = logging.getLogger(__name__)

BAR_FIELDS = ("open", "high", "low", "close", "adj_close", "volume", "dividend", "split_coef")
DEFAULT_FIELDS = ("adj_close", "close", "open", "volume", "dividend")
_SQLITE_BATCH_ROWS = 100_000
# PostgreSQL's binary COPY: an 11-byte signature, 32-bit flags and a header-extension length.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TICKER_WIDTH = 16  # price_bars.ticker is VARCHAR(16): padded to it, every tuple has one width
_EPOCH = np.datetime64("2000-01-01", "D")  # PostgreSQL's date epoch
# How far back a ticker's last close is first looked for; older ones are found too, more slowly.
RECENT_CLOSE_WINDOW = timedelta(days=10)


@dataclass(frozen=True)
class LongHistory:
    """A few tickers read from an earlier start than the rest (the benchmark and the volatility index
    for the regime's five-year window), in the same load."""

    tickers: tuple[str, ...]
    start: date


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

    def through(self, day: date) -> MarketPanel:
        """The same panel cut at `day`'s close: what a decision at `day` may see."""
        stamp = pd.Timestamp(day)
        return MarketPanel(as_of=day, frames={name: frame.loc[:stamp] for name, frame in self.frames.items()})


def load_panel(
    engine: Engine,
    as_of: date,
    *,
    start: date | None = None,
    fields: Sequence[str] = DEFAULT_FIELDS,
    tickers: Sequence[str] | None = None,
    long_history: LongHistory | None = None,
) -> MarketPanel:
    """Bars from `start` to `as_of` (of `tickers`, or all), plus `long_history`'s tickers from its
    earlier start, in one read."""
    unknown = [f for f in fields if f not in BAR_FIELDS]
    if unknown or not fields:
        raise ValueError(f"unknown bar field(s) {unknown}; expected some of {BAR_FIELDS}")
    if start is not None and start > as_of:
        raise ValueError(f"start {start} is after as_of {as_of}")
    if long_history is not None and (start is None or long_history.start >= start):
        long_history = None  # the main read already covers it
    query = _Query(as_of, start, list(fields), list(tickers) if tickers else None, long_history)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            days, names, values = _read_postgres(raw, query)
        else:
            days, names, values = _read_sqlite(raw, query)
    return MarketPanel(as_of=as_of, frames=_to_wide(days, names, values, query.fields))


@dataclass(frozen=True)
class _Query:
    as_of: date
    start: date | None
    fields: list[str]
    tickers: list[str] | None
    long_history: LongHistory | None


def adjusted_closes(engine: Engine, ticker: str, first: date, last: date) -> pd.Series:
    """One ticker's adjusted closes from `first` to `last` (a benchmark beside an account's equity), by day."""
    query = (
        select(PriceBar.date, PriceBar.adj_close)
        .where(PriceBar.ticker == ticker, PriceBar.date >= first, PriceBar.date <= last)
        .order_by(PriceBar.date)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    values = [float(close) if close is not None else np.nan for _, close in rows]
    return pd.Series(values, index=pd.DatetimeIndex([pd.Timestamp(day) for day, _ in rows]), dtype="float64")


def latest_closes(
    bind: Engine | Connection, tickers: list[str], as_of: date, *, marks: bool = False
) -> dict[str, tuple[date, Decimal]]:
    """Each ticker's newest (date, raw close) on or before `as_of`. With `marks`, the paper venue's mark
    instead: the raw close, or the adjusted close of an adjusted-only bar (no raw open or close)."""
    if not tickers:
        return {}
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return latest_closes(connection, tickers, as_of, marks=marks)
    connection = bind
    # Nearly always the close is within the last days: searching those first avoids grouping every
    # bar of every held ticker since its listing.
    found = _latest_closes(connection, tickers, as_of, since=as_of - RECENT_CLOSE_WINDOW, marks=marks)
    missing = [ticker for ticker in tickers if ticker not in found]
    return found | (_latest_closes(connection, missing, as_of, since=None, marks=marks) if missing else {})


def _latest_closes(
    connection: Connection, tickers: list[str], as_of: date, since: date | None, *, marks: bool
) -> dict[str, tuple[date, Decimal]]:
    priced: ColumnElement[bool] = PriceBar.close.is_not(None)
    if marks:
        priced = or_(priced, and_(PriceBar.open.is_(None), PriceBar.close.is_(None)))
    conditions = [PriceBar.ticker.in_(tickers), PriceBar.date <= as_of, priced]
    if since is not None:
        conditions.append(PriceBar.date >= since)
    latest = (
        select(PriceBar.ticker, func.max(PriceBar.date).label("day"))
        .where(*conditions)
        .group_by(PriceBar.ticker)
        .subquery()
    )
    price = func.coalesce(PriceBar.close, PriceBar.adj_close) if marks else PriceBar.close
    query = select(PriceBar.ticker, PriceBar.date, price).join(
        latest, and_(PriceBar.ticker == latest.c.ticker, PriceBar.date == latest.c.day)
    )
    return {ticker: (day, Decimal(close)) for ticker, day, close in connection.execute(query)}


# --- PostgreSQL: binary COPY parsed by numpy ---------------------------------------------------------


def _read_postgres(raw: object, query: _Query) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COPY ... TO STDOUT in binary, with every column fixed-width (dates as day numbers, tickers padded,
    NULLs as NaN), so one numpy structured dtype reads every tuple: no per-row Python, no text parsing."""
    select = _postgres_select(query)
    copy = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select)
    chunks = []
    with raw.cursor() as cursor, cursor.copy(copy) as stream:  # type: ignore[attr-defined]
        for block in stream:
            chunks.append(bytes(block))
    return _parse_binary_copy(b"".join(chunks), len(query.fields))


def _postgres_select(query: _Query) -> sql.Composable:
    columns = sql.SQL(", ").join(
        [
            sql.SQL("(date - DATE '2000-01-01')"),
            sql.SQL("rpad(ticker, {})::char({})").format(sql.Literal(_TICKER_WIDTH), sql.Literal(_TICKER_WIDTH)),
            *(_postgres_float(f) for f in query.fields),
        ]
    )
    conditions = [sql.SQL("date <= {}").format(sql.Literal(query.as_of))]
    if query.start is not None:
        conditions.append(sql.SQL("date >= {}").format(sql.Literal(query.start)))
    if query.tickers is not None:
        conditions.append(sql.SQL("ticker = ANY({})").format(sql.Literal(query.tickers)))
    main = sql.SQL("SELECT {} FROM price_bars WHERE {}").format(columns, sql.SQL(" AND ").join(conditions))
    if query.long_history is None:
        return main
    extra = sql.SQL("SELECT {} FROM price_bars WHERE ticker = ANY({}) AND date >= {} AND date < {}").format(
        columns,
        sql.Literal(list(query.long_history.tickers)),
        sql.Literal(query.long_history.start),
        sql.Literal(query.start),
    )
    return sql.SQL("{} UNION ALL {}").format(main, extra)


# Numeric to float8 is most of the server's cost per row: the columns that are nearly always their
# default skip it.
_USUAL_VALUES = {"dividend": 0, "split_coef": 1}


def _postgres_float(field: str) -> sql.Composable:
    column = sql.Identifier(field)
    if field in _USUAL_VALUES:
        usual = sql.Literal(_USUAL_VALUES[field])
        return sql.SQL("CASE WHEN {c} = {u} THEN {u}::float8 ELSE {c}::float8 END").format(c=column, u=usual)
    return sql.SQL("COALESCE({}::float8, 'NaN'::float8)").format(column)


def _parse_binary_copy(data: bytes, n_fields: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not data.startswith(_COPY_SIGNATURE):
        raise ValueError("not a PostgreSQL binary COPY stream")
    extension = int.from_bytes(data[15:19], "big")
    body = memoryview(data)[19 + extension : len(data) - 2]  # the trailer is a field count of -1
    record = np.dtype(
        [("count", ">i2"), ("date_len", ">i4"), ("date", ">i4"), ("ticker_len", ">i4"), ("ticker", f"S{_TICKER_WIDTH}")]
        + [(name, kind) for i in range(n_fields) for name, kind in ((f"len{i}", ">i4"), (f"v{i}", ">f8"))]
    )
    if len(body) % record.itemsize:
        raise ValueError("binary COPY tuples are not all of the expected width")
    rows = np.frombuffer(body, dtype=record)
    widths_ok = (
        (rows["count"] == 2 + n_fields).all()
        and (rows["date_len"] == 4).all()
        and (rows["ticker_len"] == _TICKER_WIDTH).all()
        and all((rows[f"len{i}"] == 8).all() for i in range(n_fields))
    )
    if not widths_ok:
        raise ValueError("binary COPY tuples are not all of the expected width")
    days = _EPOCH + rows["date"].astype(np.int64)
    names = np.char.rstrip(rows["ticker"].astype(f"S{_TICKER_WIDTH}")).astype(str)
    values = np.column_stack([rows[f"v{i}"].astype(np.float64) for i in range(n_fields)])
    return days, names, values


# --- SQLite ------------------------------------------------------------------------------------------


def _read_sqlite(raw: object, query: _Query) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    columns = ", ".join(f"CAST({f} AS REAL)" for f in query.fields)
    conditions, params = ["date <= ?"], [query.as_of.isoformat()]
    if query.start is not None:
        conditions.append("date >= ?")
        params.append(query.start.isoformat())
    if query.tickers is not None:
        conditions.append(f"ticker IN ({', '.join('?' * len(query.tickers))})")
        params.extend(query.tickers)
    statement = f"SELECT date, ticker, {columns} FROM price_bars WHERE {' AND '.join(conditions)}"
    if query.long_history is not None:
        long = query.long_history
        statement += (
            f" UNION ALL SELECT date, ticker, {columns} FROM price_bars "
            f"WHERE ticker IN ({', '.join('?' * len(long.tickers))}) AND date >= ? AND date < ?"
        )
        params.extend([*long.tickers, long.start.isoformat(), query.start.isoformat() if query.start else ""])
    cursor = raw.execute(statement, params)  # type: ignore[attr-defined]
    # Batches keep the Python row tuples of only one batch alive at a time: fetchall() of a
    # 10-year panel held ~1.3 M tuples and about doubled the peak memory.
    days, names, values = [], [], []
    while rows := cursor.fetchmany(_SQLITE_BATCH_ROWS):
        batch = pd.DataFrame.from_records(rows, columns=["date", "ticker", *query.fields])
        days.append(batch["date"].to_numpy(dtype=str).astype("datetime64[D]"))
        names.append(batch["ticker"].to_numpy(dtype=str))
        values.append(batch[query.fields].to_numpy(dtype=np.float64, na_value=np.nan))
        del rows
    if not days:
        return np.empty(0, "datetime64[D]"), np.empty(0, str), np.empty((0, len(query.fields)))
    return np.concatenate(days), np.concatenate(names), np.concatenate(values)


# --- long to wide ------------------------------------------------------------------------------------


def _to_wide(days: np.ndarray, names: np.ndarray, values: np.ndarray, fields: list[str]) -> dict[str, pd.DataFrame]:
    # Scatter into preallocated arrays by integer codes: much faster than DataFrame.pivot. Hashing
    # (factorize) beats sorting the 300,000 ticker strings of a daily run's panel.
    date_values, date_codes = np.unique(days, return_inverse=True)
    ticker_codes, ticker_values = pd.factorize(names, sort=True)
    index = pd.DatetimeIndex(date_values.astype("datetime64[ns]"), name="date")
    columns = pd.Index(ticker_values.astype(object), name="ticker")
    frames = {}
    for position, field in enumerate(fields):
        grid = np.full((len(index), len(columns)), np.nan)
        grid[date_codes, ticker_codes] = values[:, position]
        frames[field] = pd.DataFrame(grid, index=index, columns=columns)
    return frames
