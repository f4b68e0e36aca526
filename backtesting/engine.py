"""The backtest's replay: the fund's own daily run (autonomous/daily_run/run.py), step for step, over a span
of sessions, for each compared variant, over ports held in memory: the preloaded market view, the paper
venue's settlement engine with its books in memory, a journal in memory and a clock at each session's close.

Sessions run in order and, within a session, variants in order, the main one first: the session's market
(gate, regime, features, universes) is computed once and shared, and the random variant can switch exactly
when the main selector did. A decision at t sees the panel cut at t's close; its orders fill at the next
session's open, as in paper trading. A plan the risk manager sends for approval is approved at once (or
left to expire, with `approvals="reject"`), and counted either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

import pandas as pd

from autonomous.daily_run.request import Outcome, RunMode, RunRequest, RunResult
from autonomous.daily_run.run import DailyRun
from autonomous.marketview import MarketView, SessionMarket
from backtesting.journal import MemoryJournal
from backtesting.variants import Variant
from backtesting.venue import FillBars, SimulatedVenue
from trading.execution.costs import CostModels
from trading.marketdata.calendar import TradingCalendar, session_close_utc
from trading.orders import BrokerPosition
from trading.settings import FundSettings

logger = logging.getLogger(__name__)

ACCOUNT = "backtest"
ApprovalPolicy = Literal["approve", "reject"]


class SimulatedClock:
    """The replayed session's close: what `now` is for every step of a backtest's run."""

    def __init__(self) -> None:
        self.now = datetime(1970, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class SharedSessions:
    """The market view for several replays of the same sessions: each session's market is built once."""

    def __init__(self, market: MarketView) -> None:
        self._market = market
        self._day: date | None = None
        self._session: SessionMarket | None = None

    def calendar(self) -> TradingCalendar:
        return self._market.calendar()

    def session(self, day: date) -> SessionMarket:
        if self._session is None or self._day != day:
            self._day, self._session = day, self._market.session(day)
        return self._session


@dataclass(frozen=True)
class SessionClose:
    """The account at a session's close, after the session's run."""

    session: date
    cash: Decimal
    positions: tuple[BrokerPosition, ...]

    @property
    def positions_value(self) -> Decimal:
        return sum((p.market_value or Decimal(0) for p in self.positions), Decimal(0))

    @property
    def equity(self) -> Decimal:
        return self.cash + self.positions_value


@dataclass
class Replay:
    """One variant's replay: its ports, and what each session's run answered."""

    variant: Variant
    venue: SimulatedVenue
    journal: MemoryJournal
    run: DailyRun
    results: list[RunResult] = field(default_factory=list)
    closes: list[SessionClose] = field(default_factory=list)


@dataclass(frozen=True)
class ReplaySetup:
    """What every variant's replay shares: the market, the fill bars, the settings and the account's terms."""

    market: MarketView
    bars: FillBars
    settings: FundSettings
    capital: Decimal
    fractional_shares: bool = False
    approvals: ApprovalPolicy = "approve"


SessionHook = Callable[[date], None]


def replay(
    setup: ReplaySetup,
    variants: Sequence[Variant],
    sessions: Sequence[date],
    *,
    evidence_rows: pd.DataFrame | None = None,
    on_session: SessionHook = lambda _day: None,
) -> list[Replay]:
    """Run the daily run of every variant over `sessions` (ascending), each from `setup.capital` in cash."""
    clock = SimulatedClock()
    shared = SharedSessions(setup.market)
    replays = [_replay_of(variant, setup, shared, clock, evidence_rows) for variant in variants]
    for day in sessions:
        clock.now = session_close_utc(day)
        for one in replays:
            _run_session(one, day, clock, setup.approvals)
        on_session(day)
    return replays


def _replay_of(
    variant: Variant,
    setup: ReplaySetup,
    shared: SharedSessions,
    clock: SimulatedClock,
    evidence_rows: pd.DataFrame | None,
) -> Replay:
    settings = setup.settings
    venue = SimulatedVenue(
        ACCOUNT,
        setup.capital,
        setup.bars,
        calendar=shared.calendar(),
        costs=CostModels.from_settings(settings.execution),
        delisted_after_sessions=settings.data.delisted_after_sessions,
        fractional_shares=setup.fractional_shares,
        clock=clock,
    )
    journal = MemoryJournal(evidence_rows, clock=clock)
    run = DailyRun(
        settings,
        market=shared,
        broker=venue,
        journal=journal,
        generator=variant.generator,
        clock=clock,
        strategy_policy=variant.policy,
    )
    return Replay(variant, venue, journal, run)


def _run_session(one: Replay, day: date, clock: SimulatedClock, approvals: ApprovalPolicy) -> None:
    result = one.run.run(RunRequest(ACCOUNT, RunMode.PAPER, day))
    # With approvals="reject" a plan needing approval is left pending: the next session's run expires it, as
    # a person's silence would.
    if result.outcome is Outcome.AWAITING_APPROVAL and result.run_id is not None and approvals == "approve":
        one.journal.decide(result.run_id, "approved", "backtest (approvals=approve)", clock())
        result = one.run.run(RunRequest(ACCOUNT, RunMode.PAPER, day, resume_only=True))
    one.results.append(result)
    # A run stopped before its sync (the data gate) still leaves the account at the session's close.
    if one.venue.settled_through != day:
        one.venue.sync(day)
    snapshot = one.venue.account()
    one.closes.append(SessionClose(day, snapshot.cash, tuple(one.venue.positions())))
