"""How well a stock ranker's predictions order the realised forward excess returns, date by date.

Input: a long frame indexed by (date, ticker) with float columns `prediction` and `label` (the
realised forward excess return). A row with a missing or infinite prediction or label is not
usable; a date with fewer than `min_names` usable rows is skipped (and counted as skipped),
because a correlation over a handful of names is noise.

Per date (`cross_sectional_ic`):
    ic                Pearson correlation of prediction and label.
    rank_ic           Spearman correlation: the Pearson correlation of the average ranks.
    top_minus_bottom  mean label of the top prediction decile minus that of the bottom decile. A
                      decile holds k = ceil(n / 10) names (at least 1). Tied predictions on a decile
                      boundary share the remaining places in proportion (each tied name gets an equal
                      fractional weight), so the result never depends on the row order.
    hit_rate          hits / (hits + misses), where a hit is a name whose prediction and label have
                      the same strict sign and a miss one whose signs are opposite. A zero prediction
                      or zero label is neither: it is left out of numerator and denominator. NaN
                      when no name is decided.
    names             usable rows on the date.
A date whose prediction or label is constant has NaN ic and rank_ic (a correlation with a constant is
undefined); a constant prediction also gives a NaN top_minus_bottom, since it ranks nothing. NaN
values are left out of the means across dates.

Summary (`ranking_metrics`): means of the daily ic, rank_ic and top_minus_bottom; icir = mean / sample
standard deviation (ddof=1) of the daily values, not annualised; the rank IC t-statistic with a
Newey-West variance over `overlap_lags` lags, because the labels of consecutive sample dates overlap
(a 21-session label sampled every 5 sessions shares its window with the next 4 dates, so the daily
rank ICs are positively autocorrelated and a plain t-statistic overstates the evidence). The
summary hit rate is pooled: all hits over all decided rows of the evaluated dates, so a date counts
in proportion to its decided names rather than equally.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

PREDICTION = "prediction"
LABEL = "label"
DATE = "date"
TICKER = "ticker"
DAILY_COLUMNS = ("ic", "rank_ic", "top_minus_bottom", "hit_rate", "names")


@dataclass(frozen=True)
class RankingMetrics:
    """Summary of a ranking over the evaluated dates; the float metrics are NaN when undefined."""

    dates: int
    skipped_dates: int
    rows: int
    ic: float
    rank_ic: float
    icir: float
    rank_icir: float
    rank_ic_t_stat: float
    top_minus_bottom: float
    hit_rate: float

    def as_dict(self) -> dict[str, float | int | None]:
        """The fields as JSON-safe values: NaN (not valid JSON, nor is infinity) becomes None."""
        return {name: _json_safe(value) for name, value in asdict(self).items()}


def cross_sectional_ic(frame: pd.DataFrame, *, min_names: int = 10) -> pd.DataFrame:
    """One row per evaluated date (index `date`, ascending) with the columns in DAILY_COLUMNS."""
    return _daily(_usable_rows(frame), min_names).loc[:, list(DAILY_COLUMNS)]


def rank_ic_by_date(frame: pd.DataFrame, *, min_names: int = 10) -> pd.Series[float]:
    """The `rank_ic` column of `cross_sectional_ic` alone (index `date`), without the costlier columns:
    for scoring many rankings of the same rows (autonomous/ranking/baselines.py)."""
    data = _kept_rows(_usable_rows(frame), min_names)
    ranks = data.groupby(level=DATE).rank(method="average")
    return _pearson(ranks[PREDICTION], ranks[LABEL]).rename("rank_ic")


def ranking_metrics(frame: pd.DataFrame, *, overlap_lags: int = 0, min_names: int = 10) -> RankingMetrics:
    """The summary of `frame`; `overlap_lags` = ceil(horizon / step) - 1 for overlapping labels."""
    if overlap_lags < 0:
        raise ValueError(f"overlap_lags must be >= 0, got {overlap_lags}")
    usable = _usable_rows(frame)
    daily = _daily(usable, min_names)
    all_dates = frame.index.get_level_values(DATE).nunique()
    decided = int(daily["decided"].sum())
    rank_ics = daily["rank_ic"].dropna().to_numpy(dtype=np.float64)
    return RankingMetrics(
        dates=len(daily),
        skipped_dates=int(all_dates - len(daily)),
        rows=int(daily["names"].sum()),
        ic=_mean(daily["ic"]),
        rank_ic=_mean(daily["rank_ic"]),
        icir=_information_ratio(daily["ic"]),
        rank_icir=_information_ratio(daily["rank_ic"]),
        rank_ic_t_stat=newey_west_t_stat(rank_ics, overlap_lags),
        top_minus_bottom=_mean(daily["top_minus_bottom"]),
        hit_rate=float(daily["hits"].sum()) / decided if decided else math.nan,
    )


def newey_west_t_stat(values: npt.NDArray[np.float64], lags: int) -> float:
    """t-statistic of the mean of `values` with a Newey-West (Bartlett kernel) HAC variance.

    Long-run variance = g0 + 2 * sum_{j=1..L} (1 - j / (L + 1)) * gj, where gj is the lag-j
    autocovariance with divisor n (not n - j), as in Newey and West (1987); that choice keeps the
    estimate non-negative. The t-statistic is mean / sqrt(long-run variance / n). With lags=0 it is
    therefore mean / (population std (ddof=0) / sqrt(n)), sqrt(n / (n - 1)) larger than the
    textbook sample-std t. Lags from n on add nothing (the series has no such autocovariance); the
    Bartlett weights still use the given L.
    NaN for fewer than 2 values or zero variance. Non-finite values raise: a gap in a time series
    is the caller's decision, not something to drop silently here.
    """
    if lags < 0:
        raise ValueError(f"lags must be >= 0, got {lags}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("values contain NaN or infinite entries")
    n = len(x)
    # ptp rather than the variance: demeaning a constant can leave rounding noise, which would
    # turn "no variance" into an enormous t-statistic.
    if n < 2 or np.ptp(x) == 0:
        return math.nan
    errors = x - x.mean()
    long_run = float(errors @ errors) / n
    for lag in range(1, min(lags, n - 1) + 1):
        weight = 1.0 - lag / (lags + 1)
        long_run += 2.0 * weight * float(errors[lag:] @ errors[:-lag]) / n
    if long_run <= 0:
        return math.nan
    return float(x.mean() / math.sqrt(long_run / n))


def _usable_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The prediction and label columns as float64, sorted by (date, ticker), unusable rows dropped."""
    _check_shape(frame)
    data = frame.loc[:, [PREDICTION, LABEL]].astype(np.float64)
    # An infinite prediction or label is as unusable as a missing one: it has no rank to compare.
    return data.replace([np.inf, -np.inf], np.nan).dropna().sort_index(level=[DATE, TICKER])


