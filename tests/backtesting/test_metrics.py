"""Metrics of an equity curve: cross-checked against empyrical, against hand-computed curves, and
for the degenerate curves (flat, one session) that must give NaN rather than raise."""

from __future__ import annotations

import json
import math
from datetime import date

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtesting.metrics import ATTRIBUTION_COLUMNS, by_year, compute_metrics, longest_drawdown, metrics_by_group
from backtesting.returns import monthly_returns

PPY = 252


def equity_from(returns: np.ndarray, start: str = "2019-01-02", level: float = 100.0) -> pd.Series:
    """An equity curve that starts at `level` and then earns `returns`, one business day per session."""
    sessions = pd.bdate_range(start, periods=len(returns) + 1)
    return pd.Series(level * np.concatenate([[1.0], np.cumprod(1.0 + returns)]), index=sessions)


@pytest.fixture(scope="module")
def random_returns() -> tuple[np.ndarray, np.ndarray]:
    """1000 sessions of a strategy and a correlated benchmark (seeded)."""
    rng = np.random.default_rng(7)
    market = rng.normal(0.0004, 0.011, 1000)
    strategy = 0.7 * market + rng.normal(0.0002, 0.006, 1000)
    return strategy, market


EMPYRICAL_CROSS_CHECKS = {
    "sharpe": lambda r: empyrical.sharpe_ratio(r, annualization=PPY),
    "sortino": lambda r: empyrical.sortino_ratio(r, annualization=PPY),
    "volatility": lambda r: empyrical.annual_volatility(r, annualization=PPY),
    "cagr": lambda r: empyrical.cagr(r, annualization=PPY),
    "calmar": lambda r: empyrical.calmar_ratio(r, annualization=PPY),
    "max_drawdown": empyrical.max_drawdown,
    "total_return": empyrical.cum_returns_final,
    "var_95": lambda r: empyrical.value_at_risk(r, cutoff=0.05),
    "cvar_95": lambda r: empyrical.conditional_value_at_risk(r, cutoff=0.05),
}


@pytest.mark.parametrize("name", sorted(EMPYRICAL_CROSS_CHECKS))
def test_single_series_metric_matches_empyrical_on_random_returns(
    name: str, random_returns: tuple[np.ndarray, np.ndarray]
) -> None:
    strategy, _ = random_returns
    metrics = compute_metrics(equity_from(strategy), periods_per_year=PPY)
    assert getattr(metrics, name) == pytest.approx(EMPYRICAL_CROSS_CHECKS[name](strategy), rel=1e-9, abs=1e-12)


def test_benchmark_relative_metrics_match_empyrical_on_random_returns(
    random_returns: tuple[np.ndarray, np.ndarray],
) -> None:
    strategy, market = random_returns
    metrics = compute_metrics(equity_from(strategy), benchmark=equity_from(market, level=3000.0))
    alpha, beta = empyrical.alpha_beta(strategy, market, annualization=PPY)
    assert metrics.alpha == pytest.approx(alpha, rel=1e-9)
    assert metrics.beta == pytest.approx(beta, rel=1e-9)
    # empyrical's excess Sharpe is per period; ours is annualised like the Sharpe ratio.
    assert metrics.information_ratio == pytest.approx(empyrical.excess_sharpe(strategy, market) * math.sqrt(PPY))
    assert metrics.tracking_error == pytest.approx(np.std(strategy - market, ddof=1) * math.sqrt(PPY))
    assert metrics.benchmark_return == pytest.approx(empyrical.cum_returns_final(market))


def test_known_curve_has_hand_computed_return_drawdown_and_hit_rate() -> None:
    # Returns +10%, -10%, 0, +22.2%: one year at 4 periods a year, underwater for two sessions.
    equity = pd.Series([100.0, 110.0, 99.0, 99.0, 121.0], index=pd.bdate_range("2021-03-01", periods=5))
    metrics = compute_metrics(equity, periods_per_year=4)
    assert metrics.sessions == 5
    assert metrics.total_return == pytest.approx(0.21)
    assert metrics.cagr == pytest.approx(0.21)
    assert metrics.max_drawdown == pytest.approx(-0.1)
    assert metrics.max_drawdown_sessions == 2
    assert metrics.hit_rate == pytest.approx(0.5)
    assert metrics.calmar == pytest.approx(2.1)
    assert (metrics.start, metrics.end) == (date(2021, 3, 1), date(2021, 3, 5))


