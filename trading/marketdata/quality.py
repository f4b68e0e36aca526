"""What data the fund has (`fund data status`) and whether a date's data may be traded on
(`fund data check`, the daily run's data gate)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from trading.db.schema import PriceBar, Security
from trading.marketdata.calendar import ExchangeSessions, TradingCalendar
from trading.settings import DataSettings


@dataclass(frozen=True)
class DataStatus:
    per_ticker: pd.DataFrame  # ticker, first_date, last_date, rows, gaps (sessions missing inside the span)
    benchmark: str
    synthetic_sources: list[str]

    @property
    def total_rows(self) -> int:
        return int(self.per_ticker["rows"].sum()) if len(self.per_ticker) else 0

    @property
    def is_synthetic(self) -> bool:
        return bool(self.synthetic_sources)


def data_status(engine: Engine, benchmark: str, exchange: str = "XNYS") -> DataStatus:
    """Per ticker: first and last bar, rows, and gaps (exchange sessions inside its span without a bar)."""
    with engine.connect() as connection:
        dates = connection.execute(select(PriceBar.date).distinct()).scalars().all()
        off_session = _off_session_days(dates, exchange)
        # Bars on days that are not sessions (loaded before the import refused them) do not fill gaps.
        on_sessions = func.count().filter(PriceBar.date.not_in(off_session)) if off_session else func.count()
        per_ticker = pd.DataFrame(
            connection.execute(
                select(PriceBar.ticker, func.min(PriceBar.date), func.max(PriceBar.date), func.count(), on_sessions)
                .group_by(PriceBar.ticker)
                .order_by(PriceBar.ticker)
            ).all(),
            columns=["ticker", "first_date", "last_date", "rows", "rows_on_sessions"],
        )
        synthetic = (
            connection.execute(select(Security.source).where(Security.is_synthetic.is_(True)).distinct())
            .scalars()
            .all()
        )
    per_ticker["gaps"] = _gaps(per_ticker, ExchangeSessions(exchange))
    return DataStatus(
        per_ticker=per_ticker.drop(columns="rows_on_sessions"),
        benchmark=benchmark,
        synthetic_sources=[s for s in synthetic if s],
    )


def _off_session_days(dates: Sequence[date], exchange: str) -> list[date]:
    if not dates:
        return []
    days = np.array(dates, dtype="datetime64[D]")
    return [day.item() for day in days[~ExchangeSessions(exchange).are_sessions(days)]]


def _gaps(per_ticker: pd.DataFrame, exchange: ExchangeSessions) -> np.ndarray:
    if per_ticker.empty:
        return np.zeros(0, dtype=np.int64)
    first = np.asarray(pd.to_datetime(per_ticker["first_date"]), dtype="datetime64[D]")
    last = np.asarray(pd.to_datetime(per_ticker["last_date"]), dtype="datetime64[D]")
    days = exchange.covering(first.min().item(), last.max().item())
    expected = np.searchsorted(days, last, side="right") - np.searchsorted(days, first, side="left")
    return np.asarray(np.maximum(expected - per_ticker["rows_on_sessions"].to_numpy(dtype=np.int64), 0))


@dataclass(frozen=True)
class GateResult:
    """The data gate's verdict for one date: passed only when `reasons` is empty."""

    run_date: date
    reasons: list[str]
    universe_size: int = 0
    covered: int = 0
    missing: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def coverage(self) -> float:
        return self.covered / self.universe_size if self.universe_size else 0.0


def check_data_gate(engine: Engine, run_date: date, settings: DataSettings) -> GateResult:
    """The data gate for `run_date`: loads the calendar, the date's bars and the active universe from
    the database, and leaves the verdict to `gate_verdict`."""
    calendar = TradingCalendar.from_database(engine, settings.benchmark_ticker, settings.exchange_calendar)
    bars, universe = _gate_inputs(engine, run_date, universe_lookback_start(calendar, run_date, settings), settings)
    return gate_verdict(run_date, calendar, bars, universe, settings)


