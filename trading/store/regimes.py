"""The market_regime table: one classified regime per date, written in batches by the regime
step and by backtests, and read back as a frame or a single day's record."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from numbers import Real
from typing import Any, TypedDict, get_args

import numpy as np
import pandas as pd
from sqlalchemy import Connection, null, select
from sqlalchemy.dialects import postgresql, sqlite

from trading.db.schema import MarketRegime, utcnow
from trading.settings import Trend, Volatility
from trading.store import Bind, connection_for

log = logging.getLogger(__name__)

FLOAT_FIELDS = (
    "vix",
    "realized_volatility_20d",
    "spy_sma_50",
    "spy_sma_200",
    "advance_decline_ratio",
    "new_highs_lows_ratio",
)
REGIME_FIELDS = (
    "vix",
    "realized_volatility_20d",
    "volatility_regime",
    "spy_sma_50",
    "spy_sma_200",
    "trend_regime",
    "advance_decline_ratio",
    "new_highs_lows_ratio",
    "sector_momentum",
    "regime_label",
    "regime_confidence",
)
VOLATILITY_REGIMES: tuple[str, ...] = get_args(Volatility)
TREND_REGIMES: tuple[str, ...] = get_args(Trend)
_LABEL_LENGTH = 32
_SHOWN_PROBLEMS = 5
# Rows per executemany call: bounds memory, and the dialect's multi-row VALUES batching keeps
# well under both backends' bind-parameter limits on its own.
_BATCH_ROWS = 2_000


class RegimeRecord(TypedDict):
    """One date's regime as stored: None where a measure is missing."""

    date: date
    vix: float | None
    realized_volatility_20d: float | None
    volatility_regime: str
    spy_sma_50: float | None
    spy_sma_200: float | None
    trend_regime: str
    advance_decline_ratio: float | None
    new_highs_lows_ratio: float | None
    sector_momentum: dict[str, float | None] | None
    regime_label: str
    regime_confidence: float


# --- validation --------------------------------------------------------------------------------


def _regime_dates(index: pd.Index) -> pd.DatetimeIndex:
    try:
        dates = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"market regimes must be indexed by date: {exc}") from exc
    if dates.tz is not None:
        raise ValueError("market regimes must be indexed by calendar dates, not timezone-aware times")
    if dates.hasnans:
        raise ValueError("market regimes: the date index has an empty value")
    if (dates != dates.normalize()).any():
        raise ValueError(f"market regimes: index value {dates[dates != dates.normalize()][0]} is not a plain date")
    if dates.has_duplicates:
        raise ValueError(f"market regimes: date {dates[dates.duplicated()][0].date()} appears more than once")
    return dates


def _check_columns(frame: pd.DataFrame) -> None:
    unknown = [str(c) for c in frame.columns if c not in REGIME_FIELDS]
    missing = [c for c in REGIME_FIELDS if c not in frame.columns]
    if unknown or missing:
        raise ValueError(f"market regimes: unknown column(s) {unknown}, missing column(s) {missing}")


def _problems_where(mask: np.ndarray, dates: pd.DatetimeIndex, what: str) -> list[str]:
    """'<date> <what>' for each date where mask is true."""
    return [f"{day.date()} {what}" for day in dates[mask]]


def _float_column(frame: pd.DataFrame, column: str, dates: pd.DatetimeIndex, problems: list[str]) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    problems += _problems_where((np.isnan(values) & raw.notna().to_numpy()), dates, f"{column} is not a number")
    problems += _problems_where(np.isinf(values), dates, f"{column} is not finite")
    return values


