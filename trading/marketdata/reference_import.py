"""Imports of reference data: securities (what a ticker is) and point-in-time fundamentals
snapshots (a value becomes usable on its as-of date, never before), and the timeline that answers
"what was known on day t", with the prices on each market cap's snapshot date that let the universes
carry the cap to t."""

from __future__ import annotations

import logging
from dataclasses import astuple, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from trading.db.schema import ASSET_TYPES, Base, DataImport, Fundamental, PriceBar, Security
from trading.errors import ImportRejected
from trading.marketdata.bar_validation import TICKER_PATTERN
from trading.marketdata.bars_import import RowProblem
from trading.marketdata.csv_source import read_header

log = logging.getLogger(__name__)

SECURITY_ALIASES = {"gics_sector": "sector", "type": "asset_type", "symbol": "ticker"}
SECURITY_COLUMNS = ("ticker", "name", "sector", "asset_type")
# Columns of a fundamentals snapshot that describe the row rather than measure the company.
FUNDAMENTAL_TEXT_COLUMNS = ("name", "sector", "gics_sector", "snapshot_date", "in_price_universe", "asset_type")
MARKET_CAP = "market_cap"
# How far before a snapshot date its price is looked for (a snapshot may be dated on a holiday).
SNAPSHOT_PRICE_WINDOW = timedelta(days=10)


@dataclass(frozen=True)
class CapColumns:
    """Columns of `FundamentalsTimeline.as_of` that carry a market cap with the prices of its ticker on
    the cap's snapshot date: derived from the bars, not fields of a snapshot."""

    market_cap: str
    close: str  # the raw close on the snapshot date (NaN: that bar had none)
    adj_close: str  # the adjusted close on the snapshot date
    day: str  # the snapshot date, as date.toordinal(), so the frame stays float64


# The latest market cap known on the day (a snapshot field), with its snapshot date's prices: columns of
# the point-in-time frame.
KNOWN_CAP = CapColumns(MARKET_CAP, "market_cap_close", "market_cap_adj_close", "market_cap_day")
# For a ticker with no market cap known yet: the earliest LATER snapshot's. A look-ahead (the snapshot's
# share count before it was published), so it is no column of the point-in-time frame, where any reader
# of the fields could take it by accident: it rides in the frame's attrs under LATER_CAPS_ATTR, read by
# `later_market_caps`, and only the universes' size measure uses it, as a stated last resort.
LATER_CAP = CapColumns(
    "later_market_cap", "later_market_cap_close", "later_market_cap_adj_close", "later_market_cap_day"
)
LATER_CAPS_ATTR = "later_market_caps"


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
    """The latest value of each (ticker, field) known on `as_of`: tickers x fields, float64 (with the known
    market caps' snapshot prices, and the later caps attached, `FundamentalsTimeline.as_of`)."""
    return FundamentalsTimeline.load(engine, as_of, fields).as_of(as_of)


_CAP_ROW_COLUMNS = ["ticker", "as_of_date", "market_cap", "close", "adj_close"]


@dataclass(frozen=True, eq=False)
class FundamentalsTimeline:
    """Every fundamentals row known on a date, read once, to answer "what was known on day t" for
    many days t (a ranker's training set asks it hundreds of times).

    `caps` holds every market cap of every snapshot, later ones too, with the ticker's raw and adjusted
    close on the snapshot date: `as_of` adds those prices to the known cap (KNOWN_CAP columns) and, for a
    ticker with no cap known yet, attaches the earliest later cap (LATER_CAP, a stated look-ahead, kept out
    of the frame's data: `later_market_caps`).
    """

    rows: pd.DataFrame  # ticker, field, value, as_of_date; sorted by as_of_date
    caps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_CAP_ROW_COLUMNS))  # by as_of_date
    # The answer depends only on how many rows and caps are dated on or before the day: cached by those.
    _answers: dict[tuple[int, int], pd.DataFrame] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, engine: Engine, through: date, fields: list[str] | None = None) -> FundamentalsTimeline:
        query = select(Fundamental.ticker, Fundamental.field, Fundamental.value, Fundamental.as_of_date).where(
            Fundamental.as_of_date <= through
        )
        if fields:
            query = query.where(Fundamental.field.in_(fields))
        with engine.connect() as connection:
            rows = pd.DataFrame(connection.execute(query).all(), columns=["ticker", "field", "value", "as_of_date"])
            caps = _snapshot_caps(connection) if not fields or MARKET_CAP in fields else None
        return cls(
            rows.sort_values("as_of_date", kind="stable").reset_index(drop=True),
            pd.DataFrame(columns=_CAP_ROW_COLUMNS) if caps is None else caps,
        )

    def as_of(self, day: date) -> pd.DataFrame:
        """Tickers x fields as known on `day` (the latest row of each pair dated on or before it), with
        the KNOWN_CAP price columns where a market cap is known, and the later caps in its attrs."""
        count = int(self.rows["as_of_date"].searchsorted(day, side="right")) if len(self.rows) else 0
        caps_known = int(self.caps["as_of_date"].searchsorted(day, side="right")) if len(self.caps) else 0
        key = (count, caps_known)
        if key not in self._answers:
            known = self.rows.iloc[:count]
            self._answers[key] = self._with_cap_prices(self._latest(known), known, self.caps.iloc[caps_known:])
        return self._answers[key].copy()

    @staticmethod
    def _latest(known: pd.DataFrame) -> pd.DataFrame:
        if known.empty:
            return pd.DataFrame(dtype=np.float64)
        latest = known.drop_duplicates(["ticker", "field"], keep="last")
        wide = latest.pivot(index="ticker", columns="field", values="value").astype(np.float64)
        wide.columns.name = None
        return wide

    def _with_cap_prices(self, wide: pd.DataFrame, known: pd.DataFrame, later: pd.DataFrame) -> pd.DataFrame:
        if self.caps.empty:
            return wide
        prices = self.caps.set_index(["ticker", "as_of_date"])[["close", "adj_close"]]
        known_caps = known[known["field"] == MARKET_CAP].drop_duplicates("ticker", keep="last")
        if not known_caps.empty:
            at = prices.reindex(pd.MultiIndex.from_frame(known_caps[["ticker", "as_of_date"]]))
            added = _cap_frame(KNOWN_CAP, known_caps["ticker"], known_caps["value"], known_caps["as_of_date"], at)
            wide = wide.copy()  # known caps are rows of `wide` already: no row is added
            wide[list(added.columns)] = added.reindex(wide.index)
        without_cap = later[~later["ticker"].isin(known_caps["ticker"])].drop_duplicates("ticker", keep="first")
        if not without_cap.empty:
            wide.attrs[LATER_CAPS_ATTR] = _cap_frame(
                LATER_CAP, without_cap["ticker"], without_cap["market_cap"], without_cap["as_of_date"], without_cap
            )
        return wide


