from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from autonomous.regime import RegimeHistory, detect_regimes
from tests.panels import synthetic_panel
from trading.settings import RegimeSettings
from trading.store.regimes import REGIME_FIELDS

SETTINGS = RegimeSettings(volatility_lookback_sessions=500, volatility_min_history=250)


def _path(daily_returns: np.ndarray, start: str = "2010-01-04") -> pd.Series:
    index = pd.bdate_range(start, periods=len(daily_returns) + 1, name="date")
    return pd.Series(100.0 * np.cumprod(np.r_[1.0, 1.0 + daily_returns]), index=index)


def _calm_then(final: np.ndarray, calm_days: int = 700, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    # Calm history with ordinary ups and downs, so percentiles have a spread to rank against.
    calm = rng.normal(0.0004, 0.01, calm_days) * np.repeat(rng.uniform(0.6, 1.6, calm_days // 50 + 1), 50)[:calm_days]
    return _path(np.r_[calm, final])


def _detect(benchmark: pd.Series, vix: pd.Series | None = None) -> RegimeHistory:
    stocks = pd.DataFrame({f"S{i}": benchmark * (1 + 0.001 * i) for i in range(5)})
    sectors = {f"S{i}": "Tech" if i < 3 else "Energy" for i in range(5)}
    return detect_regimes(benchmark, stocks, sectors=sectors, settings=SETTINGS, volatility_index=vix)


def test_a_crash_after_a_calm_rise_is_a_bear_market_with_extreme_volatility() -> None:
    rng = np.random.default_rng(5)
    history = _detect(_calm_then(rng.normal(-0.012, 0.045, 25)))
    last = history.snapshot(history.frame.index[-1].date())
    assert (last.trend, last.volatility) == ("bear", "extreme")
    assert last.label == "bear_extreme_vol"
    assert last.benchmark_below_sma200


def test_a_quiet_steady_rise_is_a_bull_market_with_low_volatility() -> None:
    rng = np.random.default_rng(6)
    history = _detect(_calm_then(rng.normal(0.0015, 0.003, 120)))
    last = history.snapshot(history.frame.index[-1].date())
    assert last.label == "bull_low_vol"
    assert last.confidence > 0.6, "a clear regime has a high confidence"


def test_a_flat_market_near_its_averages_is_sideways() -> None:
    calm = _calm_then(np.array([]))
    # Oscillates by 1% around the last calm price for 300 sessions: the averages converge on it.
    level = calm.iloc[-1] * (1 + 0.01 * np.sin(np.arange(1, 301) / 5))
    flat = pd.concat([calm, pd.Series(level, index=pd.bdate_range(calm.index[-1], periods=301)[1:])])
    history = _detect(flat.rename_axis("date"))
    assert (history.frame["trend_regime"].iloc[-60:] == "sideways").mean() > 0.5


def test_every_row_has_a_label_built_from_trend_and_volatility_and_a_confidence_in_0_1() -> None:
    panel = synthetic_panel()
    prices = panel["adj_close"]
    frame = detect_regimes(
        prices["SPY"], prices[panel.stocks], sectors=panel.sectors, settings=SETTINGS, volatility_index=None
    ).frame
    assert not frame.empty
    assert (frame["regime_label"] == frame["trend_regime"] + "_" + frame["volatility_regime"] + "_vol").all()
    assert frame["regime_confidence"].between(0.0, 1.0).all()
    assert frame["trend_regime"].isin(["bull", "bear", "sideways"]).all()
    assert frame["volatility_regime"].isin(["low", "medium", "high", "extreme"]).all()
    assert frame["vix"].isna().all(), "no volatility index given: no VIX column values"


def test_the_regime_of_a_date_is_unchanged_when_every_later_bar_is_rewritten() -> None:
    panel = synthetic_panel()
    prices, vix = panel["adj_close"], panel["close"]["^VIX"]
    cutoff = prices.index[600]
    before = detect_regimes(
        prices["SPY"], prices[panel.stocks], sectors=panel.sectors, settings=SETTINGS, volatility_index=vix
    ).frame.loc[:cutoff]

    rng = np.random.default_rng(0)
    later = prices.index > cutoff
    noisy = prices.copy()
    noisy.loc[later] = prices.loc[later] * rng.uniform(0.3, 3.0, size=prices.loc[later].shape)
    noisy_vix = vix.copy()
    noisy_vix.loc[later] = 80.0
    after = detect_regimes(
        noisy["SPY"], noisy[panel.stocks], sectors=panel.sectors, settings=SETTINGS, volatility_index=noisy_vix
    ).frame.loc[:cutoff]

    pd.testing.assert_frame_equal(before, after)


def test_breadth_counts_advancing_and_declining_names_and_new_52_week_extremes() -> None:
    index = pd.bdate_range("2015-01-01", periods=300, name="date")
    up = pd.Series(np.linspace(50, 100, 300), index=index)
    down = pd.Series(np.linspace(100, 50, 300), index=index)
    stocks = pd.DataFrame({"U1": up, "U2": up * 2, "U3": up * 3, "D1": down})
    frame = detect_regimes(up, stocks, sectors={}, settings=SETTINGS.model_copy(update={"volatility_min_history": 20}))
    last = frame.frame.iloc[-1]
    assert last["advance_decline_ratio"] == pytest.approx(3.0)
    assert last["new_highs_lows_ratio"] == pytest.approx(0.75)


def test_sector_momentum_is_the_mean_63_session_return_of_each_sector() -> None:
    index = pd.bdate_range("2015-01-01", periods=300, name="date")
    growth = pd.Series(1.001 ** np.arange(300), index=index)
    stocks = pd.DataFrame({"A": growth, "B": growth**2, "C": 1 / growth})
    frame = detect_regimes(
        growth,
        stocks,
        sectors={"A": "Tech", "B": "Tech", "C": "Utilities"},
        settings=SETTINGS.model_copy(update={"volatility_min_history": 20}),
    ).frame
    momentum = frame["sector_momentum"].iloc[-1]
    assert momentum["Tech"] == pytest.approx(((1.001**63 - 1) + (1.001**126 - 1)) / 2, rel=1e-4)
    assert momentum["Utilities"] == pytest.approx(1.001**-63 - 1, rel=1e-4)


def test_dates_without_200_sessions_of_history_get_no_regime() -> None:
    rng = np.random.default_rng(1)
    short = _path(rng.normal(0, 0.01, 150))
    history = _detect(short)
    assert history.frame.empty
    assert history.first_date is None
    with pytest.raises(KeyError, match="not a session with enough history"):
        history.snapshot(date(2010, 3, 1))


def test_the_volatility_index_raises_the_volatility_class_when_it_is_extreme() -> None:
    rng = np.random.default_rng(8)
    benchmark = _calm_then(rng.normal(0.0004, 0.01, 100))
    calm_vix = pd.Series(rng.uniform(12, 30, len(benchmark)), index=benchmark.index)
    panicking_vix = calm_vix.copy()
    panicking_vix.iloc[-1] = 90.0
    calm, panicking = _detect(benchmark, calm_vix).frame.iloc[-1], _detect(benchmark, panicking_vix).frame.iloc[-1]
    assert panicking["volatility_score"] > calm["volatility_score"]
    assert panicking["vix"] == 90.0


def test_table_rows_are_exactly_the_market_regime_columns() -> None:
    rng = np.random.default_rng(2)
    history = _detect(_calm_then(rng.normal(0.0005, 0.01, 50)))
    assert tuple(history.table_rows().columns) == REGIME_FIELDS
