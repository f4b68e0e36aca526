"""`fund sweep`: run a spec's trials (backtests, ranker or agent trainings) on Ray or serially (run), and read
the results (list, show). The backtesting package, Ray and Optuna are imported inside the commands."""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app

if TYPE_CHECKING:
    from backtesting.sweeps.runner import SweepProgress
    from backtesting.sweeps.summary import SweepSummary

logger = logging.getLogger(__name__)


@click.group()
def sweep() -> None:
    """Trials of backtests and model trainings over settings, seeds and windows, on Ray or serially."""


@sweep.command("run")
@click.argument("spec_path", metavar="SPEC.toml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--address", default=None, help="An existing Ray cluster (default: $RAY_ADDRESS, else a local Ray).")
@click.option("--num-cpus", type=click.IntRange(min=1), default=None, help="CPUs of the local Ray (default: all).")
@click.option("--serial", is_flag=True, help="Run the trials one after another in this process, without Ray.")
@pass_app
@fails_cleanly
def run(app: AppContext, spec_path: Path, address: str | None, num_cpus: int | None, serial: bool) -> None:
    """Run the trials of SPEC.toml not done yet, and show the sweep's best configurations."""
    from backtesting.job import code_version
    from backtesting.sweeps.executors import make_executor
    from backtesting.sweeps.runner import run_sweep
    from backtesting.sweeps.spec import load_spec

    spec = load_spec(spec_path, app.settings)  # the whole spec is checked before anything runs
    engine = app.migrated_engine()
    url = _absolute(engine.url.render_as_string(hide_password=False))
    executor = make_executor(serial=serial, address=address, num_cpus=num_cpus)
    try:
        click.echo(f"sweep {spec.name!r}: {spec.kind} trials ranked by {spec.metric}, {executor.description}")
        with _Display(spec.metric) as display:
            result = run_sweep(engine, url, app.settings, spec, executor, code=code_version(), on_progress=display)
    finally:
        executor.close()
    progress = result.progress
    click.echo(
        f"sweep {result.sweep.id} ({result.sweep.name}): {progress.done} trial(s) run, {progress.failed} failed, "
        f"{progress.skipped} already done, in {result.seconds:.1f} s"
    )
    _show(app, result.sweep.id, limit=10)


@sweep.command("show")
@click.argument("reference", metavar="ID|NAME")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Configurations shown.")
@click.option("--trials", "show_trials", is_flag=True, help="Also list the trials themselves, best first.")
@click.option("--failed", "show_failed", is_flag=True, help="Also list each failed trial with its error.")
@click.option(
    "--metric",
    default=None,
    help="Rank by another metric the trials report (default: the sweep's), e.g. rank_ic_without_late_joiners.",
)
@pass_app
@fails_cleanly
def show(app: AppContext, reference: str, limit: int, show_trials: bool, show_failed: bool, metric: str | None) -> None:
    """The sweep's configurations best first, the deflated Sharpe of the best, and the PBO."""
    _show(app, reference, limit=limit, show_trials=show_trials, show_failed=show_failed, metric=metric)


@sweep.command("list")
@pass_app
@fails_cleanly
def list_command(app: AppContext) -> None:
    """The sweeps, newest first, with their trials counted."""
    from trading.store.sweeps import list_sweeps

    found = list_sweeps(app.migrated_engine())
    if not found:
        click.echo("no sweeps stored (`fund sweep run SPEC.toml`)")
        return
    for record, counts in found:
        click.echo(
            f"{record.id:>4}  {record.updated_at:%Y-%m-%d %H:%M}  {record.name:<28} {record.kind:<8} "
            f"{record.search:<6} by {record.metric:<16} {counts.get('done', 0)} done, {counts.get('failed', 0)} failed"
        )


# Column headings of the figures shown beside the ranking metric (summary.BESIDE).
BESIDE_HEADINGS = {
    "rank_ic": "rank_ic",
    "rank_ic_without_late_joiners": "w/o late",
    "rank_ic_every_name_same_dates": "same dates",
}
BESIDE_LEGEND = {
    "rank_ic_without_late_joiners": (
        "w/o late: the rank IC without late joiners (no fundamentals row at the decision date), the one to believe"
    ),
    "rank_ic_every_name_same_dates": (
        "same dates: the rank IC on every name over the dates the figure without late joiners covers"
    ),
}


