"""Training and held-out evaluation of the strategies' rankers against the database: the code behind
`fund train xgboost`, `fund models evaluate` and scripts/auto_train_models.py."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from autonomous.ranking.baselines import BaselineComparison, baseline_scores, compare_with_baselines
from autonomous.ranking.dataset import load_ranker_data
from autonomous.ranking.feature_sets import AUTO, describe_groups, present_groups, resolve_feature_sets
from autonomous.ranking.late_joiners import LateJoinerSplit, split_late_joiners
from autonomous.ranking.metrics import RankingMetrics, ranking_metrics
from autonomous.ranking.xgb import (
    RankerTraining,
    booster_from_bytes,
    booster_parameters,
    overlap_lags,
    predict,
    train_ranker,
)
from trading.errors import ConfigurationError, DataError
from trading.settings import STRATEGIES, FundSettings, RankerSettings
from trading.store.models import RANKER, ModelRecord, add_evaluation, load_artifact, newest_models, save_model

logger = logging.getLogger(__name__)


def parse_strategies(spec: str) -> list[str]:
    """'growth_midcap,value_largecap' or 'all' -> strategy names, in the given order, without repeats."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ConfigurationError("no strategy given: name one or more of the strategies, or 'all'")
    if "all" in names:
        return list(STRATEGIES)
    unknown = [name for name in names if name not in STRATEGIES]
    if unknown:
        raise ConfigurationError(
            f"unknown strategy {', '.join(unknown)}; expected some of {', '.join(STRATEGIES)} or 'all'"
        )
    return list(dict.fromkeys(names))


def train_rankers(
    engine: Engine,
    settings: FundSettings,
    strategies: Sequence[str],
    start: date,
    end: date,
    *,
    horizon: int | None = None,
    feature_sets: Sequence[str] = (AUTO,),
) -> RankerTrainingRun:
    """Trains and stores one ranker per strategy and feature-set variant on [start, end]; the window's
    rows are built once. `feature_sets`: [AUTO] trains the variant matching the groups the window has
    (autonomous/ranking/feature_sets.py); named variants that read a group the window lacks are skipped."""
    ranker = settings.models.ranker
    horizon = horizon or ranker.horizon
    data = load_ranker_data(engine, settings, start, end, horizon=horizon, step=ranker.sample_step)
    present = present_groups(data.inputs)
    variants, skipped = resolve_feature_sets(feature_sets, present)
    if not variants:
        raise DataError(
            f"no feature set to train: the window {start}..{end} has {describe_groups(present)} of the optional "
            f"inputs ({'; '.join(skipped)})"
        )
    stored = []
    for strategy in strategies:
        for variant in variants:
            training = train_ranker(data, strategy, ranker, variant.features)
            stored.append((training, store_ranker(engine, training)))
    return RankerTrainingRun(stored, present, skipped)


@dataclass(frozen=True)
class RankerTrainingRun:
    """The rankers `train_rankers` stored, the optional input groups the window had, and the variants
    it skipped (why)."""

    trained: list[tuple[RankerTraining, ModelRecord]]
    present: frozenset[str]
    skipped: list[str]


def store_ranker(engine: Engine, training: RankerTraining, lineage: Mapping[str, Any] | None = None) -> ModelRecord:
    """Stores a trained ranker for its window; `lineage` (who trained it, for what) is added to its
    parameters, next to the training parameters."""
    return save_model(
        engine,
        kind=RANKER,
        strategy=training.strategy,
        train_start=training.start,
        train_end=training.end,
        feature_set=training.features,
        parameters={**training.parameters, **(lineage or {})},
        metrics=training.metrics_dict(),
        artifact=training.artifact,
    )


def ranker_training_parameters(ranker: RankerSettings, horizon: int) -> dict[str, Any]:
    """The parameters `train_ranker` records for a ranker trained with these settings and horizon:
    with the window and the inputs, what decides the model (xgboost is deterministic at a fixed seed
    and one thread), so a stored ranker holding them can be used instead of training it again."""
    return {
        **ranker.model_dump(),
        "horizon": horizon,
        "sample_step": ranker.sample_step,
        "booster": booster_parameters(ranker),
    }


@dataclass(frozen=True)
class HeldOutEvaluation:
    strategy: str
    model: ModelRecord
    start: date
    end: date
    metrics: RankingMetrics
    baselines: BaselineComparison  # the simple factors on the same rows
    late_joiners: LateJoinerSplit  # the figures without the names lacking fundamentals at the date

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": [self.start.isoformat(), self.end.isoformat()],
            **self.metrics.as_dict(),
            "baselines": self.baselines.as_dict(),
            "without_late_joiners": self.late_joiners.as_dict(),
        }


def evaluate_rankers(
    engine: Engine, settings: FundSettings, strategies: Sequence[str], start: date, end: date
) -> tuple[list[HeldOutEvaluation], list[str]]:
    """Each strategy's newest ranker trained before `start`, scored on [start, end] with labels that
    end by `end`; the result is also stored with the model. Returns the evaluations and, for each
    strategy without such a ranker, a sentence saying so."""
    models: dict[str, ModelRecord] = {}
    missing: list[str] = []
    for strategy in strategies:
        found = newest_models(engine, RANKER, strategy, trained_before=start)
        if found:
            models[strategy] = found[0]
        else:
            missing.append(f"{strategy}: no ranker trained before {start}")
    evaluations: list[HeldOutEvaluation] = []
    horizons = {int(model.parameters.get("horizon", settings.models.ranker.horizon)) for model in models.values()}
    for horizon in sorted(horizons):
        data = load_ranker_data(engine, settings, start, end, horizon=horizon, step=settings.models.ranker.sample_step)
        for strategy, model in models.items():
            if int(model.parameters.get("horizon", settings.models.ranker.horizon)) != horizon:
                continue
            inputs, labels = data.rows_of(strategy)
            booster = booster_from_bytes(load_artifact(engine, model))
            scored = pd.DataFrame({"prediction": predict(booster, inputs), "label": labels})
            lags = overlap_lags(horizon, data.step)
            metrics = ranking_metrics(scored, overlap_lags=lags)
            baselines = baseline_scores(inputs, data.universe_score_of(strategy, inputs.index))
            comparison = compare_with_baselines(scored, baselines, overlap_lags=lags)
            late_joiners = split_late_joiners(
                scored, baselines, data.has_fundamentals_on(scored.index), overlap_lags=lags
            )
            evaluation = HeldOutEvaluation(strategy, model, start, end, metrics, comparison, late_joiners)
            add_evaluation(engine, model.id, f"{start.isoformat()}..{end.isoformat()}", evaluation.as_dict())
            evaluations.append(evaluation)
    return evaluations, missing
