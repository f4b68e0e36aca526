"""The point-in-time market view: wide frames (dates x tickers) of bar fields up to and including
a date, never after. Every decision and feature reads prices through this, so nothing can see
the future by accident."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    frames: Mapping[str, pd.DataFrame]

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
        return MarketPanel(as_of=day, frames=_CutFrames(self.frames, pd.Timestamp(day)))


class _CutFrames(Mapping[str, pd.DataFrame]):
    """Frames cut at a date, each cut when first read: a backtest cuts the panel every session, and most
    sessions read two or three of its fields."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], stamp: pd.Timestamp) -> None:
        self._frames = frames
        self._stamp = stamp
        self._cut: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        cut = self._cut.get(name)
        if cut is None:
            cut = self._cut[name] = self._frames[name].loc[: self._stamp]
        return cut

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)


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
    if engine.dialect.name == "postgresql":
        return MarketPanel(as_of=as_of, frames=_read_postgres(engine, query))
    with engine.connect() as connection:
        days, names, values = _read_sqlite(connection.connection.driver_connection, query)
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


# --- PostgreSQL: one row per ticker, its values as packed big-endian arrays -----------------------------

# The date range of a long read is split into this many parts, read at once on their own connections:
# the server's numeric-to-float conversion, most of a read's cost, then runs on several cores.
PARALLEL_READS = 2
# Below this many calendar days a read is not split: a daily run's panel is read in one go.
_SPLIT_FROM_DAYS = 730


@dataclass(frozen=True)
class _Part:
    """One query of a read: `tickers` (None: all) from `first` to `last`, both included."""

    first: date | None
    last: date
    tickers: list[str] | None


# (ticker, days since _EPOCH, values: rows x fields) for each ticker a part holds bars of.
_Series = list[tuple[str, np.ndarray, np.ndarray]]


def _read_postgres(engine: Engine, query: _Query) -> dict[str, pd.DataFrame]:
    """The panel's bars, read as one row per ticker whose columns are its dates and each field packed into
    a bytea (`string_agg` of `float8send`), so the client unpacks ~500 rows with numpy instead of a
    million tuples. A long read is split by date into parts on several connections that share one
    snapshot (`pg_export_snapshot`): they see the same committed bars, as one query would."""
    parts = _parts(query)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        if len(parts) == 1:
            return _wide_from_series(_read_part(connection, parts[0], query.fields), query.fields)
        snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        with ThreadPoolExecutor(len(parts) - 1) as pool:
            others = [pool.submit(_read_part_in_snapshot, engine, snapshot, part, query.fields) for part in parts[1:]]
            series = _read_part(connection, parts[0], query.fields)
            for other in others:
                series += other.result()
    return _wide_from_series(series, query.fields)


def _parts(query: _Query) -> list[_Part]:
    """The read's queries: the date range (split when long), and the long history's earlier bars."""
    parts = [_Part(query.start, query.as_of, query.tickers)]
    if query.start is not None and (query.as_of - query.start).days >= _SPLIT_FROM_DAYS and PARALLEL_READS > 1:
        step = (query.as_of - query.start) / PARALLEL_READS
        bounds = [query.start + step * i for i in range(PARALLEL_READS)] + [query.as_of + timedelta(days=1)]
        parts = [_Part(lo, hi - timedelta(days=1), query.tickers) for lo, hi in itertools.pairwise(bounds)]
    if query.long_history is not None and query.start is not None:
        long = query.long_history
        parts.append(_Part(long.start, query.start - timedelta(days=1), list(long.tickers)))
    return parts


def _read_part_in_snapshot(engine: Engine, snapshot: str, part: _Part, fields: list[str]) -> _Series:
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return _read_part(connection, part, fields)


def _read_part(connection: Connection, part: _Part, fields: list[str]) -> _Series:
    raw = connection.connection.driver_connection
    with raw.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(_postgres_select(part, fields))
        rows = cursor.fetchall()
    series = []
    for ticker, days, *packed in rows:
        values = np.column_stack([np.frombuffer(column, ">f8").astype(np.float64) for column in packed])
        series.append((ticker, np.frombuffer(days, ">i4").astype(np.int32), values))
    return series


def _postgres_select(part: _Part, fields: list[str]) -> sql.Composable:
    # Every aggregate of a group is fed the group's rows in the same order, so the i-th value of each
    # packed column belongs to the i-th date.
    packed = sql.SQL(", ").join(
        [
            sql.SQL("string_agg(int4send(date - DATE '2000-01-01'), ''::bytea)"),
            *(sql.SQL("string_agg(float8send({}), ''::bytea)").format(_postgres_float(f)) for f in fields),
        ]
    )
    conditions = [sql.SQL("date <= {}").format(sql.Literal(part.last))]
    if part.first is not None:
        conditions.append(sql.SQL("date >= {}").format(sql.Literal(part.first)))
    if part.tickers is not None:
        conditions.append(sql.SQL("ticker = ANY({})").format(sql.Literal(part.tickers)))
    return sql.SQL("SELECT ticker, {} FROM price_bars WHERE {} GROUP BY ticker").format(
        packed, sql.SQL(" AND ").join(conditions)
    )


# Numeric to float8 is most of the server's cost per row: the columns that are nearly always their
# default skip it.
_USUAL_VALUES = {"dividend": 0, "split_coef": 1}


def _postgres_float(field: str) -> sql.Composable:
    column = sql.Identifier(field)
    if field in _USUAL_VALUES:
        usual = sql.Literal(_USUAL_VALUES[field])
        return sql.SQL("CASE WHEN {c} = {u} THEN {u}::float8 ELSE {c}::float8 END").format(c=column, u=usual)
    return sql.SQL("COALESCE({}::float8, 'NaN'::float8)").format(column)


def _wide_from_series(series: _Series, fields: list[str]) -> dict[str, pd.DataFrame]:
    """Each field as a dates x tickers frame (tickers sorted), NaN where a ticker has no bar."""
    tickers = sorted({ticker for ticker, _, _ in series})
    day_numbers = np.unique(np.concatenate([days for _, days, _ in series])) if series else np.empty(0, np.int32)
    index = pd.DatetimeIndex((_EPOCH + day_numbers.astype(np.int64)).astype("datetime64[ns]"), name="date")
    columns = pd.Index(tickers, dtype=object, name="ticker")
    grids = [np.full((len(index), len(columns)), np.nan) for _ in fields]
    column_of = {ticker: j for j, ticker in enumerate(tickers)}
    for ticker, days, values in series:
        rows = np.searchsorted(day_numbers, days)
        for position, grid in enumerate(grids):
            grid[rows, column_of[ticker]] = values[:, position]
    return {field: pd.DataFrame(grid, index=index, columns=columns) for field, grid in zip(fields, grids, strict=True)}


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
