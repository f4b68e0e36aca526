"""How much to trust a backtest: bootstrap intervals for autocorrelated returns, probabilistic and
deflated Sharpe ratios, the probability of backtest overfitting (CSCV) and selector calibration.

A *statistic* here is a function that reduces the last axis of a float array (a series gives a 0-d
array, a (samples, n) matrix one value per row), so resamples are evaluated without Python loops;
`row_wise` adapts a plain scalar function at the price of a loop.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from backtesting.metrics import ZERO_DISPERSION, compound_annual_growth, sharpe_ratio
from backtesting.returns import SESSIONS_PER_YEAR

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Statistic = Callable[[FloatArray], FloatArray]
BootstrapMethod = Literal["stationary", "circular"]

EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()
# Upper bound on the floats materialised at once by a bootstrap or CSCV chunk (~32 MB).
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval at `level` (e.g. 0.95)."""

    point: float
    low: float
    high: float
    level: float


# --- statistics (reduce the last axis) ---


def per_period_sharpe(returns: FloatArray) -> FloatArray:
    """Sharpe ratio per period (not annualised), mean / std(ddof=1), along the last axis."""
    return sharpe_ratio(returns, periods_per_year=1)


def mean_return(returns: FloatArray) -> FloatArray:
    """Mean return along the last axis."""
    return np.asarray(returns.mean(axis=-1), dtype=np.float64)


def annualised_sharpe(periods_per_year: int = SESSIONS_PER_YEAR) -> Statistic:
    """The annualised Sharpe ratio as a statistic."""

    def statistic(returns: FloatArray) -> FloatArray:
        return sharpe_ratio(returns, periods_per_year)

    return statistic


def annualised_cagr(periods_per_year: int = SESSIONS_PER_YEAR) -> Statistic:
    """The compound annual growth rate (years = returns / periods_per_year) as a statistic."""

    def statistic(returns: FloatArray) -> FloatArray:
        return compound_annual_growth(returns, periods_per_year)

    return statistic


def row_wise(function: Callable[[FloatArray], float]) -> Statistic:
    """Adapt a scalar function of one 1-D series into a statistic (a Python loop over rows: slow)."""

    def statistic(returns: FloatArray) -> FloatArray:
        rows = returns.reshape(-1, returns.shape[-1])
        values = np.fromiter((function(row) for row in rows), dtype=np.float64, count=len(rows))
        return values.reshape(returns.shape[:-1])

    return statistic


# --- block bootstrap ---


def default_block_length(observations: int) -> int:
    """round(n ** (1/3)), at least 1: the rate at which the MSE-optimal block length grows for
    variance and distribution estimates (Hall, Horowitz & Jing 1995, "On blocking rules for the
    bootstrap with dependent data", Biometrika 82). The constant is data-dependent (Politis & White
    2004 estimate it); a constant of 1 is a fair default for daily returns, whose autocorrelation is short."""
    return max(1, round(math.cbrt(observations)))


def resample_indices(
    observations: int, samples: int, block_length: int, method: BootstrapMethod, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """A (samples, observations) matrix of indices into the series, built block by block on a circle.

    stationary: each position starts a new block with probability 1 / block_length, so block lengths
    are geometric with that mean and the resampled series is stationary (Politis & Romano 1994, "The
    stationary bootstrap", JASA 89). circular: blocks of exactly block_length (Politis & Romano 1992,
    "A circular block-resampling procedure for stationary data"). Blocks wrap around the end so every
    observation is equally likely to be drawn."""
    positions = np.arange(observations)
    if method == "stationary":
        new_block = rng.random((samples, observations)) < 1.0 / block_length
    else:
        new_block = np.tile(positions % block_length == 0, (samples, 1))
    new_block[:, 0] = True
    block_start = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)
    origins = rng.integers(0, observations, size=(samples, observations))
    block_origin = np.take_along_axis(origins, block_start, axis=1)
    return np.asarray((block_origin + positions - block_start) % observations, dtype=np.intp)


def _per_row(statistic: Statistic, resamples: FloatArray) -> FloatArray:
    values = np.asarray(statistic(resamples), dtype=np.float64)
    if values.shape != resamples.shape[:1]:
        raise ValueError(
            f"the statistic returned shape {values.shape} for {len(resamples)} resamples: it must reduce the "
            "last axis (wrap a scalar function in row_wise)"
        )
    return values


