"""The market view of the daily run: each session reads one panel from the database (every ticker over
the features' two-year window, the benchmark and volatility index over the regime's five years)."""

from __future__ import annotations

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
from trading.marketdata.decision_view import DECISION_FIELDS, decision_market, history_start, security_master
from trading.marketdata.reference_import import fundamentals_as_of
from trading.marketdata.view import latest_closes, load_panel
from trading.settings import FundSettings

logger = logging.getLogger(__name__)


class DatabaseMarketView:
    """Reads the market from the database, one panel per session asked for."""

    def __init__(self, engine: Engine, settings: FundSettings) -> None:
        self._engine = engine
        self._settings = settings

    def calendar(self) -> TradingCalendar:
        # Read afresh: bars may have been imported since the last question.
        data = self._settings.data
        return TradingCalendar.from_database(self._engine, data.benchmark_ticker, data.exchange_calendar)

    def session(self, day: date) -> SessionMarket:
        settings = self._settings
        start = history_start(day, FEATURE_HISTORY_SESSIONS)
        panel = load_panel(
            self._engine, day, start=start, fields=DECISION_FIELDS, long_history=regime_indices(settings, day)
        )
        securities = security_master(self._engine)

        session = SessionMarket(
            day,
            calendar=self.calendar(),
            panel=panel,
            securities=securities,
            settings=settings,
            market=lambda: decision_market(panel, securities, settings.data, start=start),
            regimes=lambda: market_regimes(
                session.decision_market, settings, stocks_from=history_start(day, breadth_history_sessions(settings))
            ),
            cross_section=lambda: market_features(session.decision_market.since(start)).cross_section(day),
            fundamentals=lambda: fundamentals_as_of(self._engine, day),
            older_closes=lambda tickers, as_of: {
                ticker: (day, float(close))
                for ticker, (day, close) in latest_closes(self._engine, tickers, as_of).items()
            },
        )
        return session


def market_state_on(engine: Engine, settings: FundSettings, day: date) -> MarketState:
    """What a generator sees at `day`'s close, read from the database (the CLI and tests use it)."""
    return DatabaseMarketView(engine, settings).session(day).state
