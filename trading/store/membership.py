"""Point-in-time universe membership (the index_membership table): an index's spans imported from a CSV
file, validated whole before anything is written, and the timeline answering "who was a member on t".

Span convention: both ends are inclusive. start_date is the first day the ticker is a member, end_date
the last one (empty: still a member). A ticker removed from the index effective the open of day D has
end_date = D - 1, its last close as a member. Two spans of one ticker in one index may not share a day.

Where membership rows exist, the decision's universes at t hold only the members at t (the market views
hand SessionMarket `MembershipTimeline.members_filter`); a day outside every span has no members at all,
so a backtest starting before the data's first span trades nothing.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
from sqlalchemy import delete, insert, select

from trading.db.schema import DataImport, IndexMembership
from trading.errors import ImportRejected
from trading.marketdata.bar_validation import TICKER_PATTERN
from trading.store import Bind, connection_for

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

logger = logging.getLogger(__name__)

# Who was a member on a day: what a market view hands SessionMarket to filter the universes' stocks.
MembersOn = Callable[[date], frozenset[str]]

DEFAULT_INDEX = "SP500"
MEMBERSHIP_COLUMNS = ("ticker", "start_date", "end_date")
INDEX_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TICKER = re.compile(TICKER_PATTERN)
# Rows per executemany call: well under both backends' bind-parameter limits.
_BATCH_ROWS = 2_000
# Member sets kept by the timeline: sessions are asked in order, so the current set is almost always
# cached; a bound keeps a twenty-year replay from holding a thousand sets of 500 names.
_CACHED_SEGMENTS = 64


@dataclass(frozen=True)
class MembershipSpan:
    """Days `start`..`end` (both inclusive; `end` None while still a member) on which `ticker` belonged."""

    ticker: str
    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)

    def describe(self) -> str:
        return f"{self.start}..{self.end if self.end is not None else 'open'}"


@dataclass(frozen=True)
class MembershipProblem:
    """Why one row (or span) was refused; `where` names it: 'file.csv:4', or 'span 4' for spans in memory."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class MembershipRejected(ImportRejected):
    """Membership rows that cannot be imported; nothing was written. `problems` lists every bad row."""

    def __init__(self, problems: Sequence[MembershipProblem]) -> None:
        rows = len({problem.where for problem in problems})
        more = f"; {rows - 1} more bad row(s)" if rows > 1 else ""
        super().__init__(f"{problems[0]}{more}; nothing was written")
        self.problems = list(problems)


@dataclass(frozen=True)
class MembershipImportReport:
    index: str
    path: str
    spans: int
    tickers: int
    open_spans: int  # spans without an end: members today
    first_day: date
    replaced: int  # the index's rows before the import, all replaced

    def summary(self) -> str:
        replaced = f"; replaced {self.replaced:,} earlier span(s)" if self.replaced else ""
        return (
            f"{self.index} membership: {self.spans:,} span(s) of {self.tickers:,} ticker(s) read from {self.path}, "
            f"from {self.first_day}, {self.open_spans:,} still open{replaced}"
        )


# --- reading and checking ----------------------------------------------------------------------------


def read_membership_file(path: Path) -> list[MembershipSpan]:
    """The spans of a CSV file (ticker,start_date,end_date; .gz too), or MembershipRejected naming every
    bad line: a bad ticker or date, an end before its start, two overlapping spans of one ticker."""
    labelled: list[tuple[str, MembershipSpan]] = []
    problems: list[MembershipProblem] = []
    with _csv_rows(path) as rows:
        for line, record in rows:
            where = f"{path}:{line}"
            span, reasons = _parse_row(record)
            problems += [MembershipProblem(where, reason) for reason in reasons]
            if span is not None:
                labelled.append((where, span))
    if not labelled and not problems:
        raise ImportRejected(f"{path}: no membership rows after the header; nothing was written")
    problems += _overlap_problems(labelled)
    if problems:
        raise MembershipRejected(_in_file_order(problems))
    return [span for _, span in labelled]


def check_spans(spans: Sequence[MembershipSpan]) -> list[MembershipProblem]:
    """What is wrong with spans built in memory (counted from 1 as 'span N'); empty when they can be stored."""
    problems = [
        MembershipProblem(f"span {n}", reason)
        for n, span in enumerate(spans, start=1)
        for reason in _span_reasons(span)
    ]
    return problems + _overlap_problems([(f"span {n}", span) for n, span in enumerate(spans, start=1)])


