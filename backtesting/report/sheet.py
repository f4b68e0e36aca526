"""The tear sheet as plain data: everything the backtest's report shows, filled by the engine.

The HTML page (html.py) and the JSON form (json_form.py) render it; neither computes a metric of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from numbers import Real

import pandas as pd

SESSION_COLUMNS = ("equity", "benchmark", "cash", "exposure", "turnover", "costs", "regime", "strategy")
BENCHMARK = "benchmark"


@dataclass(frozen=True, eq=False)
class TearSheet:
    """One backtest's results, ready to render.

    sessions: one row per session (DatetimeIndex) of the main variant, with SESSION_COLUMNS: equity and
        benchmark in money (the benchmark bought and held with the same capital), cash and exposure as
        fractions of equity, turnover as the fraction of equity traded, costs in money paid that session,
        regime and strategy as labels.
    equity: one column per compared variant (the main one and 'benchmark' included), same sessions and capital.
    comparison: one row per variant, metric columns; `<metric>_low` / `<metric>_high` next to `<metric>` are
        shown as its interval.
    by_year / by_regime / by_strategy / decision_quality / calibration: small tables, index = label.
    eq=False: frames have no single truth value, so two sheets compare by identity.
    """

    title: str
    subtitle: str
    parameters: Mapping[str, str]
    notes: Sequence[str]
    main: str
    sessions: pd.DataFrame
    equity: pd.DataFrame
    comparison: pd.DataFrame
    verdicts: Sequence[str]
    by_year: pd.DataFrame
    by_regime: pd.DataFrame
    by_strategy: pd.DataFrame
    decision_quality: pd.DataFrame
    calibration: pd.DataFrame
    generated_at: datetime

    def __post_init__(self) -> None:
        # Fail where the sheet is built, not later inside a chart with a less helpful message.
        missing = [column for column in SESSION_COLUMNS if column not in self.sessions.columns]
        if missing:
            raise ValueError(f"sessions lacks the columns {missing}")
        for name in ("sessions", "equity"):
            if not isinstance(getattr(self, name).index, pd.DatetimeIndex):
                raise ValueError(f"{name} must be indexed by session (a DatetimeIndex)")
        if self.generated_at.tzinfo is None:
            raise ValueError("generated_at must be timezone-aware (UTC)")


def is_missing(value: object) -> bool:
    """True for None, NaN, NaT and pd.NA: shown as an en dash in the page, null in the JSON."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, Real) and math.isnan(float(value))
