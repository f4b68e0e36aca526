"""The ranker's options (models.ranker): ranking objectives over date groups, monotone constraints, seed
ensembles in one artifact, and the reuse key they enter (no database)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autonomous.ranking.baselines import FACTOR_BASELINES
from autonomous.ranking.feature_sets import FEATURE_SETS
from autonomous.ranking.training import ranker_training_parameters
from autonomous.ranking.xgb import (
    MONOTONE,
    RankerModel,
    booster_from_bytes,
    booster_parameters,
    booster_to_bytes,
    fit_booster,
    fit_ranker,
    graded_labels,
    predict,
    recorded_boosters,
)
from tests.autonomous.ranking.momentum_rows import rows
from trading.settings import RankerSettings

SMALL = RankerSettings(n_estimators=20, max_depth=3, min_child_weight=1.0)


def rank_correlation(a: pd.Series, b: pd.Series) -> float:
    return float(np.corrcoef(a.rank(), b.rank())[0, 1])


@pytest.mark.parametrize("objective", ["rank:pairwise", "rank:ndcg"])
def test_a_ranking_objective_learns_each_dates_order_and_says_it_predicts_no_return(objective: str) -> None:
    inputs, labels = rows(seed=1)
    model = fit_ranker(inputs, labels, SMALL.model_copy(update={"objective": objective}))

    assert model.objective == objective
    assert not model.predicts_returns
    assert rank_correlation(predict(model, inputs), inputs["mom_21_rank"]) > 0.7


def test_rows_out_of_date_order_are_grouped_by_date_before_a_ranking_fit() -> None:
    inputs, labels = rows(seed=2)
    shuffled = np.random.default_rng(0).permutation(len(inputs))
    settings = SMALL.model_copy(update={"objective": "rank:pairwise"})

    # xgboost refuses query groups that are not contiguous and ascending; the fit sorts the rows first.
    model = fit_ranker(inputs.iloc[shuffled], labels.iloc[shuffled], settings)

    assert rank_correlation(predict(model, inputs), inputs["mom_21_rank"]) > 0.7


def test_graded_labels_cut_each_date_into_its_own_equal_quantile_bins() -> None:
    _, labels = rows(dates=3, names=50)
    labels.iloc[:50] += 10.0  # the first date's level does not move its grades

    grades = graded_labels(labels, 5)

    for _, day in grades.groupby(level="date"):
        assert sorted(day.value_counts().to_dict().items()) == [(float(g), 10) for g in range(5)]
    first = labels.iloc[:50]
    assert grades.iloc[:50].to_numpy().tolist() == graded_labels(first - 10.0, 5).to_numpy().tolist()
    assert grades[first.idxmax()] == 4.0
    assert grades[first.idxmin()] == 0.0


def test_the_baseline_constraints_are_the_factor_baselines_own_inputs_and_directions() -> None:
    assert MONOTONE["baselines"] == {column: int(sign) for column, sign in FACTOR_BASELINES.values()}
    assert MONOTONE["baselines"] == {"mom_12_1_rank": 1, "vol_60_rank": -1, "dist_sma200_rank": 1}
    assert MONOTONE["baselines"].items() <= MONOTONE["factors"].items()
    assert MONOTONE["none"] == {}
    # Every constrained input is read by every feature-set variant, so the constraint always applies.
    for variant in FEATURE_SETS:
        assert set(MONOTONE["factors"]) <= set(variant.features)


def hump_rows(seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    """Labels that rise and then fall in every constrained input: an unconstrained fit follows the hump."""
    inputs, _ = rows(dates=20, names=50, seed=seed)
    rng = np.random.default_rng(seed)
    hump = sum(-((inputs[name] - 0.5) ** 2) for name in MONOTONE["factors"])
    return inputs, pd.Series(hump + rng.normal(scale=0.01, size=len(inputs)), index=inputs.index)


def sweep_of(inputs: pd.DataFrame, feature: str, points: int = 21) -> pd.DataFrame:
    """Each of a few rows repeated with `feature` stepped from 0 to 1, the other inputs held."""
    base = inputs.iloc[:: max(1, len(inputs) // 15)]
    grid = np.linspace(0.0, 1.0, points)
    swept = base.loc[base.index.repeat(points)].copy()
    swept[feature] = np.tile(grid, len(base))
    swept.index = pd.MultiIndex.from_product([range(len(base)), range(points)], names=["date", "ticker"])
    return swept


def steps_along(model: RankerModel, inputs: pd.DataFrame, feature: str) -> np.ndarray:
    """The prediction's change between neighbouring points of each row's sweep of `feature`."""
    predictions = predict(model, sweep_of(inputs, feature)).unstack("ticker").to_numpy()
    return np.diff(predictions, axis=1)


@pytest.mark.parametrize("monotone", ["baselines", "factors"])
def test_a_constrained_model_is_monotone_in_its_constrained_inputs_in_their_direction(monotone: str) -> None:
    inputs, labels = hump_rows()
    model = fit_ranker(inputs, labels, SMALL.model_copy(update={"monotone": monotone, "ensemble": 2}))

    for feature, sign in MONOTONE[monotone].items():
        assert (sign * steps_along(model, inputs, feature) >= -1e-7).all(), feature


def test_without_constraints_the_same_rows_give_a_model_that_is_not_monotone() -> None:
    inputs, labels = hump_rows()
    model = fit_ranker(inputs, labels, SMALL)

    steps = steps_along(model, inputs, "mom_12_1_rank")
    assert (steps > 1e-4).any()
    assert (steps < -1e-4).any()


def test_an_ensemble_averages_boosters_fitted_with_consecutive_seeds() -> None:
    inputs, labels = rows()
    settings = SMALL.model_copy(update={"ensemble": 3, "seed": 11})

    model = fit_ranker(inputs, labels, settings)

    members = [predict(fit_booster(inputs, labels, settings, seed=seed), inputs) for seed in (11, 12, 13)]
    assert len(model.boosters) == 3
    np.testing.assert_allclose(predict(model, inputs), np.mean(members, axis=0), rtol=1e-6)
    assert not np.allclose(members[0], members[1])


def test_an_ensemble_is_one_artifact_that_loads_back_to_the_same_predictions_and_bytes() -> None:
    inputs, labels = rows()
    settings = SMALL.model_copy(update={"ensemble": 3, "objective": "rank:pairwise"})
    model = fit_ranker(inputs, labels, settings)

    artifact = booster_to_bytes(model)
    loaded = booster_from_bytes(artifact)

    assert artifact.startswith(b"PK")  # a zip of the members
    assert len(loaded.boosters) == 3
    assert loaded.objective == "rank:pairwise"
    pd.testing.assert_series_equal(predict(loaded, inputs), predict(model, inputs))
    assert booster_to_bytes(fit_ranker(inputs, labels, settings)) == artifact  # same fit, same sha256


def test_a_single_booster_keeps_the_bytes_stored_before_ensembles_and_loads_as_a_regression() -> None:
    inputs, labels = rows()
    booster = fit_booster(inputs, labels, SMALL)
    old_artifact = bytes(booster.save_raw(raw_format="ubj"))  # how every ranker was stored before

    loaded = booster_from_bytes(old_artifact)

    assert booster_to_bytes(fit_ranker(inputs, labels, SMALL)) == old_artifact
    assert len(loaded.boosters) == 1
    assert loaded.objective == "reg:squarederror"
    assert loaded.predicts_returns
    pd.testing.assert_series_equal(predict(loaded, inputs), predict(booster, inputs))


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def matches(stored: dict[str, Any], key: dict[str, Any]) -> bool:
    """trading.store.models.find_model's rule: the stored parameters hold every key's entry, equal."""
    stored, key = as_json(stored), as_json(key)
    return all(name in stored and stored[name] == value for name, value in key.items())


def stored_parameters(settings: RankerSettings, horizon: int = 21) -> dict[str, Any]:
    """What train_ranker records for a ranker of these settings."""
    return {
        **settings.model_dump(),
        "horizon": horizon,
        "sample_step": settings.sample_step,
        "booster": recorded_boosters(settings),
    }


# A default ranker's parameters as stored before the objective, constraints and ensembles existed.
OLD_DEFAULT: dict[str, Any] = {
    "horizon": 21,
    "sample_step": 5,
    "folds": 4,
    "n_estimators": 200,
    "max_depth": 4,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 50.0,
    "label_clip_quantile": 0.01,
    "seed": 7,
    "booster": {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "max_depth": 4,
        "eta": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 50.0,
        "seed": 7,
        "nthread": 1,
        "verbosity": 0,
    },
}


def test_the_default_settings_key_still_finds_rankers_stored_before_the_new_options() -> None:
    key = ranker_training_parameters(RankerSettings(), 21)

    assert as_json(key) == OLD_DEFAULT
    assert booster_parameters(RankerSettings()) == OLD_DEFAULT["booster"]
    assert matches(OLD_DEFAULT, key)
    assert matches(stored_parameters(RankerSettings()), key)


@pytest.mark.parametrize(
    "changes",
    [
        {"objective": "rank:pairwise"},
        {"objective": "rank:ndcg"},
        {"objective": "rank:ndcg", "rank_label_bins": 3},
        {"monotone": "baselines"},
        {"monotone": "factors"},
        {"ensemble": 5},
    ],
)
def test_a_ranker_of_another_option_and_the_default_never_stand_in_for_each_other(changes: dict[str, Any]) -> None:
    other = RankerSettings().model_copy(update=changes)
    key = ranker_training_parameters(other, 21)

    assert matches(stored_parameters(other), key)
    assert not matches(stored_parameters(RankerSettings()), key)
    assert not matches(OLD_DEFAULT, key)
    assert not matches(stored_parameters(other), ranker_training_parameters(RankerSettings(), 21))


def test_the_label_bins_enter_the_key_of_rank_ndcg_only() -> None:
    assert "rank_label_bins" not in ranker_training_parameters(RankerSettings(rank_label_bins=3), 21)
    ndcg = ranker_training_parameters(RankerSettings(objective="rank:ndcg"), 21)
    assert ndcg["rank_label_bins"] == 5
    assert not matches(stored_parameters(RankerSettings(objective="rank:ndcg", rank_label_bins=3)), ndcg)
