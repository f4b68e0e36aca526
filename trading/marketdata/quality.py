"""What data the fund has (`fund data status`) and whether a date's data may be traded on
(`fund data check`, the daily run's data gate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from trading.db.schema import PriceBar, Security
from trading.marketdata.calendar import TradingCalendar
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


def data_status(engine: Engine, benchmark: str) -> DataStatus:
    calendar = TradingCalendar.from_database(engine, benchmark)
    sessions = calendar.history
    with engine.connect() as connection:
        per_ticker = pd.DataFrame(
            connection.execute(
                select(
                    PriceBar.ticker,
                    func.min(PriceBar.date),
                    func.max(PriceBar.date),
                    func.count(),
                    # Bars on benchmark sessions: the gap count compares like with like, so a
                    # series that starts before the benchmark (VIX) does not look over-complete.
                    func.count().filter(PriceBar.date.in_(select(PriceBar.date).where(PriceBar.ticker == benchmark))),
                )
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
    per_ticker["gaps"] = _gaps(per_ticker, sessions)
    return DataStatus(
        per_ticker=per_ticker.drop(columns="rows_on_sessions"),
        benchmark=benchmark,
        synthetic_sources=[s for s in synthetic if s],
    )


def _gaps(per_ticker: pd.DataFrame, sessions: pd.DatetimeIndex) -> np.ndarray:
    if per_ticker.empty or len(sessions) == 0:
        return np.zeros(len(per_ticker), dtype=np.int64)
    days = sessions.values.astype("datetime64[D]")
    first = np.asarray(pd.to_datetime(per_ticker["first_date"]), dtype="datetime64[D]")
    last = np.asarray(pd.to_datetime(per_ticker["last_date"]), dtype="datetime64[D]")
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
    """The design's data gate: the date is a session, the benchmark has a bar on it, enough of the
    active universe has one, no price on it is non-positive, and no data is newer than allowed."""
    benchmark = settings.benchmark_ticker
    calendar = TradingCalendar.from_database(engine, benchmark, settings.exchange_calendar)
    if calendar.last_session is None:
        return GateResult(run_date, [f"no bars for the benchmark {benchmark}: import data first"])
    if not calendar.is_session(run_date):
        return GateResult(run_date, [f"{run_date} is not a trading session ({settings.exchange_calendar})"])
    if run_date > calendar.last_session:
        behind = len(calendar.sessions_in(calendar.last_session, run_date)) - 1
        return GateResult(
            run_date,
            [
                f"stale data: the benchmark {benchmark}'s last bar is {calendar.last_session}, "
                f"{behind} session(s) before {run_date}"
            ],
        )
    lookback_start = _lookback_start(calendar, run_date, settings.gate_universe_lookback_sessions)
    today, universe = _bars_on(engine, run_date, lookback_start, settings)
    reasons = []
    if benchmark not in today.index:
        reasons.append(f"no bar for the benchmark {benchmark} on {run_date}")
    non_positive = today[(today["adj_close"] <= 0) | (today["close"] <= 0)].index.tolist()
    if non_positive:
        reasons.append(f"non-positive prices on {run_date}: {', '.join(non_positive[:20])}")
    covered = sorted(set(universe) & set(today.index))
    missing = sorted(set(universe) - set(today.index))
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


def _lookback_start(calendar: TradingCalendar, run_date: date, sessions: int) -> date:
    days = calendar.history[calendar.history < pd.Timestamp(run_date)]
    return days[-sessions].date() if len(days) >= sessions else (days[0].date() if len(days) else run_date)


def _bars_on(
    engine: Engine, run_date: date, lookback_start: date, settings: DataSettings
) -> tuple[pd.DataFrame, list[str]]:
    """Bars on the date (indexed by ticker) and the active universe: stocks (or unclassified
    tickers) with a bar in the lookback window before the date."""
    not_stocks = select(Security.ticker).where(Security.asset_type != "stock")
    special = {settings.benchmark_ticker, settings.safe_haven_ticker, settings.volatility_index_ticker}
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
    today = today.astype(float)
    return today, sorted(set(universe) - special)
