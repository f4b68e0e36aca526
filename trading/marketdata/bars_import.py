"""`fund data import`: long-format bar files into price_bars, as one idempotent upsert.

Every file's header is checked before anything is written; rows are validated in chunks and
written inside one transaction (COPY + INSERT ... ON CONFLICT on PostgreSQL, batched executemany
on SQLite). Re-importing a file changes nothing; a corrected file updates the rows it corrects.
When two files carry the same (ticker, date), the later file's row is kept and the conflict is
reported. Under `strict`, any bad row or such conflict rolls the whole import back. An import
whose files hold no rows at all is refused, and records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert

from trading.db.schema import DataImport
from trading.errors import ImportRejected
from trading.marketdata.bar_validation import (
    NUMBER_COLUMNS,
    OUTPUT_COLUMNS,
    ImportKeys,
    KeyRegistry,
    SessionRule,
    ValidatedChunk,
    header_problems,
    validate_chunk,
)
from trading.marketdata.calendar import ExchangeSessions, exchange_today
from trading.marketdata.csv_source import MalformedLine, read_chunks, read_header

log = logging.getLogger(__name__)

# Keep the first problems in full for the report; beyond that only the count matters.
MAX_REPORTED_PROBLEMS = 10_000
FileProgress = Callable[[Path, int], None]


@dataclass(frozen=True)
class RowProblem:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class KeyConflict:
    """A row whose (ticker, date) an earlier file of the same import also carried."""

    path: str
    line: int
    ticker: str
    day: str
    earlier_path: str
    earlier_line: int
    kept: bool  # False under strict, where the import is refused instead

    def __str__(self) -> str:
        where = (
            f"{self.path}:{self.line}: ({self.ticker}, {self.day}) is also at {self.earlier_path}:{self.earlier_line}"
        )
        if self.kept:
            return f"{where}; this row, from the later file, was kept"
        return f"{where}; under --strict a key may come from one file only"


@dataclass
class ImportReport:
    files: list[str]
    strict: bool
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    keys_conflicting: int = 0  # rows whose key an earlier file of the import also carried
    conflicts: list[KeyConflict] = field(default_factory=list)
    empty_files: list[str] = field(default_factory=list)  # files with a header and no rows

    @property
    def rows_written(self) -> int:
        return self.rows_read - self.rows_rejected

    @property
    def rows_unchanged(self) -> int:
        return self.rows_written - self.rows_inserted - self.rows_updated

    def summary(self) -> str:
        text = (
            f"{self.rows_read:,} rows read from {len(self.files)} file(s): {self.rows_inserted:,} inserted, "
            f"{self.rows_updated:,} updated, {self.rows_unchanged:,} unchanged, {self.rows_rejected:,} rejected"
        )
        if self.keys_conflicting:
            text += (
                f"; {self.keys_conflicting:,} row(s) repeat a (ticker, date) of an earlier file: "
                f"the later file's row was kept"
            )
        if self.empty_files:
            text += f"; {len(self.empty_files)} file(s) held no rows"
        return text


class BarImportRejected(ImportRejected):
    """Nothing was written; `report` lists the rows that caused it."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


class _BarWriter(Protocol):
    def write(self, bars: pd.DataFrame) -> None: ...
    def finish_file(self) -> None: ...
    def counts(self) -> tuple[int, int]: ...


