"""What `fund sweep show` says of a sweep: its configurations best first (the mean metric over their seeds and
windows), and how much the best one's figure is worth given how many were tried.

- The deflated Sharpe ratio (Bailey & López de Prado 2014; backtesting/statistics.py) of the best
  configuration's per-session series (the daily returns of a backtest or an agent's held-out pass; the rank
  IC of a ranker on sample dates whose labels do not overlap, whose "Sharpe" is the IC's information ratio),
  against the Sharpe ratios of all the configurations tried: the
  probability that its true Sharpe is above zero once the selection among N is accounted for.
- The probability of backtest overfitting (CSCV) across the configurations' series: how often the best
  configuration on one half of the sessions ranks below the median on the other half.

A configuration's series is its trials' series averaged over seeds, session by session, and laid end to end
over the windows; only sessions every configuration has are compared. A ranker sweep ranked by the rank IC
without late joiners (autonomous/ranking/late_joiners.py) takes the series of that figure on the same dates.

The configurations may be ranked by another metric the trials report than the sweep's own (`fund sweep show
--metric`), in the sweep's direction: a ranker sweep run by the rank IC over every name can be read by the
figure without late joiners, the one to believe on survivorship-biased data, without running it again.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtesting.statistics import (
    PBOResult,
    deflated_sharpe_ratio,
    per_period_sharpe,
    probability_of_backtest_overfitting,
)
from backtesting.sweeps.spec import (
    METRICS,
    RANK_IC_EVERY_NAME_SAME_DATES,
    RANK_IC_WITHOUT_LATE_JOINERS,
    VALUES_WITHOUT_LATE_JOINERS,
)
from trading.errors import ConfigurationError
from trading.store.sweeps import SweepRecord, TrialRecord

MAX_PARTITIONS = 16
# The series key of a metric whose values are not the trial's main series ("values").
SERIES_VALUES = {RANK_IC_WITHOUT_LATE_JOINERS: VALUES_WITHOUT_LATE_JOINERS}
# Figures shown beside the ranking metric, each configuration's mean over its trials: a ranker's rank IC over
# every name, without the late joiners, and over every name on the dates the latter covers (those that do not
# rank the sweep).
BESIDE = {"ranker": ("rank_ic", RANK_IC_WITHOUT_LATE_JOINERS, RANK_IC_EVERY_NAME_SAME_DATES)}


@dataclass(frozen=True)
class Configuration:
    key: str
    settings: dict[str, Any]
    value: float | None  # the mean metric over its trials done
    trials: int
    failed: int
    seconds: float
    model_ids: tuple[int, ...]
    beside: dict[str, float | None] = field(default_factory=dict)  # BESIDE's figures, the mean over trials


@dataclass(frozen=True)
class SweepSummary:
    metric: str  # what ranks the configurations: the sweep's metric unless another was asked for
    beside: tuple[str, ...]  # the figures each configuration shows beside it
    configurations: list[Configuration]  # best first; those without a value last
    deflated_sharpe: float | None  # of the best configuration, given how many were tried
    best_sharpe: float | None  # the best configuration's per-session Sharpe (not annualised)
    tried: int  # configurations with a series, the N of the deflation
    pbo: PBOResult | None
    notes: list[str]


def summarise(sweep: SweepRecord, trials: Sequence[TrialRecord], metric: str | None = None) -> SweepSummary:
    """The sweep by its own metric, or by `metric` (another one its trials report)."""
    metric = metric or sweep.metric
    if metric not in METRICS.get(sweep.kind, ()):
        raise ConfigurationError(
            f"metric {metric!r}: a {sweep.kind} trial reports {', '.join(METRICS.get(sweep.kind, ()))}"
        )
    beside = tuple(name for name in BESIDE.get(sweep.kind, ()) if name != metric)
    configurations = _configurations(sweep, trials, metric, beside)
    series = configuration_series(trials, metric)
    notes = _late_joiner_notes(sweep, trials, metric)
    best = next((c for c in configurations if c.value is not None), None)
    deflated = best_sharpe = None
    usable = {k: s for k, s in series.items() if len(s) >= 3 and math.isfinite(float(per_period_sharpe(s.to_numpy())))}
    if best is not None and best.key in usable and len(usable) >= 2:
        sharpes = [float(per_period_sharpe(s.to_numpy())) for s in usable.values()]
        chosen = usable[best.key].to_numpy()
        best_sharpe = float(per_period_sharpe(chosen))
        deflated = deflated_sharpe_ratio(chosen, sharpes)
    elif best is not None:
        notes.append("no deflated Sharpe: it needs the series of at least 2 configurations, the best among them")
    pbo = None
    matrix = pd.DataFrame(usable).dropna()
    partitions = _partitions(len(matrix))
    if matrix.shape[1] >= 2 and partitions:
        pbo = probability_of_backtest_overfitting(matrix, partitions=partitions)
    elif best is not None:
        notes.append(
            f"no probability of overfitting: CSCV needs 2 configurations and 4 common sessions or more "
            f"({matrix.shape[1]} configuration(s), {len(matrix)} common sessions)"
        )
    return SweepSummary(metric, beside, configurations, deflated, best_sharpe, len(usable), pbo, notes)


def trial_value(trial: TrialRecord, metric: str, sweep_metric: str) -> float | None:
    """The trial's figure for `metric`: its stored metric value for the sweep's own, else from its metrics
    (None for a trial stored before it reported that metric)."""
    if trial.status != "done":
        return None
    value = trial.metric_value if metric == sweep_metric else trial.metrics.get(metric)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _configurations(
    sweep: SweepRecord, trials: Sequence[TrialRecord], metric: str, beside: Sequence[str]
) -> list[Configuration]:
    groups: dict[str, list[TrialRecord]] = {}
    for trial in trials:
        groups.setdefault(trial.configuration, []).append(trial)
    found = []
    for key, group in groups.items():
        found.append(
            Configuration(
                key=key,
                settings=group[0].settings,
                value=_mean([trial_value(t, metric, sweep.metric) for t in group]),
                trials=len(group),
                failed=sum(t.status == "failed" for t in group),
                seconds=sum(t.duration_seconds for t in group),
                model_ids=tuple(i for t in group for i in t.model_ids),
                beside={name: _mean([trial_value(t, name, sweep.metric) for t in group]) for name in beside},
            )
        )
    sign = -1.0 if sweep.direction == "maximize" else 1.0
    return sorted(found, key=lambda c: (c.value is None, sign * (c.value or 0.0), c.key))


def configuration_series(trials: Sequence[TrialRecord], metric: str | None = None) -> dict[str, pd.Series]:
    """Each configuration's per-session series: the mean over its seeds of each session, windows end to end.
    The series of `metric` where the trials store one for it (SERIES_VALUES), else their main one."""
    values_key = SERIES_VALUES.get(metric or "", "values")
    frames: dict[str, list[pd.Series]] = {}
    for trial in trials:
        if trial.status != "done" or not trial.series.get("dates") or values_key not in trial.series:
            continue  # a trial stored before its kind kept this series has none
        values = pd.Series(
            np.asarray(trial.series[values_key], dtype=np.float64),  # None (a date without the figure) reads as NaN
            index=pd.DatetimeIndex(trial.series["dates"]),
        ).dropna()
        if values.empty:
            continue
        frames.setdefault(trial.configuration, []).append(values)
    merged = {}
    for key, parts in frames.items():
        stacked = pd.concat(parts, axis=1)
        merged[key] = stacked.mean(axis=1, skipna=True).sort_index().dropna()
    return merged


def _late_joiner_notes(sweep: SweepRecord, trials: Sequence[TrialRecord], metric: str) -> list[str]:
    """Which of a ranker sweep's two rank ICs to believe, when its trials held late joiners out, and on how
    many trials the figure without them exists (none on a window before any fundamentals row)."""
    done = [t for t in trials if t.status == "done" and isinstance(t.metrics.get("late_joiner_share"), int | float)]
    if sweep.kind != "ranker" or not done or max(t.metrics["late_joiner_share"] for t in done) == 0:
        return []
    covered = sum(trial_value(t, RANK_IC_WITHOUT_LATE_JOINERS, sweep.metric) is not None for t in done)
    if not covered:
        return ["no held-out row has a fundamentals row at its date: there is no rank IC without late joiners"]
    share = statistics.fmean(t.metrics["late_joiner_share"] for t in done)
    held = f"late joiners (no fundamentals row at the decision date) are {share:.0%} of the held-out rows"
    if covered < len(done):
        held += (
            f"; the rank IC without them exists on {covered} of {len(done)} trials (no name had a fundamentals row "
            "in the others' windows)"
        )
    if metric == RANK_IC_WITHOUT_LATE_JOINERS:
        return [f"ranked by the rank IC without late joiners, the conservative figure, with its own series: {held}"]
    return [
        f"{held}: believe the rank IC without them, the conservative one on survivorship-biased data; "
        f"`fund sweep show {sweep.name} --metric {RANK_IC_WITHOUT_LATE_JOINERS}` ranks by it, with its deflated "
        "Sharpe and PBO"
    ]


def _partitions(rows: int) -> int:
    """The most blocks (even, at most 16) that leave each at least 2 sessions; 0 when fewer than 2 fit."""
    for partitions in range(MAX_PARTITIONS, 1, -2):
        if rows // partitions >= 2:
            return partitions
    return 0