def _label_column(
    frame: pd.DataFrame, column: str, allowed: tuple[str, ...] | None, dates: pd.DatetimeIndex, problems: list[str]
) -> np.ndarray:
    labels = frame[column]
    as_text = labels.astype("string").str.strip()
    missing = (labels.isna() | (as_text == "")).to_numpy(dtype=bool)
    problems += _problems_where(missing, dates, f"{column} is missing")
    not_text = ~missing & ~labels.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)
    problems += _problems_where(not_text, dates, f"{column} is not text")
    present = ~missing & ~not_text
    if allowed is not None:
        unknown = present & ~labels.isin(allowed).to_numpy(dtype=bool)
        problems += _problems_where(unknown, dates, f"{column} is not one of {allowed}")
    else:
        too_long = present & (as_text.str.len().fillna(0).to_numpy() > _LABEL_LENGTH)
        problems += _problems_where(too_long, dates, f"{column} is longer than {_LABEL_LENGTH} characters")
    return labels.to_numpy(dtype=object)


def _sector_momentum(value: Any) -> dict[str, float | None] | None:
    """The stored form of one sector_momentum cell; raises ValueError saying what is wrong."""
    if not isinstance(value, Mapping):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return None
        raise ValueError(f"is a {type(value).__name__}, not a mapping of sector to number")
    cleaned: dict[str, float | None] = {}
    for sector, momentum in value.items():
        number = float(momentum) if isinstance(momentum, Real) else None
        if not isinstance(sector, str) or (momentum is not None and number is None):
            raise ValueError(f"entry {sector!r}: {momentum!r} is not a sector name and a number")
        if number is not None and np.isinf(number):
            raise ValueError(f"entry {sector!r}: {momentum!r} is not finite")
        cleaned[sector] = None if number is None or np.isnan(number) else number
    return cleaned


def _sector_column(frame: pd.DataFrame, dates: pd.DatetimeIndex, problems: list[str]) -> list[Any]:
    # Cells are Python dicts: there is nothing to vectorise, and a few thousand rows are cheap.
    cleaned: list[Any] = []
    for day, value in zip(dates, frame["sector_momentum"].to_list(), strict=True):
        try:
            momentum = _sector_momentum(value)
        except ValueError as exc:
            problems.append(f"{day.date()} sector_momentum {exc}")
            momentum = None
        # null() makes the JSON column store SQL NULL rather than the JSON text 'null'.
        cleaned.append(null() if momentum is None else momentum)
    return cleaned


def _validated_columns(frame: pd.DataFrame, dates: pd.DatetimeIndex) -> dict[str, Any]:
    """Each column as Python values ready to bind; ValueError listing the bad cells otherwise."""
    problems: list[str] = []
    columns: dict[str, Any] = {name: _float_column(frame, name, dates, problems) for name in FLOAT_FIELDS}
    confidence = _float_column(frame, "regime_confidence", dates, problems)
    problems += _problems_where(
        np.isnan(confidence) & frame["regime_confidence"].isna().to_numpy(), dates, "regime_confidence is missing"
    )
    outside = ~np.isnan(confidence) & ((confidence < 0) | (confidence > 1))
    problems += [
        f"{day.date()} regime_confidence={value} is outside [0, 1]"
        for day, value in zip(dates[outside], confidence[outside], strict=True)
    ]
    columns["regime_confidence"] = confidence
    columns["volatility_regime"] = _label_column(frame, "volatility_regime", VOLATILITY_REGIMES, dates, problems)
    columns["trend_regime"] = _label_column(frame, "trend_regime", TREND_REGIMES, dates, problems)
    columns["regime_label"] = _label_column(frame, "regime_label", None, dates, problems)
    columns["sector_momentum"] = _sector_column(frame, dates, problems)
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
        raise ValueError(f"market regimes refused, nothing written: {shown}{more}")
    return columns


# --- writing -----------------------------------------------------------------------------------


