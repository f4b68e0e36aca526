"""`fund data update`: daily bars from a provider (trading/marketdata/providers) into price_bars, through
the same validated, idempotent import as `fund data import`, up to the last completed session.

The tickers are every security in the database plus the benchmark, safe haven and volatility index.
Each is fetched from the day after its last stored bar (from `since` when given, which re-fetches: the
upsert makes that harmless; from `FIRST_DAY` for a ticker with no bar yet) through the last session
whose 16:00 New York close has passed. The provider's whole answer is fetched before anything is
written, then imported in one transaction: a provider failure writes nothing, and a second run finds
nothing to fetch.

Adjusted closes. A provider sends raw prices and ex-date events (cash dividend per share, split
coefficient); the adjusted close is chained forward from the ticker's last stored bar before the
first new day:

    adj_t = adj_{t-1} * (close_t + dividend_t) * split_coef_t / close_{t-1}

the total return of holding the stock through day t, with the dividend taken as cash on its ex-date.
A stored bar without a close (an adjusted-only series) serves as both close and adj_close; a ticker
with no stored bar starts at adj_close = close. So the levels differ from a vendor's back-adjusted
close (which rescales all history at each event, so that its last value equals the last close); the
returns, which are all the fund reads from adj_close, are the same up to how a dividend is
reinvested. Each step is rounded to ADJ_SIGNIFICANT_DIGITS, so a re-fetch from any day (`since`)
reproduces the stored values exactly and updates nothing.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, and_, func, select

from trading.db.schema import PriceBar, Security
from trading.errors import DataError, FundError
from trading.marketdata.bars_import import ImportReport, import_bar_files
from trading.marketdata.calendar import TradingCalendar, exchange_today, session_close_utc
from trading.marketdata.providers.base import BarProvider, BarRequest, FetchedBars
from trading.settings import DataSettings

logger = logging.getLogger(__name__)

# Where a ticker with no stored bar starts unless `since` says otherwise: Alpaca's history begins in 2016.
FIRST_DAY = date(2016, 1, 1)
# Adjusted closes are kept to this many significant digits: more than any return needs, and few
# enough that float noise never reaches the database (see `_chain`).
ADJ_SIGNIFICANT_DIGITS = 10
# A line of tickers without bars names this many; a long list would hide the rest of the output.
SHOWN_TICKERS = 10
_CSV_COLUMNS = ("date", "ticker", "open", "high", "low", "close", "adj_close", "volume", "dividend", "split_coef")


class ProviderFailed(DataError):
    """A provider call failed (after its retries): nothing was written."""


def last_completed_session(now: datetime, exchange: str = "XNYS") -> date:
    """The last session of `exchange` whose 16:00 New York close is at or before `now` (aware)."""
    calendar = TradingCalendar(history=pd.DatetimeIndex([]), exchange=exchange)
    today = exchange_today(now)
    if calendar.is_session(today) and now >= session_close_utc(today):
        return today
    previous = calendar.previous_session(today)
    if previous is None:
        raise DataError(f"no {exchange} session before {today}")
    return previous


@dataclass(frozen=True)
class UpdatePlan:
    """What one update asks for: a span per ticker that is behind, and where its chain starts."""

    last_session: date
    tickers: tuple[str, ...]  # every ticker considered
    requests: tuple[BarRequest, ...]  # those with days to fetch
    anchors: pd.DataFrame  # indexed by ticker: close, adj_close of the last stored bar before its span


@dataclass
class UpdateReport:
    provider: str
    last_session: date
    tickers: int  # considered
    requested: int  # with days to fetch
    bars_per_ticker: dict[str, int] = field(default_factory=dict)
    first_day: date | None = None
    last_day: date | None = None
    imported: ImportReport | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # ticker -> why the provider cannot serve it
    # Tickers asked for a span the provider sent no bar of (delisted; or the day's bars are not out yet).
    without_bars: dict[tuple[date, date], list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # rows skipped, events without a bar

    @property
    def rows_rejected(self) -> int:
        return self.imported.rows_rejected if self.imported else 0

    def summary(self) -> str:
        through = f"{self.last_session}, the last completed session"
        if not self.requested:
            return f"{self.provider}: nothing to fetch: {self.tickers} ticker(s) up to date through {through}"
        if self.imported is None:
            return f"{self.provider}: no new bars for {self.requested} ticker(s) through {through}"
        report = self.imported
        return (
            f"{self.provider}: {len(self.bars_per_ticker)} ticker(s) updated through {through}: "
            f"{report.rows_inserted:,} bars inserted, {report.rows_updated:,} updated, "
            f"{report.rows_unchanged:,} unchanged, {report.rows_rejected:,} rejected "
            f"(bars from {self.first_day} to {self.last_day})"
        )

    def notes(self) -> list[str]:
        """One line per ticker the provider cannot serve, one per span it sent no bars of."""
        lines = [f"{ticker}: {reason}" for ticker, reason in sorted(self.unavailable.items())]
        for (start, end), tickers in sorted(self.without_bars.items()):
            span = str(start) if start == end else f"{start} to {end}"
            named = ", ".join(tickers[:SHOWN_TICKERS])
            more = f" and {len(tickers) - SHOWN_TICKERS:,} more" if len(tickers) > SHOWN_TICKERS else ""
            lines.append(f"no bars from {self.provider} for {span}: {named}{more}")
        return lines


def update_bars(
    engine: Engine,
    provider: BarProvider,
    settings: DataSettings,
    *,
    now: datetime | None = None,
    since: date | None = None,
    tickers: Sequence[str] | None = None,
) -> UpdateReport:
    """Fetch every ticker's missing days from `provider` and import them (module doc).

    Raises ProviderFailed (nothing written) when the provider fails, and DataError for a database
    that holds the synthetic demo market.
    """
    moment = now or datetime.now(UTC)
    plan = plan_update(engine, settings, now=moment, since=since, tickers=tickers)
    unsupported = {t: reason for t in plan.tickers if (reason := provider.unsupported(t)) is not None}
    requests = [r for r in plan.requests if r.ticker not in unsupported]
    report = UpdateReport(provider.name, plan.last_session, len(plan.tickers) - len(unsupported), len(requests))
    report.unavailable = unsupported
    if not requests:
        logger.info("%s: every ticker is up to date through %s", provider.name, plan.last_session)
        return report
    logger.info("%s: fetching %d ticker(s) through %s", provider.name, len(requests), plan.last_session)
    try:
        fetched = provider.fetch(requests)
    except FundError as exc:
        raise ProviderFailed(f"{exc}; nothing was written") from exc
    report.unavailable.update(fetched.unavailable)
    bars = _with_events(fetched, report)
    _note_missing(requests, bars, report)
    if bars.empty:
        return report
    bars["adj_close"] = chain_adjusted_closes(bars, plan.anchors)
    report.bars_per_ticker = {str(k): int(v) for k, v in bars.groupby("ticker").size().items()}
    report.first_day, report.last_day = bars["date"].min(), bars["date"].max()
    report.imported = _import(engine, bars, provider.name, settings, exchange_today(moment), report)
    return report


def plan_update(
    engine: Engine,
    settings: DataSettings,
    *,
    now: datetime,
    since: date | None = None,
    tickers: Sequence[str] | None = None,
) -> UpdatePlan:
    last_session = last_completed_session(now, settings.exchange_calendar)
    with engine.connect() as connection:
        _refuse_synthetic(connection)
        chosen = _tickers(connection, settings) if tickers is None else sorted(dict.fromkeys(tickers))
        anchors = _anchors(connection, chosen, since)
    last_stored: dict[str, date] = dict(zip(anchors.index, anchors["date"], strict=True))
    requests = []
    for ticker in chosen:
        if since is not None:
            start = since
        elif ticker in last_stored:
            start = last_stored[ticker] + timedelta(days=1)
        else:
            start = FIRST_DAY
        if start <= last_session:
            requests.append(BarRequest(ticker, start, last_session))
    return UpdatePlan(last_session, tuple(chosen), tuple(requests), anchors)


def _refuse_synthetic(connection: Connection) -> None:
    sources = connection.execute(select(Security.source).where(Security.is_synthetic.is_(True)).distinct()).scalars()
    synthetic = sorted(s or "synthetic" for s in sources)
    if synthetic:
        raise DataError(
            f"the database holds the SYNTHETIC demo market ({', '.join(synthetic)}): real bars would be mixed "
            "into it; update a database of real data instead"
        )


def _tickers(connection: Connection, settings: DataSettings) -> list[str]:
    securities = connection.execute(select(Security.ticker)).scalars().all()
    special = [settings.benchmark_ticker, settings.safe_haven_ticker, settings.volatility_index_ticker]
    return sorted({*securities, *special})


def _anchors(connection: Connection, tickers: Sequence[str], before: date | None) -> pd.DataFrame:
    """Per ticker, its last stored bar (before `before` when given): date, close and adj_close."""
    columns = ["ticker", "date", "close", "adj_close"]
    if not tickers:
        return pd.DataFrame(columns=columns).set_index("ticker")
    last = select(PriceBar.ticker, func.max(PriceBar.date).label("day")).where(PriceBar.ticker.in_(tickers))
    if before is not None:
        last = last.where(PriceBar.date < before)
    latest = last.group_by(PriceBar.ticker).subquery()
    rows = connection.execute(
        select(PriceBar.ticker, PriceBar.date, PriceBar.close, PriceBar.adj_close).join(
            latest, and_(PriceBar.ticker == latest.c.ticker, PriceBar.date == latest.c.day)
        )
    ).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns).set_index("ticker")
    frame["close"] = pd.to_numeric(frame["close"], errors="coerce").astype(float)
    frame["adj_close"] = pd.to_numeric(frame["adj_close"], errors="coerce").astype(float)
    return frame


def _with_events(fetched: FetchedBars, report: UpdateReport) -> pd.DataFrame:
    """The bars with their day's dividend and split coefficient (0 and 1 on ordinary days)."""
    bars = fetched.bars.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    events = fetched.events
    merged = bars.merge(events, on=["ticker", "date"], how="left", validate="many_to_one")
    merged["dividend"] = merged["dividend"].fillna(0.0).astype(float)
    merged["split_coef"] = merged["split_coef"].fillna(1.0).astype(float)
    orphans = events.merge(
        bars[["ticker", "date"]].drop_duplicates(), on=["ticker", "date"], how="left", indicator=True
    )
    lost = orphans[orphans["_merge"] == "left_only"]
    for ticker, day, dividend, split_coef in zip(
        lost["ticker"], lost["date"], lost["dividend"].astype(float), lost["split_coef"].astype(float), strict=True
    ):
        report.problems.append(
            f"{ticker} {day}: {_describe_event(float(dividend), float(split_coef))} has no bar "
            f"from {report.provider}; not applied"
        )
    return merged


