"""Permutation importance of a ranker on planted signals: the feature the label depends on drops the
most, a feature the model never reads drops by nothing, and shuffles stay within a date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autonomous.ranking.dataset import RANKER_FEATURES
from autonomous.ranking.importance import importance_without_late_joiners, permutation_importance
from autonomous.ranking.xgb import fit_booster, predict
from trading.settings import RankerSettings

SIGNAL, NOISE = "mom_21_rank", "rsi_14_rank"


def rows(seed: int, dates: int = 30, names: int = 50) -> tuple[pd.DataFrame, pd.Series]:
    """Random inputs; the label depends on SIGNAL alone (through a non-linear map), plus noise."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product(
        [pd.bdate_range("2020-01-01", periods=dates, freq="5B"), [f"T{i:02d}" for i in range(names)]],
        names=["date", "ticker"],
    )
    inputs = pd.DataFrame(rng.uniform(size=(len(index), len(RANKER_FEATURES))), index=index, columns=RANKER_FEATURES)
    labels = pd.Series(np.sin(3.0 * inputs[SIGNAL]) * 0.05 + rng.normal(scale=0.01, size=len(index)), index=index)
    return inputs, labels


def test_the_feature_the_label_depends_on_drops_the_most_and_a_noise_feature_about_nothing() -> None:
    train_inputs, train_labels = rows(seed=1)
    booster = fit_booster(train_inputs, train_labels, RankerSettings(n_estimators=40, max_depth=3))
    inputs, labels = rows(seed=2)  # held out: other names, other noise
    result = permutation_importance(inputs, labels, lambda frame: predict(booster, frame), repeats=4, seed=3)

    assert result.rank_ic > 0.5
    assert (result.dates, result.rows, result.repeats, result.seed) == (30, len(inputs), 4, 3)
    assert result.features[0].feature == SIGNAL
    assert result.features[0].drop > 0.4
    drops = {feature.feature: feature for feature in result.features}
    assert abs(drops[NOISE].drop) < 0.02
    assert all(abs(feature.drop) < 0.05 for feature in result.features[1:])
    assert result.top(3) == result.features[:3]
    assert {feature.feature for feature in result.features} == set(RANKER_FEATURES)


def test_a_feature_the_model_never_reads_drops_by_exactly_zero_and_the_seed_fixes_the_result() -> None:
    inputs, labels = rows(seed=4)

    def reads_signal_only(frame: pd.DataFrame) -> pd.Series:
        return np.sin(3.0 * frame[SIGNAL]).rename("prediction")

    first = permutation_importance(inputs, labels, reads_signal_only, repeats=3, seed=5)
    again = permutation_importance(inputs, labels, reads_signal_only, repeats=3, seed=5)
    assert first == again
    drops = {feature.feature: feature for feature in first.features}
    assert drops[NOISE].drop == 0.0
    assert drops[NOISE].drop_std == 0.0
    assert drops[SIGNAL].drop > 0.5
    assert drops[SIGNAL].drop_std > 0.0  # the repeats shuffle differently


def test_a_shuffle_moves_values_between_names_of_the_same_date_only() -> None:
    inputs, labels = rows(seed=6, dates=5, names=20)
    seen: list[pd.DataFrame] = []

    def recording(frame: pd.DataFrame) -> pd.Series:
        seen.append(frame)
        return frame[SIGNAL].rename("prediction")

    permutation_importance(inputs[[SIGNAL, NOISE]], labels, recording, repeats=2, seed=7)
    shuffled = seen[1:]  # the first call is the unshuffled baseline
    assert len(shuffled) == 4
    for frame in shuffled:
        changed = [column for column in frame.columns if not frame[column].equals(inputs[column])]
        assert len(changed) == 1
        by_date = frame[changed[0]].groupby(level="date")
        original = inputs[changed[0]].groupby(level="date")
        for (day, values), (_, before) in zip(by_date, original, strict=True):
            assert sorted(values) == sorted(before), day


def test_labels_on_other_rows_and_no_repeats_are_refused() -> None:
    inputs, labels = rows(seed=8, dates=3)
    with pytest.raises(ValueError, match="rows"):
        permutation_importance(inputs, labels.iloc[1:], lambda frame: frame[SIGNAL])
    with pytest.raises(ValueError, match="repeats"):
        permutation_importance(inputs, labels, lambda frame: frame[SIGNAL], repeats=0)


SPOTTER = "dollar_volume_20_rank"  # high for the late joiners: a feature that learned to spot them


