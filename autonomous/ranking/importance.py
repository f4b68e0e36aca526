"""Permutation importance of a ranker: how much its mean daily rank IC drops when one input is shuffled
across the names of each date, so that input no longer says anything about which name is which.

Shuffling within a date (not across the whole window) keeps each date's distribution of the input, and
the inputs are percentile ranks among a date's names, so a shuffled column still looks like a real one:
what is destroyed is only the link between the input and the name. A drop near zero says the model does
not use the input on this window (or uses it for nothing that orders the names); a negative drop says
the input hurt the ranking there. Each input is shuffled `repeats` times with a generator seeded once,
so the result is reproducible; the mean and the sample standard deviation of the drop are reported.

Late joiners (autonomous/ranking/late_joiners.py): on data whose universe is a later index projected
back, names with no fundamentals row at the date flatter the rank IC, and an input that helps spot them
(young listings, strong momentum) looks important for that reason. `importance_without_late_joiners`
measures the drops again on the rows with fundamentals only, shuffling among those names.

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

from autonomous.ranking.late_joiners import LateJoinerRows, count_late_joiners, on_known_dates
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
class ImportanceWithoutLateJoiners:
    """The permutation importance on the rows whose names had fundamentals at the date: None unless the
    split is informative (`late_joiners.verdict`; otherwise the importance on every name is the only one).
    When it starts later than the window (`late_joiners.starts_later`), `same_dates` is the importance on
    every name over the dates it covers, so that the two differ by the names only."""

    late_joiners: LateJoinerRows
    importance: PermutationImportance | None
    same_dates: PermutationImportance | None = None

    def as_dict(self) -> dict[str, Any]:
        """The split's counts and, when informative, the importance's figures beside them (its `rows`
        then the rows kept, as in LateJoinerSplit.as_dict)."""
        figures = self.late_joiners.as_dict()
        if self.importance is not None:
            figures.update(self.importance.as_dict())
        if self.same_dates is not None:
            figures["every_name_same_dates"] = self.same_dates.as_dict()
        return figures


def importance_without_late_joiners(
    inputs: pd.DataFrame,
    labels: pd.Series,
    has_fundamentals: pd.Series,
    predict: Predictor,
    *,
    repeats: int = 5,
    seed: int = 0,
    min_names: int = 10,
) -> ImportanceWithoutLateJoiners:
    """`permutation_importance` on the rows where `has_fundamentals` (the point-in-time flag on the
    inputs' rows) holds, with the same seed; each input is shuffled among those names of a date."""
    if not inputs.index.equals(has_fundamentals.index):
        raise ValueError("the fundamentals flag must be on the inputs' (date, ticker) rows")
    counts = count_late_joiners(has_fundamentals)
    if not counts.informative:
        return ImportanceWithoutLateJoiners(counts, None)
    kept = has_fundamentals.to_numpy(dtype=bool)
    importance = permutation_importance(
        inputs[kept], labels[kept], predict, repeats=repeats, seed=seed, min_names=min_names
    )
    same_dates = None
    if counts.starts_later:
        known = on_known_dates(has_fundamentals)
        same_dates = permutation_importance(
            inputs[known], labels[known], predict, repeats=repeats, seed=seed, min_names=min_names
        )
    return ImportanceWithoutLateJoiners(counts, importance, same_dates)


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