def import_bar_files(
    engine: Engine,
    paths: Sequence[Path],
    *,
    strict: bool = False,
    chunk_rows: int = 200_000,
    on_progress: FileProgress | None = None,
    exchange: str = "XNYS",
    today: date | None = None,
) -> ImportReport:
    """Validate and upsert every file in one transaction; return what happened.

    A bar must be dated on a session of `exchange` and not after `today` (default: today in New
    York). Raises ImportRejected (nothing written) for a missing, unreadable or damaged file, a
    bad header, or files that hold no rows at all; and BarImportRejected under `strict` when any
    row is bad or two files carry the same (ticker, date).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ImportRejected("no files to import")
    headers = {path: read_header(path) for path in paths}
    for path, columns in headers.items():
        problems = header_problems(columns)
        if problems:
            raise ImportRejected(f"{path}:1: {'; '.join(problems)}")

    report = ImportReport(files=[str(p) for p in paths], strict=strict)
    importer = _Importer(report, SessionRule(ExchangeSessions(exchange), today or exchange_today()), chunk_rows)
    started = datetime.now(UTC)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            writer = _make_writer(connection)
            for index, path in enumerate(paths):
                importer.import_file(index, path, headers[path], writer, on_progress)
                if not importer.refused:  # else it all rolls back: skip the upsert
                    writer.finish_file()
            _refuse_if_needed(report)
            report.rows_inserted, report.rows_updated = writer.counts()
            _record_import(connection, report, started)
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
    log.info("bar import: %s", report.summary())
    return report


def _refuse_if_needed(report: ImportReport) -> None:
    if len(report.empty_files) == len(report.files):
        held = "held no rows (only a header)" if len(report.files) == 1 else "none of the files held any rows"
        raise ImportRejected(f"{', '.join(report.files)}: {held}; nothing was imported")
    if report.strict and (report.rows_rejected or report.keys_conflicting):
        found = [f"{report.rows_rejected:,} bad row(s)"] if report.rows_rejected else []
        if report.keys_conflicting:
            found.append(f"{report.keys_conflicting:,} row(s) repeating a (ticker, date) of an earlier file")
        raise BarImportRejected(f"--strict: {' and '.join(found)}; nothing was written", report)


class _Importer:
    """Reads, validates and writes the files of one import in order, filling its report."""

    def __init__(self, report: ImportReport, sessions: SessionRule, chunk_rows: int) -> None:
        self._report = report
        self._sessions = sessions
        self._chunk_rows = chunk_rows
        self._codes: dict[str, int] = {}  # shared by every file's KeyRegistry: one key, one meaning
        self._written = ImportKeys()

    @property
    def refused(self) -> bool:
        """Under strict, once anything is wrong the import will roll back: stop sending rows."""
        report = self._report
        return report.strict and bool(report.rows_rejected or report.keys_conflicting)

    def import_file(
        self, index: int, path: Path, columns: list[str], writer: _BarWriter, on_progress: FileProgress | None
    ) -> None:
        report, registry = self._report, KeyRegistry(codes=self._codes)
        malformed: list[MalformedLine] = []
        progress = (lambda done: on_progress(path, done)) if on_progress else None
        rows_before = report.rows_read
        keys: list[np.ndarray] = []
        lines: list[np.ndarray] = []
        for chunk in read_chunks(path, columns, self._chunk_rows, malformed, progress):
            validated = validate_chunk(chunk.frame, chunk.lines, registry, self._sessions)
            report.rows_read += validated.rows_read
            report.rows_rejected += int(validated.problems["line"].nunique())
            _keep_problems(report, path, validated.problems)
            self._note_conflicts(path, validated)
            keys.append(validated.keys)
            lines.append(validated.lines)
            if not self.refused and len(validated.bars):
                writer.write(validated.bars)
        # Lines the parser had to skip were never rows of a chunk: count and report them here.
        report.rows_read += len(malformed)
        report.rows_rejected += len(malformed)
        _keep_problems(
            report, path, pd.DataFrame({"line": [m.line for m in malformed], "reason": [m.reason for m in malformed]})
        )
        if report.rows_read == rows_before:
            report.empty_files.append(str(path))
            log.warning("%s held no rows (only a header)", path)
        if keys:
            self._written.add_file(index, np.concatenate(keys), np.concatenate(lines))

    def _note_conflicts(self, path: Path, validated: ValidatedChunk) -> None:
        files, earlier_lines = self._written.earlier(validated.keys)
        repeated = np.flatnonzero(files >= 0)
        report = self._report
        report.keys_conflicting += len(repeated)
        room = MAX_REPORTED_PROBLEMS - len(report.conflicts)
        bars = validated.bars
        report.conflicts.extend(
            KeyConflict(
                path=str(path),
                line=int(validated.lines[row]),
                ticker=str(bars["ticker"].iat[row]),
                day=str(bars["date"].iat[row]),
                earlier_path=report.files[int(files[row])],
                earlier_line=int(earlier_lines[row]),
                kept=not report.strict,
            )
            for row in repeated[: max(room, 0)]
        )


def _keep_problems(report: ImportReport, path: Path, problems: pd.DataFrame) -> None:
    room = MAX_REPORTED_PROBLEMS - len(report.problems)
    if room <= 0 or problems.empty:
        return
    head = problems.sort_values("line", kind="stable").head(room)
    report.problems.extend(
        RowProblem(str(path), int(line), str(reason)) for line, reason in head.itertuples(index=False)
    )


def _record_import(connection: Connection, report: ImportReport, started: datetime) -> None:
    connection.execute(
        insert(DataImport).values(
            kind="bars",
            sources=report.files,
            strict=report.strict,
            rows_read=report.rows_read,
            rows_inserted=report.rows_inserted,
            rows_updated=report.rows_updated,
            rows_rejected=report.rows_rejected,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
    )


def _make_writer(connection: Connection) -> _BarWriter:
    if connection.dialect.name == "postgresql":
        return _PostgresBarWriter(connection)
    return _SqliteBarWriter(connection)


_ALL_COLUMNS = ", ".join(OUTPUT_COLUMNS)
_CHANGED = " OR ".join(f"price_bars.{c} IS NOT excluded.{c}" for c in NUMBER_COLUMNS)


class _SqliteBarWriter:
    """executemany of an upsert that only touches rows whose values differ."""

    _UPSERT = (
        f"INSERT INTO price_bars ({_ALL_COLUMNS}) VALUES ({', '.join('?' * len(OUTPUT_COLUMNS))}) "
        f"ON CONFLICT (ticker, date) DO UPDATE SET "
        f"{', '.join(f'{c} = excluded.{c}' for c in NUMBER_COLUMNS)} WHERE {_CHANGED}"
    )

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows_before = self._count()
        self._changes = 0

    def _count(self) -> int:
        return int(self._connection.exec_driver_sql("SELECT count(*) FROM price_bars").scalar_one())

    def write(self, bars: pd.DataFrame) -> None:
        raw = self._connection.connection.driver_connection
        assert raw is not None
        before = raw.total_changes
        self._connection.exec_driver_sql(self._UPSERT, _python_rows(bars))
        self._changes += raw.total_changes - before

    def finish_file(self) -> None:
        pass

    def counts(self) -> tuple[int, int]:
        inserted = self._count() - self._rows_before
        return inserted, self._changes - inserted


def _python_rows(bars: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as tuples of Python values (None for empty) that the sqlite3 driver binds directly."""
    columns: list[np.ndarray] = [bars["ticker"].to_numpy(dtype=object), bars["date"].to_numpy(dtype=object)]
    for column in NUMBER_COLUMNS:
        values = bars[column].to_numpy(dtype=np.float64)
        missing = np.isnan(values)
        as_objects = (np.where(missing, 0, values).astype(np.int64) if column == "volume" else values).astype(object)
        as_objects[missing] = None
        columns.append(as_objects)
    return list(zip(*columns, strict=True))


