"""The state of the market at a date, as the decision steps see it, and the pure functions that compute
it from a loaded panel: regimes, features and universes. The CLI, the daily run (through
autonomous/marketview), the rankers' training sets and the agents' episodes share them, so a regime
or a universe shown by `fund` is the one a run would use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from autonomous.features import SESSIONS_PER_YEAR, FeaturePanel, compute_features
from autonomous.regime import SMA_LONG, RegimeHistory, RegimeSnapshot, detect_regimes
from autonomous.universes import Universe
from trading.errors import DataError
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.decision_view import REGIME_FIELDS, DecisionMarket, history_start, load_decision_market
from trading.marketdata.view import LongHistory
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


def regime_indices(settings: FundSettings, start: date) -> LongHistory:
    """The tickers the regime reads over its long window (benchmark, volatility index), from when."""
    data = settings.data
    return LongHistory(
        (data.benchmark_ticker, data.volatility_index_ticker), history_start(start, regime_history_sessions(settings))
    )


def decision_date(engine: Engine, settings: FundSettings, day: date | None) -> date:
    """`day`, or the benchmark's latest bar; an error when `day` has no benchmark bar."""
    latest = TradingCalendar.from_database(engine, settings.data.benchmark_ticker).last_session
    if latest is None:
        raise DataError(f"no bars for the benchmark {settings.data.benchmark_ticker}: import market data first")
    return latest if day is None else day


def market_regimes(market: DecisionMarket, settings: FundSettings, *, stocks_from: date | None = None) -> RegimeHistory:
    """Regimes of every session of the loaded market, each from its own trailing history only.

    The benchmark and volatility index are read over everything loaded (their window is five years);
    the stocks from `stocks_from` (their breadth window is about a year), which changes nothing but time.
    """
    stocks = market.stock_prices
    if stocks_from is not None:
        stocks = stocks.loc[pd.Timestamp(stocks_from) :]
    return detect_regimes(
        market.benchmark,
        stocks,
        sectors=market.sectors,
        settings=settings.regime,
        volatility_index=market.volatility_index,
    )


def regimes_between(engine: Engine, settings: FundSettings, start: date, end: date) -> RegimeHistory:
    """Regimes of the sessions in [start, end] (for `fund regime backfill` and `detect`), in one read."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    stocks_from = history_start(start, breadth_history_sessions(settings))
    market = load_decision_market(
        engine,
        end,
        start=stocks_from,
        data=settings.data,
        fields=REGIME_FIELDS,
        long_history=regime_indices(settings, start),
    )
    history = market_regimes(market, settings)
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
    """What a portfolio generator may see at one session's close, and nothing later: closes,
    the features' cross-section, the strategies' universes, and the reference data."""

    day: date
    # Closes of the day by ticker (NaN where a ticker has no bar that day): raw, or adjusted for a series
    # with no raw close (DecisionMarket.close_on; priced_at_adjusted_close names those).
    close: pd.Series
    cross_section: pd.DataFrame  # tickers x features at the day
    universes: dict[str, Universe]
    stocks: tuple[str, ...]
    sectors: Mapping[str, str]
    safe_haven: str
    # The session's regime, when the view computed it (the hybrid agent observes it).
    regime: RegimeSnapshot | None = None


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
