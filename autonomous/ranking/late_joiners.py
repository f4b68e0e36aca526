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

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from autonomous.ranking.baselines import BaselineComparison, compare_with_baselines
from autonomous.ranking.metrics import DATE, RankingMetrics, ranking_metrics

SplitVerdict = Literal["informative", "all_have_fundamentals", "none_has_fundamentals", "no_rows"]


@dataclass(frozen=True)
class LateJoinerSplit:
    """The ranker's figures on the scored rows whose names had fundamentals at the decision date.

    `metrics` and `baselines` are None when the split is not informative (`verdict`).
    `first_known` is the first scored date on which some name had fundamentals, `first_date` the
    first scored date: when fundamentals start inside the window (a snapshot dated mid-window), the
    figure without late joiners keeps no row before `first_known` and covers fewer dates; then
    `same_dates` is the figure on every name from `first_known` on, so that the two differ by the
    names only, not by the period.
    """

    rows: int
    late_joiner_rows: int
    first_date: date | None
    first_known: date | None
    metrics: RankingMetrics | None
    baselines: BaselineComparison | None
    same_dates: RankingMetrics | None = None

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
        """Whether the figure without late joiners begins after the first scored date."""
        return self.first_date is not None and self.first_known is not None and self.first_known > self.first_date

    def as_dict(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "verdict": self.verdict,
            "rows": self.rows,
            "late_joiner_rows": self.late_joiner_rows,
            "first_date": _iso(self.first_date),
            "first_known": _iso(self.first_known),
        }
        if self.metrics is not None:
            figures.update(self.metrics.as_dict())
        if self.baselines is not None:
            figures["baselines"] = self.baselines.as_dict()
        if self.same_dates is not None:
            figures["every_name_same_dates"] = self.same_dates.as_dict()
        return figures


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
    kept = has_fundamentals.to_numpy(dtype=bool)
    rows, late = len(kept), int((~kept).sum())
    dates = has_fundamentals.index.get_level_values(DATE)
    first_date = None if dates.empty else pd.Timestamp(dates.min()).date()
    known_dates = dates[kept]
    first_known = None if known_dates.empty else pd.Timestamp(known_dates.min()).date()
    if rows == 0 or late in (0, rows):
        return LateJoinerSplit(rows, late, first_date, first_known, None, None)
    metrics = ranking_metrics(scored[kept], overlap_lags=overlap_lags, min_names=min_names)
    comparison = compare_with_baselines(scored[kept], baselines[kept], overlap_lags=overlap_lags, min_names=min_names)
    same_dates = None
    if first_known is not None and first_date is not None and first_known > first_date:
        on_known_dates = np.asarray(dates >= pd.Timestamp(first_known), dtype=bool)
        same_dates = ranking_metrics(scored[on_known_dates], overlap_lags=overlap_lags, min_names=min_names)
    return LateJoinerSplit(rows, late, first_date, first_known, metrics, comparison, same_dates)


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