def gate_verdict(
    run_date: date,
    calendar: TradingCalendar,
    bars_on_date: pd.DataFrame,
    active_universe: Sequence[str],
    settings: DataSettings,
) -> GateResult:
    """The design's data gate, over plain inputs: the date is an exchange session, the benchmark has a
    bar on it, enough of the active universe has one, no price on it is non-positive, and the data
    is not stale.

    `bars_on_date` is indexed by ticker with float columns adj_close and close; `active_universe`
    holds the tickers with a bar in the lookback window (`universe_lookback_start`) before the date
    (the benchmark, safe haven and volatility index are left out here).
    """
    benchmark, last = settings.benchmark_ticker, calendar.last_session
    if last is None:
        return GateResult(run_date, [f"no bars for the benchmark {benchmark}: import data first"])
    if not calendar.is_session(run_date):
        return GateResult(run_date, [f"{run_date} is not a trading session ({calendar.exchange})"])
    if run_date > last:
        behind = calendar.sessions_between(last, run_date)
        return GateResult(
            run_date,
            [f"stale data: the benchmark {benchmark}'s last bar is {last}, {behind} session(s) before {run_date}"],
        )
    reasons = []
    if benchmark not in bars_on_date.index:
        reasons.append(_missing_benchmark_bar(run_date, calendar, benchmark))
    # Arrays and sets, not frames: a backtest asks this of every session.
    prices = bars_on_date[["adj_close", "close"]].to_numpy(np.float64)
    non_positive = bars_on_date.index[np.asarray((prices <= 0).any(axis=1), dtype=np.bool_)].tolist()
    if non_positive:
        reasons.append(f"non-positive prices on {run_date}: {', '.join(non_positive[:20])}")
    special = {benchmark, settings.safe_haven_ticker, settings.volatility_index_ticker}
    universe = sorted(set(active_universe) - special)
    present = set(bars_on_date.index)
    covered = [ticker for ticker in universe if ticker in present]
    missing = [ticker for ticker in universe if ticker not in present]
    coverage = len(covered) / len(universe) if universe else 0.0
    if not universe:
        reasons.append(
            f"no active universe: no stock has a bar in the "
            f"{settings.gate_universe_lookback_sessions} sessions before {run_date}"
        )
    elif coverage < settings.gate_min_coverage:
        reasons.append(
            f"coverage {coverage:.1%} of the active universe on {run_date} is below {settings.gate_min_coverage:.0%} "
            f"({len(missing)} of {len(universe)} missing, e.g. {', '.join(missing[:10])})"
        )
    return GateResult(run_date, reasons, universe_size=len(universe), covered=len(covered), missing=missing)


def _missing_benchmark_bar(run_date: date, calendar: TradingCalendar, benchmark: str) -> str:
    reason = f"no {benchmark} bar on {run_date}, a {calendar.exchange} session"
    first = calendar.first_session
    return f"{reason}: its bars start on {first}" if first is not None and run_date < first else reason


def universe_lookback_start(calendar: TradingCalendar, run_date: date, settings: DataSettings) -> date:
    """First day of the window whose bars make a ticker part of the active universe on `run_date`:
    the `gate_universe_lookback_sessions` exchange sessions before it."""
    window = calendar.sessions_before(run_date, settings.gate_universe_lookback_sessions)
    return window[0].date() if len(window) else run_date


def _gate_inputs(
    engine: Engine, run_date: date, lookback_start: date, settings: DataSettings
) -> tuple[pd.DataFrame, list[str]]:
    """Bars on the date (indexed by ticker) and the active universe: stocks (or unclassified
    tickers) with a bar in the lookback window before the date."""
    not_stocks = select(Security.ticker).where(Security.asset_type != "stock")
    with engine.connect() as connection:
        today = pd.DataFrame(
            connection.execute(
                select(PriceBar.ticker, PriceBar.adj_close, PriceBar.close).where(PriceBar.date == run_date)
            ).all(),
            columns=["ticker", "adj_close", "close"],
        ).set_index("ticker")
        universe = (
            connection.execute(
                select(PriceBar.ticker)
                .where(PriceBar.date >= lookback_start, PriceBar.date < run_date, PriceBar.ticker.not_in(not_stocks))
                .distinct()
            )
            .scalars()
            .all()
        )
    return today.astype(float), sorted(universe)
