"""The small pieces of arithmetic every risk rule shares: turnover, the cash a set of trades
consumes (costs included), a bisection for the largest value that keeps a limit, and how far a
target breaks the weight limits (`limit_excess`, which the agent's training simulator charges)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from trading.settings import RiskLimits

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

# A weight above its limit by less than this is rounding, not a breach: acting on it would only
# churn the last bits of a float.
TOLERANCE = 1e-12
# Changes smaller than this (a millionth of a basis point of equity) are not worth a reason.
REPORTABLE = 1e-9
BISECTION_STEPS = 64
# The top-holdings cap counts this many of the largest positions.
TOP_COUNT = 3


def turnover(weights: FloatArray, current: FloatArray) -> float:
    """Traded value (buys plus sells) as a fraction of equity: sum |weights - current|."""
    return float(np.abs(weights - current).sum())


def cash_consumed(weights: FloatArray, current: FloatArray, cost_rate: float) -> float:
    """Cash the trades from `current` to `weights` use up, as a fraction of equity.

    Buys cost (1 + cost_rate) per unit and sales return (1 - cost_rate), which is
    sum(trades) + cost_rate * turnover. The function only grows when a weight grows, so cutting
    any weight (a smaller buy or a larger sale) never breaks the cash floor: that is what lets the
    projection treat the cash floor like every other upper bound.
    """
    trades = weights - current
    return float(trades.sum() + cost_rate * np.abs(trades).sum())


def largest_feasible(feasible: Callable[[float], bool], low: float, high: float) -> float:
    """The largest x in [low, high] with feasible(x), for a predicate that holds up to some point
    and fails after it; feasible(low) must hold. The answer always satisfies the predicate exactly,
    so a limit checked with the same arithmetic holds without any tolerance."""
    if feasible(high):
        return high
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if not low < middle < high:
            break
        if feasible(middle):
            low = middle
        else:
            high = middle
    return low


def top_sum(weights: FloatArray, count: int) -> float:
    """The sum of the `count` largest weights (all of them when there are fewer)."""
    size = len(weights)
    if size <= count:
        return float(weights.sum())
    return float(np.partition(weights, size - count)[size - count :].sum())


def limit_excess(weights: FloatArray, current: FloatArray, cash: float, cost_rate: float, limits: RiskLimits) -> float:
    """How far moving from `current` to `weights` (from `cash`) breaks the four weight limits the cap
    rules and the turnover cap enforce, in weight: each position's excess over its cap, the top
    holdings' excess over theirs, the cash after the trades (costs included, `cash_consumed`) below
    the floor, and the turnover over its cap. 0 for a target the risk manager would pass unchanged."""
    position = float(np.maximum(weights - limits.max_position_weight, 0.0).sum())
    top = max(top_sum(weights, TOP_COUNT) - limits.max_top3_weight, 0.0)
    cash_after = cash - cash_consumed(weights, current, cost_rate)
    cash_shortfall = max(limits.min_cash_weight - cash_after, 0.0)
    excess_turnover = max(turnover(weights, current) - limits.max_daily_turnover, 0.0)
    return position + top + cash_shortfall + excess_turnover