def rows_with_late_joiners(seed: int, dates: int = 20, names: int = 60) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """The last 20 names are late joiners: their labels are high and SPOTTER is high for them only; among
    the other names the label follows SIGNAL. The flag marks the rows with fundamentals."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product(
        [pd.bdate_range("2020-01-01", periods=dates, freq="5B"), [f"T{i:02d}" for i in range(names)]],
        names=["date", "ticker"],
    )
    late = index.get_level_values("ticker").isin([f"T{i:02d}" for i in range(names - 20, names)])
    columns = [SIGNAL, SPOTTER, NOISE]  # enough to tell the two importances apart, and quick to shuffle
    inputs = pd.DataFrame(rng.uniform(size=(len(index), len(columns))), index=index, columns=columns)
    inputs[SPOTTER] = np.where(late, 0.5, 0.0) + rng.uniform(0.0, 0.5, size=len(index))
    labels = pd.Series(
        np.where(late, 0.2, 0.05 * inputs[SIGNAL]) + rng.normal(scale=0.005, size=len(index)), index=index
    )
    return inputs, labels, pd.Series(~late, index=index, name="has_fundamentals")


def spotter_and_signal(frame: pd.DataFrame) -> pd.Series:
    return (3.0 * frame[SPOTTER] + frame[SIGNAL]).rename("prediction")


def test_a_feature_that_only_spots_the_late_joiners_matters_on_every_name_and_not_without_them() -> None:
    inputs, labels, has_fundamentals = rows_with_late_joiners(seed=8)
    every = permutation_importance(inputs, labels, spotter_and_signal, repeats=3, seed=1)
    split = importance_without_late_joiners(inputs, labels, has_fundamentals, spotter_and_signal, repeats=3, seed=1)

    assert every.features[0].feature == SPOTTER
    assert split.late_joiners.verdict == "informative"
    assert split.late_joiners.late_joiner_rows == 20 * 20
    assert split.same_dates is None  # fundamentals from the first date: the same dates already
    without = split.importance
    assert without is not None
    assert without == permutation_importance(
        inputs[has_fundamentals.to_numpy()], labels[has_fundamentals], spotter_and_signal, repeats=3, seed=1
    )
    assert without.rows == 40 * 20
    # Among the names with fundamentals the label follows SIGNAL, and SPOTTER is noise that shuffling leaves so.
    assert every.features[0].drop > 0.5
    assert without.features[0].feature == SIGNAL
    assert without.features[0].drop > 0.4
    assert abs({feature.feature: feature.drop for feature in without.features}[SPOTTER]) < 0.15
    stored = split.as_dict()
    assert (stored["verdict"], stored["late_joiner_rows"], stored["rows"]) == ("informative", 400, 800)
    assert stored["features"] == [feature.as_dict() for feature in without.features]


def test_each_shuffle_without_late_joiners_stays_among_the_names_with_fundamentals_of_a_date() -> None:
    inputs, labels, has_fundamentals = rows_with_late_joiners(seed=9, dates=4)
    seen: list[pd.DataFrame] = []

    def recording(frame: pd.DataFrame) -> pd.Series:
        seen.append(frame)
        return spotter_and_signal(frame)

    importance_without_late_joiners(inputs[[SIGNAL, SPOTTER]], labels, has_fundamentals, recording, repeats=2)
    kept = inputs[has_fundamentals.to_numpy()]
    assert len(seen) == 1 + 2 * 2
    for frame in seen:
        assert frame.index.equals(kept.index)
        for column in (SIGNAL, SPOTTER):
            shuffled, before = frame[column].groupby(level="date"), kept[column].groupby(level="date")
            for (day, values), (_, original) in zip(shuffled, before, strict=True):
                assert sorted(values) == sorted(original), day


def test_without_an_informative_split_there_is_one_importance_and_mid_window_fundamentals_add_the_same_dates() -> None:
    inputs, labels, has_fundamentals = rows_with_late_joiners(seed=10)
    for flags, verdict in (
        (has_fundamentals | True, "all_have_fundamentals"),
        (has_fundamentals & False, "none_has_fundamentals"),
    ):
        split = importance_without_late_joiners(inputs, labels, flags, spotter_and_signal, repeats=1)
        assert split.late_joiners.verdict == verdict
        assert (split.importance, split.same_dates) == (None, None)
        assert split.as_dict() == split.late_joiners.as_dict()

    dates = inputs.index.get_level_values("date")
    before_snapshot = dates < dates.unique()[5]
    split = importance_without_late_joiners(
        inputs, labels, has_fundamentals & ~before_snapshot, spotter_and_signal, repeats=2, seed=4
    )
    assert split.late_joiners.starts_later
    assert split.importance is not None
    assert split.importance.dates == 15
    assert split.same_dates == permutation_importance(
        inputs[~before_snapshot], labels[~before_snapshot], spotter_and_signal, repeats=2, seed=4
    )
    assert split.as_dict()["every_name_same_dates"]["dates"] == 15

    with pytest.raises(ValueError, match="inputs"):
        importance_without_late_joiners(inputs, labels, has_fundamentals.iloc[1:], spotter_and_signal)
