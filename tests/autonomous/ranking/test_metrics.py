from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autonomous.ranking.metrics import (
    RankingMetrics,
    cross_sectional_ic,
    newey_west_t_stat,
    rank_ic_by_date,
    ranking_metrics,
)

DAY = pd.Timestamp("2024-01-02")


def _cross_section(
    prediction: list[float] | np.ndarray, label: list[float] | np.ndarray, date: pd.Timestamp = DAY
) -> pd.DataFrame:
    tickers = [f"T{i:03d}" for i in range(len(prediction))]
    index = pd.MultiIndex.from_product([[date], tickers], names=["date", "ticker"])
    return pd.DataFrame({"prediction": np.asarray(prediction, float), "label": np.asarray(label, float)}, index=index)


def _random_panel(dates: int, names: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2020-01-01", periods=dates)
    return pd.concat([_cross_section(rng.normal(size=names), rng.normal(size=names), day) for day in days])


def _only_row(frame: pd.DataFrame) -> pd.Series:
    daily = cross_sectional_ic(frame)
    assert len(daily) == 1
    return daily.iloc[0]


# --- information coefficients --------------------------------------------------------------


def test_a_perfect_ranking_has_a_rank_ic_of_one() -> None:
    label = np.linspace(-0.1, 0.1, 20)
    assert _only_row(_cross_section(label * 3 + 1, label))["rank_ic"] == pytest.approx(1.0)


def test_a_reversed_ranking_has_a_rank_ic_of_minus_one() -> None:
    label = np.linspace(-0.1, 0.1, 20)
    row = _only_row(_cross_section(-label, label))
    assert row["rank_ic"] == pytest.approx(-1.0)
    assert row["ic"] == pytest.approx(-1.0)


def test_a_random_ranking_has_a_rank_ic_near_zero() -> None:
    metrics = ranking_metrics(_random_panel(dates=200, names=50, seed=7))
    assert metrics.dates == 200
    # The standard error of the mean of 200 daily rank ICs over 50 names is about 0.01.
    assert abs(metrics.rank_ic) < 0.04
    assert abs(metrics.ic) < 0.04


def test_a_monotone_non_linear_map_keeps_the_rank_ic_at_one_while_the_ic_falls() -> None:
    prediction = np.linspace(0.0, 1.0, 30)
    row = _only_row(_cross_section(prediction, np.exp(8.0 * prediction)))
    assert row["rank_ic"] == pytest.approx(1.0)
    assert row["ic"] < 0.9


def test_the_ic_and_rank_ic_match_pandas_pearson_and_spearman_date_by_date() -> None:
    panel = _random_panel(dates=6, names=25, seed=3)
    # Ties in both columns, so the average-rank convention is exercised.
    panel["prediction"] = panel["prediction"].round(1)
    panel["label"] = panel["label"].round(1)
    daily = cross_sectional_ic(panel)
    for day, group in panel.groupby(level="date"):
        assert daily.loc[day, "ic"] == pytest.approx(group["prediction"].corr(group["label"]))
        assert daily.loc[day, "rank_ic"] == pytest.approx(group["prediction"].corr(group["label"], method="spearman"))


@given(seed=st.integers(0, 10_000), names=st.integers(2, 30), missing=st.floats(0.0, 0.6))
@settings(max_examples=40, deadline=None)
def test_the_rank_ic_alone_is_the_rank_ic_column_of_the_full_daily_table(seed: int, names: int, missing: float) -> None:
    panel = _random_panel(dates=5, names=names, seed=seed).round(1)
    rng = np.random.default_rng(seed + 1)
    panel.loc[rng.uniform(size=len(panel)) < missing, "prediction"] = np.nan
    panel.loc[panel.index.get_level_values("ticker") == "T000", "label"] = np.inf
    expected = cross_sectional_ic(panel, min_names=5)["rank_ic"]
    pd.testing.assert_series_equal(rank_ic_by_date(panel, min_names=5), expected, check_freq=False)


# --- top minus bottom ----------------------------------------------------------------------


def test_top_minus_bottom_is_the_mean_label_of_the_top_decile_minus_the_bottom_decile() -> None:
    # 12 names: a decile is ceil(1.2) = 2 names. Top predictions 12 and 11, bottom 1 and 2.
    prediction = list(range(1, 13))
    label = [-0.05, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.03, 0.07]
    expected = (0.03 + 0.07) / 2 - (-0.05 + 0.01) / 2
    assert _only_row(_cross_section(prediction, label))["top_minus_bottom"] == pytest.approx(expected)


@pytest.mark.parametrize(("names", "decile"), [(10, 1), (11, 2), (30, 3), (31, 4)])
def test_a_decile_is_the_rounded_up_tenth_of_the_names(names: int, decile: int) -> None:
    # With prediction = label = 0..n-1 the spread is (n - 1 - (k - 1)/2) - (k - 1)/2 = n - k.
    values = np.arange(names, dtype=float)
    assert _only_row(_cross_section(values, values))["top_minus_bottom"] == pytest.approx(names - decile)


def test_tied_predictions_on_the_decile_boundary_share_its_places() -> None:
    # 10 names, one place in the top decile, two names tied for it: each gets half of it.
    prediction = [0, 1, 2, 3, 4, 5, 6, 7, 9, 9]
    label = [0.0] * 8 + [0.01, 0.03]
    assert _only_row(_cross_section(prediction, label))["top_minus_bottom"] == pytest.approx(0.02)
    reordered = _cross_section(prediction[::-1], label[::-1])
    assert _only_row(reordered)["top_minus_bottom"] == pytest.approx(0.02)


@settings(max_examples=40, deadline=None)
@given(
    prediction=st.lists(st.floats(-1, 1, allow_nan=False), min_size=10, max_size=60, unique=True),
    seed=st.integers(0, 2**32 - 1),
)
def test_top_minus_bottom_matches_sorting_the_names(prediction: list[float], seed: int) -> None:
    label = np.random.default_rng(seed).normal(size=len(prediction))
    frame = _cross_section(prediction, label)
    decile = math.ceil(len(prediction) / 10)
    ordered = frame.sort_values("prediction")["label"]
    expected = ordered.iloc[-decile:].mean() - ordered.iloc[:decile].mean()
    assert _only_row(frame)["top_minus_bottom"] == pytest.approx(expected, abs=1e-12)


# --- hit rate --------------------------------------------------------------------------------


def test_the_hit_rate_counts_matching_signs_and_leaves_zeros_out() -> None:
    # Hits: rows 0, 1, 2. Misses: rows 3, 4. Zeros (neither): rows 5, 6, 7, 8, 9.
    prediction = [0.1, -0.2, 0.3, 0.4, -0.5, 0.0, 0.2, 0.0, -0.1, 0.3]
    label = [0.02, -0.01, 0.05, -0.03, 0.04, 0.01, 0.0, 0.0, 0.0, 0.0]
    assert _only_row(_cross_section(prediction, label))["hit_rate"] == pytest.approx(3 / 5)


def test_the_summary_hit_rate_is_pooled_over_rows_not_averaged_over_dates() -> None:
    # Day one: 10 decided names, all hits. Day two: 2 decided names, both misses, 8 zero labels.
    first = _cross_section(np.arange(1, 11), np.full(10, 0.01), DAY)
    second = _cross_section(np.arange(1, 11), [-0.01, -0.01] + [0.0] * 8, DAY + pd.Timedelta(days=1))
    frame = pd.concat([first, second])
    assert cross_sectional_ic(frame)["hit_rate"].tolist() == [1.0, 0.0]
    assert ranking_metrics(frame).hit_rate == pytest.approx(10 / 12)


# --- undefined and skipped dates ------------------------------------------------------------


def test_a_date_with_a_constant_prediction_has_a_nan_ic_and_is_left_out_of_the_means() -> None:
    label = np.linspace(-0.1, 0.1, 12)
    good = _cross_section(label, label, DAY)
    constant = _cross_section(np.full(12, 0.3), label, DAY + pd.Timedelta(days=1))
    frame = pd.concat([good, constant])
    daily = cross_sectional_ic(frame)
    assert daily[["ic", "rank_ic", "top_minus_bottom"]].iloc[1].isna().all()
    metrics = ranking_metrics(frame)
    assert metrics.dates == 2
    assert metrics.rank_ic == pytest.approx(1.0)
    assert metrics.top_minus_bottom == pytest.approx(daily["top_minus_bottom"].iloc[0])


def test_a_date_with_a_constant_label_has_a_nan_ic() -> None:
    row = _only_row(_cross_section(np.arange(12.0), np.full(12, 0.01)))
    assert math.isnan(row["ic"])
    assert math.isnan(row["rank_ic"])
    assert row["top_minus_bottom"] == pytest.approx(0.0)


def test_a_date_with_fewer_usable_names_than_min_names_is_skipped_and_counted() -> None:
    full = _cross_section(np.arange(12.0), np.arange(12.0), DAY)
    thin = _cross_section(np.arange(12.0), np.arange(12.0), DAY + pd.Timedelta(days=1))
    # Three missing labels and one infinite prediction leave 8 usable rows, under the default 10.
    thin.iloc[:3, thin.columns.get_loc("label")] = np.nan
    thin.iloc[3, thin.columns.get_loc("prediction")] = np.inf
    frame = pd.concat([full, thin])
    assert cross_sectional_ic(frame).index.tolist() == [DAY]
    metrics = ranking_metrics(frame)
    assert (metrics.dates, metrics.skipped_dates, metrics.rows) == (1, 1, 12)
    assert ranking_metrics(frame, min_names=8).dates == 2


def test_rows_with_a_missing_prediction_or_label_are_ignored() -> None:
    panel = _random_panel(dates=3, names=20, seed=5)
    holed = panel.copy()
    holed.iloc[[0, 21, 45], holed.columns.get_loc("prediction")] = np.nan
    holed.iloc[[5, 30], holed.columns.get_loc("label")] = np.nan
    expected = cross_sectional_ic(panel.drop(panel.index[[0, 21, 45, 5, 30]]))
    pd.testing.assert_frame_equal(cross_sectional_ic(holed), expected)
    assert cross_sectional_ic(holed)["names"].tolist() == [18, 18, 19]


@pytest.mark.parametrize(
    "frame",
    [
        _cross_section([], []),
        _cross_section(np.arange(12.0), np.full(12, np.nan)),
    ],
    ids=["no rows", "no labels yet"],
)
def test_an_input_without_a_usable_date_gives_nan_metrics_rather_than_an_error(frame: pd.DataFrame) -> None:
    metrics = ranking_metrics(frame, overlap_lags=3)
    assert (metrics.dates, metrics.rows) == (0, 0)
    assert math.isnan(metrics.rank_ic)
    assert math.isnan(metrics.rank_ic_t_stat)
    assert math.isnan(metrics.hit_rate)
    assert cross_sectional_ic(frame).empty


# --- summary ----------------------------------------------------------------------------------


def test_icir_is_the_mean_over_the_sample_standard_deviation_of_the_daily_ic() -> None:
    panel = _random_panel(dates=8, names=15, seed=11)
    daily = cross_sectional_ic(panel)
    metrics = ranking_metrics(panel)
    assert metrics.icir == pytest.approx(daily["ic"].mean() / daily["ic"].std(ddof=1))
    assert metrics.rank_icir == pytest.approx(daily["rank_ic"].mean() / daily["rank_ic"].std(ddof=1))


def test_the_rank_ic_t_stat_uses_the_overlap_lags() -> None:
    panel = _random_panel(dates=40, names=15, seed=13)
    rank_ics = cross_sectional_ic(panel)["rank_ic"].to_numpy()
    assert ranking_metrics(panel, overlap_lags=4).rank_ic_t_stat == pytest.approx(newey_west_t_stat(rank_ics, 4))
    assert ranking_metrics(panel, overlap_lags=4).rank_ic_t_stat != pytest.approx(newey_west_t_stat(rank_ics, 0))


def test_as_dict_gives_json_safe_values_with_nan_as_none() -> None:
    metrics = RankingMetrics(
        dates=3,
        skipped_dates=1,
        rows=30,
        ic=0.05,
        rank_ic=0.04,
        icir=math.nan,
        rank_icir=0.5,
        rank_ic_t_stat=math.nan,
        top_minus_bottom=0.01,
        hit_rate=0.52,
    )
    as_dict = metrics.as_dict()
    assert as_dict["icir"] is None
    assert as_dict["rank_ic_t_stat"] is None
    assert as_dict["dates"] == 3
    assert as_dict["rank_ic"] == 0.04
    assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict


# --- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["prediction", "label"])
def test_a_frame_without_a_required_column_raises_naming_it(column: str) -> None:
    frame = _cross_section(np.arange(12.0), np.arange(12.0)).drop(columns=column)
    with pytest.raises(ValueError, match=f"missing column.*{column}"):
        ranking_metrics(frame)


def test_a_frame_without_the_date_ticker_index_raises_naming_the_missing_level() -> None:
    frame = _cross_section(np.arange(12.0), np.arange(12.0))
    with pytest.raises(ValueError, match=r"missing index level.*'ticker'"):
        cross_sectional_ic(frame.droplevel("ticker"))
    with pytest.raises(ValueError, match=r"missing index level.*'date', 'ticker'"):
        cross_sectional_ic(frame.reset_index(drop=True))


def test_invalid_min_names_and_overlap_lags_raise() -> None:
    frame = _cross_section(np.arange(12.0), np.arange(12.0))
    with pytest.raises(ValueError, match="min_names must be >= 2"):
        ranking_metrics(frame, min_names=1)
    with pytest.raises(ValueError, match="overlap_lags must be >= 0"):
        ranking_metrics(frame, overlap_lags=-1)


# --- Newey-West ------------------------------------------------------------------------------


def test_with_no_lags_the_t_stat_is_the_mean_over_the_population_standard_error() -> None:
    # [1, 2, 4]: mean 7/3, population variance 14/9, so t = (7/3) / sqrt(14/9 / 3) = 7 * sqrt(3/14).
    assert newey_west_t_stat(np.array([1.0, 2.0, 4.0]), 0) == pytest.approx(7 * math.sqrt(3 / 14))


def test_a_hand_computed_one_lag_newey_west_t_stat() -> None:
    # Deviations -4/3, -1/3, 5/3: g0 = 14/9, g1 = (4/9 - 5/9) / 3 = -1/27, weight 1/2.
    # Long-run variance 14/9 - 1/27 = 41/27; t = (7/3) / sqrt(41/81) = 21 / sqrt(41).
    assert newey_west_t_stat(np.array([1.0, 2.0, 4.0]), 1) == pytest.approx(21 / math.sqrt(41))


@pytest.mark.parametrize("lags", [1, 4, 10])
def test_positive_autocorrelation_lowers_the_t_stat_below_the_plain_one(lags: int) -> None:
    # AR(1) with coefficient 0.8 around a positive mean: every short-lag autocovariance is positive.
    rng = np.random.default_rng(17)
    values = np.empty(500)
    values[0] = 0.0
    for t in range(1, len(values)):
        values[t] = 0.8 * values[t - 1] + rng.normal()
    values += 0.5
    plain = newey_west_t_stat(values, 0)
    assert plain > 0
    assert newey_west_t_stat(values, lags) < 0.8 * plain


@given(values=st.lists(st.floats(-1, 1, allow_nan=False), min_size=3, max_size=50), lags=st.integers(0, 60))
def test_the_newey_west_t_stat_has_the_sign_of_the_mean(values: list[float], lags: int) -> None:
    array = np.array(values)
    t_stat = newey_west_t_stat(array, lags)
    if np.ptp(array) == 0:
        assert math.isnan(t_stat)
    elif not math.isnan(t_stat) and abs(array.mean()) > 1e-9:
        assert np.sign(t_stat) == np.sign(array.mean())


@pytest.mark.parametrize("values", [[], [0.3], [0.2, 0.2, 0.2]], ids=["empty", "one value", "constant"])
def test_too_few_values_or_zero_variance_give_nan(values: list[float]) -> None:
    assert math.isnan(newey_west_t_stat(np.array(values, dtype=float), 2))


def test_negative_lags_or_missing_values_raise() -> None:
    with pytest.raises(ValueError, match="lags must be >= 0"):
        newey_west_t_stat(np.array([1.0, 2.0]), -1)
    with pytest.raises(ValueError, match="NaN or infinite"):
        newey_west_t_stat(np.array([1.0, np.nan, 2.0]), 1)
