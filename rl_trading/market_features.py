"""The market state in the agent's observation: the regime the run already detected (one-hot over the
project's regime labels) and the benchmark's trend and volatility. One function from the regime
detector's output, used by the episode builder (training) and the hybrid generator (decision time),
so the agent sees the same market state in both.

Everything is the regime detector's (autonomous/regime.py), which reads each session's trailing
history only: nothing after t's close enters the features of t.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from autonomous.features import SESSIONS_PER_YEAR
from autonomous.regime import TRENDS, VOLATILITY_CLASSES, RegimeSnapshot

FloatArray = npt.NDArray[np.float64]

REGIME_LABELS: tuple[str, ...] = tuple(
    f"{trend}_{volatility}_vol" for trend in TRENDS for volatility in VOLATILITY_CLASSES
)
MARKET_FEATURES: tuple[str, ...] = (
    *(f"regime_{label}" for label in REGIME_LABELS),
    "benchmark_sma200_distance",
    "benchmark_volatility_20d",
)
# Scales that bring the two numbers near the unit range the network's other inputs live in: the
# benchmark is rarely more than 20% from its SMA200, and its annualised volatility mostly 10%-40%.
DISTANCE_SCALE = 10.0
VOLATILITY_SCALE = 5.0


def market_features(
    labels: Sequence[str], benchmark: FloatArray, sma_200: FloatArray, realized_volatility: FloatArray
) -> FloatArray:
    """(T, len(MARKET_FEATURES)): per session, the regime label one-hot (all zero for a label outside
    REGIME_LABELS), the benchmark's distance to its SMA200 and its annualised 20-session volatility,
    scaled. Unknown numbers are 0."""
    index = {label: i for i, label in enumerate(REGIME_LABELS)}
    features = np.zeros((len(labels), len(MARKET_FEATURES)), dtype=np.float64)
    for row, label in enumerate(labels):
        column = index.get(label)
        if column is not None:
            features[row, column] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.asarray(benchmark, dtype=np.float64) / np.asarray(sma_200, dtype=np.float64) - 1.0
    features[:, -2] = DISTANCE_SCALE * distance
    features[:, -1] = VOLATILITY_SCALE * np.asarray(realized_volatility, dtype=np.float64)
    cleaned: FloatArray = np.nan_to_num(features, nan=0.0, posinf=0.0, neginf=0.0)
    return cleaned


def market_features_of_regimes(regimes: pd.DataFrame) -> FloatArray:
    """The features of every row of a regime history's frame (RegimeHistory.frame)."""
    return market_features(
        [str(label) for label in regimes["regime_label"]],
        regimes["benchmark"].to_numpy(dtype=np.float64),
        regimes["spy_sma_200"].to_numpy(dtype=np.float64),
        regimes["realized_volatility_20d"].to_numpy(dtype=np.float64),
    )


def market_features_of_snapshot(regime: RegimeSnapshot) -> FloatArray:
    """The features of one session's regime (the daily run's), shaped (len(MARKET_FEATURES),)."""
    row = market_features(
        [regime.label],
        np.array([regime.benchmark]),
        np.array([regime.sma_200]),
        np.array([regime.realized_volatility_20d]),
    )
    features: FloatArray = row[0]
    return features


def daily_volatility(realized_volatility: FloatArray) -> FloatArray:
    """The benchmark's daily volatility (the unit of risk of the reward) from the annualised one; 0 unknown."""
    daily: FloatArray = np.nan_to_num(np.asarray(realized_volatility, dtype=np.float64), nan=0.0) / math.sqrt(
        SESSIONS_PER_YEAR
    )
    return daily