@contextmanager
def _csv_rows(path: Path) -> Iterator[Iterator[tuple[int, dict[str, str]]]]:
    """(line number, row by column) of a membership file, after its header is checked."""
    if not path.is_file():
        raise ImportRejected(f"{path}: no such file")
    try:
        with _open_text(path) as text:
            reader = csv.reader(text)
            header = [name.strip().lower() for name in next(reader, [])]
            _check_header(path, header)
            yield _records(reader, header)
    except OSError as exc:  # a gzip file that is not one is an OSError too
        raise ImportRejected(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise ImportRejected(f"{path}: unreadable CSV ({exc})") from exc


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _check_header(path: Path, header: list[str]) -> None:
    if not any(header):
        raise ImportRejected(f"{path}:1: the file is empty; expected the header {','.join(MEMBERSHIP_COLUMNS)}")
    missing = [name for name in MEMBERSHIP_COLUMNS if name not in header]
    if missing:
        raise ImportRejected(
            f"{path}:1: missing column(s) {', '.join(missing)}; expected {','.join(MEMBERSHIP_COLUMNS)}"
        )


def _records(reader: CsvReader, header: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, e.g. at the end of a hand-written file
        values = [cell.strip() for cell in cells] + [""] * (len(header) - len(cells))
        yield reader.line_num, dict(zip(header, values, strict=False))


def _parse_row(record: dict[str, str]) -> tuple[MembershipSpan | None, list[str]]:
    ticker = record["ticker"]
    reasons: list[str] = []
    if not ticker:
        reasons.append("missing ticker")
    elif not _TICKER.match(ticker):
        reasons.append(f"invalid ticker '{ticker[:40]}'")
    start = _parse_date(record["start_date"], "start_date", reasons, required=True)
    end = _parse_date(record["end_date"], "end_date", reasons, required=False)
    if reasons or start is None:
        return None, reasons
    span = MembershipSpan(ticker, start, end)
    reasons = _span_reasons(span)
    return (None if reasons else span), reasons


def _parse_date(text: str, column: str, reasons: list[str], *, required: bool) -> date | None:
    if not text:
        if required:
            reasons.append(f"missing {column}")
        return None
    try:
        if not _ISO_DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        reasons.append(f"{column} '{text[:40]}' is not a date in YYYY-MM-DD form")
        return None


def _span_reasons(span: MembershipSpan) -> list[str]:
    reasons = []
    if not _TICKER.match(span.ticker):
        reasons.append(f"invalid ticker '{span.ticker[:40]}'")
    if span.end is not None and span.end < span.start:
        reasons.append(f"end_date {span.end} is before start_date {span.start}")
    return reasons


def _overlap_problems(labelled: Sequence[tuple[str, MembershipSpan]]) -> list[MembershipProblem]:
    """Each span that shares a day with an earlier-starting span of its ticker, named with that span."""
    by_ticker: dict[str, list[tuple[int, str, MembershipSpan]]] = {}
    for position, (where, span) in enumerate(labelled):
        by_ticker.setdefault(span.ticker, []).append((position, where, span))
    problems: list[tuple[int, MembershipProblem]] = []
    for ticker, spans in by_ticker.items():
        spans.sort(key=lambda item: (item[2].start, item[0]))
        # The span reaching furthest so far: a later span overlaps some earlier one exactly when it
        # starts on or before that one's end (an open span reaches every later day).
        reach_where, reach = spans[0][1], spans[0][2]
        for position, where, span in spans[1:]:
            if reach.end is None or span.start <= reach.end:
                reason = f"{ticker}'s span {span.describe()} overlaps its span {reach.describe()} ({reach_where})"
                problems.append((position, MembershipProblem(where, reason)))
            if reach.end is not None and (span.end is None or span.end > reach.end):
                reach_where, reach = where, span
    return [problem for _, problem in sorted(problems, key=lambda item: item[0])]


def _in_file_order(problems: list[MembershipProblem]) -> list[MembershipProblem]:
    def line_of(problem: MembershipProblem) -> int:
        tail = problem.where.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    return sorted(problems, key=line_of)


# --- writing -----------------------------------------------------------------------------------------


def check_index_name(index: str) -> str:
    if not INDEX_NAME_PATTERN.match(index):
        raise ImportRejected(
            f"invalid index name '{index[:40]}': use 1 to 32 letters, digits, '_', '.' or '-' (e.g. SP500)"
        )
    return index


def replace_membership(bind: Bind, index: str, spans: Sequence[MembershipSpan], *, source: str | None = None) -> int:
    """Make `spans` the whole membership of `index` (its earlier rows are deleted), in one transaction;
    returns how many rows were replaced. Refuses bad or overlapping spans, writing nothing."""
    check_index_name(index)
    problems = check_spans(spans)
    if problems:
        raise MembershipRejected(problems)
    rows = [
        {"index_name": index, "ticker": s.ticker, "start_date": s.start, "end_date": s.end, "source": source}
        for s in spans
    ]
    with connection_for(bind) as connection:
        replaced = connection.execute(delete(IndexMembership).where(IndexMembership.index_name == index)).rowcount
        for first in range(0, len(rows), _BATCH_ROWS):
            connection.execute(insert(IndexMembership), rows[first : first + _BATCH_ROWS])
    return int(replaced or 0)


def import_membership_file(bind: Bind, path: Path, *, index: str = DEFAULT_INDEX) -> MembershipImportReport:
    """Replace `index`'s membership with the spans of a CSV file, recording the import in data_imports;
    any bad row refuses the whole file (MembershipRejected), so a half-known history is never stored."""
    started = datetime.now(UTC)
    check_index_name(index)
    spans = read_membership_file(path)
    with connection_for(bind) as connection:
        replaced = replace_membership(connection, index, spans, source=path.name[:200])
        connection.execute(
            insert(DataImport).values(
                kind="membership",
                sources=[str(path)],
                strict=True,
                rows_read=len(spans),
                rows_inserted=len(spans),
                rows_updated=0,
                rows_rejected=0,
                started_at=started,
                finished_at=datetime.now(UTC),
            )
        )
    report = MembershipImportReport(
        index=index,
        path=str(path),
        spans=len(spans),
        tickers=len({s.ticker for s in spans}),
        open_spans=sum(s.end is None for s in spans),
        first_day=min(s.start for s in spans),
        replaced=replaced,
    )
    logger.debug("%s", report.summary())
    return report


# --- reading back ------------------------------------------------------------------------------------


def has_membership_data(bind: Bind, index: str | None = None) -> bool:
    """Whether any membership row exists (of `index`, or of any index): one cheap query."""
    query = select(IndexMembership.ticker).limit(1)
    if index is not None:
        query = query.where(IndexMembership.index_name == index)
    with connection_for(bind) as connection:
        return connection.execute(query).first() is not None


class MembershipTimeline:
    """Membership spans read once, answering `members_on(day)` for many days (a backtest asks once per
    session). Spans of several indices are united: a ticker is a member when any span covers the day.

    The days on which membership changes cut time into segments of constant membership; `members_on`
    finds the day's segment by bisection and builds its set once (a vectorised mask over the spans).
    """

    def __init__(self, spans: Iterable[MembershipSpan], indices: Iterable[str] = ()) -> None:
        self.spans: tuple[MembershipSpan, ...] = tuple(sorted(spans, key=lambda s: (s.start, s.ticker)))
        self.indices: tuple[str, ...] = tuple(sorted(set(indices)))
        self._tickers = np.array([s.ticker for s in self.spans], dtype=object)
        self._starts = np.array([s.start.toordinal() for s in self.spans], dtype=np.int64)
        # An open span ends after every day a date can name.
        self._ends = np.array(
            [date.max.toordinal() if s.end is None else s.end.toordinal() for s in self.spans], dtype=np.int64
        )
        changes = {s.start for s in self.spans} | {s.end + timedelta(days=1) for s in self.spans if s.end}
        self._boundaries: list[date] = sorted(changes)
        self._segments: dict[int, frozenset[str]] = {}

    @classmethod
    def load(cls, bind: Bind, index: str | None = None) -> MembershipTimeline:
        """Every span of `index` (None: of every index in the table)."""
        query = select(
            IndexMembership.index_name, IndexMembership.ticker, IndexMembership.start_date, IndexMembership.end_date
        )
        if index is not None:
            query = query.where(IndexMembership.index_name == index)
        with connection_for(bind) as connection:
            rows = connection.execute(query).all()
        timeline = cls((MembershipSpan(ticker, start, end) for _, ticker, start, end in rows), (r[0] for r in rows))
        if timeline.has_data:
            logger.debug(
                "membership of %s: %d spans of %d tickers from %s",
                ", ".join(timeline.indices),
                len(timeline.spans),
                len(timeline.tickers),
                timeline.first_day,
            )
        return timeline

    @property
    def has_data(self) -> bool:
        return bool(self.spans)

    @property
    def tickers(self) -> frozenset[str]:
        """Every ticker that was ever a member."""
        return frozenset(self._tickers.tolist())

    @property
    def first_day(self) -> date | None:
        """The first day any span covers: before it nobody is a member."""
        return self._boundaries[0] if self._boundaries else None

    @property
    def members_filter(self) -> MembersOn | None:
        """`members_on` where there is data, None where there is none: what the market views hand
        SessionMarket, so that without membership rows the universes are what they always were."""
        return self.members_on if self.has_data else None

    def members_on(self, day: date) -> frozenset[str]:
        """The tickers a span covers on `day` (empty before the first span, and without data)."""
        if isinstance(day, datetime):  # a pandas Timestamp is one: its calendar day is meant
            day = day.date()
        segment = bisect_right(self._boundaries, day) - 1
        if segment < 0:
            return frozenset()
        found = self._segments.get(segment)
        if found is None:
            found = self._segment_members(self._boundaries[segment])
            if len(self._segments) >= _CACHED_SEGMENTS:
                del self._segments[next(iter(self._segments))]
            self._segments[segment] = found
        return found

    def _segment_members(self, day: date) -> frozenset[str]:
        ordinal = day.toordinal()
        covering = (self._starts <= ordinal) & (self._ends >= ordinal)
        return frozenset(self._tickers[covering].tolist())