def _describe_event(dividend: float, split_coef: float) -> str:
    parts = [f"dividend {dividend:g}"] if dividend else []
    parts += [f"split {split_coef:g}:1"] if split_coef != 1 else []
    return " and ".join(parts) or "an event"


def _note_missing(requests: Sequence[BarRequest], bars: pd.DataFrame, report: UpdateReport) -> None:
    received = set(bars["ticker"])
    for request in requests:
        if request.ticker not in received and request.ticker not in report.unavailable:
            report.without_bars.setdefault((request.start, request.end), []).append(request.ticker)


def chain_adjusted_closes(bars: pd.DataFrame, anchors: pd.DataFrame) -> pd.Series:
    """adj_close for `bars` (ticker, date, close, dividend, split_coef; sorted by ticker then date),
    chained from each ticker's anchor (module doc). Bars whose close is not a positive number are
    left out of the chain and get adj_close = close, for the import to reject."""
    close = bars["close"].to_numpy(dtype=np.float64)
    valid = np.isfinite(close) & (close > 0)
    result = pd.Series(close.copy(), index=bars.index, name="adj_close")
    links = bars.loc[valid, ["ticker", "close", "dividend", "split_coef"]]
    if links.empty:
        return result
    anchor = anchors.reindex(links["ticker"].unique())
    anchor_close = anchor["close"].where(anchor["close"].notna(), anchor["adj_close"])
    previous = links.groupby("ticker", sort=False)["close"].shift(1)
    first = previous.isna()
    previous[first] = links.loc[first, "ticker"].map(anchor_close).to_numpy()
    # A ticker with no stored bar starts at its first close: a ratio of 1 on that close.
    ratio = ((links["close"] + links["dividend"]) * links["split_coef"] / previous).fillna(1.0)
    base = links["ticker"].map(anchor["adj_close"]).fillna(links["close"])
    adjusted = np.empty(len(links), dtype=np.float64)
    bounds = np.flatnonzero(np.r_[True, links["ticker"].to_numpy()[1:] != links["ticker"].to_numpy()[:-1], True])
    ratios, bases = ratio.to_numpy(dtype=np.float64), base.to_numpy(dtype=np.float64)
    for begin, stop in itertools.pairwise(bounds):
        adjusted[begin:stop] = _chain(float(bases[begin]), ratios[begin:stop])
    result[valid] = adjusted
    return result


