"""The XGBoost ranker of one strategy: fit, purged walk-forward validation, serialised bytes.

xgboost is imported inside the functions that need it, so `fund --help` and a mock run stay fast.
The booster is a plain regressor of the forward excess return (autonomous/ranking/dataset.py): its
prediction is read both as a ranking and as a sign (the generator keeps positive predictions only),
which a pairwise ranking objective would not give.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autonomous.ranking.baselines import BaselineComparison, baseline_scores, compare_with_baselines
from autonomous.ranking.dataset import RANKER_FEATURES, RankerData
from autonomous.ranking.late_joiners import LateJoinerSplit, split_late_joiners
from autonomous.ranking.metrics import RankingMetrics, ranking_metrics
from autonomous.ranking.walk_forward import Fold, labelled_by, walk_forward_folds
from trading.errors import DataError
from trading.settings import RankerSettings

if TYPE_CHECKING:
    import xgboost

logger = logging.getLogger(__name__)

# One thread: the training sets are small (tens of thousands of rows), and on a two-core machine
# with anything else running, two OpenMP threads spin-wait on each other: 200 trees on 3,000 rows
# took 3.3 s with two threads against 0.2 s with one. Results do not depend on it.
THREADS = 1


def booster_parameters(settings: RankerSettings) -> dict[str, Any]:
    return {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "max_depth": settings.max_depth,
        "eta": settings.learning_rate,
        "subsample": settings.subsample,
        "colsample_bytree": settings.colsample_bytree,
        "min_child_weight": settings.min_child_weight,
        "seed": settings.seed,
        "nthread": THREADS,
        "verbosity": 0,
    }


def clipped_labels(labels: pd.Series, quantile: float) -> pd.Series:
    """Each date's labels clipped to its [q, 1 - q] quantiles (a fitting aid; metrics use the raw label)."""
    if quantile <= 0:
        return labels
    # groupby's own quantile (vectorised) instead of a per-date lambda: 7 of 19 s of a demo training.
    by_date = labels.groupby(level="date")
    dates = labels.index.get_level_values("date")
    low = by_date.quantile(quantile).reindex(dates).to_numpy()
    high = by_date.quantile(1.0 - quantile).reindex(dates).to_numpy()
    return labels.clip(lower=pd.Series(low, index=labels.index), upper=pd.Series(high, index=labels.index))


def fit_booster(inputs: pd.DataFrame, labels: pd.Series, settings: RankerSettings) -> xgboost.Booster:
    import xgboost

    if not _in_canonical_order(inputs.columns):
        raise ValueError(f"ranker inputs must be columns of {RANKER_FEATURES}, in that order")
    if inputs.empty:
        raise DataError("no labelled rows to fit the ranker on")
    target = clipped_labels(labels, settings.label_clip_quantile)
    matrix = xgboost.DMatrix(
        inputs.to_numpy(dtype=np.float32),
        label=target.to_numpy(dtype=np.float32),
        feature_names=list(inputs.columns),
        nthread=THREADS,
    )
    return xgboost.train(booster_parameters(settings), matrix, num_boost_round=settings.n_estimators)


def _in_canonical_order(columns: pd.Index) -> bool:
    """Columns of RANKER_FEATURES in its order (a feature-set variant reads a subset of them)."""
    wanted = set(columns)
    return len(wanted) == len(columns) and list(columns) == [name for name in RANKER_FEATURES if name in wanted]


def predict(booster: xgboost.Booster, inputs: pd.DataFrame) -> pd.Series:
    """Predicted forward excess return by the inputs' index; the model reads its own features of
    `inputs` (a variant trained without some groups ignores their columns)."""
    import xgboost

    features = list(booster.feature_names or [])
    lacking = [name for name in features if name not in inputs.columns]
    if lacking or not features:
        raise ValueError(f"the inputs lack the model's features {lacking[:3]} (it reads {features[:3]}…)")
    inputs = inputs[features]
    # One thread, as for training: the default spreads a hundred-row matrix over every core, which costs
    # more than the prediction (15 ms a session in a backtest whose other core computes the next markets).
    matrix = xgboost.DMatrix(inputs.to_numpy(dtype=np.float32), feature_names=list(inputs.columns), nthread=THREADS)
    return pd.Series(booster.predict(matrix).astype(np.float64), index=inputs.index, name="prediction")


def booster_to_bytes(booster: xgboost.Booster) -> bytes:
    return bytes(booster.save_raw(raw_format="ubj"))


def booster_from_bytes(artifact: bytes) -> xgboost.Booster:
    import xgboost

    booster = xgboost.Booster(params={"nthread": THREADS})
    booster.load_model(bytearray(artifact))
    return booster


@dataclass(frozen=True)
class FoldReport:
    number: int
    train_start: date
    train_end: date
    validation_start: date
    validation_end: date
    train_rows: int
    validation_rows: int
    purged_dates: int
    metrics: RankingMetrics
    baselines: BaselineComparison  # the simple factors on the fold's validation rows
    late_joiners: LateJoinerSplit

    def as_dict(self) -> dict[str, Any]:
        return {
            "fold": self.number,
            "train": [self.train_start.isoformat(), self.train_end.isoformat()],
            "validation": [self.validation_start.isoformat(), self.validation_end.isoformat()],
            "train_rows": self.train_rows,
            "validation_rows": self.validation_rows,
            "purged_dates": self.purged_dates,
            **self.metrics.as_dict(),
            "baselines": self.baselines.as_dict(),
            "without_late_joiners": self.late_joiners.as_dict(),
        }


