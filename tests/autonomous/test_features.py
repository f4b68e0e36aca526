from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autonomous.features import FEATURE_NAMES, FeaturePanel, compute_features, relative_strength_index
from tests.panels import WidePanel, synthetic_panel


def _features(panel: WidePanel, frames: dict[str, pd.DataFrame] | None = None) -> FeaturePanel:
    frames = frames or panel.frames
    stocks = [*panel.stocks, "GLD"]
    return compute_features(
        frames["adj_close"][stocks],
        benchmark=frames["adj_close"]["SPY"],
        close=frames["close"][stocks],
        volume=frames["volume"][stocks],
        dividend=frames["dividend"][stocks],
    )


def _frame(values: dict[str, list[float]], start: str = "2020-01-01") -> pd.DataFrame:
    length = len(next(iter(values.values())))
    return pd.DataFrame(values, index=pd.bdate_range(start, periods=length, name="date"))


def test_every_feature_at_a_date_is_unchanged_when_every_later_bar_is_rewritten() -> None:
    panel = synthetic_panel()
    cutoff = panel["adj_close"].index[500]
    before = _features(panel).cross_section(cutoff)

    rng = np.random.default_rng(0)
    rewritten = {}
    for field, frame in panel.frames.items():
        later = frame.index > cutoff
        noisy = frame.copy()
        noisy.loc[later] = frame.loc[later] * rng.uniform(0.2, 5.0, size=frame.loc[later].shape)
        rewritten[field] = noisy
    after = _features(panel, rewritten).cross_section(cutoff)

    pd.testing.assert_frame_equal(before, after)
    assert before.notna().to_numpy().mean() > 0.8, "the test must compare real values, not NaNs"


def test_every_named_feature_is_computed_for_every_date_and_ticker() -> None:
    panel = synthetic_panel()
    features = _features(panel)
    assert tuple(features) == FEATURE_NAMES
    for name in FEATURE_NAMES:
        assert features[name].shape == (len(panel["adj_close"]), len(panel.stocks) + 1), name
        assert not np.isinf(features[name].to_numpy()).any(), name


def test_momentum_is_the_simple_return_over_the_window_and_12_1_skips_the_last_month() -> None:
    prices = _frame({"A": [100.0 * 1.01**i for i in range(300)]})
    features = compute_features(prices, benchmark=prices["A"])
    last = prices.index[-1]
    assert features["mom_21"].loc[last, "A"] == pytest.approx(1.01**21 - 1)
    assert features["mom_252"].loc[last, "A"] == pytest.approx(1.01**252 - 1)
    assert features["mom_12_1"].loc[last, "A"] == pytest.approx(1.01 ** (252 - 21) - 1)
    assert np.isnan(features["mom_252"].iloc[250]["A"]), "no value before the window is full"


def test_beta_of_a_stock_that_moves_twice_the_benchmark_is_two() -> None:
    rng = np.random.default_rng(1)
    bench_returns = rng.normal(0, 0.01, 400)
    bench = 100 * np.cumprod(1 + bench_returns)
    double = 50 * np.cumprod(1 + 2 * bench_returns)
    prices = _frame({"B": list(bench), "D": list(double)})
    beta = compute_features(prices, benchmark=prices["B"])["beta_252"].iloc[-1]
    assert beta["B"] == pytest.approx(1.0)
    assert beta["D"] == pytest.approx(2.0)


def test_rsi_is_100_for_a_steady_rise_0_for_a_steady_fall_and_50_for_a_flat_line() -> None:
    prices = _frame({"up": [10.0 + i for i in range(40)], "down": [50.0 - i for i in range(40)], "flat": [7.0] * 40})
    rsi = relative_strength_index(prices).iloc[-1]
    assert rsi["up"] == pytest.approx(100.0)
    assert rsi["down"] == pytest.approx(0.0)
    assert rsi["flat"] == pytest.approx(50.0)


