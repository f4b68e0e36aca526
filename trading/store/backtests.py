"""The backtest tables: a run is written whole, in one transaction, when its replay ends (nothing partial
is left by a replay that fails), and read back for the report, the list and the comparison."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from psycopg import sql
from sqlalchemy import JSON, Connection, Engine, func, insert, select

from trading.db.schema import (
    BacktestDecision,
    BacktestEquity,
    BacktestFill,
    BacktestOrder,
    BacktestRun,
    Base,
    PriceBar,
)
from trading.errors import FundError
from trading.store import Bind, connection_for

logger = logging.getLogger(__name__)

_BATCH_ROWS = 5_000


class UnknownBacktest(FundError):
    """No backtest run has that id."""


@dataclass(frozen=True)
class BacktestRows:
    """Everything one backtest writes besides its run row, as column -> value dicts."""

    equity: Sequence[Mapping[str, Any]]
    decisions: Sequence[Mapping[str, Any]]
    orders: Sequence[Mapping[str, Any]]
    fills: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class BacktestRecord:
    id: int
    name: str | None
    start_date: date
    end_date: date
    sessions: int
    capital: Decimal
    main_variant: str
    variants: dict[str, str]
    parameters: dict[str, Any]
    settings: dict[str, Any]
    code_version: str
    data_fingerprint: str
    seed: int
    models: dict[str, Any]
    metrics: dict[str, Any]
    notes: list[str]
    elapsed_seconds: float
    created_at: datetime


def save_backtest(engine: Engine, run: Mapping[str, Any], rows: BacktestRows) -> int:
    """The run row and all its rows, in one transaction; the new run's id."""
    with engine.begin() as connection:
        run_id = int(connection.execute(insert(BacktestRun).values(dict(run))).inserted_primary_key[0])  # type: ignore[index]
        for table, values in (
            (BacktestEquity, rows.equity),
            (BacktestDecision, rows.decisions),
            (BacktestOrder, rows.orders),
            (BacktestFill, rows.fills),
        ):
            if connection.dialect.name == "postgresql":
                _copy_rows(connection, table, values, run_id)
                continue
            batch = [dict(v) | {"run_id": run_id} for v in values]
            for start in range(0, len(batch), _BATCH_ROWS):
                connection.execute(insert(table), batch[start : start + _BATCH_ROWS])
    logger.info(
        "backtest %d stored: %d equity rows, %d decisions, %d orders, %d fills",
        run_id,
        len(rows.equity),
        len(rows.decisions),
        len(rows.orders),
        len(rows.fills),
    )
    return run_id


def _copy_rows(connection: Connection, table: type[Base], values: Sequence[Mapping[str, Any]], run_id: int) -> None:
    """`values` into `table` with COPY, in the caller's transaction: a ten-year backtest writes about 100,000
    order and fill rows, which COPY takes several times faster than batched INSERTs. JSON values are sent
    as their text, which the server parses into jsonb."""
    if not values:
        return
    names = [*values[0].keys(), "run_id"]
    columns = table.__table__.columns
    as_json = [isinstance(columns[name].type, JSON) for name in names]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.__tablename__), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in values:
            fields = [row[name] for name in names[:-1]] + [run_id]
            copy.write_row([json.dumps(v) if is_json else v for v, is_json in zip(fields, as_json, strict=True)])


def list_backtests(bind: Bind, *, limit: int = 20) -> list[BacktestRecord]:
    query = select(BacktestRun.__table__).order_by(BacktestRun.id.desc()).limit(limit)
    with connection_for(bind) as connection:
        return [_record(dict(row)) for row in connection.execute(query).mappings()]


def get_backtest(bind: Bind, run_id: int) -> BacktestRecord:
    with connection_for(bind) as connection:
        row = connection.execute(select(BacktestRun.__table__).where(BacktestRun.id == run_id)).mappings().one_or_none()
    if row is None:
        raise UnknownBacktest(f"no backtest run {run_id} (`fund backtest list` shows the stored ones)")
    return _record(dict(row))


def _record(row: Mapping[str, Any]) -> BacktestRecord:
    fields = BacktestRecord.__dataclass_fields__
    return BacktestRecord(**{name: row[name] for name in fields})


def backtest_equity(bind: Bind, run_id: int) -> pd.DataFrame:
    """The stored equity rows of every variant: columns variant, session and the money columns as floats."""
    table = BacktestEquity
    query = (
        select(
            table.variant,
            table.session,
            table.equity,
            table.cash,
            table.positions_value,
            table.turnover,
            table.commission,
            table.slippage,
        )
        .where(table.run_id == run_id)
        .order_by(table.variant, table.session)
    )
    with connection_for(bind) as connection:
        frame = pd.DataFrame(connection.execute(query).all(), columns=list(query.selected_columns.keys()))
    for column in ("equity", "cash", "positions_value", "turnover", "commission", "slippage"):
        frame[column] = frame[column].astype("float64")
    return frame


def backtest_decisions(bind: Bind, run_id: int) -> pd.DataFrame:
    table = BacktestDecision
    query = select(table.__table__).where(table.run_id == run_id).order_by(table.variant, table.session, table.attempt)
    with connection_for(bind) as connection:
        return pd.DataFrame(connection.execute(query).mappings().all())


def data_fingerprint(bind: Bind, start: date, end: date) -> str:
    """A digest of the bars between `start` and `end` (count, tickers, sums of prices and volumes): a later
    backtest over the same data has the same fingerprint, and one over corrected data does not."""
    query = select(
        func.count(),
        func.count(func.distinct(PriceBar.ticker)),
        func.sum(PriceBar.adj_close),
        func.sum(PriceBar.close),
        func.sum(PriceBar.volume),
        func.sum(PriceBar.dividend),
    ).where(PriceBar.date >= start, PriceBar.date <= end)
    with connection_for(bind) as connection:
        values = connection.execute(query).one()
    # Sums rounded: SQLite and PostgreSQL add floats and numerics in different orders.
    text = "|".join(f"{float(v or 0):.6g}" for v in values)
    return hashlib.sha256(f"{start}|{end}|{text}".encode()).hexdigest()[:16]
