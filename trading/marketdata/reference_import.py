"""Imports of reference data: securities (what a ticker is) and point-in-time fundamentals
snapshots (a value becomes usable on its as-of date, never before)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from trading.db.schema import ASSET_TYPES, Base, DataImport, Fundamental, Security
from trading.errors import ImportRejected
from trading.marketdata.bar_validation import TICKER_PATTERN
from trading.marketdata.bars_import import RowProblem
from trading.marketdata.csv_source import read_header

log = logging.getLogger(__name__)

SECURITY_ALIASES = {"gics_sector": "sector", "type": "asset_type", "symbol": "ticker"}
SECURITY_COLUMNS = ("ticker", "name", "sector", "asset_type")
# Columns of a fundamentals snapshot that describe the row rather than measure the company.
FUNDAMENTAL_TEXT_COLUMNS = ("name", "sector", "gics_sector", "snapshot_date", "in_price_universe", "asset_type")


@dataclass
class ReferenceImportReport:
    kind: str
    path: str
    rows_read: int = 0
    rows_written: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return len({p.line for p in self.problems})

    def summary(self) -> str:
        ignored = f"; ignored columns: {', '.join(self.ignored_columns)}" if self.ignored_columns else ""
        return (
            f"{self.kind}: {self.rows_read:,} rows read from {self.path}, {self.rows_written:,} values written, "
            f"{self.rows_rejected:,} rows rejected{ignored}"
        )


class ReferenceImportRejected(ImportRejected):
    def __init__(self, message: str, report: ReferenceImportReport) -> None:
        super().__init__(message)
        self.report = report


def _read_frame(path: Path) -> pd.DataFrame:
    read_header(path)  # a missing or empty file fails here, with its name
    try:
        frame = pd.read_csv(path, dtype=str, na_filter=False, keep_default_na=False, compression="infer")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ImportRejected(f"{path}: unreadable CSV ({exc})") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    return frame


def _ticker_problems(path: Path, tickers: pd.Series) -> list[RowProblem]:
    lines = np.arange(len(tickers)) + 2
    valid = tickers.str.match(TICKER_PATTERN).to_numpy(dtype=bool)
    problems = [
        RowProblem(str(path), int(line), f"invalid ticker '{ticker}'" if ticker else "missing ticker")
        for line, ticker in zip(lines[~valid], tickers[~valid], strict=True)
    ]
    first_line = dict[str, int]()
    for line, ticker in zip(lines, tickers, strict=True):
        if ticker in first_line:
            problems.append(
                RowProblem(
                    str(path), int(line), f"duplicate ticker '{ticker}'; first seen at line {first_line[ticker]}"
                )
            )
        else:
            first_line[ticker] = int(line)
    return problems


def _upsert(connection: Connection, entity: type[Base], rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows:
        return
    columns = [c.name for c in entity.__table__.columns if c.name not in keys]
    if connection.dialect.name == "postgresql":
        pg_statement = postgresql.insert(entity)
        updates = {c: pg_statement.excluded[c] for c in columns}
        connection.execute(pg_statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)
    else:
        lite_statement = sqlite.insert(entity)
        updates = {c: lite_statement.excluded[c] for c in columns}
        connection.execute(lite_statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)


def _finish(
    engine: Engine, report: ReferenceImportReport, strict: bool, write: Any, started: datetime
) -> ReferenceImportReport:
    if strict and report.problems:
        raise ReferenceImportRejected(
            f"--strict: {report.rows_rejected} bad row(s) in {report.path}; nothing was written", report
        )
    with engine.begin() as connection:
        write(connection)
        connection.execute(
            insert(DataImport).values(
                kind=report.kind,
                sources=[report.path],
                strict=strict,
                rows_read=report.rows_read,
                rows_inserted=report.rows_written,
                rows_updated=0,
                rows_rejected=report.rows_rejected,
                started_at=started,
                finished_at=datetime.now(UTC),
            )
        )
    log.debug("%s", report.summary())
    return report


def import_securities(
    engine: Engine, path: Path, *, strict: bool = False, source: str | None = None, synthetic: bool = False
) -> ReferenceImportReport:
    """Upsert securities from a CSV with a ticker column and any of name, sector (or gics_sector)
    and asset_type (stock, etf, index, fund, other; default stock)."""
    started = datetime.now(UTC)
    frame = _read_frame(path).rename(columns=SECURITY_ALIASES)
    if "ticker" not in frame.columns:
        raise ImportRejected(f"{path}:1: missing column 'ticker'")
    report = ReferenceImportReport(kind="securities", path=str(path), rows_read=len(frame))
    report.ignored_columns = [c for c in frame.columns if c not in SECURITY_COLUMNS]
    for column, default in (("name", ""), ("sector", ""), ("asset_type", "stock")):
        if column not in frame.columns:
            frame[column] = default
    frame["asset_type"] = frame["asset_type"].str.lower().replace("", "stock")
    report.problems = _ticker_problems(path, frame["ticker"])
    unknown_type = ~frame["asset_type"].isin(ASSET_TYPES)
    report.problems += [
        RowProblem(str(path), position + 2, f"unknown asset_type '{t}'; expected one of {', '.join(ASSET_TYPES)}")
        for position, (t, unknown) in enumerate(zip(frame["asset_type"], unknown_type, strict=True))
        if unknown
    ]
    bad_lines = {p.line for p in report.problems}
    good = frame[[i + 2 not in bad_lines for i in range(len(frame))]]
    rows = [
        {
            "ticker": r.ticker,
            "name": r.name or None,
            "sector": r.sector or None,
            "asset_type": r.asset_type,
            "source": source or path.name,
            "is_synthetic": synthetic,
            "updated_at": started,
        }
        for r in good.itertuples(index=False)
    ]
    report.rows_written = len(rows)
    return _finish(engine, report, strict, lambda c: _upsert(c, Security, rows, ["ticker"]), started)


def import_fundamentals(engine: Engine, path: Path, as_of: date, *, strict: bool = False) -> ReferenceImportReport:
    """A wide snapshot (ticker + one numeric column per field) becomes (ticker, field, as_of, value)
    rows. Columns whose values are text (name, sector, ...) are ignored and listed in the report.

    A `snapshot_date` column later than `as_of` is refused: it would let the data be seen before
    it existed.
    """
    started = datetime.now(UTC)
    frame = _read_frame(path)
    if "ticker" not in frame.columns:
        raise ImportRejected(f"{path}:1: missing column 'ticker'")
    _refuse_look_ahead(path, frame, as_of)
    report = ReferenceImportReport(kind="fundamentals", path=str(path), rows_read=len(frame))
    report.problems = _ticker_problems(path, frame["ticker"])
    fields = _numeric_fields(frame, report)
    rows: list[dict[str, Any]] = []
    bad_lines = {p.line for p in report.problems}
    records = cast(list[dict[str, str]], frame.to_dict("records"))
    for position, record in enumerate(records):
        line = position + 2
        values, cell_problems = _parse_fields(record, fields)
        report.problems += [RowProblem(str(path), line, reason) for reason in cell_problems]
        if line in bad_lines or cell_problems:
            continue
        rows += [
            {"ticker": record["ticker"], "field": name, "as_of_date": as_of, "value": value, "source": path.name}
            for name, value in values.items()
        ]
    report.rows_written = len(rows)
    keys = ["ticker", "field", "as_of_date"]
    return _finish(engine, report, strict, lambda c: _upsert(c, Fundamental, rows, keys), started)


def _refuse_look_ahead(path: Path, frame: pd.DataFrame, as_of: date) -> None:
    if "snapshot_date" not in frame.columns:
        return
    taken = pd.to_datetime(frame["snapshot_date"], format="%Y-%m-%d", errors="coerce").max()
    if pd.notna(taken) and taken.date() > as_of:
        raise ImportRejected(
            f"{path}: --as-of {as_of} is before the file's snapshot_date {taken.date()}: "
            "the values would be visible before they were known"
        )


def _numeric_fields(frame: pd.DataFrame, report: ReferenceImportReport) -> list[str]:
    # A column is a numeric field when most of its non-empty cells are numbers; the rest of its
    # cells are then bad values, reported per row, rather than a reason to drop the column.
    fields = []
    for column in frame.columns:
        if column == "ticker":
            continue
        cells = frame[column][frame[column] != ""]
        numeric_share = pd.to_numeric(cells, errors="coerce").notna().mean() if len(cells) else 0.0
        if column in FUNDAMENTAL_TEXT_COLUMNS or numeric_share < 0.5:
            report.ignored_columns.append(column)
        else:
            fields.append(column)
    return fields


def _parse_fields(record: dict[str, str], fields: list[str]) -> tuple[dict[str, Decimal], list[str]]:
    values: dict[str, Decimal] = {}
    problems: list[str] = []
    for name in fields:
        text = record[name]
        if text == "":
            continue
        try:
            value = Decimal(text)
        except InvalidOperation:
            problems.append(f"unparseable {name} '{text[:40]}'")
            continue
        if not value.is_finite():
            problems.append(f"unparseable {name} '{text[:40]}'")
            continue
        values[name] = value
    return values, problems


def fundamentals_as_of(engine: Engine, as_of: date, fields: list[str] | None = None) -> pd.DataFrame:
    """The latest value of each (ticker, field) known on `as_of`: tickers x fields, float64."""
    return FundamentalsTimeline.load(engine, as_of, fields).as_of(as_of)


@dataclass(frozen=True, eq=False)
class FundamentalsTimeline:
    """Every fundamentals row known on a date, read once, to answer "what was known on day t" for
    many days t (a ranker's training set asks it hundreds of times)."""

    rows: pd.DataFrame  # ticker, field, value, as_of_date; sorted by as_of_date
    # The answer depends only on how many rows are dated on or before the day: cached by that count.
    _answers: dict[int, pd.DataFrame] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, engine: Engine, through: date, fields: list[str] | None = None) -> FundamentalsTimeline:
        query = select(Fundamental.ticker, Fundamental.field, Fundamental.value, Fundamental.as_of_date).where(
            Fundamental.as_of_date <= through
        )
        if fields:
            query = query.where(Fundamental.field.in_(fields))
        with engine.connect() as connection:
            rows = pd.DataFrame(connection.execute(query).all(), columns=["ticker", "field", "value", "as_of_date"])
        return cls(rows.sort_values("as_of_date", kind="stable").reset_index(drop=True))

    def as_of(self, day: date) -> pd.DataFrame:
        """Tickers x fields as known on `day` (the latest row of each pair dated on or before it)."""
        count = int(self.rows["as_of_date"].searchsorted(day, side="right")) if len(self.rows) else 0
        if count not in self._answers:
            self._answers[count] = self._latest(self.rows.iloc[:count])
        return self._answers[count].copy()

    @staticmethod
    def _latest(known: pd.DataFrame) -> pd.DataFrame:
        if known.empty:
            return pd.DataFrame(dtype=np.float64)
        latest = known.drop_duplicates(["ticker", "field"], keep="last")
        wide = latest.pivot(index="ticker", columns="field", values="value").astype(np.float64)
        wide.columns.name = None
        return wide
