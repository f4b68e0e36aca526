"""The market view of the daily run: each session reads one panel from the database (every ticker over
the features' two-year window, the benchmark and volatility index over the regime's five years)."""

from __future__ import annotations

import functools
import logging
from datetime import date

from sqlalchemy import Engine

from autonomous.market_state import (
    FEATURE_HISTORY_SESSIONS,
    MarketState,
    breadth_history_sessions,
    market_features,
    market_regimes,
    regime_indices,
)
from autonomous.marketview.session import SessionMarket
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.decision_view import (
    DECISION_FIELDS,
    DecisionMarket,
    decision_market,
    history_start,
    security_master,
)
from trading.marketdata.reference_import import fundamentals_as_of
from trading.marketdata.view import latest_closes, load_panel
from trading.settings import FundSettings
from trading.store.membership import MembershipTimeline

logger = logging.getLogger(__name__)


class DatabaseMarketView:
    """Reads the market from the database, one panel per session asked for."""

    def __init__(self, engine: Engine, settings: FundSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._calendar: TradingCalendar | None = None
        self._membership: MembershipTimeline | None = None

    def calendar(self) -> TradingCalendar:
        if self._calendar is None:
            data = self._settings.data
            self._calendar = TradingCalendar.from_database(self._engine, data.benchmark_ticker, data.exchange_calendar)
        return self._calendar

    def _calendar_through(self, day: date) -> TradingCalendar:
        """The calendar, read again when `day` is past its benchmark bars (they may have arrived since)."""
        calendar = self.calendar()
        if calendar.last_session is None or calendar.last_session < day:
            self._calendar = None
            calendar = self.calendar()
        return calendar

    @property
    def membership(self) -> MembershipTimeline:
        """Point-in-time index membership, read once per view (empty when the database has none)."""
        if self._membership is None:
            self._membership = MembershipTimeline.load(self._engine)
        return self._membership

    def session(self, day: date) -> SessionMarket:
        settings = self._settings
        start = history_start(day, FEATURE_HISTORY_SESSIONS)
        panel = load_panel(
            self._engine, day, start=start, fields=DECISION_FIELDS, long_history=regime_indices(settings, day)
        )
        securities = security_master(self._engine)

        # Shared by the regime and the features; nothing here refers back to the session object, so
        # it and its panel are freed as soon as the run lets go of it (no reference cycle).
        @functools.cache
        def market() -> DecisionMarket:
            return decision_market(panel, securities, settings.data, start=start)

        breadth_from = history_start(day, breadth_history_sessions(settings))
        return SessionMarket(
            day,
            calendar=self._calendar_through(day),
            panel=panel,
            securities=securities,
            settings=settings,
            market=market,
            regimes=lambda: market_regimes(market(), settings, stocks_from=breadth_from),
            cross_section=lambda: market_features(market().since(start)).cross_section(day),
            fundamentals=lambda: fundamentals_as_of(self._engine, day),
            older_closes=lambda tickers, as_of: {
                ticker: (when, float(close))
                for ticker, (when, close) in latest_closes(self._engine, tickers, as_of).items()
            },
            members=self.membership.members_filter,
        )


def market_state_on(engine: Engine, settings: FundSettings, day: date) -> MarketState:
    """What a generator sees at `day`'s close, read from the database (the CLI and tests use it)."""
    return DatabaseMarketView(engine, settings).session(day).state
