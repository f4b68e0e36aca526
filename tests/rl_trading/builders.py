"""Small synthetic episode windows for the environment's tests: random but seeded."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from rl_trading.simulator import Reward, TradingCosts
from trading.execution.vectorised import FloatCosts
from trading.settings import RiskLimits

NOTIONAL = 100_000.0
FREE = TradingCosts(FloatCosts(0.0, 0.0, 0.0), notional_equity=NOTIONAL)
# Limits nothing in the tests breaks unless a test means to.
LOOSE = RiskLimits(max_position_weight=1.0, max_top3_weight=1.0, min_cash_weight=0.0, max_daily_turnover=2.0)
PENALISED = Reward("penalised", 1.0)
# The benchmark's daily volatility in the synthetic windows: 1%.
MARKET_VOLATILITY = 0.01


def costs(slippage_bps: float, per_share: float = 0.0, minimum: float = 0.0) -> TradingCosts:
    return TradingCosts(FloatCosts(slippage_bps / 10_000, per_share, minimum), notional_equity=NOTIONAL)


def sessions(count: int, first: date = date(2024, 1, 2)) -> tuple[date, ...]:
    return tuple(first + timedelta(days=i) for i in range(count))


def random_episode(
    sessions_count: int = 12,
    tickers: int = 6,
    slots: int = 3,
    features: int = 2,
    seed: int = 0,
    candidates: int | None = None,
    market: int = 0,
) -> EpisodeData:
    """Each session ranks between 1 and `candidates` (default: `slots`) distinct random names, best first,
    all with a positive prediction; some fill prices are unknown; the fill gaps are small."""
    rng = np.random.default_rng(seed)
    band = slots if candidates is None else candidates
    ranked = np.full((sessions_count, band), EMPTY_SLOT, dtype=np.int64)
    predictions = np.full((sessions_count, band), np.nan)
    for t in range(sessions_count):
        count = int(rng.integers(1, band + 1))
        ranked[t, :count] = rng.permutation(tickers)[:count]
        predictions[t, :count] = np.sort(rng.uniform(0.001, 0.05, size=count))[::-1]
    ranked_features = rng.normal(size=(sessions_count, band, features))
    ranked_features[ranked == EMPTY_SLOT] = 0.0
    fill_price = rng.uniform(10.0, 200.0, size=(sessions_count, tickers))
    fill_price[rng.uniform(size=fill_price.shape) < 0.1] = np.nan
    return EpisodeData(
        dates=sessions(sessions_count),
        tickers=tuple(f"T{i:02d}" for i in range(tickers)),
        feature_names=tuple(f"f{i}" for i in range(features)),
        slots=slots,
        ranked_tickers=ranked,
        ranked_predictions=predictions,
        ranked_features=ranked_features,
        next_returns=rng.uniform(-0.03, 0.03, size=(sessions_count, tickers)),
        gap_returns=rng.uniform(-0.01, 0.01, size=(sessions_count, tickers)),
        fill_price=fill_price,
        market_volatility=np.full(sessions_count, MARKET_VOLATILITY),
        market_names=tuple(f"m{i}" for i in range(market)),
        market_features=rng.normal(size=(sessions_count, market)),
    )


def episode(
    slot_tickers: list[list[int]],
    next_returns: list[list[float]],
    fill_price: list[list[float]] | None = None,
    gap_returns: list[list[float]] | None = None,
    predictions: list[list[float]] | None = None,
    slots: int | None = None,
) -> EpisodeData:
    """A hand-written window with one feature per candidate (its rank). The ranked names are the
    candidates, best first; by default all predict a positive excess return, the slots are as many as
    the candidates, and the fill happens at the decision's close (no gap)."""
    tickers_array = np.array(slot_tickers, dtype=np.int64)
    returns = np.array(next_returns, dtype=np.float64)
    count, band = tickers_array.shape
    listed = tickers_array != EMPTY_SLOT
    features = np.where(listed, np.arange(band, dtype=np.float64), 0.0)[..., None]
    default_predictions = np.where(listed, 0.1 - 0.01 * np.arange(band), np.nan)
    return EpisodeData(
        dates=sessions(count),
        tickers=tuple(f"T{i:02d}" for i in range(returns.shape[1])),
        feature_names=("rank",),
        slots=band if slots is None else slots,
        ranked_tickers=tickers_array,
        ranked_predictions=default_predictions if predictions is None else np.array(predictions, dtype=np.float64),
        ranked_features=features,
        next_returns=returns,
        gap_returns=np.zeros_like(returns) if gap_returns is None else np.array(gap_returns, dtype=np.float64),
        fill_price=np.full(returns.shape, 100.0) if fill_price is None else np.array(fill_price, dtype=np.float64),
        market_volatility=np.full(count, MARKET_VOLATILITY),
    )