def _chain(level: float, ratios: np.ndarray) -> list[float]:
    """Each day's level from the day before, rounded at every step rather than compounded in one
    product: a re-fetch that starts from any stored day then reproduces the stored values exactly."""
    levels = []
    for ratio in ratios.tolist():
        level = float(f"{level * ratio:.{ADJ_SIGNIFICANT_DIGITS}g}")
        levels.append(level)
    return levels


def _import(
    engine: Engine, bars: pd.DataFrame, provider: str, settings: DataSettings, today: date, report: UpdateReport
) -> ImportReport:
    """Write the bars as a long-format CSV file and import it; bad rows come back as TICKER DATE: reason."""
    frame = bars.loc[:, list(_CSV_COLUMNS)].copy()
    frame["volume"] = frame["volume"].round().astype("Int64")
    first, last = report.first_day, report.last_day
    with tempfile.TemporaryDirectory(prefix=f"autofund-{provider}-") as folder:
        path = Path(folder) / f"{provider}-daily-bars-{first}-to-{last}.csv"
        frame.to_csv(path, index=False)
        imported = import_bar_files(
            engine,
            [path],
            strict=False,
            chunk_rows=settings.import_batch_rows,
            exchange=settings.exchange_calendar,
            today=today,
        )
    for problem in imported.problems:
        row = frame.iloc[problem.line - 2]  # line 1 is the header
        report.problems.append(f"{row['ticker']} {row['date']}: {problem.reason}")
    return imported