def _show(
    app: AppContext,
    reference: str | int,
    *,
    limit: int,
    show_trials: bool = False,
    show_failed: bool = False,
    metric: str | None = None,
) -> None:
    from backtesting.sweeps.summary import summarise, trial_value
    from trading.store.sweeps import get_sweep, sweep_trials

    engine = app.migrated_engine()
    record = get_sweep(engine, reference)
    trials = sweep_trials(engine, record.id)
    summary = summarise(record, trials, metric)
    ranked_by = record.metric if summary.metric == record.metric else f"{summary.metric} (the sweep's: {record.metric})"
    click.echo(
        f"sweep {record.id} {record.name!r}: {record.kind} trials by {ranked_by} ({record.direction}), "
        f"{len(summary.configurations)} configuration(s), {len(trials)} trial(s)"
    )
    varied = _varied(record.spec)
    width = max(12, len(summary.metric))
    beside = "".join(f" {BESIDE_HEADINGS.get(name, name):>10}" for name in summary.beside)
    click.echo(f"  {'#':>3} {summary.metric:>{width}}{beside} {'trials':>7} {'failed':>7} {'seconds':>8}  settings")
    for rank, configuration in enumerate(summary.configurations[:limit], start=1):
        shown = {k: v for k, v in configuration.settings.items() if k in varied} or configuration.settings
        settings = _settings_text(shown)
        figures = "".join(f" {_number(configuration.beside.get(name)):>10}" for name in summary.beside)
        click.echo(
            f"  {rank:>3} {_number(configuration.value):>{width}}{figures} {configuration.trials:>7} "
            f"{configuration.failed:>7} {configuration.seconds:>8.1f}  {settings}"
        )
    # Explained only where some configuration has the figure (not for trials stored before it existed).
    shown_figures = {name for c in summary.configurations for name, value in c.beside.items() if value is not None}
    legend = [BESIDE_LEGEND[name] for name in summary.beside if name in BESIDE_LEGEND and name in shown_figures]
    if legend:
        click.echo("  " + "; ".join(legend))
    _print_verdict(record.kind, summary)
    if show_trials:
        values = {t.id: trial_value(t, summary.metric, record.metric) for t in trials}
        done = [t for t in trials if values[t.id] is not None]
        done.sort(key=lambda t: values[t.id] or 0.0, reverse=record.direction == "maximize")
        headings = ", ".join(BESIDE_HEADINGS.get(name, name) for name in summary.beside)
        click.echo(
            f"  trials best first (of {len(done)} with a {summary.metric}"
            + (f"; beside it {headings}):" if headings else "):")
        )
        for trial in done[:limit]:
            shown = {k: v for k, v in trial.settings.items() if k in varied} or trial.settings
            settings = _settings_text(shown)
            figures = "".join(f" {_number(trial_value(trial, name, record.metric)):>10}" for name in summary.beside)
            click.echo(
                f"  {_number(values[trial.id]):>{width}}{figures}  seed {trial.seed}  "
                f"{trial.window_start}..{trial.window_end}  {trial.duration_seconds:6.1f} s  {trial.worker}  {settings}"
            )
    if show_failed:
        for trial in trials:
            if trial.status == "failed":
                first = (trial.error or "").splitlines()[0] if trial.error else "no error recorded"
                click.echo(f"  failed: seed {trial.seed}, {trial.window_start}..{trial.window_end}: {first}")


def _print_verdict(kind: str, summary: SweepSummary) -> None:
    from backtesting.sweeps.spec import RANK_IC_WITHOUT_LATE_JOINERS

    what = "daily returns"
    if kind == "ranker":
        without = " without late joiners" if summary.metric == RANK_IC_WITHOUT_LATE_JOINERS else ""
        what = f"rank IC{without} on dates whose labels do not overlap"
    if summary.deflated_sharpe is not None:
        click.echo(
            f"  the best of {summary.tried} configurations: deflated Sharpe {summary.deflated_sharpe:.2f} "
            f"(the probability that the Sharpe of its {what}, {summary.best_sharpe:.3f} an observation, is above zero "
            f"once the choice among {summary.tried} is accounted for)"
        )
    if summary.pbo is not None:
        click.echo(
            f"  probability of backtest overfitting (CSCV, {summary.pbo.combinations} splits): {summary.pbo.pbo:.0%}; "
            "near 50% or more, the best configuration in one half of the sessions says little of the other half"
        )
    for note in summary.notes:
        click.echo(f"  {note}")


def _varied(spec: dict[str, Any]) -> set[str]:
    grid = spec.get("grid") or {}
    search = spec.get("search") or {}
    return set(grid) | set(search.get("space") or {})


def _settings_text(settings: dict[str, Any]) -> str:
    # A searched float reads as 0.1058, not 0.105802315766.
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items())


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _absolute(url: str) -> str:
    """A SQLite path made absolute: Ray's workers do not run in this directory."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return parsed.set(database=str(Path(parsed.database).resolve())).render_as_string(hide_password=False)
    return url


class _Display:
    """Trials done, running and failed and the best so far: a live line on a terminal, log lines otherwise."""

    def __init__(self, metric: str) -> None:
        self._metric = metric
        self._live: Any = None
        self._last_logged = 0.0

    def __enter__(self) -> _Display:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self._live = Live("", console=Console(stderr=True), transient=True, refresh_per_second=4)
            self._live.start()
        return self

    def __call__(self, progress: SweepProgress) -> None:
        best = "-" if progress.best is None else f"{progress.best:.4f}"
        finished = progress.done + progress.failed + progress.skipped
        line = (
            f"trials {finished}/{progress.total}: {progress.done} done, {progress.running} running, "
            f"{progress.failed} failed, {progress.skipped} skipped; best trial {self._metric} {best}"
        )
        if self._live is not None:
            self._live.update(line)
            return
        now = time.monotonic()
        if now - self._last_logged >= 10 or finished == progress.total:
            self._last_logged = now
            logger.warning("%s", line)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