def _check_shape(frame: pd.DataFrame) -> None:
    missing_columns = [name for name in (PREDICTION, LABEL) if name not in frame.columns]
    if missing_columns:
        raise ValueError(f"ranking frame is missing column(s) {missing_columns}")
    names = list(frame.index.names) if isinstance(frame.index, pd.MultiIndex) else []
    missing_levels = [name for name in (DATE, TICKER) if name not in names]
    if missing_levels:
        raise ValueError(
            f"ranking frame needs a (date, ticker) MultiIndex; missing index level(s) {missing_levels}, "
            f"index names are {list(frame.index.names)}"
        )


def _daily(usable: pd.DataFrame, min_names: int) -> pd.DataFrame:
    """Per evaluated date: the DAILY_COLUMNS plus the `hits` and `decided` counts of the hit rate."""
    data = _kept_rows(usable, min_names)
    kept = data.index.get_level_values(DATE).unique()
    prediction = data[PREDICTION]
    label = data[LABEL]
    constant_prediction = _is_constant(prediction)
    rank_prediction = prediction.groupby(level=DATE).rank(method="average")
    rank_label = label.groupby(level=DATE).rank(method="average")
    spread = _top_minus_bottom(prediction, label)
    hits, decided = _sign_agreement(prediction, label)
    daily = pd.DataFrame(
        {
            "ic": _pearson(prediction, label),
            "rank_ic": _pearson(rank_prediction, rank_label),
            "top_minus_bottom": spread.where(~constant_prediction),
            "hit_rate": (hits / decided).where(decided > 0),
            "names": data.groupby(level=DATE).size().astype(np.int64),
            "hits": hits,
            "decided": decided,
        },
        index=pd.Index(kept, name=DATE),
    )
    return daily