def _bind_values(values: Any) -> list[Any]:
    """A float array as Python floats with None for NaN; anything else as a list."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        as_objects = values.astype(object)
        as_objects[np.isnan(values)] = None
        return list(as_objects)
    return list(values)


def _regime_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    _check_columns(frame)
    dates = _regime_dates(frame.index)
    columns = _validated_columns(frame, dates)
    now = utcnow()
    names = ["date", *REGIME_FIELDS, "created_at", "updated_at"]
    values = [list(dates.date), *(_bind_values(columns[name]) for name in REGIME_FIELDS)]
    values += [[now] * len(dates), [now] * len(dates)]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _upsert_batch(connection: Connection, rows: list[dict[str, Any]]) -> None:
    # updated_at is set explicitly: ON CONFLICT DO UPDATE does not apply the column's onupdate.
    changed = [*REGIME_FIELDS, "updated_at"]
    if connection.dialect.name == "postgresql":
        pg_statement = postgresql.insert(MarketRegime)
        pg_updates = {name: pg_statement.excluded[name] for name in changed}
        connection.execute(pg_statement.on_conflict_do_update(index_elements=["date"], set_=pg_updates), rows)
    else:
        lite_statement = sqlite.insert(MarketRegime)
        lite_updates = {name: lite_statement.excluded[name] for name in changed}
        connection.execute(lite_statement.on_conflict_do_update(index_elements=["date"], set_=lite_updates), rows)


def upsert_regimes(bind: Bind, frame: pd.DataFrame) -> int:
    """Insert or replace one market_regime row per date of `frame`; returns the rows written.

    `frame` is indexed by date and has exactly the REGIME_FIELDS columns; NaN (and None) become
    NULL. Every cell is checked first: a bad one raises ValueError naming its date and column,
    and nothing is written. Writing the same frame twice changes nothing but updated_at.
    """
    rows = _regime_rows(frame)
    if not rows:
        return 0
    with connection_for(bind) as connection:
        for start in range(0, len(rows), _BATCH_ROWS):
            _upsert_batch(connection, rows[start : start + _BATCH_ROWS])
    log.debug("wrote %d market regime row(s), %s to %s", len(rows), rows[0]["date"], rows[-1]["date"])
    return len(rows)


# --- reading -----------------------------------------------------------------------------------

_READ_COLUMNS = [MarketRegime.date, *(MarketRegime.__table__.columns[name] for name in REGIME_FIELDS)]


def load_regimes(
    bind: Bind, *, start: date | None = None, end: date | None = None, last: int | None = None
) -> pd.DataFrame:
    """Stored regimes from start to end (inclusive), or only the `last` of them, as a frame with
    the REGIME_FIELDS columns and an ascending DatetimeIndex named 'date'."""
    if start is not None and end is not None and start > end:
        raise ValueError(f"load_regimes: start {start} is after end {end}")
    if last is not None and last < 1:
        raise ValueError(f"load_regimes: last must be at least 1, not {last}")
    query = select(*_READ_COLUMNS)
    if start is not None:
        query = query.where(MarketRegime.date >= start)
    if end is not None:
        query = query.where(MarketRegime.date <= end)
    query = query.order_by(MarketRegime.date.desc()).limit(last) if last else query.order_by(MarketRegime.date)
    with connection_for(bind) as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame(rows, columns=["date", *REGIME_FIELDS])
    frame[[*FLOAT_FIELDS, "regime_confidence"]] = frame[[*FLOAT_FIELDS, "regime_confidence"]].astype(np.float64)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.set_index("date").sort_index()


def regime_on(bind: Bind, day: date) -> RegimeRecord | None:
    """The regime stored for exactly `day`, or None."""
    with connection_for(bind) as connection:
        row = connection.execute(select(*_READ_COLUMNS).where(MarketRegime.date == day)).one_or_none()
    if row is None:
        return None
    m = row._mapping
    return RegimeRecord(
        date=m["date"],
        vix=m["vix"],
        realized_volatility_20d=m["realized_volatility_20d"],
        volatility_regime=m["volatility_regime"],
        spy_sma_50=m["spy_sma_50"],
        spy_sma_200=m["spy_sma_200"],
        trend_regime=m["trend_regime"],
        advance_decline_ratio=m["advance_decline_ratio"],
        new_highs_lows_ratio=m["new_highs_lows_ratio"],
        sector_momentum=m["sector_momentum"],
        regime_label=m["regime_label"],
        regime_confidence=m["regime_confidence"],
    )