def _bootstrap_distributions(
    series: Sequence[FloatArray],
    statistic: Statistic,
    *,
    block_length: int,
    samples: int,
    method: BootstrapMethod,
    seed: int,
) -> list[FloatArray]:
    """The statistic of each series over the same resampled indices (paired), `samples` values each."""
    observations = len(series[0])
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_ELEMENTS // observations)
    chunks: list[list[FloatArray]] = [[] for _ in series]
    for first in range(0, samples, per_chunk):
        indices = resample_indices(observations, min(per_chunk, samples - first), block_length, method, rng)
        for collected, values in zip(chunks, series, strict=True):
            collected.append(_per_row(statistic, values[indices]))
    return [np.concatenate(collected) for collected in chunks]


def _percentile_interval(point: float, distribution: FloatArray, level: float) -> Interval:
    """Percentile interval (Efron) of the bootstrap distribution; resamples with a NaN statistic are left out."""
    finite = distribution[np.isfinite(distribution)]
    if finite.size < distribution.size:
        logger.debug("%d of %d resamples had no finite statistic", distribution.size - finite.size, distribution.size)
    if finite.size == 0:
        return Interval(point, math.nan, math.nan, level)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return Interval(point, float(low), float(high), level)


def _check_bootstrap(observations: int, block_length: int, samples: int, level: float) -> None:
    if observations < 1:
        raise ValueError("a bootstrap needs at least one return")
    if not 1 <= block_length <= observations:
        raise ValueError(f"block_length must be between 1 and the {observations} returns, not {block_length}")
    if samples < 1:
        raise ValueError("samples must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, not {level}")


def difference_interval(
    returns_a: npt.ArrayLike,
    returns_b: npt.ArrayLike,
    statistic: Statistic,
    *,
    block_length: int | None = None,
    samples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    method: BootstrapMethod = "stationary",
) -> Interval:
    """Interval of statistic(a) - statistic(b) for two return series over the same sessions.

    Paired: both series are resampled with the same indices, so what they share (the market) cancels
    and "A beat B by X" gets the narrow interval it deserves. Same arguments as `block_bootstrap`."""
    first = np.asarray(returns_a, dtype=np.float64)
    second = np.asarray(returns_b, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"paired series must be 1-D and of equal length, not {first.shape} and {second.shape}")
    length = default_block_length(len(first)) if block_length is None else block_length
    _check_bootstrap(len(first), length, samples, level)
    point = float(statistic(first)) - float(statistic(second))
    resampled_a, resampled_b = _bootstrap_distributions(
        [first, second], statistic, block_length=length, samples=samples, method=method, seed=seed
    )
    return _percentile_interval(point, resampled_a - resampled_b, level)


def block_bootstrap(
    returns: npt.ArrayLike,
    statistic: Statistic,
    *,
    block_length: int | None = None,
    samples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    method: BootstrapMethod = "stationary",
) -> Interval:
    """Percentile interval of `statistic` under a block bootstrap, which keeps the short-range
    autocorrelation of returns that an i.i.d. bootstrap would destroy.

    `statistic` reduces the last axis (see the module docstring). `block_length` is the mean
    (stationary) or exact (circular) block length, `default_block_length(n)` when None. The
    interval's point is the statistic of the original series. Same seed, same interval."""
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"returns must be 1-D, not of shape {values.shape}")
    length = default_block_length(len(values)) if block_length is None else block_length
    _check_bootstrap(len(values), length, samples, level)
    (distribution,) = _bootstrap_distributions(
        [values], statistic, block_length=length, samples=samples, method=method, seed=seed
    )
    return _percentile_interval(float(statistic(values)), distribution, level)


def sharpe_interval(
    returns: npt.ArrayLike,
    *,
    periods_per_year: int = SESSIONS_PER_YEAR,
    block_length: int | None = None,
    samples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    method: BootstrapMethod = "stationary",
) -> Interval:
    """Block-bootstrap interval of the annualised Sharpe ratio (as Metrics.sharpe)."""
    return block_bootstrap(
        returns,
        annualised_sharpe(periods_per_year),
        block_length=block_length,
        samples=samples,
        level=level,
        seed=seed,
        method=method,
    )


def cagr_interval(
    returns: npt.ArrayLike,
    *,
    periods_per_year: int = SESSIONS_PER_YEAR,
    block_length: int | None = None,
    samples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    method: BootstrapMethod = "stationary",
) -> Interval:
    """Block-bootstrap interval of the CAGR (as Metrics.cagr)."""
    return block_bootstrap(
        returns,
        annualised_cagr(periods_per_year),
        block_length=block_length,
        samples=samples,
        level=level,
        seed=seed,
        method=method,
    )


# --- probabilistic and deflated Sharpe ratios ---


