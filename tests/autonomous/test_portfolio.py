from __future__ import annotations

import math

import pytest

from autonomous.portfolio import InvalidPortfolio, TargetPortfolio
from trading.errors import FundError


def test_cash_is_whatever_the_weights_leave() -> None:
    portfolio = TargetPortfolio("growth_largecap", {"AAA": 0.25, "BBB": 0.5}, "mock", "test")
    assert portfolio.invested_weight == pytest.approx(0.75)
    assert portfolio.cash_weight == pytest.approx(0.25)
    assert not portfolio.is_all_cash


def test_an_empty_portfolio_is_all_cash() -> None:
    portfolio = TargetPortfolio("dividend", {}, "mock", "universe unavailable")
    assert portfolio.is_all_cash
    assert portfolio.cash_weight == 1.0


def test_equal_weights_that_round_a_hair_above_one_are_accepted_as_fully_invested() -> None:
    weights = {f"T{i}": 0.1 for i in range(10)}  # sums to 0.9999999999999999 or 1.0000000000000002
    weights["T0"] += 5e-10
    assert TargetPortfolio("value_largecap", weights, "mock", "test").cash_weight == 0.0


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf])
def test_a_negative_or_non_finite_weight_is_rejected_naming_the_ticker(bad: float) -> None:
    with pytest.raises(InvalidPortfolio, match=r"weight of BBB is"):
        TargetPortfolio("growth_midcap", {"AAA": 0.1, "BBB": bad}, "mock", "test")


def test_weights_above_one_are_leverage_and_rejected_naming_the_largest() -> None:
    with pytest.raises(InvalidPortfolio, match=r"sum to 1\.100000 > 1.*largest is BBB"):
        TargetPortfolio("growth_midcap", {"AAA": 0.5, "BBB": 0.6}, "mock", "test")


def test_an_unknown_strategy_is_rejected_and_the_error_belongs_to_the_project_tree() -> None:
    with pytest.raises(FundError, match="unknown strategy 'momentum'"):
        TargetPortfolio("momentum", {}, "mock", "test")


def test_a_portfolio_needs_a_generator_name() -> None:
    with pytest.raises(InvalidPortfolio, match="name of its generator"):
        TargetPortfolio("dividend", {}, "", "test")


def test_weights_are_copied_so_the_caller_cannot_change_a_validated_portfolio() -> None:
    weights = {"AAA": 0.5}
    portfolio = TargetPortfolio("dividend", weights, "mock", "test")
    weights["AAA"] = 5.0
    assert portfolio.weights["AAA"] == 0.5
    with pytest.raises(TypeError):
        portfolio.weights["AAA"] = 5.0  # type: ignore[index]


def test_portfolios_with_the_same_weights_are_equal_whatever_the_key_order() -> None:
    first = TargetPortfolio("dividend", {"AAA": 0.2, "BBB": 0.3}, "mock", "r")
    second = TargetPortfolio("dividend", {"BBB": 0.3, "AAA": 0.2}, "mock", "r")
    assert first == second
