"""Small synthetic episode windows for the environment's tests: random but seeded."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from rl_trading.simulator import TradingCosts
from trading.settings import RiskLimits

FREE = TradingCosts(slippage_bps=0.0, commission_per_share=0.0, commission_minimum=0.0, notional_equity=100_000.0)
# Limits nothing in the tests breaks unless a test means to.
LOOSE = RiskLimits(max_position_weight=1.0, max_top3_weight=1.0, min_cash_weight=0.0, max_daily_turnover=2.0)


def sessions(count: int, first: date = date(2024, 1, 2)) -> tuple[date, ...]:
    return tuple(first + timedelta(days=i) for i in range(count))


def random_episode(
    sessions_count: int = 12, tickers: int = 6, slots: int = 3, features: int = 2, seed: int = 0
) -> EpisodeData:
    """Each session fills between 1 and all slots with distinct random names; some closes are unknown."""
    rng = np.random.default_rng(seed)
    slot_tickers = np.full((sessions_count, slots), EMPTY_SLOT, dtype=np.int64)
    for t in range(sessions_count):
        filled = int(rng.integers(1, slots + 1))
        slot_tickers[t, :filled] = rng.permutation(tickers)[:filled]
    slot_features = rng.normal(size=(sessions_count, slots, features))
    slot_features[slot_tickers == EMPTY_SLOT] = 0.0
    close = rng.uniform(10.0, 200.0, size=(sessions_count, tickers))
    close[rng.uniform(size=close.shape) < 0.1] = np.nan
    return EpisodeData(
        dates=sessions(sessions_count),
        tickers=tuple(f"T{i:02d}" for i in range(tickers)),
        feature_names=tuple(f"f{i}" for i in range(features)),
        slot_tickers=slot_tickers,
        slot_features=slot_features,
        next_returns=rng.uniform(-0.03, 0.03, size=(sessions_count, tickers)),
        close=close,
    )


def episode(
    slot_tickers: list[list[int]], next_returns: list[list[float]], close: list[list[float]] | None = None
) -> EpisodeData:
    """A hand-written window with one feature per slot (the slot's rank)."""
    tickers_array = np.array(slot_tickers, dtype=np.int64)
    returns = np.array(next_returns, dtype=np.float64)
    count, slots = tickers_array.shape
    features = np.where(tickers_array == EMPTY_SLOT, 0.0, np.arange(slots, dtype=np.float64))[..., None]
    return EpisodeData(
        dates=sessions(count),
        tickers=tuple(f"T{i:02d}" for i in range(returns.shape[1])),
        feature_names=("rank",),
        slot_tickers=tickers_array,
        slot_features=features,
        next_returns=returns,
        close=np.full(returns.shape, 100.0) if close is None else np.array(close, dtype=np.float64),
    )