def sample_moments(returns: npt.ArrayLike) -> tuple[float, float, float, int]:
    """(per-period Sharpe with ddof=1, skewness, non-excess kurtosis, observations) of a return series.

    Skewness and kurtosis are the plain (biased) moment ratios m3 / m2^1.5 and m4 / m2^2, as
    scipy.stats.skew and kurtosis(fisher=False) compute them; a normal series has kurtosis 3."""
    values = np.asarray(returns, dtype=np.float64)
    centred = values - values.mean() if values.size else values
    m2 = float(np.mean(centred**2)) if values.size else math.nan
    if not m2 > 0:
        return math.nan, math.nan, math.nan, values.size
    skew = float(np.mean(centred**3)) / m2**1.5
    kurtosis = float(np.mean(centred**4)) / m2**2
    return float(per_period_sharpe(values)), skew, kurtosis, values.size


def probabilistic_sharpe_from_moments(
    sharpe: float, benchmark_sharpe: float, observations: int, skew: float, kurtosis: float
) -> float:
    """PSR = Phi((SR - SR*) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2)).

    Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2),
    eq. (11), after Mertens (2002) for the standard error of a Sharpe ratio under non-normal
    returns. SR and SR* are per-period (not annualised), skew and kurtosis (non-excess: 3 for a
    normal) those of the returns, T the number of returns. NaN when undefined (T < 2, no dispersion)."""
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if observations < 2 or not math.isfinite(variance) or variance <= 0 or not math.isfinite(sharpe):
        return math.nan
    z = (sharpe - benchmark_sharpe) * math.sqrt(observations - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


def probabilistic_sharpe_ratio(returns: npt.ArrayLike, benchmark_sharpe: float = 0.0) -> float:
    """Probability that the true per-period Sharpe ratio exceeds `benchmark_sharpe` (per-period),
    given the sample's Sharpe, skewness, kurtosis and length (`probabilistic_sharpe_from_moments`)."""
    sharpe, skew, kurtosis, observations = sample_moments(returns)
    return probabilistic_sharpe_from_moments(sharpe, benchmark_sharpe, observations, skew, kurtosis)


def expected_maximum_sharpe(sharpe_variance: float, trials: int) -> float:
    """E[max SR] over `trials` independent strategies whose true Sharpe is zero:
    sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e))), g the Euler-Mascheroni constant.

    The False Strategy Theorem of Bailey & López de Prado (2014), "The Deflated Sharpe Ratio",
    Journal of Portfolio Management 40(5), eq. (2) (also Bailey, Borwein, López de Prado & Zhu 2014,
    "Pseudo-mathematics and financial charlatanism"). V is the variance of the trials' Sharpe ratios,
    in the same units as the result. One trial selects nothing, so its expected maximum is 0."""
    if trials < 1:
        raise ValueError(f"trials must be at least 1, not {trials}")
    if sharpe_variance < 0:
        raise ValueError(f"a variance cannot be negative ({sharpe_variance})")
    if trials == 1:
        return 0.0
    quantiles = (1.0 - EULER_MASCHERONI) * _NORMAL.inv_cdf(1.0 - 1.0 / trials) + EULER_MASCHERONI * _NORMAL.inv_cdf(
        1.0 - 1.0 / (trials * math.e)
    )
    return math.sqrt(sharpe_variance) * quantiles


def deflated_sharpe_from_moments(
    sharpe: float, sharpe_variance: float, trials: int, observations: int, skew: float, kurtosis: float
) -> float:
    """DSR = PSR(SR0) with SR0 = expected_maximum_sharpe(V, N) (Bailey & López de Prado 2014, eq. (2)-(3)).

    Every Sharpe ratio and V (the variance of the N trials' Sharpe ratios) must be per-period, over
    `observations` returns: annualised figures are converted first (SR / sqrt(q), V / q for q periods
    a year), as the paper's example does. That example (SR 2.5 a year, T 1250 days, N 100, V 0.5 a
    year, skew -3, kurtosis 10, q 250) gives 0.9004."""
    threshold = expected_maximum_sharpe(sharpe_variance, trials)
    return probabilistic_sharpe_from_moments(sharpe, threshold, observations, skew, kurtosis)


def deflated_sharpe_ratio(returns: npt.ArrayLike, trial_sharpes: Sequence[float]) -> float:
    """Probability that the selected strategy's true Sharpe ratio is positive, given that it was the
    best of len(trial_sharpes) trials (the selected one included).

    `returns` are the selected strategy's per-period returns and `trial_sharpes` the per-period (not
    annualised) Sharpe ratios of all trials; their sample variance (ddof=1) is V."""
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    if trials.size < 2:
        raise ValueError("a deflated Sharpe ratio needs the Sharpe ratios of at least 2 trials")
    sharpe, skew, kurtosis, observations = sample_moments(returns)
    variance = float(trials.var(ddof=1))
    return deflated_sharpe_from_moments(sharpe, variance, trials.size, observations, skew, kurtosis)


# --- probability of backtest overfitting (CSCV) ---


@dataclass(frozen=True, eq=False)
class PBOResult:
    """Outcome of CSCV. `pbo` is the share of logits <= 0; per combination: `logits` of the in-sample
    winner's out-of-sample relative rank, its `in_sample` and `out_of_sample` metric.
    `degradation_slope` regresses out-of-sample on in-sample metric of the winner (negative or near
    zero: in-sample excellence does not carry over); `probability_of_loss` is the share of
    combinations whose winner has a negative out-of-sample metric."""

    pbo: float
    logits: FloatArray
    combinations: int
    in_sample: FloatArray
    out_of_sample: FloatArray
    degradation_slope: float
    probability_of_loss: float


def _check_cscv(rows: int, configurations: int, partitions: int) -> None:
    if configurations < 2:
        raise ValueError(f"CSCV compares configurations: it needs at least 2 columns, not {configurations}")
    if partitions < 2 or partitions % 2:
        raise ValueError(f"partitions must be an even number of at least 2, not {partitions}")
    if rows // partitions < 2:
        raise ValueError(
            f"{rows} rows make blocks of {rows // partitions} rows for {partitions} partitions; "
            "each block needs at least 2 (use fewer partitions or more sessions)"
        )


def _half_performance(blocks: FloatArray, halves: npt.NDArray[np.intp], metric: Statistic) -> FloatArray:
    """metric of every configuration over the rows of each half (its blocks in time order), (halves, N)."""
    _, block_rows, configurations = blocks.shape
    per_chunk = max(1, _CHUNK_ELEMENTS // (halves.shape[1] * block_rows * configurations))
    performance = np.empty((len(halves), configurations))
    for first in range(0, len(halves), per_chunk):
        part = halves[first : first + per_chunk]
        rows = blocks[part].reshape(len(part), -1, configurations)
        performance[first : first + len(part)] = metric(np.swapaxes(rows, 1, 2))
    return performance


def _half_sharpe(blocks: FloatArray, halves: npt.NDArray[np.intp]) -> FloatArray:
    """per_period_sharpe of every configuration over each half, from per-block sums (no rows copied).

    Same values as `_half_performance(blocks, halves, per_period_sharpe)` up to rounding; it turns the
    C(16, 8) = 12870 halves of the default into two matrix products."""
    partitions, block_rows, _ = blocks.shape
    # Centring each column first keeps sum-of-squares variances exact for constant columns.
    column_mean = blocks.mean(axis=(0, 1))
    centred = blocks - column_mean
    membership = np.zeros((len(halves), partitions))
    np.put_along_axis(membership, halves, 1.0, axis=1)
    observations = halves.shape[1] * block_rows
    mean = membership @ centred.sum(axis=1) / observations
    squares = membership @ (centred**2).sum(axis=1)
    variance = np.maximum(squares - observations * mean**2, 0.0) / (observations - 1)
    std = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = (mean + column_mean) / std
    return np.asarray(np.where(std > ZERO_DISPERSION, sharpe, np.nan), dtype=np.float64)


def _complement_positions(halves: npt.NDArray[np.intp], partitions: int) -> npt.NDArray[np.intp]:
    """For each half, the position (in `halves`) of the half made of the other blocks."""
    masks = (np.int64(1) << halves.astype(np.int64)).sum(axis=1)
    complements = ((np.int64(1) << partitions) - 1) ^ masks
    order = np.argsort(masks)
    return np.asarray(order[np.searchsorted(masks[order], complements)], dtype=np.intp)


def _slope(x: FloatArray, y: FloatArray) -> float:
    usable = np.isfinite(x) & np.isfinite(y)
    if usable.sum() < 2 or np.ptp(x[usable]) == 0:
        return math.nan
    return float(np.polyfit(x[usable], y[usable], 1)[0])


def probability_of_backtest_overfitting(
    returns: pd.DataFrame, *, partitions: int = 16, metric: Statistic = per_period_sharpe
) -> PBOResult:
    """PBO by combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado & Zhu 2017,
    "The probability of backtest overfitting", Journal of Computational Finance 20(4)).

    `returns` has one column per configuration and one row per session. The rows are cut into
    `partitions` (S, even) consecutive blocks of equal length (the T mod S oldest rows are dropped);
    each of the C(S, S/2) ways to pick S/2 blocks is an in-sample set, the other blocks its
    out-of-sample set. For each, the in-sample best configuration n* (by `metric`, NaN ranking last)
    gets its out-of-sample relative rank ω = rank / (N + 1) (ranks 1..N ascending, ties averaged)
    and the logit λ = ln(ω / (1 - ω)). PBO = share of λ <= 0: how often the in-sample winner does
    no better than the median configuration out of sample."""
    matrix = returns.to_numpy(dtype=np.float64)
    rows, configurations = matrix.shape
    _check_cscv(rows, configurations, partitions)
    block_rows = rows // partitions
    dropped = rows - block_rows * partitions
    if dropped:
        logger.debug("CSCV drops the %d oldest rows to cut %d equal blocks", dropped, partitions)
    blocks = matrix[dropped:].reshape(partitions, block_rows, configurations)
    halves = np.array(list(itertools.combinations(range(partitions), partitions // 2)), dtype=np.intp)
    # A half's out-of-sample set is another half: its complement. Each half is evaluated once.
    evaluated = (
        _half_sharpe(blocks, halves) if metric is per_period_sharpe else _half_performance(blocks, halves, metric)
    )
    performance = np.nan_to_num(evaluated, nan=-np.inf)
    out_of_sample = performance[_complement_positions(halves, partitions)]
    winner = np.argmax(performance, axis=1)
    chosen_in = performance[np.arange(len(halves)), winner]
    chosen_out = out_of_sample[np.arange(len(halves)), winner]
    below = (out_of_sample < chosen_out[:, None]).sum(axis=1)
    tied = (out_of_sample == chosen_out[:, None]).sum(axis=1)
    relative_rank = (below + (tied + 1) / 2.0) / (configurations + 1)
    logits = np.log(relative_rank / (1.0 - relative_rank))
    in_sample = np.where(np.isfinite(chosen_in), chosen_in, np.nan)
    out_sample = np.where(np.isfinite(chosen_out), chosen_out, np.nan)
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        combinations=len(halves),
        in_sample=in_sample,
        out_of_sample=out_sample,
        degradation_slope=_slope(in_sample, out_sample),
        probability_of_loss=float(np.mean(out_sample < 0)),
    )


# --- calibration of the selector's confidence ---


def _confidence_and_hits(confidence: pd.Series, hit: pd.Series) -> tuple[FloatArray, FloatArray]:
    both = pd.concat({"confidence": confidence, "hit": hit}, axis=1, join="inner").dropna()
    values = both["confidence"].to_numpy(dtype=np.float64)
    if ((values < 0) | (values > 1)).any():
        raise ValueError("confidence must be a probability in [0, 1]")
    return values, np.asarray(both["hit"].astype(bool), dtype=np.float64)


def calibration_table(confidence: pd.Series, hit: pd.Series, bins: int = 5) -> pd.DataFrame:
    """Reliability table of the selector: decisions binned by stated confidence into `bins` equal
    widths of [0, 1] (the last bin closed at 1), with each bin's mean confidence and realised hit
    rate. Well calibrated when the two agree. The series are aligned on their index; rows missing
    either are left out. Columns: bin (0-based), low, high, decisions, mean_confidence, hit_rate
    (NaN for an empty bin)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    values, hits = _confidence_and_hits(confidence, hit)
    which = np.minimum((values * bins).astype(np.intp), bins - 1)
    decisions = np.bincount(which, minlength=bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_confidence = np.bincount(which, weights=values, minlength=bins) / decisions
        hit_rate = np.bincount(which, weights=hits, minlength=bins) / decisions
    edges = np.linspace(0.0, 1.0, bins + 1)
    return pd.DataFrame(
        {
            "bin": np.arange(bins),
            "low": edges[:-1],
            "high": edges[1:],
            "decisions": decisions,
            "mean_confidence": mean_confidence,
            "hit_rate": hit_rate,
        }
    )


def brier_score(confidence: pd.Series, hit: pd.Series) -> float:
    """Mean squared gap between stated confidence and the outcome (1 hit, 0 miss); 0 is perfect,
    0.25 is what a constant 0.5 earns (Brier 1950, "Verification of forecasts expressed in terms
    of probability"). NaN without decisions."""
    values, hits = _confidence_and_hits(confidence, hit)
    return float(np.mean((values - hits) ** 2)) if values.size else math.nan
