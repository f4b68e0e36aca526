"""The state of the market at a date, read through the point-in-time views and run through the
pure decision modules: regimes, features and universes. The CLI and the daily run share it, so a
regime or a universe shown by `fund` is the one a run would use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from autonomous.features import SESSIONS_PER_YEAR, FeaturePanel, compute_features
from autonomous.regime import SMA_LONG, RegimeHistory, RegimeSnapshot, detect_regimes
from autonomous.universes import Universe, build_universes
from trading.errors import DataError
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.decision_view import REGIME_FIELDS, DecisionMarket, history_start, load_decision_market
from trading.marketdata.reference_import import fundamentals_as_of
from trading.marketdata.view import load_panel
from trading.settings import FundSettings

# Dividend stability compares two trailing years; a little more for the rolling windows to fill.
FEATURE_HISTORY_SESSIONS = 2 * SESSIONS_PER_YEAR + 30


def regime_history_sessions(settings: FundSettings) -> int:
    """Sessions of the benchmark (and volatility index) before a date that make its regime
    identical to one computed over all history."""
    return settings.regime.volatility_lookback_sessions + SMA_LONG + 30


def breadth_history_sessions(settings: FundSettings) -> int:
    """Sessions of the stocks before a date that its breadth and sector momentum read: a year for
    the new highs and lows, then the longer of the two trailing windows, and a margin."""
    regime = settings.regime
    return SESSIONS_PER_YEAR + max(regime.breadth_window_sessions, regime.sector_momentum_sessions) + 30


def decision_date(engine: Engine, settings: FundSettings, day: date | None) -> date:
    """`day`, or the benchmark's latest bar; an error when `day` has no benchmark bar."""
    latest = TradingCalendar.from_database(engine, settings.data.benchmark_ticker).last_session
    if latest is None:
        raise DataError(f"no bars for the benchmark {settings.data.benchmark_ticker}: import market data first")
    return latest if day is None else day


def regimes_between(engine: Engine, settings: FundSettings, start: date, end: date) -> RegimeHistory:
    """Regimes of the sessions in [start, end], each computed from its own trailing history only."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    # Only the benchmark and the volatility index need the long (five-year) window; the stocks need
    # about a year. Reading every stock for five years was most of a daily run's regime step.
    market = load_decision_market(
        engine,
        end,
        start=history_start(start, breadth_history_sessions(settings)),
        data=settings.data,
        fields=REGIME_FIELDS,
    )
    long_start = history_start(start, regime_history_sessions(settings))
    indices = [settings.data.benchmark_ticker, settings.data.volatility_index_ticker]
    long_panel = load_panel(engine, end, start=long_start, fields=REGIME_FIELDS, tickers=indices)
    vix = long_panel["close"].get(settings.data.volatility_index_ticker)
    history = detect_regimes(
        long_panel.adj_close[settings.data.benchmark_ticker],
        market.stock_prices,
        sectors=market.sectors,
        settings=settings.regime,
        volatility_index=None if vix is None or vix.dropna().empty else vix.dropna(),
    )
    dates = history.frame.index
    return RegimeHistory(frame=history.frame.loc[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))])


def regime_on(engine: Engine, settings: FundSettings, day: date) -> RegimeSnapshot:
    return snapshot_of(regimes_between(engine, settings, day, day), day, settings)


def snapshot_of(history: RegimeHistory, day: date, settings: FundSettings) -> RegimeSnapshot:
    """The regime of `day` in `history`, or a DataError saying why there is none."""
    if pd.Timestamp(day) not in history.frame.index:
        raise DataError(
            f"no regime for {day}: it is not a session of the benchmark {settings.data.benchmark_ticker}, "
            f"or fewer than {SMA_LONG} sessions of its history precede it"
        )
    return history.snapshot(day)


@dataclass(frozen=True)
class MarketState:
    """Features and universes at one date, with the market they came from."""

    day: date
    market: DecisionMarket
    features: FeaturePanel
    universes: dict[str, Universe]

    @property
    def close(self) -> pd.Series:
        return self.market.close_on(self.day)


def market_features(market: DecisionMarket) -> FeaturePanel:
    """Features of every stock (and the safe haven) over the loaded panel: one definition for the
    daily run, the rankers' training sets and the agents' episodes."""
    tickers = [*market.stocks, *([market.safe_haven] if market.safe_haven in market.panel.tickers else [])]
    return compute_features(
        market.frame("adj_close", tickers),
        benchmark=market.benchmark,
        close=market.frame("close", tickers),
        volume=market.frame("volume", tickers),
        dividend=market.frame("dividend", tickers),
        split_coef=market.frame("split_coef", tickers),
    )


def market_state_on(engine: Engine, settings: FundSettings, day: date) -> MarketState:
    market = load_decision_market(engine, day, start=history_start(day, FEATURE_HISTORY_SESSIONS), data=settings.data)
    if pd.Timestamp(day) not in market.panel.dates:
        raise DataError(f"no bars on {day}: not a session of the imported data")
    features = market_features(market)
    universes = build_universes(
        features.cross_section(day),
        stocks=market.stocks,
        close=market.close_on(day),
        fundamentals=fundamentals_as_of(engine, day),
        settings=settings.universe,
    )
    return MarketState(day=day, market=market, features=features, universes=universes)
