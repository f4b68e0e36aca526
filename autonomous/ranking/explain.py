"""`fund models explain`: the permutation importance of a stored ranker on a window it was not trained
on, computed by autonomous/ranking/importance.py and stored with the model under metrics['importance']:
on every name, and (under 'without_late_joiners') on the names with fundamentals at the date only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from autonomous.ranking.dataset import load_ranker_data
from autonomous.ranking.importance import (
    ImportanceWithoutLateJoiners,
    PermutationImportance,
    importance_without_late_joiners,
    permutation_importance,
)
from autonomous.ranking.xgb import booster_from_bytes, predict
from trading.errors import ConfigurationError
from trading.settings import FundSettings
from trading.store.models import IMPORTANCE, RANKER, ModelRecord, add_evaluation, get_model, load_artifact

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankerExplanation:
    model: ModelRecord
    start: date
    end: date
    importance: PermutationImportance
    without_late_joiners: ImportanceWithoutLateJoiners

    @property
    def window(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def as_dict(self) -> dict[str, Any]:
        """As stored: the importance on every name where `fund models list` has always read it, and the
        one without late joiners beside it."""
        return self.importance.as_dict() | {"without_late_joiners": self.without_late_joiners.as_dict()}


def explain_ranker(
    engine: Engine,
    settings: FundSettings,
    model_id: int,
    start: date,
    end: date,
    *,
    repeats: int = 5,
    seed: int = 0,
) -> RankerExplanation:
    """The ranker's permutation importance on its strategy's rows of [start, end], stored with it.
    Refuses a model that is not a ranker and a window that overlaps the model's training window."""
    model = get_model(engine, model_id)
    check_held_out(model, start, end)
    horizon = int(model.parameters.get("horizon", settings.models.ranker.horizon))
    data = load_ranker_data(engine, settings, start, end, horizon=horizon, step=settings.models.ranker.sample_step)
    inputs, labels = data.rows_of(model.strategy)
    booster = booster_from_bytes(load_artifact(engine, model))
    features = list(booster.feature_names or model.feature_set)

    def predicted(frame: pd.DataFrame) -> pd.Series:
        return predict(booster, frame)

    importance = permutation_importance(inputs[features], labels, predicted, repeats=repeats, seed=seed)
    flags = data.has_fundamentals_on(inputs.index)
    without = importance_without_late_joiners(inputs[features], labels, flags, predicted, repeats=repeats, seed=seed)
    explanation = RankerExplanation(model, start, end, importance, without)
    add_evaluation(engine, model.id, explanation.window, explanation.as_dict(), section=IMPORTANCE)
    logger.info("permutation importance of %s on %s: %d features", model.label, explanation.window, len(features))
    return explanation


def check_held_out(model: ModelRecord, start: date, end: date) -> None:
    """A ranker, and a window that shares no day with its training window: importance measured on the
    rows it was fitted to says what it memorised, not what it uses out of sample."""
    if model.kind != RANKER:
        raise ConfigurationError(f"model {model.id} is a {model.kind}, not a ranker: only rankers can be explained")
    if start > end:
        raise ConfigurationError(f"the window starts ({start}) after it ends ({end})")
    if start <= model.train_end and end >= model.train_start:
        raise ConfigurationError(
            f"the window {start}..{end} overlaps model {model.id}'s training window "
            f"{model.train_start}..{model.train_end}: choose a window that starts after {model.train_end}"
        )
