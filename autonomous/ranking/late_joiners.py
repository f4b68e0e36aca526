"""A ranker's figures without the late joiners: the names with no fundamentals row at the decision date.

Why. The shared data projects today's index back in time and carries one fundamentals snapshot taken
after most of its history. A name without a snapshot row at a date is then mostly one that joined the
index later, and it joined because it had done well: its forward returns are biased upwards, and a
ranker that learned to spot such names (young listings, strong momentum) earns an IC no deployment could.
The figure on the rows with fundamentals only is the conservative one on such data.

The flag is point in time (`RankerData.has_fundamentals`): a name is a late joiner on the dates before
its first fundamentals row, and not after. When every scored row has fundamentals, or none has, the
split says nothing (there is only one figure), and it is reported as not informative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from autonomous.ranking.baselines import BaselineComparison, compare_with_baselines
from autonomous.ranking.metrics import DATE, RankingMetrics, ranking_metrics

SplitVerdict = Literal["informative", "all_have_fundamentals", "none_has_fundamentals", "no_rows"]


@dataclass(frozen=True)
class LateJoinerRows:
    """How many of the scored rows are late joiners, and from which date some name had fundamentals.

    `first_known` is the first scored date on which some name had fundamentals, `first_date` the
    first scored date: when fundamentals start inside the window (a snapshot dated mid-window), the
    figures without late joiners keep no row before `first_known` and cover fewer dates.
    """

    rows: int
    late_joiner_rows: int
    first_date: date | None
    first_known: date | None

    @property
    def verdict(self) -> SplitVerdict:
        if self.rows == 0:
            return "no_rows"
        if self.late_joiner_rows == 0:
            return "all_have_fundamentals"
        if self.late_joiner_rows == self.rows:
            return "none_has_fundamentals"
        return "informative"

    @property
    def informative(self) -> bool:
        return self.verdict == "informative"

    @property
    def starts_later(self) -> bool:
        """Whether the figures without late joiners begin after the first scored date."""
        return self.first_date is not None and self.first_known is not None and self.first_known > self.first_date

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rows": self.rows,
            "late_joiner_rows": self.late_joiner_rows,
            "first_date": _iso(self.first_date),
            "first_known": _iso(self.first_known),
        }


def count_late_joiners(has_fundamentals: pd.Series) -> LateJoinerRows:
    """The counts of the point-in-time flag on scored (date, ticker) rows."""
    kept = has_fundamentals.to_numpy(dtype=bool)
    dates = has_fundamentals.index.get_level_values(DATE)
    known_dates = dates[kept]
    return LateJoinerRows(
        rows=len(kept),
        late_joiner_rows=int((~kept).sum()),
        first_date=None if dates.empty else pd.Timestamp(dates.min()).date(),
        first_known=None if known_dates.empty else pd.Timestamp(known_dates.min()).date(),
    )


def on_known_dates(has_fundamentals: pd.Series) -> npt.NDArray[np.bool_]:
    """The rows dated on or after the first date some name had fundamentals: every name over the dates the
    figures without late joiners cover."""
    counts = count_late_joiners(has_fundamentals)
    dates = has_fundamentals.index.get_level_values(DATE)
    if counts.first_known is None:
        return np.zeros(len(dates), dtype=bool)
    return np.asarray(dates >= pd.Timestamp(counts.first_known), dtype=bool)


def rows_without_late_joiners(has_fundamentals: pd.Series) -> npt.NDArray[np.bool_] | None:
    """Which rows a figure without late joiners is computed on: those with fundamentals (every row
    when all have them: there is nothing to remove); None when no row has them (there is no such figure)."""
    if count_late_joiners(has_fundamentals).verdict in ("none_has_fundamentals", "no_rows"):
        return None
    return has_fundamentals.to_numpy(dtype=bool)


@dataclass(frozen=True)
class LateJoinerSplit(LateJoinerRows):
    """The ranker's figures on the scored rows whose names had fundamentals at the decision date.

    `metrics` and `baselines` are None when the split is not informative (`verdict`). When the figure
    without late joiners starts later than the window (`starts_later`), `same_dates` is the figure on
    every name from `first_known` on, so that the two differ by the names only, not by the period.
    """

    metrics: RankingMetrics | None
    baselines: BaselineComparison | None
    same_dates: RankingMetrics | None = None

    def as_dict(self) -> dict[str, Any]:
        figures = super().as_dict()
        if self.metrics is not None:
            figures.update(self.metrics.as_dict())
        if self.baselines is not None:
            figures["baselines"] = self.baselines.as_dict()
        if self.same_dates is not None:
            figures["every_name_same_dates"] = self.same_dates.as_dict()
        return figures

    def rank_ic_without_late_joiners(self, every_name: RankingMetrics) -> float | None:
        """The rank IC without late joiners: the split's when it is informative, every name's (the
        same rows) when every row has fundamentals, None when no row has (there is no such figure)."""
        if self.metrics is not None:
            return _finite(self.metrics.rank_ic)
        return _finite(every_name.rank_ic) if self.verdict == "all_have_fundamentals" else None

    def rank_ic_every_name_same_dates(self, every_name: RankingMetrics) -> float | None:
        """The rank IC on every name over the dates the figure without late joiners covers, its fair
        counterpart (`every_name` itself unless that figure starts later); None when there is no such figure."""
        if self.rank_ic_without_late_joiners(every_name) is None:
            return None
        return _finite((self.same_dates or every_name).rank_ic)


def split_late_joiners(
    scored: pd.DataFrame,
    baselines: pd.DataFrame,
    has_fundamentals: pd.Series,
    *,
    overlap_lags: int,
    min_names: int = 10,
) -> LateJoinerSplit:
    """`scored` (prediction, label) and `baselines` (baselines.baseline_scores) on the same (date,
    ticker) rows; `has_fundamentals` the point-in-time flag on those rows. The comparison with the
    baselines is redone on the kept rows, so the best baseline may differ from the one on all rows."""
    if not scored.index.equals(has_fundamentals.index):
        raise ValueError("the fundamentals flag must be on the scored (date, ticker) rows")
    counts = count_late_joiners(has_fundamentals)
    rows, late, first_date, first_known = counts.rows, counts.late_joiner_rows, counts.first_date, counts.first_known
    if not counts.informative:
        return LateJoinerSplit(rows, late, first_date, first_known, None, None)
    kept = has_fundamentals.to_numpy(dtype=bool)
    metrics = ranking_metrics(scored[kept], overlap_lags=overlap_lags, min_names=min_names)
    comparison = compare_with_baselines(scored[kept], baselines[kept], overlap_lags=overlap_lags, min_names=min_names)
    same_dates = None
    if counts.starts_later:
        known = on_known_dates(has_fundamentals)
        same_dates = ranking_metrics(scored[known], overlap_lags=overlap_lags, min_names=min_names)
    return LateJoinerSplit(rows, late, first_date, first_known, metrics, comparison, same_dates)


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
