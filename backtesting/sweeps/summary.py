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
over the windows; only sessions every configuration has are compared.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtesting.statistics import (
    PBOResult,
    deflated_sharpe_ratio,
    per_period_sharpe,
    probability_of_backtest_overfitting,
)
from trading.store.sweeps import SweepRecord, TrialRecord

MAX_PARTITIONS = 16


@dataclass(frozen=True)
class Configuration:
    key: str
    settings: dict[str, Any]
    value: float | None  # the mean metric over its trials done
    trials: int
    failed: int
    seconds: float
    model_ids: tuple[int, ...]


@dataclass(frozen=True)
class SweepSummary:
    configurations: list[Configuration]  # best first; those without a value last
    deflated_sharpe: float | None  # of the best configuration, given how many were tried
    best_sharpe: float | None  # the best configuration's per-session Sharpe (not annualised)
    tried: int  # configurations with a series, the N of the deflation
    pbo: PBOResult | None
    notes: list[str]


def summarise(sweep: SweepRecord, trials: Sequence[TrialRecord]) -> SweepSummary:
    configurations = _configurations(sweep, trials)
    series = configuration_series(trials)
    notes: list[str] = []
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
    return SweepSummary(configurations, deflated, best_sharpe, len(usable), pbo, notes)


def _configurations(sweep: SweepRecord, trials: Sequence[TrialRecord]) -> list[Configuration]:
    groups: dict[str, list[TrialRecord]] = {}
    for trial in trials:
        groups.setdefault(trial.configuration, []).append(trial)
    found = []
    for key, group in groups.items():
        values = [t.metric_value for t in group if t.status == "done" and t.metric_value is not None]
        found.append(
            Configuration(
                key=key,
                settings=group[0].settings,
                value=statistics.fmean(values) if values else None,
                trials=len(group),
                failed=sum(t.status == "failed" for t in group),
                seconds=sum(t.duration_seconds for t in group),
                model_ids=tuple(i for t in group for i in t.model_ids),
            )
        )
    sign = -1.0 if sweep.direction == "maximize" else 1.0
    return sorted(found, key=lambda c: (c.value is None, sign * (c.value or 0.0), c.key))


def configuration_series(trials: Sequence[TrialRecord]) -> dict[str, pd.Series]:
    """Each configuration's per-session series: the mean over its seeds of each session, windows end to end."""
    frames: dict[str, list[pd.Series]] = {}
    for trial in trials:
        if trial.status != "done" or not trial.series.get("dates"):
            continue
        values = pd.Series(
            np.asarray(trial.series["values"], dtype=np.float64),
            index=pd.DatetimeIndex(trial.series["dates"]),
        )
        frames.setdefault(trial.configuration, []).append(values)
    merged = {}
    for key, parts in frames.items():
        stacked = pd.concat(parts, axis=1)
        merged[key] = stacked.mean(axis=1, skipna=True).sort_index().dropna()
    return merged


def _partitions(rows: int) -> int:
    """The most blocks (even, at most 16) that leave each at least 2 sessions; 0 when fewer than 2 fit."""
    for partitions in range(MAX_PARTITIONS, 1, -2):
        if rows // partitions >= 2:
            return partitions
    return 0
