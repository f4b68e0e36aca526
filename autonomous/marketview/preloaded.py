"""The market view of a backtest: one panel preloaded for the whole span; features and regimes computed
once over it, vectorised; each session's market sliced from them at its close. Features and regimes
are trailing (a test rewrites every later bar and checks), so a slice at t sees nothing after t."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from autonomous.features import CrossSections, FeaturePanel
from autonomous.market_state import FEATURE_HISTORY_SESSIONS, market_features, market_regimes, regime_indices
from autonomous.marketview.session import SessionMarket
from autonomous.regime import RegimeHistory
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.decision_view import (
    DECISION_FIELDS,
    DecisionMarket,
    decision_market,
    history_start,
    security_master,
)
from trading.marketdata.reference_import import FundamentalsTimeline
from trading.marketdata.view import MarketPanel, load_panel
from trading.settings import FundSettings
from trading.store.membership import MembershipTimeline

logger = logging.getLogger(__name__)


class PreloadedMarketView:
    """Every session between `first` and `last` from one preloaded panel (which starts early enough
    for the first session's features and regime)."""

    def __init__(
        self,
        panel: MarketPanel,
        securities: pd.DataFrame,
        fundamentals: FundamentalsTimeline,
        calendar: TradingCalendar,
        settings: FundSettings,
        *,
        features_from: date | None = None,
        membership: MembershipTimeline | None = None,
    ) -> None:
        self._panel = panel
        # The features' window starts here: before it the panel holds only the regime's long history
        # of the benchmark and the volatility index, and computing features over it would cost time
        # and memory for nothing.
        self._features_from = features_from
        self._securities = securities
        self._fundamentals = fundamentals
        self._calendar = calendar
        self._settings = settings
        # Without membership rows every stock with bars may enter a universe, as before the table existed.
        self._membership = membership if membership is not None else MembershipTimeline(())
        self._market: DecisionMarket | None = None
        self._features: FeaturePanel | None = None
        self._cross_sections: CrossSections | None = None
        self._regimes: RegimeHistory | None = None

    @classmethod
    def load(cls, engine: Engine, settings: FundSettings, first: date, last: date) -> PreloadedMarketView:
        """Read everything the sessions from `first` to `last` need, once."""
        view, _ = cls.load_with_fills(engine, settings, first, last, fills_through=last, fill_fields=())
        return view

    @classmethod
    def load_with_fills(
        cls,
        engine: Engine,
        settings: FundSettings,
        first: date,
        last: date,
        *,
        fills_through: date,
        fill_fields: Sequence[str],
    ) -> tuple[PreloadedMarketView, MarketPanel]:
        """The view, and in the same read of the bars a panel of `fill_fields` from `first` to `fills_through`
        (the bars a backtest's orders fill at: one session past the last decision). The view's panel is cut
        at `last` and holds only the tickers with a bar by then, as if it had been read through `last`."""
        start = history_start(first, FEATURE_HISTORY_SESSIONS)
        fields = list(dict.fromkeys([*DECISION_FIELDS, *fill_fields]))
        read = load_panel(
            engine, fills_through, start=start, fields=fields, long_history=regime_indices(settings, first)
        )
        fills = MarketPanel(
            as_of=fills_through, frames={name: read[name].loc[pd.Timestamp(first) :] for name in fill_fields}
        )
        data = settings.data
        view = cls(
            _cut(read, DECISION_FIELDS, last),
            security_master(engine),
            FundamentalsTimeline.load(engine, last),
            TradingCalendar.from_database(engine, data.benchmark_ticker, data.exchange_calendar),
            settings,
            features_from=start,
            membership=MembershipTimeline.load(engine),
        )
        return view, fills

    def with_settings(self, settings: FundSettings) -> PreloadedMarketView:
        """The same loaded span under other settings (a sweep's trial): what the new settings leave unchanged
        is shared, not computed again (the decision market and features depend on the data settings only,
        the regimes on those and the regime settings)."""
        view = PreloadedMarketView(
            self._panel,
            self._securities,
            self._fundamentals,
            self._calendar,
            settings,
            features_from=self._features_from,
            membership=self._membership,
        )
        if settings.data == self._settings.data:
            view._market, view._features, view._cross_sections = self._market, self._features, self._cross_sections
            if settings.regime == self._settings.regime:
                view._regimes = self._regimes
        return view

    def calendar(self) -> TradingCalendar:
        return self._calendar

    @property
    def membership(self) -> MembershipTimeline:
        """Point-in-time index membership the sessions' universes are filtered by (empty: no filter)."""
        return self._membership

    @property
    def market(self) -> DecisionMarket:
        if self._market is None:
            self._market = decision_market(self._panel, self._securities, self._settings.data)
        return self._market

    @property
    def features(self) -> FeaturePanel:
        if self._features is None:
            market = self.market if self._features_from is None else self.market.since(self._features_from)
            self._features = market_features(market)
        return self._features

    @property
    def cross_sections(self) -> CrossSections:
        """The features as one array, each session's cross-section a view of it (built on first use)."""
        if self._cross_sections is None:
            self._cross_sections = self.features.cross_sections()
        return self._cross_sections

    @property
    def regimes(self) -> RegimeHistory:
        if self._regimes is None:
            self._regimes = market_regimes(self.market, self._settings, stocks_from=self._features_from)
        return self._regimes

    def session(self, day: date) -> SessionMarket:
        if day > self._panel.as_of:
            raise ValueError(f"{day} is after the preloaded panel's last date {self._panel.as_of}")
        return SessionMarket(
            day,
            calendar=self._calendar,
            panel=self._panel.through(day),
            securities=self._securities,
            settings=self._settings,
            market=lambda: self.market.through(day),
            regimes=lambda: self.regimes,
            cross_section=lambda: self.cross_sections.at(day),
            fundamentals=lambda: self._fundamentals.as_of(day),
            members=self._membership.members_filter,
        )


def _cut(panel: MarketPanel, fields: Sequence[str], last: date) -> MarketPanel:
    """`panel`'s `fields` up to `last`, without the tickers that have no value by then."""
    stamp = pd.Timestamp(last)
    frames = {name: panel[name].loc[:stamp] for name in fields}
    seen = np.zeros(len(panel.tickers), dtype=np.bool_)
    for frame in frames.values():
        seen |= frame.notna().to_numpy().any(axis=0)
    if seen.all():
        return MarketPanel(as_of=last, frames=frames)
    return MarketPanel(as_of=last, frames={name: frame.loc[:, seen] for name, frame in frames.items()})