def _kept_rows(usable: pd.DataFrame, min_names: int) -> pd.DataFrame:
    """The usable rows of the dates with at least `min_names` of them."""
    if min_names < 2:
        raise ValueError(f"min_names must be >= 2 (a correlation needs two names), got {min_names}")
    counts = usable.groupby(level=DATE).size()
    kept = counts.index[counts >= min_names]
    return usable.loc[usable.index.get_level_values(DATE).isin(kept)]


def _pearson(x: pd.Series[float], y: pd.Series[float]) -> pd.Series[float]:
    """Pearson correlation per date, NaN on a date where either side is constant."""
    dx = x - x.groupby(level=DATE).transform("mean")
    dy = y - y.groupby(level=DATE).transform("mean")
    sums = pd.DataFrame({"xy": dx * dy, "xx": dx * dx, "yy": dy * dy}).groupby(level=DATE).sum()
    correlation = sums["xy"] / (sums["xx"] * sums["yy"]).pow(0.5)
    undefined = _is_constant(x) | _is_constant(y)
    # Rounding can put a perfect correlation a hair outside [-1, 1].
    return correlation.clip(-1.0, 1.0).where(~undefined)


def _is_constant(values: pd.Series[float]) -> pd.Series[bool]:
    grouped = values.groupby(level=DATE)
    return grouped.max() == grouped.min()


def _top_minus_bottom(prediction: pd.Series[float], label: pd.Series[float]) -> pd.Series[float]:
    names = prediction.groupby(level=DATE).transform("size")
    # ceil(n / 10) in integers, so the decile size is an exact count of names.
    decile = (names + 9) // 10
    top = _decile_weights(prediction, decile, ascending=False)
    bottom = _decile_weights(prediction, decile, ascending=True)
    per_date_decile = decile.groupby(level=DATE).first()
    top_mean = (top * label).groupby(level=DATE).sum() / per_date_decile
    bottom_mean = (bottom * label).groupby(level=DATE).sum() / per_date_decile
    return top_mean - bottom_mean


def _decile_weights(prediction: pd.Series[float], decile: pd.Series[int], *, ascending: bool) -> pd.Series[float]:
    """Each row's share of a place among the first `decile` places in the given order.

    A tie group occupying places first..last gets the places of first..min(last, decile), split
    equally among its members, so the weights of a date sum to exactly `decile`.
    """
    grouped = prediction.groupby(level=DATE)
    first = grouped.rank(method="min", ascending=ascending)
    last = grouped.rank(method="max", ascending=ascending)
    covered = (last.clip(upper=decile) - first + 1.0).clip(lower=0.0)
    return covered / (last - first + 1.0)


def _sign_agreement(prediction: pd.Series[float], label: pd.Series[float]) -> tuple[pd.Series[int], pd.Series[int]]:
    """Per date, the hits and the decided names (both signs non-zero).

    Signs rather than the product: the product of two tiny numbers can underflow to zero.
    """
    agreement = pd.Series(np.sign(prediction.to_numpy()) * np.sign(label.to_numpy()), index=prediction.index)
    hits = (agreement > 0).astype(np.int64).groupby(level=DATE).sum()
    decided = (agreement != 0).astype(np.int64).groupby(level=DATE).sum()
    return hits, decided


def _mean(values: pd.Series[float]) -> float:
    valid = values.dropna()
    return float(valid.mean()) if len(valid) else math.nan


def _information_ratio(values: pd.Series[float]) -> float:
    valid = values.dropna()
    if len(valid) < 2:
        return math.nan
    deviation = float(valid.std(ddof=1))
    return float(valid.mean()) / deviation if deviation > 0 else math.nan


def _json_safe(value: float | int) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