class _PostgresBarWriter:
    """COPY each file into a temporary staging table, then one INSERT ... ON CONFLICT per file.

    One statement per file (not per import) because two files may carry the same key, and a
    single ON CONFLICT statement may not touch a row twice; later files win, as on SQLite.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._inserted = 0
        self._updated = 0
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE price_bars_staging (LIKE price_bars INCLUDING DEFAULTS) ON COMMIT DROP"
        )

    def write(self, bars: pd.DataFrame) -> None:
        frame = bars.loc[:, list(OUTPUT_COLUMNS)].copy()
        frame["volume"] = frame["volume"].astype("Int64")
        payload = frame.to_csv(sep="\t", header=False, index=False, na_rep="\\N", lineterminator="\n")
        raw = self._connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY price_bars_staging ({_ALL_COLUMNS}) FROM STDIN") as copy:
            copy.write(payload)

    def finish_file(self) -> None:
        changed = " OR ".join(f"price_bars.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in NUMBER_COLUMNS)
        # xmax = 0 marks a freshly inserted row; counting in SQL avoids returning every row.
        row = self._connection.exec_driver_sql(
            f"WITH upserted AS (INSERT INTO price_bars ({_ALL_COLUMNS}) "
            # Key order makes the primary-key index fill mostly sequentially.
            f"SELECT {_ALL_COLUMNS} FROM price_bars_staging ORDER BY ticker, date "
            f"ON CONFLICT (ticker, date) DO UPDATE SET "
            f"{', '.join(f'{c} = EXCLUDED.{c}' for c in NUMBER_COLUMNS)} WHERE {changed} "
            f"RETURNING (xmax = 0) AS inserted) "
            f"SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"
        ).one()
        self._inserted += int(row[0])
        self._updated += int(row[1])
        self._connection.exec_driver_sql("TRUNCATE price_bars_staging")

    def counts(self) -> tuple[int, int]:
        return self._inserted, self._updated
