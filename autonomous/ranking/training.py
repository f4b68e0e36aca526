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
from autonomous.ranking.feature_sets import (
    AUTO,
    describe_groups,
    feature_set_of,
    missing_groups,
    present_groups,
    resolve_feature_sets,
)
from autonomous.ranking.late_joiners import LateJoinerSplit, split_late_joiners
from autonomous.ranking.metrics import RankingMetrics, ranking_metrics
from autonomous.ranking.xgb import (
    REGRESSION,
    RankerTraining,
    booster_from_bytes,
    overlap_lags,
    predict,
    recorded_boosters,
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
        try:
            for variant in variants:
                training = train_ranker(data, strategy, ranker, variant.features)
                stored.append((training, store_ranker(engine, training)))
        except (DataError, KeyError) as exc:  # KeyError: the strategy's universe had no row at all
            # A data set may not support every strategy (no dividends: no dividend universe); the others
            # are still trained, and the skipped one is named with its reason.
            reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            logger.warning("%s: no ranker trained: %s", strategy, reason)
            skipped.append(f"{strategy}: {reason.removeprefix(f'{strategy}: ')}")
    if not stored:
        raise DataError(f"no ranker trained on {start}..{end}: {'; '.join(skipped)}")
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


# Settings added after rankers were first stored: in a reuse key only when they differ from their default.
_LATER_SETTINGS: dict[str, Any] = {"objective": REGRESSION, "monotone": "none", "ensemble": 1}


def ranker_training_parameters(ranker: RankerSettings, horizon: int) -> dict[str, Any]:
    """The parameters `train_ranker` records for a ranker trained with these settings and horizon:
    with the window and the inputs, what decides the model (xgboost is deterministic at a fixed seed
    and one thread), so a stored ranker holding them can be used instead of training it again.

    The settings added later (objective, monotone constraints, ensemble size, and the label bins of
    rank:ndcg, which only that objective reads) enter only when they differ from their default: a
    stored ranker matches a key whose every entry it holds, and rankers stored before the settings
    existed do not hold them, yet they are the default's models. Leaving a default out cannot match a
    model of another value either: the "booster" entry (compared whole) holds the objective and the
    constraints, and is a list for an ensemble (`recorded_boosters`)."""
    later = {name: value for name, default in _LATER_SETTINGS.items() if (value := getattr(ranker, name)) != default}
    if ranker.objective == "rank:ndcg":
        later["rank_label_bins"] = ranker.rank_label_bins
    return {
        **ranker.model_dump(exclude={*_LATER_SETTINGS, "rank_label_bins"}),
        **later,
        "horizon": horizon,
        "sample_step": ranker.sample_step,
        "booster": recorded_boosters(ranker),
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

    @property
    def variant(self) -> str:
        """The model's feature-set variant (autonomous/ranking/feature_sets.py)."""
        found = feature_set_of(self.model.feature_set)
        return found.name if found is not None else "custom"

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": [self.start.isoformat(), self.end.isoformat()],
            **self.metrics.as_dict(),
            "baselines": self.baselines.as_dict(),
            "without_late_joiners": self.late_joiners.as_dict(),
        }


def newest_rankers_by_variant(engine: Engine, strategy: str, before: date) -> list[ModelRecord]:
    """The strategy's rankers of the newest training window ending before `before`, one per feature-set
    variant (the newest stored of each), fullest first."""
    found = newest_models(engine, RANKER, strategy, trained_before=before)
    if not found:
        return []
    window = (found[0].train_start, found[0].train_end)
    by_inputs: dict[tuple[str, ...], ModelRecord] = {}
    for record in found:
        if (record.train_start, record.train_end) == window:
            by_inputs.setdefault(tuple(record.feature_set), record)
    return sorted(by_inputs.values(), key=lambda record: -len(record.feature_set))


def evaluate_rankers(
    engine: Engine, settings: FundSettings, strategies: Sequence[str], start: date, end: date
) -> tuple[list[HeldOutEvaluation], list[str]]:
    """Each strategy's newest rankers trained before `start` (one per feature-set variant of the newest
    training window: with `--feature-sets all`, the IC with each input group removed), scored on
    [start, end] with labels that end by `end`; each result is also stored with its model. Returns the
    evaluations and, for each strategy without such a ranker or variant the window cannot feed, a
    sentence saying so."""
    models: list[ModelRecord] = []
    missing: list[str] = []
    for strategy in strategies:
        found = newest_rankers_by_variant(engine, strategy, start)
        models.extend(found)
        if not found:
            missing.append(f"{strategy}: no ranker trained before {start}")
    evaluations: list[HeldOutEvaluation] = []
    default_horizon = settings.models.ranker.horizon
    horizons = {int(model.parameters.get("horizon", default_horizon)) for model in models}
    for horizon in sorted(horizons):
        data = load_ranker_data(engine, settings, start, end, horizon=horizon, step=settings.models.ranker.sample_step)
        present = present_groups(data.inputs)
        for model in models:
            if int(model.parameters.get("horizon", default_horizon)) != horizon:
                continue
            strategy = model.strategy
            variant = feature_set_of(model.feature_set)
            lacking = frozenset() if variant is None else missing_groups(variant, present)
            if lacking:
                missing.append(f"{model.label}: reads {describe_groups(lacking)}, which the window lacks")
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