def test_longest_drawdown_counts_an_unrecovered_stretch_to_the_last_session() -> None:
    equity = pd.Series([100.0, 90.0, 95.0, 100.0, 99.0, 98.0, 97.0], index=pd.bdate_range("2021-01-04", periods=7))
    assert longest_drawdown(equity) == 3


def test_a_strategy_that_is_twice_the_benchmark_has_beta_two_and_no_alpha() -> None:
    market = np.random.default_rng(3).normal(0.0005, 0.01, 300)
    metrics = compute_metrics(equity_from(2.0 * market), benchmark=equity_from(market))
    assert metrics.beta == pytest.approx(2.0)
    assert metrics.alpha == pytest.approx(0.0, abs=1e-12)
    assert metrics.tracking_error == pytest.approx(np.std(market, ddof=1) * math.sqrt(PPY))
    assert metrics.information_ratio == pytest.approx(empyrical.sharpe_ratio(market))


def test_flat_equity_has_nan_ratios_and_no_drawdown_rather_than_an_error() -> None:
    metrics = compute_metrics(pd.Series(100.0, index=pd.bdate_range("2022-01-03", periods=30)))
    assert math.isnan(metrics.sharpe)
    assert math.isnan(metrics.sortino)
    assert math.isnan(metrics.calmar)
    assert metrics.volatility == 0.0
    assert metrics.max_drawdown == 0.0
    assert metrics.max_drawdown_sessions == 0
    assert metrics.total_return == 0.0


def test_a_constant_nonzero_return_has_an_undefined_not_an_enormous_sharpe() -> None:
    metrics = compute_metrics(equity_from(np.full(50, 0.001)))
    assert math.isnan(metrics.sharpe)


def test_one_session_gives_its_date_and_nan_for_everything_that_needs_a_return() -> None:
    metrics = compute_metrics(pd.Series([100.0], index=[date(2020, 6, 1)]))
    assert metrics.sessions == 1
    assert metrics.start == metrics.end == date(2020, 6, 1)
    assert math.isnan(metrics.cagr)
    assert math.isnan(metrics.sharpe)
    assert math.isnan(metrics.var_95)
    assert metrics.max_drawdown == 0.0


def test_empty_or_gappy_equity_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="at least one session"):
        compute_metrics(pd.Series([], dtype=float))
    with pytest.raises(ValueError, match="without a value"):
        compute_metrics(pd.Series([100.0, np.nan, 101.0], index=pd.bdate_range("2022-01-03", periods=3)))


def test_as_dict_is_strict_json_with_none_for_nan_and_iso_dates(random_returns: tuple[np.ndarray, np.ndarray]) -> None:
    as_dict = compute_metrics(equity_from(random_returns[0])).as_dict()
    text = json.dumps(as_dict, allow_nan=False)
    assert json.loads(text)["start"] == "2019-01-02"
    assert as_dict["turnover"] is None
    assert isinstance(as_dict["sessions"], int)


def test_turnover_and_costs_count_missing_sessions_as_zero_while_exposure_averages_what_is_given() -> None:
    sessions = pd.bdate_range("2023-01-02", periods=4)
    equity = pd.Series([100.0, 100.0, 100.0, 100.0], index=sessions)
    traded = pd.Series([0.4, 0.2], index=sessions[[0, 2]])
    metrics = compute_metrics(
        equity,
        turnover=traded,
        costs=pd.Series([1.0, 3.0], index=sessions[[1, 3]]),
        exposure=pd.Series([0.5, 0.7], index=sessions[[1, 2]]),
        cash=pd.Series([0.5, 0.3, 0.3, 0.3], index=sessions),
        periods_per_year=PPY,
    )
    assert metrics.turnover == pytest.approx(0.15)
    assert metrics.annual_turnover == pytest.approx(0.15 * PPY)
    assert metrics.costs_paid == pytest.approx(4.0)
    assert metrics.costs_fraction == pytest.approx(0.04)
    assert metrics.exposure == pytest.approx(0.6)
    assert metrics.cash == pytest.approx(0.35)