@dataclass(frozen=True)
class RankerTraining:
    """A strategy's ranker: its walk-forward validation and the final model fitted on the whole window."""

    strategy: str
    start: date
    end: date
    folds: list[FoldReport]
    overall: RankingMetrics  # over every fold's out-of-sample predictions together
    baselines: BaselineComparison  # the simple factors on the same out-of-sample rows
    late_joiners: LateJoinerSplit  # the overall figures without the names lacking fundamentals
    final_rows: int
    final_dates: int
    artifact: bytes
    features: tuple[str, ...]  # the inputs the model reads, in RANKER_FEATURES order
    parameters: dict[str, Any]
    seconds: float

    def metrics_dict(self) -> dict[str, Any]:
        return {
            "walk_forward": {
                "overall": self.overall.as_dict(),
                "baselines": self.baselines.as_dict(),
                "without_late_joiners": self.late_joiners.as_dict(),
                "folds": [fold.as_dict() for fold in self.folds],
            },
            "final_rows": self.final_rows,
            "final_dates": self.final_dates,
            "training_seconds": round(self.seconds, 3),
        }


def overlap_lags(horizon: int, step: int) -> int:
    """How many following sample dates share label sessions with a date: the t-stat's HAC lags."""
    return max(0, math.ceil(horizon / step) - 1)


def train_ranker(
    data: RankerData, strategy: str, settings: RankerSettings, features: Sequence[str] = RANKER_FEATURES
) -> RankerTraining:
    """Purged walk-forward validation over the window, then the final fit on every labelled row;
    the model reads `features` (a feature-set variant, autonomous/ranking/feature_sets.py)."""
    started = time.perf_counter()
    all_inputs, labels = data.rows_of(strategy)
    inputs = all_inputs[list(features)]
    if inputs.empty:
        raise DataError(f"{strategy}: its universe has no labelled rows in {data.start}..{data.end}")
    row_dates = pd.DatetimeIndex(inputs.index.get_level_values("date"))
    # Labelled rows already end by the window's end; labelled_by states it in calendar terms too.
    dates = labelled_by(
        pd.DatetimeIndex(row_dates.unique().sort_values()), data.sessions, pd.Timestamp(data.end), data.horizon
    )
    folds = _folds(dates, data, settings)
    reports, out_of_sample = [], []
    for fold in folds:
        train = row_dates.isin(fold.train_dates)
        valid = row_dates.isin(fold.validation_dates)
        booster = fit_booster(inputs[train], labels[train], settings)
        scored = pd.DataFrame({"prediction": predict(booster, inputs[valid]), "label": labels[valid]})
        out_of_sample.append(scored)
        reports.append(_fold_report(fold, int(train.sum()), scored, data, strategy))
        logger.info("%s fold %d: rank IC %.4f", strategy, fold.number, reports[-1].metrics.rank_ic)
    lags = overlap_lags(data.horizon, data.step)
    validated = pd.concat(out_of_sample) if out_of_sample else _no_scores()
    overall = ranking_metrics(validated, overlap_lags=lags)
    # The baselines need no fitting, so they are scored on the validated rows as they stand.
    baselines = baseline_scores(all_inputs.reindex(validated.index), data.universe_score_of(strategy, validated.index))
    comparison = compare_with_baselines(validated, baselines, overlap_lags=lags)
    late_joiners = split_late_joiners(
        validated, baselines, data.has_fundamentals_on(validated.index), overlap_lags=lags
    )
    final = row_dates.isin(dates)
    booster = fit_booster(inputs[final], labels[final], settings)
    return RankerTraining(
        strategy=strategy,
        start=data.start,
        end=data.end,
        folds=reports,
        overall=overall,
        baselines=comparison,
        late_joiners=late_joiners,
        final_rows=int(final.sum()),
        final_dates=len(dates),
        artifact=booster_to_bytes(booster),
        features=tuple(inputs.columns),
        parameters={
            **settings.model_dump(),
            "horizon": data.horizon,
            "sample_step": data.step,
            "booster": booster_parameters(settings),
        },
        seconds=time.perf_counter() - started,
    )


def _folds(dates: pd.DatetimeIndex, data: RankerData, settings: RankerSettings) -> list[Fold]:
    if len(dates) < settings.folds + 1:
        logger.warning(
            "only %d labelled sample dates in %s..%s: too few for %d walk-forward folds; no validation",
            len(dates),
            data.start,
            data.end,
            settings.folds,
        )
        return []
    return walk_forward_folds(dates, data.sessions, folds=settings.folds, horizon=data.horizon, min_train_dates=5)


def _fold_report(fold: Fold, train_rows: int, scored: pd.DataFrame, data: RankerData, strategy: str) -> FoldReport:
    lags = overlap_lags(data.horizon, data.step)
    baselines = baseline_scores(data.inputs.reindex(scored.index), data.universe_score_of(strategy, scored.index))
    return FoldReport(
        number=fold.number,
        train_start=fold.train_start.date(),
        train_end=fold.train_end.date(),
        validation_start=fold.validation_start.date(),
        validation_end=fold.validation_end.date(),
        train_rows=train_rows,
        validation_rows=len(scored),
        purged_dates=fold.purged,
        metrics=ranking_metrics(scored, overlap_lags=lags),
        baselines=compare_with_baselines(scored, baselines, overlap_lags=lags),
        late_joiners=split_late_joiners(scored, baselines, data.has_fundamentals_on(scored.index), overlap_lags=lags),
    )


def _no_scores() -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([], names=["date", "ticker"])
    return pd.DataFrame({"prediction": pd.Series(dtype=np.float64), "label": pd.Series(dtype=np.float64)}, index=index)
