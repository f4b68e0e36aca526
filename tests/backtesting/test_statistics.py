"""Uncertainty of backtest results: the papers' worked examples for the probabilistic and deflated
Sharpe ratios, the block bootstrap's behaviour on dependent data, CSCV's PBO on noise and on a real
edge, and the selector's calibration table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter

from backtesting.metrics import compute_metrics
from backtesting.statistics import (
    annualised_sharpe,
    block_bootstrap,
    brier_score,
    cagr_interval,
    calibration_table,
    default_block_length,
    deflated_sharpe_from_moments,
    deflated_sharpe_ratio,
    difference_interval,
    expected_maximum_sharpe,
    mean_return,
    per_period_sharpe,
    probabilistic_sharpe_from_moments,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    resample_indices,
    row_wise,
    sharpe_interval,
)


def normal_returns(seed: int, size: int, mean: float = 0.0005, std: float = 0.01) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, std, size)


def equity_of(returns: np.ndarray) -> pd.Series:
    return pd.Series(
        np.cumprod(np.r_[1.0, 1.0 + returns]), index=pd.bdate_range("2020-01-01", periods=len(returns) + 1)
    )


def ar1_returns(seed: int, size: int, phi: float) -> np.ndarray:
    """Returns with autocorrelation phi at lag one (an AR(1) process)."""
    shocks = normal_returns(seed, size, mean=0.0)
    return np.asarray(lfilter([1.0], [1.0, -phi], shocks))


# --- probabilistic and deflated Sharpe ---


def test_deflated_sharpe_reproduces_the_worked_example_of_bailey_and_lopez_de_prado_2014() -> None:
    # Annualised SR 2.5, 1250 daily returns, 100 trials whose annualised SRs have variance 0.5,
    # skew -3, kurtosis 10; the paper converts with 250 sessions a year and finds DSR = 0.9004.
    dsr = deflated_sharpe_from_moments(
        sharpe=2.5 / math.sqrt(250), sharpe_variance=0.5 / 250, trials=100, observations=1250, skew=-3.0, kurtosis=10.0
    )
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_probabilistic_sharpe_matches_a_hand_computed_normal_example() -> None:
    # SR 0.1 per period over 101 normal returns (skew 0, kurtosis 3):
    # z = 0.1 * sqrt(100) / sqrt(1 + 2/4 * 0.01) = 0.997509, and Phi(0.997509) = 0.840741.
    psr = probabilistic_sharpe_from_moments(0.1, 0.0, observations=101, skew=0.0, kurtosis=3.0)
    assert psr == pytest.approx(0.840741, abs=1e-6)


def test_probabilistic_sharpe_of_returns_uses_their_sample_sharpe_skew_and_kurtosis() -> None:
    returns = np.random.default_rng(5).standard_t(4, 500) * 0.01 + 0.001
    expected = probabilistic_sharpe_from_moments(
        float(np.mean(returns) / np.std(returns, ddof=1)),
        0.02,
        observations=500,
        skew=float(scipy.stats.skew(returns)),
        kurtosis=float(scipy.stats.kurtosis(returns, fisher=False)),
    )
    assert probabilistic_sharpe_ratio(returns, benchmark_sharpe=0.02) == pytest.approx(expected, rel=1e-12)


def test_probabilistic_sharpe_is_one_half_against_the_sample_sharpe_itself() -> None:
    returns = normal_returns(1, 300)
    assert probabilistic_sharpe_ratio(returns, float(per_period_sharpe(returns))) == pytest.approx(0.5)


def test_negative_skew_lowers_the_confidence_in_a_positive_sharpe() -> None:
    symmetric = probabilistic_sharpe_from_moments(0.08, 0.0, observations=250, skew=0.0, kurtosis=3.0)
    crash_prone = probabilistic_sharpe_from_moments(0.08, 0.0, observations=250, skew=-2.0, kurtosis=9.0)
    assert crash_prone < symmetric


def test_probabilistic_sharpe_of_a_flat_series_is_nan() -> None:
    assert math.isnan(probabilistic_sharpe_ratio(np.zeros(50)))


@pytest.mark.parametrize("trials", [100, 1000])
def test_expected_maximum_sharpe_approximates_the_simulated_best_of_independent_trials(trials: int) -> None:
    simulated = np.random.default_rng(0).standard_normal((4000, trials)).max(axis=1).mean()
    assert expected_maximum_sharpe(1.0, trials) == pytest.approx(simulated, rel=0.02)
    assert expected_maximum_sharpe(4.0, trials) == pytest.approx(2.0 * expected_maximum_sharpe(1.0, trials))


def test_a_single_trial_is_not_deflated() -> None:
    assert expected_maximum_sharpe(0.3, 1) == 0.0


def test_deflated_sharpe_of_returns_deflates_by_the_trials_variance_and_number() -> None:
    returns = normal_returns(2, 1000, mean=0.001)
    trials = np.random.default_rng(3).normal(0.0, 0.03, 50)
    sharpe = float(per_period_sharpe(returns))
    expected = deflated_sharpe_from_moments(
        sharpe,
        float(np.var(trials, ddof=1)),
        50,
        1000,
        float(scipy.stats.skew(returns)),
        float(scipy.stats.kurtosis(returns, fisher=False)),
    )
    assert deflated_sharpe_ratio(returns, list(trials)) == pytest.approx(expected)
    assert deflated_sharpe_ratio(returns, list(trials)) < probabilistic_sharpe_ratio(returns)
    assert deflated_sharpe_ratio(returns, list(trials) * 20) < deflated_sharpe_ratio(returns, list(trials))


def test_deflated_sharpe_needs_at_least_two_trials() -> None:
    with pytest.raises(ValueError, match="at least 2 trials"):
        deflated_sharpe_ratio(normal_returns(0, 100), [0.05])


# --- block bootstrap ---


def test_default_block_length_grows_as_the_cube_root_of_the_sample() -> None:
    assert [default_block_length(n) for n in (1, 8, 1000, 2520)] == [1, 2, 10, 14]


def test_circular_resamples_are_whole_blocks_that_wrap_around_the_end() -> None:
    indices = resample_indices(10, 200, 4, "circular", np.random.default_rng(0))
    steps = (np.diff(indices, axis=1) % 10)[:, [0, 1, 2, 4, 5, 6, 8]]
    assert (steps == 1).all()
    assert indices.min() == 0
    assert indices.max() == 9


def test_stationary_resamples_have_blocks_of_the_requested_mean_length() -> None:
    indices = resample_indices(5000, 20, 8, "stationary", np.random.default_rng(0))
    # A block ends wherever the next index is not the successor (bar a 1/n chance the new start is).
    breaks = (np.diff(indices, axis=1) % 5000 != 1).sum()
    mean_block = indices.size / (breaks + indices.shape[0])
    assert mean_block == pytest.approx(8.0, rel=0.05)


def test_block_bootstrap_widens_the_interval_of_the_mean_of_autocorrelated_returns() -> None:
    returns = ar1_returns(0, 600, phi=0.7)
    iid = block_bootstrap(returns, mean_return, block_length=1, samples=800)
    blocks = block_bootstrap(returns, mean_return, block_length=30, samples=800)
    # With lag-one correlation 0.7 the mean's standard error is about sqrt((1 + 0.7) / (1 - 0.7)) = 2.4 times larger.
    assert (blocks.high - blocks.low) > 1.6 * (iid.high - iid.low)


def test_sharpe_interval_of_iid_returns_has_the_width_of_the_analytic_standard_error() -> None:
    returns = normal_returns(4, 1000, mean=0.0006)
    interval = sharpe_interval(returns, block_length=1, samples=1000)
    sharpe = float(per_period_sharpe(returns))
    # Lo (2002): the per-period Sharpe's standard error is sqrt((1 + SR^2 / 2) / T) for i.i.d. returns.
    analytic_width = 2 * 1.96 * math.sqrt((1 + sharpe**2 / 2) / 1000) * math.sqrt(252)
    assert interval.high - interval.low == pytest.approx(analytic_width, rel=0.15)
    assert interval.point == pytest.approx(compute_metrics(equity_of(returns)).sharpe)
    assert interval.level == 0.95


def test_cagr_interval_is_centred_on_the_metrics_cagr_and_reproducible_with_a_seed() -> None:
    returns = normal_returns(6, 500)
    first = cagr_interval(returns, samples=300, seed=11, method="circular")
    assert first == cagr_interval(returns, samples=300, seed=11, method="circular")
    assert first.point == pytest.approx(compute_metrics(equity_of(returns)).cagr)
    assert first.low < first.point < first.high


def test_a_scalar_statistic_adapted_row_wise_gives_the_vectorised_interval() -> None:
    returns = normal_returns(7, 120)
    vectorised = block_bootstrap(returns, mean_return, samples=200, seed=3)
    looped = block_bootstrap(returns, row_wise(lambda row: float(np.mean(row))), samples=200, seed=3)
    assert looped.low == pytest.approx(vectorised.low)
    assert looped.high == pytest.approx(vectorised.high)


def test_a_flat_series_gives_a_collapsed_mean_interval_and_an_undefined_sharpe_interval() -> None:
    flat = np.full(40, 0.001)
    mean_interval = block_bootstrap(flat, mean_return, samples=50)
    assert mean_interval.low == pytest.approx(0.001)
    assert mean_interval.high == pytest.approx(0.001)
    sharpe = sharpe_interval(flat, samples=50)
    assert math.isnan(sharpe.point)
    assert math.isnan(sharpe.low)


def test_a_series_compared_with_itself_differs_by_exactly_zero() -> None:
    returns = normal_returns(8, 200)
    interval = difference_interval(returns, returns, annualised_sharpe(), samples=200)
    assert (interval.point, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_paired_difference_cancels_the_shared_market_and_is_narrower_than_either_interval() -> None:
    market = normal_returns(9, 750, std=0.012)
    strategy_a = market + normal_returns(10, 750, mean=0.0003, std=0.002)
    strategy_b = market + normal_returns(11, 750, mean=0.0, std=0.002)
    difference = difference_interval(strategy_a, strategy_b, mean_return, samples=500)
    alone = block_bootstrap(strategy_a, mean_return, samples=500)
    assert difference.point == pytest.approx(float(np.mean(strategy_a - strategy_b)))
    assert (difference.high - difference.low) < 0.3 * (alone.high - alone.low)


def test_bootstrap_rejects_impossible_arguments() -> None:
    with pytest.raises(ValueError, match="block_length"):
        block_bootstrap(np.zeros(5), mean_return, block_length=6)
    with pytest.raises(ValueError, match="level"):
        block_bootstrap(np.zeros(5), mean_return, level=1.0)
    with pytest.raises(ValueError, match="equal length"):
        difference_interval(np.zeros(5), np.zeros(6), mean_return)
    with pytest.raises(ValueError, match="row_wise"):
        block_bootstrap(np.zeros(5), lambda x: np.asarray(np.mean(x)))


@settings(max_examples=30, deadline=None)
@given(
    returns=st.lists(st.floats(-0.2, 0.2), min_size=2, max_size=50),
    shift=st.floats(-0.05, 0.05),
    seed=st.integers(0, 1000),
)
def test_bootstrap_intervals_nest_by_level_and_shift_with_the_returns(
    returns: list[float], shift: float, seed: int
) -> None:
    values = np.asarray(returns)
    wide = block_bootstrap(values, mean_return, samples=100, level=0.9, seed=seed)
    narrow = block_bootstrap(values, mean_return, samples=100, level=0.5, seed=seed)
    assert wide.low <= narrow.low <= narrow.high <= wide.high
    shifted = block_bootstrap(values + shift, mean_return, samples=100, level=0.9, seed=seed)
    assert shifted.low == pytest.approx(wide.low + shift, abs=1e-12)
    assert shifted.high == pytest.approx(wide.high + shift, abs=1e-12)


# --- probability of backtest overfitting ---


def noise_configurations(seed: int, rows: int = 160, configurations: int = 20) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(seed).normal(0.0, 0.01, (rows, configurations)))


def test_pbo_of_pure_noise_configurations_is_near_one_half() -> None:
    # One noise matrix gives a PBO anywhere in 0.2..0.8 (halves overlap); the mean over 50 is within ~0.03 of 0.5.
    estimates = [
        probability_of_backtest_overfitting(noise_configurations(seed), partitions=8).pbo for seed in range(50)
    ]
    assert np.mean(estimates) == pytest.approx(0.5, abs=0.12)


def test_pbo_of_one_configuration_with_a_true_edge_is_near_zero() -> None:
    returns = noise_configurations(0)
    returns[7] += 0.006
    result = probability_of_backtest_overfitting(returns, partitions=8)
    assert result.pbo < 0.1
    assert result.probability_of_loss < 0.1
    assert result.combinations == 70
    assert result.logits.shape == (70,)


def test_pbo_of_two_configurations_that_swap_places_is_one() -> None:
    # A wins the first half and loses the second; B the reverse: each in-sample winner ranks last out of sample.
    returns = pd.DataFrame({"a": [0.01, 0.02, -0.01, -0.02], "b": [-0.01, -0.02, 0.01, 0.02]})
    result = probability_of_backtest_overfitting(returns, partitions=2, metric=mean_return)
    assert result.pbo == 1.0
    assert result.combinations == 2
    np.testing.assert_allclose(result.logits, math.log(0.5))
    np.testing.assert_allclose(result.in_sample, [0.015, 0.015])
    np.testing.assert_allclose(result.out_of_sample, [-0.015, -0.015])


def test_pbo_with_sixteen_partitions_evaluates_every_half_once() -> None:
    result = probability_of_backtest_overfitting(noise_configurations(1, rows=40, configurations=3))
    assert result.combinations == 12870


def test_pbo_sharpe_shortcut_matches_the_generic_metric_path() -> None:
    returns = noise_configurations(2, rows=125, configurations=6)
    returns.iloc[:40, 2] = 0.0  # a configuration that stays flat for a while
    shortcut = probability_of_backtest_overfitting(returns, partitions=6)
    generic = probability_of_backtest_overfitting(returns, partitions=6, metric=lambda x: per_period_sharpe(x))
    np.testing.assert_allclose(shortcut.logits, generic.logits)
    np.testing.assert_allclose(shortcut.in_sample, generic.in_sample, rtol=1e-9)


@pytest.mark.parametrize(
    ("shape", "partitions", "message"),
    [((100, 1), 4, "at least 2 columns"), ((100, 3), 5, "even number"), ((30, 3), 16, "at least 2")],
)
def test_pbo_rejects_too_few_configurations_odd_partitions_and_short_blocks(
    shape: tuple[int, int], partitions: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(pd.DataFrame(np.zeros(shape)), partitions=partitions)


# --- calibration ---


def test_calibration_table_bins_decisions_by_confidence_with_their_hit_rates() -> None:
    confidence = pd.Series([0.1, 0.15, 0.5, 0.9, 1.0])
    hit = pd.Series([False, True, True, True, False])
    table = calibration_table(confidence, hit, bins=5)
    assert list(table.columns) == ["bin", "low", "high", "decisions", "mean_confidence", "hit_rate"]
    assert table["decisions"].tolist() == [2, 0, 1, 0, 2]
    np.testing.assert_allclose(table["mean_confidence"], [0.125, np.nan, 0.5, np.nan, 0.95])
    np.testing.assert_allclose(table["hit_rate"], [0.5, np.nan, 1.0, np.nan, 0.5])
    np.testing.assert_allclose(table["high"], [0.2, 0.4, 0.6, 0.8, 1.0])


def test_a_calibrated_selector_hits_as_often_as_it_says() -> None:
    rng = np.random.default_rng(0)
    confidence = pd.Series(rng.uniform(0, 1, 20000))
    hit = pd.Series(rng.uniform(0, 1, 20000) < confidence)
    table = calibration_table(confidence, hit, bins=5)
    np.testing.assert_allclose(table["hit_rate"], table["mean_confidence"], atol=0.03)
    assert brier_score(confidence, hit) == pytest.approx(1 / 6, abs=0.01)


def test_brier_score_is_the_mean_squared_gap_between_confidence_and_outcome() -> None:
    assert brier_score(pd.Series([1.0, 0.0, 0.5]), pd.Series([True, True, False])) == pytest.approx(1.25 / 3)


def test_calibration_rejects_a_confidence_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration_table(pd.Series([0.2, 1.2]), pd.Series([True, False]))
