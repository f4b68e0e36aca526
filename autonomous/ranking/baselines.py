"""Simple factor baselines a ranker has to beat, scored on exactly the rows the ranker is scored on.

A baseline is a score known at the decision date, higher meaning "expected to do better":
    mom_12_1        12-1 momentum (the return from 12 months to 1 month ago)
    low_vol         minus the 60-session volatility
    dist_sma200     distance of the close above its 200-session average
    universe_score  the score the strategy's own universe ranks by (autonomous/universes.py)
The first three are read from the ranker's inputs, which are the features' percentile ranks among
the eligible names at the date; a percentile rank orders the names as the raw feature does, so its
rank IC is the raw feature's. The universe score is the one `build_universes` gave at the date.

Per date, each baseline's rank IC against the same label is computed as the ranker's is
(`metrics.cross_sectional_ic`). A name without the baseline (NaN: e.g. under a year of history for
12-1 momentum) is left out of that baseline's ranking on that date, so the baseline ranks only the
names that have it; a date where fewer than `min_names` names have it gives that baseline no IC.
The ranker's IC on a date still uses all its names: each side is scored as it would be used.

The best baseline is the one with the highest mean rank IC over the window. Picking it after seeing
the window favours the baselines, so a ranker that beats it has beaten more than one fixed rule.
The comparison is the paired per-date difference, ranker minus best baseline, over the dates where
both have an IC; its t-statistic uses the same Newey-West lags as the ranker's IC, because the
labels of neighbouring sample dates overlap in the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autonomous.ranking.metrics import LABEL, PREDICTION, newey_west_t_stat, rank_ic_by_date

# name -> (ranker input column, sign): the sign makes higher better for every baseline.
FACTOR_BASELINES: Mapping[str, tuple[str, float]] = {
    "mom_12_1": ("mom_12_1_rank", 1.0),
    "low_vol": ("vol_60_rank", -1.0),
    "dist_sma200": ("dist_sma200_rank", 1.0),
}
UNIVERSE_SCORE = "universe_score"
BASELINES: tuple[str, ...] = (*FACTOR_BASELINES, UNIVERSE_SCORE)


def baseline_scores(inputs: pd.DataFrame, universe_score: pd.Series) -> pd.DataFrame:
    """The BASELINES as columns on the inputs' (date, ticker) index; NaN where a name lacks one."""
    columns = {name: sign * inputs[column].astype(np.float64) for name, (column, sign) in FACTOR_BASELINES.items()}
    columns[UNIVERSE_SCORE] = universe_score.reindex(inputs.index).astype(np.float64)
    return pd.DataFrame(columns, index=inputs.index)


@dataclass(frozen=True)
class ScoreFigures:
    """A score's mean rank IC over the dates where it has one, and the Newey-West t of that mean."""

    rank_ic: float
    rank_ic_t_stat: float
    dates: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "rank_ic": _json_safe(self.rank_ic),
            "rank_ic_t_stat": _json_safe(self.rank_ic_t_stat),
            "dates": self.dates,
        }


@dataclass(frozen=True)
class BaselineComparison:
    """The ranker against each baseline on the same rows; `best` is None when no baseline has an IC."""

    ranker: ScoreFigures
    baselines: dict[str, ScoreFigures]
    best: str | None
    difference: ScoreFigures  # ranker minus the best baseline, per date

    def as_dict(self) -> dict[str, Any]:
        return {
            "ranker": self.ranker.as_dict(),
            "factors": {name: figures.as_dict() for name, figures in self.baselines.items()},
            "best": self.best,
            "ranker_minus_best": self.difference.as_dict(),
        }


def compare_with_baselines(
    scored: pd.DataFrame, baselines: pd.DataFrame, *, overlap_lags: int, min_names: int = 10
) -> BaselineComparison:
    """`scored`: the ranker's `prediction` and `label` by (date, ticker); `baselines`: BASELINES columns
    on the same index (`baseline_scores`)."""
    if not scored.index.equals(baselines.index):
        raise ValueError("the baselines must be on the ranker's own (date, ticker) rows")
    ranker_daily = _daily_rank_ic(scored[PREDICTION], scored[LABEL], min_names)
    daily = {name: _daily_rank_ic(baselines[name], scored[LABEL], min_names) for name in baselines.columns}
    figures = {name: _figures(values, overlap_lags) for name, values in daily.items()}
    ranked = [name for name in figures if math.isfinite(figures[name].rank_ic)]
    best = max(ranked, key=lambda name: figures[name].rank_ic) if ranked else None
    if best is None:
        difference = ScoreFigures(math.nan, math.nan, 0)
    else:
        # Aligned on the date: a date where either side has no IC drops out of the pair.
        difference = _figures(ranker_daily - daily[best], overlap_lags)
    return BaselineComparison(_figures(ranker_daily, overlap_lags), figures, best, difference)


def daily_baseline_rank_ic(scored: pd.DataFrame, baselines: pd.DataFrame, *, min_names: int = 10) -> pd.DataFrame:
    """Per date (rows) and baseline (columns), the rank IC; NaN where the baseline has too few names."""
    return pd.DataFrame({name: _daily_rank_ic(baselines[name], scored[LABEL], min_names) for name in baselines.columns})


def _daily_rank_ic(score: pd.Series, label: pd.Series, min_names: int) -> pd.Series:
    frame = pd.DataFrame({PREDICTION: score, LABEL: label})
    return rank_ic_by_date(frame, min_names=min_names)


def _figures(daily: pd.Series, overlap_lags: int) -> ScoreFigures:
    values = daily.dropna().to_numpy(dtype=np.float64)
    mean = float(values.mean()) if len(values) else math.nan
    return ScoreFigures(mean, newey_west_t_stat(values, overlap_lags), len(values))


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None
