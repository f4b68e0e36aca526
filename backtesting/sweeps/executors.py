"""Where a sweep's trials run: one after another in this process (`--serial`), or as Ray tasks on a local Ray
this command starts (`--num-cpus`) or on an existing cluster (`--address`, or RAY_ADDRESS). The same task
function runs in both, so a trial's result does not depend on where it ran.

Ray is imported only here, only when asked for: it is the optional extra `autofund[scale]`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from backtesting.sweeps.spec import TrialPlan
from backtesting.sweeps.trials import TrialOutcome, run_trial
from backtesting.sweeps.writing import run_and_write
from trading.errors import ConfigurationError
from trading.settings import FundSettings

logger = logging.getLogger(__name__)

OnStart = Callable[[TrialPlan], None]
OnDone = Callable[[TrialOutcome], None]


@dataclass(frozen=True)
class TaskTerms:
    """What every trial of a sweep is given besides its plan: where the database is, the base settings, and
    whether it writes its own outcome (`sweep_id` then names the sweep it belongs to)."""

    database_url: str
    settings: FundSettings
    sweep_id: int
    sweep_name: str
    metric: str
    write_here: bool
    code: str  # the code version the trials run


def run_task(terms: TaskTerms, plan: TrialPlan) -> TrialOutcome:
    """One trial, as a serial run or a Ray task runs it."""
    if terms.write_here:
        return run_and_write(terms, plan)
    return run_trial(terms.database_url, terms.settings, plan)


def lost_trial(plan: TrialPlan, error: BaseException, started: float) -> TrialOutcome:
    """A trial whose task died without answering (a crashed worker, a lost node, a failed write)."""
    worker = f"{socket.gethostname()}:{os.getpid()} (driver)"
    message = f"{type(error).__name__}: {error}"
    return TrialOutcome(plan, "failed", {}, {}, time.perf_counter() - started, {}, worker, message)


class Executor(Protocol):
    workers: int
    description: str

    def run(self, terms: TaskTerms, plans: Sequence[TrialPlan], on_start: OnStart, on_done: OnDone) -> None: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Every trial in this process, in order: no Ray needed (debugging, or where it is not installed)."""

    workers = 1
    description = "serially, in this process"

    def run(self, terms: TaskTerms, plans: Sequence[TrialPlan], on_start: OnStart, on_done: OnDone) -> None:
        for plan in plans:
            on_start(plan)
            on_done(run_task(terms, plan))

    def close(self) -> None:
        pass


class RayExecutor:
    """Trials as Ray tasks, one CPU each; answers are taken as they finish."""

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigurationError(
                "Ray is not installed: install the extra (pip install 'autofund[scale]') or run with --serial"
            ) from exc
        self._ray = ray
        address = address or os.environ.get("RAY_ADDRESS") or None
        # Our own logging goes to the worker's log files, not through the driver's progress display.
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        if address:
            if num_cpus is not None:
                raise ConfigurationError("--num-cpus starts a local Ray; a cluster (--address) has its own CPUs")
            ray.init(address=address, **options)
            self.description = f"on the Ray cluster at {address}"
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **options)
            self.description = "on a local Ray started for this sweep"
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
        self.description += f" ({self.workers} CPUs)"
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_task)

    def run(self, terms: TaskTerms, plans: Sequence[TrialPlan], on_start: OnStart, on_done: OnDone) -> None:
        ray = self._ray
        shared = ray.put(terms)  # the settings once in the object store, not once per task
        pending: dict[Any, tuple[TrialPlan, float]] = {}
        for plan in plans:
            pending[self._remote.remote(shared, plan)] = (plan, time.perf_counter())
        started: set[Any] = set()
        for plan in plans[: self.workers]:
            on_start(plan)
            started.add(plan.key)
        waiting = [p for p in plans if p.key not in started]
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                plan, submitted = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the task itself failed: recorded as the trial's failure
                    logger.warning("trial %s: its Ray task failed: %s", plan.key[:12], exc)
                    outcome = lost_trial(plan, exc, submitted)
                on_done(outcome)
                if waiting:
                    on_start(waiting.pop(0))

    def close(self) -> None:
        self._ray.shutdown()


def make_executor(*, serial: bool, address: str | None, num_cpus: int | None) -> Executor:
    if serial:
        if address or num_cpus is not None:
            raise ConfigurationError("--serial runs in this process: leave out --address and --num-cpus")
        return SerialExecutor()
    return RayExecutor(address=address, num_cpus=num_cpus)
