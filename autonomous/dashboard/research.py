"""What the dashboard shows of the research tables: the stored sweeps, one sweep ranked and deflated as
`fund sweep show` ranks and deflates it, and a stored backtest's tear sheet as `fund backtest report` renders it.

The backtesting package sits above this one: like the CLI's commands, each function imports it when called,
so importing the dashboard (or `fund --help`) does not load it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine, func, select

from trading.db.schema import SweepTrial
from trading.store import connection_for
from trading.store.sweeps import SweepRecord, get_sweep, list_sweeps, sweep_trials

if TYPE_CHECKING:
    from backtesting.sweeps.summary import Configuration, SweepSummary

BEST_SERIES_SHOWN = 5  # configurations whose per-session series are drawn, best first


def sweeps(engine: Engine) -> pd.DataFrame:
    """Every sweep, newest first: what its trials are, how they rank, how many are done or failed, and when."""
    last_trials = _last_trial_times(engine)
    return pd.DataFrame(
        [
            {
                "sweep": record.id,
                "name": record.name,
                "kind": record.kind,
                "metric": record.metric,
                "direction": record.direction,
                "search": record.search,
                "done": counts.get("done", 0),
                "failed": counts.get("failed", 0),
                "started": record.created_at,
                "last trial": last_trials.get(record.id),
            }
            for record, counts in list_sweeps(engine)
        ]
    )


def _last_trial_times(engine: Engine) -> dict[int, datetime]:
    with connection_for(engine) as connection:
        rows = connection.execute(
            select(SweepTrial.sweep_id, func.max(SweepTrial.finished_at)).group_by(SweepTrial.sweep_id)
        ).all()
    return {int(sweep_id): finished for sweep_id, finished in rows}


@dataclass(frozen=True)
class SweepView:
    """One sweep as `fund sweep show` reports it, as frames for the page."""

    title: str
    kind: str
    metric: str
    configurations: pd.DataFrame  # best first: rank, the mean metric, trials, failed, seconds, the varied settings
    labels: list[str]  # each configuration's rank and varied settings, in the same order
    deflated_sharpe: float | None  # of the best configuration, given how many were tried
    best_sharpe: float | None  # the best configuration's per-session Sharpe (not annualised)
    tried: int  # configurations with a series: the N of the deflation
    pbo: float | None  # the probability of backtest overfitting (CSCV)
    pbo_splits: int | None
    notes: list[str]
    best_series: pd.DataFrame  # by session, one column per configuration shown: its cumulative series


def sweep_view(engine: Engine, sweep_id: int) -> SweepView:
    from backtesting.sweeps.summary import configuration_series, summarise

    record = get_sweep(engine, sweep_id)
    trials = sweep_trials(engine, record.id)
    summary = summarise(record, trials)
    labels = configuration_labels(record, summary)
    return SweepView(
        title=(
            f"Sweep {record.id} '{record.name}': {record.kind} trials by {record.metric} ({record.direction}), "
            f"{len(summary.configurations)} configuration(s), {len(trials)} trial(s)"
        ),
        kind=record.kind,
        metric=record.metric,
        configurations=configurations_frame(record, summary),
        labels=labels,
        deflated_sharpe=summary.deflated_sharpe,
        best_sharpe=summary.best_sharpe,
        tried=summary.tried,
        pbo=summary.pbo.pbo if summary.pbo is not None else None,
        pbo_splits=summary.pbo.combinations if summary.pbo is not None else None,
        notes=list(summary.notes),
        best_series=_best_series(record.kind, summary, labels, configuration_series(trials, record.metric)),
    )


def configurations_frame(record: SweepRecord, summary: SweepSummary) -> pd.DataFrame:
    """The configurations in the summary's order (best first), with the settings the spec varies as columns."""
    varied = varied_settings(record.spec)
    return pd.DataFrame(
        [
            {
                "rank": rank,
                record.metric: configuration.value,
            }
            # A ranker's rank IC over every name and without the late joiners, whichever does not rank it.
            | {name: configuration.beside.get(name) for name in summary.beside}
            | {
                "trials": configuration.trials,
                "failed": configuration.failed,
                "seconds": round(configuration.seconds, 1),
            }
            | _shown_settings(configuration, varied)
            for rank, configuration in enumerate(summary.configurations, start=1)
        ]
    )


def configuration_labels(record: SweepRecord, summary: SweepSummary) -> list[str]:
    varied = varied_settings(record.spec)
    return [
        configuration_label(rank, _shown_settings(configuration, varied))
        for rank, configuration in enumerate(summary.configurations, start=1)
    ]


def varied_settings(spec: dict[str, Any]) -> list[str]:
    """The settings a sweep's grid or search varies, in the spec's order (the rest are the same for all)."""
    grid = spec.get("grid") or {}
    space = (spec.get("search") or {}).get("space") or {}
    return list(dict.fromkeys([*grid, *space]))


def _shown_settings(configuration: Configuration, varied: list[str]) -> dict[str, Any]:
    settings = configuration.settings
    shown = {key: settings.get(key) for key in varied} if varied else dict(settings)
    # One column holds one type: a list or a table of settings reads as its text.
    return {key: value if isinstance(value, str | int | float | bool) else str(value) for key, value in shown.items()}


def configuration_label(rank: int, settings: dict[str, Any]) -> str:
    """'#1 strategy.top_n=10, risk.max_daily_turnover=0.1': a configuration as a chart's legend names it."""
    text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items())
    return f"#{rank} {text}" if text else f"#{rank}"


def _best_series(kind: str, summary: SweepSummary, labels: list[str], series: dict[str, pd.Series]) -> pd.DataFrame:
    """The best configurations' per-session series, accumulated: the growth of 1 for daily returns, the running
    sum for a ranker's rank IC."""
    columns: dict[str, pd.Series] = {}
    ranked = [(label, c) for label, c in zip(labels, summary.configurations, strict=True) if c.key in series]
    for label, configuration in ranked[:BEST_SERIES_SHOWN]:
        values = series[configuration.key]
        columns[label] = values.cumsum() if kind == "ranker" else (1.0 + values).cumprod()
    return pd.DataFrame(columns)


def series_label(kind: str) -> str:
    return "cumulative rank IC (sample dates whose labels do not overlap)" if kind == "ranker" else "growth of 1"


def number_text(value: float | None, form: str = ".2f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, form)


def tear_sheet_html(engine: Engine, run_id: int) -> str:
    """The stored backtest's tear sheet, the page `fund backtest report RUN_ID` writes (self-contained HTML)."""
    from backtesting.report.html import render_html
    from backtesting.tearsheet import build_tearsheet

    return render_html(build_tearsheet(engine, run_id))