def test_trailing_dividend_yield_and_stability_come_from_the_dividend_column() -> None:
    days = 600
    dividend = [0.0] * days
    for day in range(10, days, 63):  # quarterly payer: 0.5 a quarter in year one, 0.4 later
        dividend[day] = 0.5 if day < 300 else 0.4
    close = [100.0] * days
    frames = {"adj_close": _frame({"X": close}), "close": _frame({"X": close}), "dividend": _frame({"X": dividend})}
    features = compute_features(
        frames["adj_close"], benchmark=frames["adj_close"]["X"], close=frames["close"], dividend=frames["dividend"]
    )
    last = frames["close"].index[-1]
    paid_last_year = sum(dividend[days - 252 :])
    paid_year_before = sum(dividend[days - 504 : days - 252])
    assert features["div_yield_ttm"].loc[last, "X"] == pytest.approx(paid_last_year / 100.0)
    assert features["div_stability"].loc[last, "X"] == pytest.approx(paid_last_year / paid_year_before)


def test_dividends_before_a_split_are_restated_in_todays_shares() -> None:
    days = 600
    split_day = 450
    # A quarterly 1.00 on a 100 share price; a 2:1 split halves both, so the yield never changes.
    close = [100.0 if day < split_day else 50.0 for day in range(days)]
    dividend = [0.0] * days
    for day in range(5, days, 63):
        dividend[day] = 1.0 if day < split_day else 0.5
    split = [1.0] * days
    split[split_day] = 2.0
    frames = {name: _frame({"X": values}) for name, values in (("c", close), ("d", dividend), ("s", split))}
    features = compute_features(
        frames["c"], benchmark=frames["c"]["X"], close=frames["c"], dividend=frames["d"], split_coef=frames["s"]
    )
    yields = features["div_yield_ttm"]["X"]
    assert yields.iloc[split_day - 1] == pytest.approx(0.04)
    assert yields.iloc[split_day + 1] == pytest.approx(0.04), "not 0.08: the earlier 1.00s are 0.50 per today's share"
    assert yields.iloc[-1] == pytest.approx(0.04)
    assert features["div_stability"]["X"].iloc[-1] == pytest.approx(1.0)


def test_dollar_volume_uses_raw_close_times_volume_and_size_is_its_log() -> None:
    close = _frame({"A": [20.0] * 100})
    volume = _frame({"A": [1_000.0] * 100})
    features = compute_features(close, benchmark=close["A"], close=close, volume=volume)
    assert features["dollar_volume_20"].iloc[-1]["A"] == pytest.approx(20_000.0)
    assert features["size"].iloc[-1]["A"] == pytest.approx(np.log(20_000.0))
    assert np.isnan(features["volume_z_20"].iloc[-1]["A"]), "constant volume has no z-score"


def test_adjusted_close_only_series_get_nan_volume_and_dividend_features_instead_of_an_error() -> None:
    panel = synthetic_panel()
    etf_like = panel["adj_close"][["GLD"]]
    features = compute_features(etf_like, benchmark=panel["adj_close"]["SPY"])
    last = features.cross_section(etf_like.index[-1]).loc["GLD"]
    for name in ("volume_z_20", "dollar_volume_20", "size", "div_yield_ttm", "div_stability"):
        assert np.isnan(last[name]), name
    assert np.isfinite(last["mom_63"])
    assert np.isfinite(last["beta_252"])


def test_a_gap_in_a_series_gives_nan_around_it_not_a_fake_return() -> None:
    values = [100.0 + i for i in range(60)]
    values[30] = np.nan
    prices = _frame({"A": values})
    returns_based = compute_features(prices, benchmark=prices["A"])["mom_21"]
    assert np.isnan(returns_based.iloc[30]["A"])
    assert np.isnan(returns_based.iloc[51]["A"]), "21 sessions after the gap the base price is missing"
    assert np.isfinite(returns_based.iloc[52]["A"])


def test_misaligned_inputs_are_refused_with_the_frame_named() -> None:
    prices = _frame({"A": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="volume frame is not aligned"):
        compute_features(prices, benchmark=prices["A"], volume=prices.iloc[:2])


def test_cross_section_of_a_date_outside_the_panel_is_a_clear_error() -> None:
    prices = _frame({"A": [1.0, 2.0, 3.0]})
    with pytest.raises(KeyError, match="not a session"):
        compute_features(prices, benchmark=prices["A"]).cross_section(pd.Timestamp("1990-01-01"))


def test_stacked_features_are_indexed_by_date_and_ticker() -> None:
    panel = synthetic_panel()
    stacked = _features(panel).stacked()
    assert stacked.index.names == ["date", "ticker"]
    assert list(stacked.columns) == list(FEATURE_NAMES)
    assert len(stacked) <= len(panel["adj_close"]) * (len(panel.stocks) + 1)
