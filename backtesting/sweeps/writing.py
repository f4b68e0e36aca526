"""Writing a trial's outcome: the models it trained (with the sweep and trial as their lineage), then its row.

On PostgreSQL the trial writes its own outcome where it ran, so a sweep shared by several machines needs no
driver to write for it; on SQLite the driver writes every outcome, so that the file is never written by two
processes at once (runner.py decides which).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from backtesting.sweeps.spec import TrialPlan
from backtesting.sweeps.trials import TrialOutcome, run_trial, written
from trading.db.engine import make_engine
from trading.store.models import SWEEP_LINEAGE
from trading.store.sweeps import record_trial

if TYPE_CHECKING:
    from backtesting.sweeps.executors import TaskTerms


def write_outcome(
    engine: Engine, sweep_id: int, sweep_name: str, metric: str, code: str, outcome: TrialOutcome
) -> TrialOutcome:
    """Stores the outcome's models and its row; answers the outcome with the model ids, without the models."""
    lineage = {SWEEP_LINEAGE: sweep_name, "sweep_id": sweep_id, "trial": outcome.plan.key}
    started = time.perf_counter()
    model_ids = tuple(_store_model(engine, model, lineage) for model in outcome.models)
    if outcome.models:
        outcome.timings["write_models"] = time.perf_counter() - started
    stored = written(outcome, model_ids)
    record_trial(engine, sweep_id, trial_row(stored, metric, code))
    return stored


def _store_model(engine: Engine, model: Any, lineage: dict[str, Any]) -> int:
    try:
        return _store_once(engine, model, lineage)
    except IntegrityError:
        # Two trials on two workers stored the same bytes (the same model) at once: the registry keeps one
        # copy, and the second attempt finds it.
        return _store_once(engine, model, lineage)


def _store_once(engine: Engine, model: Any, lineage: dict[str, Any]) -> int:
    from autonomous.ranking.xgb import RankerTraining

    if isinstance(model, RankerTraining):
        from autonomous.ranking.training import store_ranker

        return store_ranker(engine, model, lineage).id
    from rl_trading.training import FittedAgent, store_weight_agent

    if isinstance(model, FittedAgent):
        return store_weight_agent(engine, model, lineage).record.id
    raise TypeError(f"a trial handed back a {type(model).__name__}, which is not a model the registry stores")


def trial_row(outcome: TrialOutcome, metric: str, code: str) -> dict[str, Any]:
    plan = outcome.plan
    return {
        "trial_key": plan.key,
        "configuration": plan.configuration,
        "settings": json_safe(plan.settings),
        "seed": plan.seed,
        "window_start": plan.window.start,
        "window_end": plan.window.end,
        "status": outcome.status,
        "metric_value": outcome.metric(metric),
        "metrics": json_safe(outcome.metrics),
        "series": json_safe(outcome.series),
        "model_ids": list(outcome.model_ids),
        "error": outcome.error,
        "duration_seconds": outcome.duration_seconds,
        "timings": json_safe(outcome.timings),
        "worker": outcome.worker[:200],
        "code_version": code[:80],
    }


def json_safe(value: Any) -> Any:
    """NaN and infinities (not JSON) become None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def run_and_write(terms: TaskTerms, plan: TrialPlan) -> TrialOutcome:
    """A trial that writes its own outcome (PostgreSQL): run it, store it, answer it without its models."""
    outcome = run_trial(terms.database_url, terms.settings, plan)
    engine = make_engine(terms.database_url)
    try:
        return write_outcome(engine, terms.sweep_id, terms.sweep_name, terms.metric, terms.code, outcome)
    finally:
        engine.dispose()
