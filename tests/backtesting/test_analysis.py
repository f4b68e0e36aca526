"""The verdict sentences of a backtest's comparison (backtesting/analysis.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtesting.analysis import verdict_lines, which_exclude_zero
from backtesting.statistics import Interval


def interval(low: float, high: float) -> Interval:
    return Interval((low + high) / 2, low, high, 0.95)


@pytest.mark.parametrize(
    ("sharpe", "cagr", "words"),
    [
        (interval(-0.5, 0.3), interval(-0.1, 0.05), "both intervals include zero: not distinguishable"),
        (interval(0.1, 0.6), interval(0.01, 0.05), "both intervals exclude zero"),
        (interval(0.1, 0.6), interval(-0.01, 0.05), "the Sharpe interval excludes zero, the CAGR interval does not"),
        (interval(-0.6, 0.1), interval(-0.15, -0.001), "the CAGR interval excludes zero, the Sharpe interval does not"),
    ],
)
def test_the_verdict_says_which_of_the_two_paired_intervals_exclude_zero(
    sharpe: Interval, cagr: Interval, words: str
) -> None:
    assert which_exclude_zero(sharpe, cagr) == words


def test_a_variant_that_adds_a_steady_return_to_another_beats_it_on_both_intervals() -> None:
    rng = np.random.default_rng(0)
    other = rng.normal(0.0003, 0.01, size=750)
    returns = pd.DataFrame({"main": other + 0.001, "other": other})

    (line,) = verdict_lines(returns, "main", seed=0)

    assert line.startswith("main beat other: Sharpe +")
    assert line.endswith("(95%; both intervals exclude zero).")
