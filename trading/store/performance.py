"""Strategy performance evidence: returns by strategy and regime over past periods, written by
backtests (and live runs) and summarised for the strategy selector without look-ahead."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from trading.db.schema import StrategyPerformance, utcnow
from trading.settings import DEFENSIVE, STRATEGIES
from trading.store import Bind, connection_for

log = logging.getLogger(__name__)

EVIDENCE_COLUMNS = ("periods", "mean_return", "mean_sharpe", "worst_drawdown")
_KEY = ("strategy", "regime", "period_start", "period_end", "source")
_BATCH_ROWS = 2_000


@dataclass(frozen=True)
class PerformanceRow:
    """How one strategy did in one regime over one period, as one source measured it.

    total_return is a fraction (0.05 = +5%); max_drawdown is the largest fall from a peak as a
    positive fraction in [0, 1]; sharpe_ratio may be unknown (None or NaN, e.g. a flat period).
    """

    strategy: str
    regime: str
    period_start: date
    period_end: date
    total_return: float
    source: str
    sharpe_ratio: float | None = None
    max_drawdown: float | None = None

    def __post_init__(self) -> None:
        where = f"strategy performance {self.strategy}/{self.regime} {self.period_start}..{self.period_end}"
        if self.strategy not in (*STRATEGIES, DEFENSIVE):
            raise ValueError(f"{where}: unknown strategy; expected one of {(*STRATEGIES, DEFENSIVE)}")
        if not self.regime.strip() or not self.source.strip():
            raise ValueError(f"{where}: regime and source must not be empty")
        if self.period_end < self.period_start:
            raise ValueError(f"{where}: the period ends before it starts")
        if not math.isfinite(self.total_return) or self.total_return < -1:
            raise ValueError(f"{where}: total_return {self.total_return!r} is not a finite fraction >= -1")
        if self.sharpe_ratio is not None and math.isinf(self.sharpe_ratio):
            raise ValueError(f"{where}: sharpe_ratio {self.sharpe_ratio!r} is not finite")
        drawdown = self.max_drawdown
        if drawdown is not None and not math.isnan(drawdown) and not 0 <= drawdown <= 1:
            raise ValueError(f"{where}: max_drawdown {drawdown!r} is not a positive fraction in [0, 1]")


def _stored(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _row_values(row: PerformanceRow) -> dict[str, Any]:
    values = asdict(row)
    values["sharpe_ratio"] = _stored(row.sharpe_ratio)
    values["max_drawdown"] = _stored(row.max_drawdown)
    return values


def _upsert_batch(connection: Connection, rows: list[dict[str, Any]]) -> None:
    # created_at says when these numbers were recorded, so a replacement refreshes it.
    measures = ["total_return", "sharpe_ratio", "max_drawdown", "created_at"]
    if connection.dialect.name == "postgresql":
        pg_statement = postgresql.insert(StrategyPerformance)
        pg_updates = {name: pg_statement.excluded[name] for name in measures}
        connection.execute(pg_statement.on_conflict_do_update(index_elements=list(_KEY), set_=pg_updates), rows)
    else:
        lite_statement = sqlite.insert(StrategyPerformance)
        lite_updates = {name: lite_statement.excluded[name] for name in measures}
        connection.execute(lite_statement.on_conflict_do_update(index_elements=list(_KEY), set_=lite_updates), rows)


def _refuse_duplicate_keys(values: list[dict[str, Any]]) -> None:
    # One ON CONFLICT statement may not touch a row twice on PostgreSQL; refusing here makes
    # both backends behave the same.
    seen: set[tuple[Any, ...]] = set()
    for value in values:
        key = tuple(value[k] for k in _KEY)
        if key in seen:
            raise ValueError(f"strategy performance: the same period appears twice in one call: {key}")
        seen.add(key)


def record_performance(bind: Bind, rows: Iterable[PerformanceRow]) -> int:
    """Insert or replace evidence rows by (strategy, regime, period_start, period_end, source).

    A backtest re-run therefore replaces its own numbers instead of counting twice. Returns the
    number of rows written.
    """
    now = utcnow()
    values = [_row_values(row) | {"created_at": now} for row in rows]
    _refuse_duplicate_keys(values)
    if not values:
        return 0
    with connection_for(bind) as connection:
        for start in range(0, len(values), _BATCH_ROWS):
            _upsert_batch(connection, values[start : start + _BATCH_ROWS])
    log.info("recorded %d strategy performance row(s)", len(values))
    return len(values)


def performance_by_strategy(
    bind: Bind, regime: str, *, before: date | None = None, source: str | None = None
) -> pd.DataFrame:
    """Evidence per strategy in `regime` from periods that ended strictly before `before`.

    A frame indexed by strategy with EVIDENCE_COLUMNS: periods (count), mean_return,
    mean_sharpe (over the periods whose Sharpe is known; NaN if none is), worst_drawdown (NaN if
    none is known). Pass the decision date as `before` so that a backtest cannot see evidence
    from its own future; `source` keeps one backtest's or account's evidence only.
    """
    table = StrategyPerformance
    query = (
        select(
            table.strategy,
            func.count().label("periods"),
            func.avg(table.total_return).label("mean_return"),
            func.avg(table.sharpe_ratio).label("mean_sharpe"),
            func.max(table.max_drawdown).label("worst_drawdown"),
        )
        .where(table.regime == regime)
        .group_by(table.strategy)
        .order_by(table.strategy)
    )
    if before is not None:
        query = query.where(table.period_end < before)
    if source is not None:
        query = query.where(table.source == source)
    with connection_for(bind) as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame(rows, columns=["strategy", *EVIDENCE_COLUMNS]).set_index("strategy")
    frame["periods"] = frame["periods"].astype("int64")
    measures = ["mean_return", "mean_sharpe", "worst_drawdown"]
    frame[measures] = frame[measures].astype("float64")
    return frame
