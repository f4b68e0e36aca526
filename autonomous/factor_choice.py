"""Which single factor to hold, chosen from evidence known at a date: the factor with the best mean daily
rank IC over a window of the rankers' own rows (autonomous/ranking/dataset.py) that ends before the date.

Per strategy, because a factor portfolio ranks names within the strategy's universe: the IC that matters
is the one among those names, and the rankers it is compared with are per strategy too. The rows, labels
(forward excess returns over the rankers' horizon) and per-date rank ICs are exactly those a ranker's
evaluation scores the baselines on (autonomous/ranking/baselines.py). The caller hands in data whose
labels end before the date (`load_ranker_data` over a window ending before it reads no later bar), so
the choice cannot see the period it is used in.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from autonomous.factor_portfolio import FACTORS
from autonomous.ranking.baselines import baseline_scores, daily_baseline_rank_ic
from autonomous.ranking.dataset import RankerData
from autonomous.ranking.metrics import LABEL

# Before any choice is in force (too little history before the first date) a strategy holds its own
# universe score: the ordering the mock generator uses, which needs no evidence to justify.
DEFAULT_FACTOR = "universe_score"


@dataclass(frozen=True)
class FactorChoice:
    """The factor a strategy holds from `effective_from` on, and the evidence: each factor's mean daily
    rank IC (NaN: no date with enough names) and how many dates it was measured on, over the window."""

    strategy: str
    factor: str
    effective_from: date
    train_start: date
    train_end: date
    rank_ic: Mapping[str, float]
    dates: Mapping[str, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank_ic", MappingProxyType(dict(self.rank_ic)))
        object.__setattr__(self, "dates", MappingProxyType(dict(self.dates)))

    def describe(self) -> str:
        """'chosen 2013-09-03 on 2013-03-04..2013-08-30: mean rank IC mom_12_1 +0.0310 (24 dates), ...'."""
        figures = ", ".join(f"{name} {_signed(self.rank_ic[name])} ({self.dates[name]} dates)" for name in self.rank_ic)
        return f"chosen {self.effective_from} on {self.train_start}..{self.train_end}: mean rank IC {figures}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "train_start": str(self.train_start),
            "train_end": str(self.train_end),
            "rank_ic": {name: (value if math.isfinite(value) else None) for name, value in self.rank_ic.items()},
            "dates": dict(self.dates),
        }


def daily_factor_rank_ic(data: RankerData, strategy: str, *, min_names: int = 10) -> pd.DataFrame:
    """Per sample date (rows) and factor (columns), the rank IC among the strategy's universe rows with a
    known label; NaN where a factor has fewer than `min_names` names that date."""
    inputs, labels = data.rows_of(strategy)
    scores = baseline_scores(inputs, data.universe_score_of(strategy, inputs.index))
    scored = pd.DataFrame({LABEL: labels})
    return daily_baseline_rank_ic(scored, scores, min_names=min_names).reindex(columns=list(FACTORS))


def best_factor(daily: pd.DataFrame) -> str | None:
    """The factor with the highest mean daily rank IC; a tie goes to the earlier of FACTORS (a fixed
    order, so the same evidence always gives the same choice); None when no factor has an IC."""
    means = daily.reindex(columns=list(FACTORS)).mean(skipna=True)
    finite = [name for name in FACTORS if math.isfinite(float(means[name]))]
    if not finite:
        return None
    return max(finite, key=lambda name: (float(means[name]), -FACTORS.index(name)))


def choose_factor(data: RankerData, strategy: str, effective_from: date) -> FactorChoice | None:
    """The strategy's factor from `effective_from` on, from `data` (whose window must end before it);
    None when no factor has a rank IC in the window (the previous choice then stays in force)."""
    if data.end >= effective_from:
        raise ValueError(f"the window ends {data.end}: a factor chosen on it may not be used from {effective_from}")
    daily = daily_factor_rank_ic(data, strategy)
    chosen = best_factor(daily)
    if chosen is None:
        return None
    means = {name: float(daily[name].mean(skipna=True)) for name in FACTORS}
    counts = {name: int(np.isfinite(daily[name].to_numpy(dtype=np.float64)).sum()) for name in FACTORS}
    return FactorChoice(strategy, chosen, effective_from, data.start, data.end, means, counts)


@dataclass(frozen=True)
class FactorSchedule:
    """Which factor each strategy holds on a day: its latest choice effective by then (None before the
    first). Every choice's window ends before its effective date (checked), so no day uses a choice made
    with its own data."""

    choices: tuple[FactorChoice, ...]
    skipped: Mapping[date, str] = field(default_factory=dict)  # retraining dates without a choice, and why
    _by_strategy: Mapping[str, tuple[list[date], list[FactorChoice]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[FactorChoice]] = {}
        for choice in sorted(self.choices, key=lambda c: (c.strategy, c.effective_from)):
            if choice.train_end >= choice.effective_from:
                raise ValueError(
                    f"{choice.strategy}: a factor chosen on data up to {choice.train_end} is in force "
                    f"from {choice.effective_from} (look-ahead)"
                )
            grouped.setdefault(choice.strategy, []).append(choice)
        by_strategy = {name: ([c.effective_from for c in found], found) for name, found in grouped.items()}
        object.__setattr__(self, "_by_strategy", MappingProxyType(by_strategy))
        object.__setattr__(self, "skipped", MappingProxyType(dict(self.skipped)))

    def in_force(self, strategy: str, day: date) -> FactorChoice | None:
        days, found = self._by_strategy.get(strategy, ([], []))
        position = bisect.bisect_right(days, day)
        return found[position - 1] if position else None

    def as_dict(self) -> dict[str, Any]:
        """By effective date and strategy, the choice and its evidence (stored with a backtest run)."""
        by_date: dict[str, dict[str, Any]] = {}
        for choice in sorted(self.choices, key=lambda c: (c.effective_from, c.strategy)):
            by_date.setdefault(str(choice.effective_from), {})[choice.strategy] = choice.as_dict()
        return {"choices": by_date, "skipped": {str(day): why for day, why in self.skipped.items()}}

    def summary(self) -> list[str]:
        """One line per date: each factor and the strategies that hold it from then."""
        lines = []
        dates = sorted({c.effective_from for c in self.choices} | set(self.skipped))
        for day in dates:
            held: dict[str, list[str]] = {}
            for choice in self.choices:
                if choice.effective_from == day:
                    held.setdefault(choice.factor, []).append(choice.strategy)
            text = "; ".join(f"{factor}: {', '.join(sorted(names))}" for factor, names in sorted(held.items()))
            if day in self.skipped:
                text = (text + "; " if text else "") + f"no choice ({self.skipped[day]})"
            lines.append(f"{day} {text}")
        return lines


def _signed(value: float) -> str:
    return f"{value:+.4f}" if math.isfinite(value) else "n/a"
