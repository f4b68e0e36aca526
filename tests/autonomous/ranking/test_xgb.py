"""The booster around the ranker: label clipping, fitting, bytes, predictions (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autonomous.ranking.dataset import RANKER_FEATURES
from autonomous.ranking.xgb import (
    booster_from_bytes,
    booster_to_bytes,
    clipped_labels,
    fit_booster,
    overlap_lags,
    predict,
)
from tests.autonomous.ranking.momentum_rows import rows
from trading.errors import DataError
from trading.settings import RankerSettings

SETTINGS = RankerSettings(n_estimators=20, max_depth=3)


def test_labels_are_clipped_to_each_dates_own_quantiles() -> None:
    _, labels = rows()
    labels.iloc[3] = 5.0  # a takeover jump on the first date
    clipped = clipped_labels(labels, 0.05)
    for day, values in labels.groupby(level="date"):
        low, high = values.quantile(0.05), values.quantile(0.95)
        np.testing.assert_allclose(clipped.xs(day, level="date", drop_level=False), values.clip(low, high))
    assert clipped.iloc[3] < 1.0
    assert clipped_labels(labels, 0.0) is labels


def test_a_fitted_booster_round_trips_through_its_bytes_and_predicts_the_same() -> None:
    inputs, labels = rows()
    booster = fit_booster(inputs, labels, SETTINGS)
    again = booster_from_bytes(booster_to_bytes(booster))
    pd.testing.assert_series_equal(predict(booster, inputs), predict(again, inputs))
    assert booster_to_bytes(fit_booster(inputs, labels, SETTINGS)) == booster_to_bytes(booster)


def test_the_booster_learns_the_direction_of_a_planted_signal() -> None:
    inputs, labels = rows(seed=1)
    predictions = predict(fit_booster(inputs, labels, SETTINGS), inputs)
    assert np.corrcoef(predictions, inputs["mom_21_rank"])[0, 1] > 0.8


def test_inputs_in_another_order_or_without_rows_are_refused() -> None:
    inputs, labels = rows()
    with pytest.raises(ValueError, match="in that order"):
        fit_booster(inputs[list(reversed(RANKER_FEATURES))], labels, SETTINGS)
    booster = fit_booster(inputs, labels, SETTINGS)
    with pytest.raises(ValueError, match="lack the model's features"):
        predict(booster, inputs.drop(columns=[RANKER_FEATURES[0]]))
    with pytest.raises(DataError, match="no labelled rows"):
        fit_booster(inputs.iloc[:0], labels.iloc[:0], SETTINGS)


@pytest.mark.parametrize(("horizon", "step", "lags"), [(21, 5, 4), (21, 21, 0), (21, 1, 20), (1, 5, 0), (10, 5, 1)])
def test_overlap_lags_count_the_later_sample_dates_that_share_label_sessions(
    horizon: int, step: int, lags: int
) -> None:
    assert overlap_lags(horizon, step) == lags
