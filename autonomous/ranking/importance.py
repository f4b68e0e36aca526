"""Permutation importance of a ranker: how much its mean daily rank IC drops when one input is shuffled
across the names of each date, so that input no longer says anything about which name is which.

Shuffling within a date (not across the whole window) keeps each date's distribution of the input, and
the inputs are percentile ranks among a date's names, so a shuffled column still looks like a real one:
what is destroyed is only the link between the input and the name. A drop near zero says the model does
not use the input on this window (or uses it for nothing that orders the names); a negative drop says
the input hurt the ranking there. Each input is shuffled `repeats` times with a generator seeded once,
so the result is reproducible; the mean and the sample standard deviation of the drop are reported.

Pure: frames and a prediction function in, a dataclass out (the database glue is
autonomous/ranking/explain.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autonomous.ranking.metrics import DATE, LABEL, PREDICTION, rank_ic_by_date

Predictor = Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class FeatureDrop:
    """The drop in mean daily rank IC when `feature` is shuffled: mean and sample std over the repeats."""

    feature: str
    drop: float
    drop_std: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "drop": _json_safe(self.drop), "drop_std": _json_safe(self.drop_std)}


@dataclass(frozen=True)
class PermutationImportance:
    """The unshuffled mean daily rank IC, and each input's drop, the largest first."""

    rank_ic: float
    dates: int
    rows: int
    repeats: int
    seed: int
    features: list[FeatureDrop]

    def top(self, count: int) -> list[FeatureDrop]:
        return self.features[:count]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank_ic": _json_safe(self.rank_ic),
            "dates": self.dates,
            "rows": self.rows,
            "repeats": self.repeats,
            "seed": self.seed,
            "features": [feature.as_dict() for feature in self.features],
        }


def permutation_importance(
    inputs: pd.DataFrame,
    labels: pd.Series,
    predict: Predictor,
    *,
    repeats: int = 5,
    seed: int = 0,
    min_names: int = 10,
) -> PermutationImportance:
    """`inputs`: (date, ticker) x the model's features; `labels`: the realised forward excess return on
    the same rows; `predict`: the model's prediction for a frame like `inputs`. Every column is shuffled."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if not inputs.index.equals(labels.index):
        raise ValueError("the labels must be on the inputs' (date, ticker) rows")
    baseline = _mean_rank_ic(predict(inputs), labels, min_names)
    rng = np.random.default_rng(seed)
    within_dates = _date_blocks(inputs.index)
    drops = []
    for feature in inputs.columns:
        scores = [
            baseline.mean
            - _mean_rank_ic(predict(_shuffled(inputs, feature, within_dates, rng)), labels, min_names).mean
            for _ in range(repeats)
        ]
        drops.append(FeatureDrop(str(feature), float(np.mean(scores)), _sample_std(scores)))
    # NaN drops (no date with enough names) sort last.
    drops.sort(key=lambda item: -item.drop if math.isfinite(item.drop) else math.inf)
    return PermutationImportance(baseline.mean, baseline.dates, len(inputs), repeats, seed, drops)


@dataclass(frozen=True)
class _MeanRankIC:
    mean: float
    dates: int


def _mean_rank_ic(prediction: pd.Series, labels: pd.Series, min_names: int) -> _MeanRankIC:
    daily = rank_ic_by_date(pd.DataFrame({PREDICTION: prediction, LABEL: labels}), min_names=min_names).dropna()
    return _MeanRankIC(float(daily.mean()) if len(daily) else math.nan, len(daily))


@dataclass(frozen=True)
class _DateBlocks:
    """Row positions grouped by date: `by_date` lists them date after date, `codes` gives each its date."""

    by_date: np.ndarray
    codes: np.ndarray


def _date_blocks(index: pd.Index) -> _DateBlocks:
    codes, _ = pd.factorize(index.get_level_values(DATE))
    order = np.argsort(codes, kind="stable")
    return _DateBlocks(order, codes[order])


def _shuffled(inputs: pd.DataFrame, feature: str, blocks: _DateBlocks, rng: np.random.Generator) -> pd.DataFrame:
    # Sorting the rows of each date by a random key is a uniform permutation within every date at once,
    # without a Python loop over dates.
    permutation = blocks.by_date[np.lexsort((rng.random(len(blocks.by_date)), blocks.codes))]
    values = inputs[feature].to_numpy(copy=True)
    values[blocks.by_date] = values[permutation]
    shuffled = inputs.copy()
    shuffled[feature] = values
    return shuffled


def _sample_std(values: list[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None
