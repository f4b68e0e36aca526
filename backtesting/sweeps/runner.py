"""`fund sweep run`: open (or resume) the sweep, run the trials not done yet on an executor, write each
outcome as it arrives, and keep count for the progress display.

A grid runs every configuration on every seed and window. An Optuna search asks for `batch` configurations
at a time, runs each on every seed and window, and tells the study their mean metric; the sampler is seeded
and the batches do not depend on the number of CPUs, so a search suggests the same configurations serially
and on any cluster. A rerun replays the same asks, finds the trials already done in the database and runs
only the others: a grid resumes where it stopped, and a search resumes its sequence.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from backtesting.sweeps.executors import Executor, TaskTerms
from backtesting.sweeps.spec import Dimension, SweepSpec, TrialPlan, Value
from backtesting.sweeps.trials import TrialOutcome
from backtesting.sweeps.writing import write_outcome
from trading.errors import ConfigurationError
from trading.settings import FundSettings
from trading.store.sweeps import SweepRecord, done_trial_keys, open_sweep, sweep_trials

logger = logging.getLogger(__name__)


@dataclass
class SweepProgress:
    """Counts for the display: trials in all, skipped (done before), done, failed, running; the best so far."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    best: float | None = None
    best_settings: dict[str, Any] = field(default_factory=dict)
    direction: str = "maximize"

    def note(self, outcome: TrialOutcome, metric: str) -> None:
        self.running = max(0, self.running - 1)
        if outcome.status != "done":
            self.failed += 1
            return
        self.done += 1
        value = outcome.metric(metric)
        if value is not None and (self.best is None or _better(value, self.best, self.direction)):
            self.best, self.best_settings = value, dict(outcome.plan.settings)


ProgressHook = Callable[[SweepProgress], None]


@dataclass(frozen=True)
class SweepRun:
    sweep: SweepRecord
    progress: SweepProgress
    seconds: float


def run_sweep(
    engine: Engine,
    database_url: str,
    settings: FundSettings,
    spec: SweepSpec,
    executor: Executor,
    *,
    code: str,
    on_progress: ProgressHook = lambda _p: None,
) -> SweepRun:
    started = time.perf_counter()
    if spec.search is not None:
        _require_optuna()  # before anything is written
    sweep = open_sweep(
        engine,
        name=spec.name,
        kind=spec.kind,
        metric=spec.metric,
        direction=spec.direction,
        search=spec.search_kind,
        spec=spec.as_dict(),
        code=code,
    )
    # On SQLite the driver writes every outcome; elsewhere each trial writes its own where it ran.
    write_here = engine.dialect.name != "sqlite"
    terms = TaskTerms(database_url, settings, sweep.id, sweep.name, spec.metric, write_here, code)
    progress = SweepProgress(direction=spec.direction)
    session = _Session(engine, sweep, spec, executor, terms, progress, on_progress)
    if spec.search is None:
        session.run([plan for configuration in spec.grid_configurations() for plan in spec.trials_of(configuration)])
    else:
        _search(session, spec)
    return SweepRun(sweep, progress, time.perf_counter() - started)


class _Session:
    """One `fund sweep run`: runs plans, skipping those done, writing outcomes, counting for the display."""

    def __init__(
        self,
        engine: Engine,
        sweep: SweepRecord,
        spec: SweepSpec,
        executor: Executor,
        terms: TaskTerms,
        progress: SweepProgress,
        on_progress: ProgressHook,
    ) -> None:
        self.engine, self.sweep, self.spec, self.executor, self.terms = engine, sweep, spec, executor, terms
        self.progress, self.on_progress = progress, on_progress
        self.done_keys = done_trial_keys(engine, sweep.id)

    def run(self, plans: Sequence[TrialPlan]) -> None:
        # Window by window: a worker then meets the same span trial after trial and reads it once (trials.py).
        pending = sorted(
            (plan for plan in plans if plan.key not in self.done_keys),
            key=lambda plan: (plan.window.start, plan.window.end),
        )
        self.progress.total += len(plans)
        self.progress.skipped += len(plans) - len(pending)
        self.on_progress(self.progress)
        if pending:
            self.executor.run(self.terms, pending, self._started, self._finished)

    def _started(self, _plan: TrialPlan) -> None:
        self.progress.running += 1
        self.on_progress(self.progress)

    def _finished(self, outcome: TrialOutcome) -> None:
        # On SQLite every outcome; elsewhere only a task that died without writing its own (unless it had written
        # a result before it died).
        unwritten = not outcome.written and (
            not self.terms.write_here or outcome.plan.key not in done_trial_keys(self.engine, self.sweep.id)
        )
        if unwritten:
            terms = self.terms
            outcome = write_outcome(self.engine, terms.sweep_id, terms.sweep_name, terms.metric, terms.code, outcome)
        if outcome.status == "done":
            self.done_keys.add(outcome.plan.key)
        else:
            first_line = (outcome.error or "no error recorded").splitlines()[0]
            logger.warning("trial %s failed: %s", outcome.plan.key[:12], first_line)
        self.progress.note(outcome, self.spec.metric)
        self.on_progress(self.progress)


# --- an Optuna search ---------------------------------------------------------------------------------------


def _require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "a [search] needs Optuna: install the extra (pip install 'autofund[scale]'), or give a [grid]"
        ) from exc


def _search(session: _Session, spec: SweepSpec) -> None:
    import optuna
    from optuna.trial import TrialState

    search = spec.search
    assert search is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = spec.seeds[0]
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.TPESampler(seed=seed) if search.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(direction=spec.direction, sampler=sampler)
    distributions = {d.name: _distribution(d) for d in search.space}
    asked = 0
    while asked < search.trials:
        size = min(search.batch, search.trials - asked)
        batch = [study.ask(distributions) for _ in range(size)]
        asked += size
        configurations = [{**spec.fixed, **_plain(trial.params)} for trial in batch]
        plans = [spec.trials_of(configuration) for configuration in configurations]
        session.run([plan for group in plans for plan in group])
        values = _configuration_values(session, plans)
        for trial, value in zip(batch, values, strict=True):
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, value)


def _distribution(dimension: Dimension) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dimension.choices is not None:
        return CategoricalDistribution(dimension.choices)
    assert dimension.low is not None
    assert dimension.high is not None
    if dimension.integer:
        return IntDistribution(
            int(dimension.low), int(dimension.high), log=dimension.log, step=int(dimension.step or 1)
        )
    return FloatDistribution(dimension.low, dimension.high, log=dimension.log, step=dimension.step)


def _plain(params: dict[str, Any]) -> dict[str, Value]:
    # Optuna hands back numpy-free Python values already; floats are rounded so a key reads back the same.
    return {k: (round(v, 12) if isinstance(v, float) else v) for k, v in params.items()}


def _configuration_values(session: _Session, groups: Sequence[Sequence[TrialPlan]]) -> list[float | None]:
    """Each configuration's mean metric over its trials done (None when every one failed)."""
    by_key = {t.trial_key: t for t in sweep_trials(session.engine, session.sweep.id)}
    values: list[float | None] = []
    for group in groups:
        found = [by_key[p.key].metric_value for p in group if p.key in by_key and by_key[p.key].status == "done"]
        usable = [v for v in found if v is not None and math.isfinite(v)]
        values.append(statistics.fmean(usable) if usable else None)
    return values


def _better(value: float, best: float, direction: str) -> bool:
    return value > best if direction == "maximize" else value < best
