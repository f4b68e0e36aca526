from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from trading.db.schema import StrategyPerformance
from trading.store.performance import EVIDENCE_COLUMNS, PerformanceRow, performance_by_strategy, record_performance


def period(
    strategy: str,
    month: int,
    total_return: float,
    *,
    regime: str = "bull_low_vol",
    sharpe: float | None = 1.0,
    drawdown: float | None = 0.05,
    source: str = "backtest-1",
) -> PerformanceRow:
    """One month of 2023 (month 1..12) of evidence."""
    start = date(2023, month, 1)
    end = date(2023, month, 28)
    return PerformanceRow(strategy, regime, start, end, total_return, source, sharpe, drawdown)


def stored_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(StrategyPerformance)).scalar_one())


def test_evidence_summarises_each_strategy_in_the_regime(engine: Engine) -> None:
    record_performance(
        engine,
        [
            period("growth_largecap", 1, 0.02, sharpe=1.0, drawdown=0.03),
            period("growth_largecap", 2, 0.04, sharpe=2.0, drawdown=0.08),
            period("dividend", 1, -0.01, sharpe=-0.5, drawdown=0.02),
            period("dividend", 2, 0.01, regime="bear_high_vol", drawdown=0.5),
        ],
    )
    evidence = performance_by_strategy(engine, "bull_low_vol")
    assert list(evidence.columns) == list(EVIDENCE_COLUMNS)
    assert evidence.index.name == "strategy"
    assert evidence.index.tolist() == ["dividend", "growth_largecap"]
    assert list(evidence.loc["growth_largecap"]) == pytest.approx([2, 0.03, 1.5, 0.08])
    assert list(evidence.loc["dividend"]) == pytest.approx([1, -0.01, -0.5, 0.02])
    assert evidence["periods"].dtype == np.int64


def test_evidence_from_periods_not_ended_before_the_decision_date_is_invisible(engine: Engine) -> None:
    # Period 3 ends on 2023-03-28: a decision on that day must not see it.
    record_performance(engine, [period("value_midcap", 2, 0.01), period("value_midcap", 3, 0.09)])
    assert performance_by_strategy(engine, "bull_low_vol", before=date(2023, 3, 28)).loc["value_midcap", "periods"] == 1
    assert performance_by_strategy(engine, "bull_low_vol", before=date(2023, 3, 29)).loc["value_midcap", "periods"] == 2
    assert performance_by_strategy(engine, "bull_low_vol", before=date(2023, 2, 28)).empty


def test_mean_sharpe_ignores_unknown_sharpes_and_is_nan_when_none_is_known(engine: Engine) -> None:
    record_performance(
        engine,
        [
            period("growth_midcap", 1, 0.01, sharpe=2.0),
            period("growth_midcap", 2, 0.01, sharpe=None),
            period("growth_midcap", 3, 0.01, sharpe=math.nan),
            period("value_largecap", 1, 0.01, sharpe=None, drawdown=None),
        ],
    )
    evidence = performance_by_strategy(engine, "bull_low_vol")
    assert evidence.loc["growth_midcap", "mean_sharpe"] == pytest.approx(2.0)
    assert evidence.loc["growth_midcap", "periods"] == 3
    assert evidence.loc["value_largecap", ["mean_sharpe", "worst_drawdown"]].isna().all()


def test_recording_the_same_period_again_replaces_it_instead_of_counting_twice(engine: Engine) -> None:
    record_performance(engine, [period("dividend", 1, 0.01, sharpe=0.5)])
    assert record_performance(engine, [period("dividend", 1, 0.03, sharpe=None)]) == 1
    assert stored_rows(engine) == 1
    evidence = performance_by_strategy(engine, "bull_low_vol")
    assert evidence.loc["dividend", "mean_return"] == pytest.approx(0.03)
    assert evidence.loc[["dividend"], "mean_sharpe"].isna().all()


def test_sources_are_kept_apart_and_can_be_selected(engine: Engine) -> None:
    record_performance(engine, [period("dividend", 1, 0.01), period("dividend", 1, 0.05, source="paper-account")])
    assert stored_rows(engine) == 2
    assert performance_by_strategy(engine, "bull_low_vol").loc["dividend", "periods"] == 2
    only_paper = performance_by_strategy(engine, "bull_low_vol", source="paper-account")
    assert only_paper.loc["dividend", "mean_return"] == pytest.approx(0.05)


def test_no_evidence_is_an_empty_frame_with_the_evidence_columns(engine: Engine) -> None:
    evidence = performance_by_strategy(engine, "sideways_low_vol")
    assert evidence.empty
    assert list(evidence.columns) == list(EVIDENCE_COLUMNS)
    assert record_performance(engine, []) == 0


def test_a_period_given_twice_in_one_call_is_refused_and_nothing_is_written(engine: Engine) -> None:
    with pytest.raises(ValueError, match="the same period appears twice in one call"):
        record_performance(
            engine, [period("dividend", 1, 0.01), period("dividend", 2, 0.0), period("dividend", 1, 0.02)]
        )
    assert stored_rows(engine) == 0


def test_many_periods_are_written_in_one_call(engine: Engine) -> None:
    months = pd.date_range("1990-01-01", periods=3_000, freq="MS")
    rows = [
        PerformanceRow("dividend", "bull_low_vol", start.date(), (start + pd.offsets.MonthEnd()).date(), 0.01, "bt")
        for start in months
    ]
    assert record_performance(engine, rows) == 3_000
    assert performance_by_strategy(engine, "bull_low_vol").loc["dividend", "periods"] == 3_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategy": "momentum"}, "unknown strategy"),
        ({"period_end": date(2022, 12, 31)}, "the period ends before it starts"),
        ({"total_return": math.nan}, "total_return nan is not a finite fraction"),
        ({"total_return": -1.5}, "total_return -1.5 is not a finite fraction >= -1"),
        ({"max_drawdown": -0.2}, "max_drawdown -0.2 is not a positive fraction in"),
        ({"sharpe_ratio": math.inf}, "sharpe_ratio inf is not finite"),
        ({"source": " "}, "regime and source must not be empty"),
    ],
)
def test_a_row_that_breaks_the_evidence_conventions_cannot_be_built(overrides: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "strategy": "dividend",
        "regime": "bull_low_vol",
        "period_start": date(2023, 1, 1),
        "period_end": date(2023, 1, 31),
        "total_return": 0.01,
        "source": "bt",
    }
    with pytest.raises(ValueError, match=message):
        PerformanceRow(**(fields | overrides))