def later_market_caps(fundamentals: pd.DataFrame) -> pd.DataFrame:
    """The LATER_CAP columns `FundamentalsTimeline.as_of` attached to `fundamentals` (tickers with no cap known
    yet x the earliest later snapshot's cap and prices), or an empty frame: a look-ahead (see LATER_CAP)."""
    later = fundamentals.attrs.get(LATER_CAPS_ATTR)
    return later if isinstance(later, pd.DataFrame) else pd.DataFrame(columns=list(astuple(LATER_CAP)))


def _cap_frame(
    names: CapColumns, tickers: pd.Series, caps: pd.Series, days: pd.Series, prices: pd.DataFrame
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            names.market_cap: np.asarray(caps, dtype=np.float64),
            names.close: prices["close"].to_numpy(dtype=np.float64, na_value=np.nan),
            names.adj_close: prices["adj_close"].to_numpy(dtype=np.float64, na_value=np.nan),
            names.day: np.asarray([day.toordinal() for day in days], dtype=np.float64),
        },
        index=pd.Index(tickers.to_numpy(dtype=str)),
    )


def _snapshot_caps(connection: Connection) -> pd.DataFrame:
    """Every snapshot's market caps (whatever their date), each with its ticker's raw and adjusted close
    on the snapshot date (the newest bar on or before it), sorted by snapshot date."""
    query = select(Fundamental.ticker, Fundamental.as_of_date, Fundamental.value).where(Fundamental.field == MARKET_CAP)
    caps = pd.DataFrame(connection.execute(query).all(), columns=["ticker", "as_of_date", "market_cap"])
    if caps.empty:
        return pd.DataFrame(columns=_CAP_ROW_COLUMNS)
    prices = pd.concat([_prices_on(connection, day) for day in sorted(set(caps["as_of_date"]))], ignore_index=True)
    merged = caps.merge(prices, on=["ticker", "as_of_date"], how="left")
    merged["market_cap"] = merged["market_cap"].astype(np.float64)
    return merged.sort_values(["as_of_date", "ticker"], kind="stable").reset_index(drop=True)[_CAP_ROW_COLUMNS]


def _prices_on(connection: Connection, day: date) -> pd.DataFrame:
    """Each ticker's raw and adjusted close of its newest bar on or before `day` (within a few days)."""
    query = select(PriceBar.ticker, PriceBar.date, PriceBar.close, PriceBar.adj_close).where(
        PriceBar.date <= day, PriceBar.date >= day - SNAPSHOT_PRICE_WINDOW
    )
    bars = pd.DataFrame(connection.execute(query).all(), columns=["ticker", "date", "close", "adj_close"])
    newest = bars.sort_values(["ticker", "date"], kind="stable").drop_duplicates("ticker", keep="last")
    return pd.DataFrame(
        {
            "ticker": newest["ticker"].to_numpy(dtype=object),
            "as_of_date": [day] * len(newest),
            "close": newest["close"].to_numpy(dtype=np.float64, na_value=np.nan),
            "adj_close": newest["adj_close"].to_numpy(dtype=np.float64, na_value=np.nan),
        }
    )