def test_benchmark_is_aligned_on_the_equity_sessions_and_forward_filled() -> None:
    days = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
    equity = pd.Series([100.0, 101.0, 102.0, 103.0], index=days)
    # The benchmark has an extra session (ignored) and lacks 4 January (carried from the 3rd).
    benchmark = pd.Series(
        [10.0, 11.0, 12.0, 13.2], index=pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05"])
    )
    metrics = compute_metrics(equity, benchmark=benchmark)
    assert metrics.benchmark_return == pytest.approx(13.2 / 11.0 - 1.0)


def test_group_attribution_credits_each_return_to_the_label_of_the_previous_session() -> None:
    sessions = pd.bdate_range("2024-02-05", periods=4)
    equity = pd.Series([100.0, 110.0, 121.0, 108.9], index=sessions)
    labels = pd.Series(["momentum", "momentum", "value", "value"], index=sessions, name="strategy")
    table = metrics_by_group(equity, labels, benchmark=pd.Series([1.0, 1.0, 1.0, 2.0], index=sessions))
    assert list(table.columns) == list(ATTRIBUTION_COLUMNS)
    assert table.index.name == "strategy"
    assert table.loc["momentum", "sessions"] == 2
    assert table.loc["momentum", "compounded_return"] == pytest.approx(0.21)
    assert table.loc["value", "compounded_return"] == pytest.approx(-0.1)
    assert table.loc["value", "share"] == pytest.approx(1 / 3)
    assert table.loc["value", "benchmark_return"] == pytest.approx(1.0)
    assert table.loc["value", "excess_return"] == pytest.approx(-1.1)
    assert table.loc["momentum", "hit_rate"] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    returns=st.lists(st.floats(-0.3, 0.3), min_size=2, max_size=60),
    label_seed=st.integers(0, 2**16),
)
def test_group_returns_compound_back_to_the_total_return(returns: list[float], label_seed: int) -> None:
    equity = equity_from(np.asarray(returns))
    labels = pd.Series(np.random.default_rng(label_seed).choice(["bull", "bear", "flat"], len(equity)), equity.index)
    table = metrics_by_group(equity, labels)
    assert np.prod(1.0 + table["compounded_return"]) - 1.0 == pytest.approx(
        compute_metrics(equity).total_return, rel=1e-9, abs=1e-12
    )
    assert table["sessions"].sum() == len(equity) - 1


def test_year_table_uses_the_year_of_the_session_itself_like_the_monthly_table(
    random_returns: tuple[np.ndarray, np.ndarray],
) -> None:
    strategy, market = random_returns
    equity = equity_from(strategy)
    table = by_year(equity, equity_from(market))
    from_months = (1.0 + monthly_returns(equity)).prod(axis=1) - 1.0
    np.testing.assert_allclose(table["compounded_return"], from_months.loc[table.index], rtol=1e-10)
    assert table.index.name == "year"
    np.testing.assert_allclose(table["excess_return"], table["compounded_return"] - table["benchmark_return"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.99, 1.0), min_size=1, max_size=80))
def test_max_drawdown_lies_in_minus_one_to_zero_and_its_stretch_fits_the_curve(returns: list[float]) -> None:
    values = np.asarray(returns)
    metrics = compute_metrics(equity_from(values))
    assert -1.0 <= metrics.max_drawdown <= 0.0
    assert 0 <= metrics.max_drawdown_sessions <= metrics.sessions - 1
    assert metrics.max_drawdown == pytest.approx(empyrical.max_drawdown(values), abs=1e-12)
    assert (metrics.max_drawdown_sessions == 0) == (metrics.max_drawdown == 0.0)
