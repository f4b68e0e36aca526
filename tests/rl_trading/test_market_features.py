"""The market state in the agent's observation (rl_trading/market_features.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from autonomous.regime import RegimeHistory, detect_regimes
from rl_trading.market_features import (
    DISTANCE_SCALE,
    MARKET_FEATURES,
    REGIME_LABELS,
    VOLATILITY_SCALE,
    daily_volatility,
    market_features,
    market_features_of_regimes,
    market_features_of_snapshot,
)
from tests.panels import WidePanel, synthetic_panel
from trading.settings import RegimeSettings

SETTINGS = RegimeSettings(volatility_lookback_sessions=500, volatility_min_history=250)


def regimes_of(prices: pd.DataFrame, vix: pd.Series, panel: WidePanel) -> RegimeHistory:
    return detect_regimes(
        prices["SPY"], prices[panel.stocks], sectors=panel.sectors, settings=SETTINGS, volatility_index=vix
    )


def test_the_regime_is_one_hot_over_the_projects_labels_and_the_benchmark_numbers_follow() -> None:
    features = market_features(
        ["bear_high_vol", "unknown"], np.array([90.0, 100.0]), np.array([100.0, 100.0]), [0.3, 0.1]
    )
    assert features.shape == (2, len(MARKET_FEATURES)) == (2, len(REGIME_LABELS) + 2)
    assert features[0, REGIME_LABELS.index("bear_high_vol")] == 1.0
    assert features[0, : len(REGIME_LABELS)].sum() == 1.0
    assert features[1, : len(REGIME_LABELS)].sum() == 0.0, "a label outside the project's is no regime at all"
    assert features[0, -2] == pytest.approx(DISTANCE_SCALE * -0.1)
    assert features[0, -1] == pytest.approx(VOLATILITY_SCALE * 0.3)


def test_unknown_benchmark_numbers_are_zero_not_nan() -> None:
    features = market_features(["bull_low_vol"], np.array([math.nan]), np.array([0.0]), np.array([math.nan]))
    assert np.isfinite(features).all()
    assert (features[0, -2:] == 0.0).all()
    assert daily_volatility(np.array([math.nan, 0.16 * math.sqrt(252)])).tolist() == pytest.approx([0.0, 0.16])


def test_a_sessions_snapshot_gives_the_features_of_its_row_in_the_history() -> None:
    panel = synthetic_panel()
    history = regimes_of(panel["adj_close"], panel["close"]["^VIX"], panel)
    day = history.frame.index[-5]
    by_row = market_features_of_regimes(history.frame.loc[[day]])[0]
    np.testing.assert_array_equal(market_features_of_snapshot(history.snapshot(day.date())), by_row)


def test_the_features_of_a_session_are_unchanged_when_every_later_bar_is_rewritten() -> None:
    panel = synthetic_panel()
    prices, vix = panel["adj_close"], panel["close"]["^VIX"]
    cutoff = prices.index[600]
    before = market_features_of_regimes(regimes_of(prices, vix, panel).frame.loc[:cutoff])

    rng = np.random.default_rng(0)
    later = prices.index > cutoff
    noisy = prices.copy()
    noisy.loc[later] = prices.loc[later] * rng.uniform(0.3, 3.0, size=prices.loc[later].shape)
    noisy_vix = vix.copy()
    noisy_vix.loc[later] = 80.0
    after = market_features_of_regimes(regimes_of(noisy, noisy_vix, panel).frame.loc[:cutoff])

    assert len(before) > 100
    np.testing.assert_array_equal(before, after)
