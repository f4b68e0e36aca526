from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from autonomous.mock_portfolio import defensive_portfolio, mock_portfolio
from autonomous.universes import Universe, build_universes
from tests.autonomous.builders import cross_section
from trading.settings import DEFENSIVE, STRATEGIES, RiskLimits, UniverseSettings


def universe(n: int, strategy: str = "growth_midcap", *, available: bool = True) -> Universe:
    tickers = tuple(f"T{i:02d}" for i in range(n))
    scores = pd.Series(np.linspace(1.0, 0.0, n), index=list(tickers), name="momentum_quality", dtype=float)
    return Universe(strategy, tickers, scores, "market_cap", "fundamentals", available, "test universe")


def test_the_mock_holds_the_top_n_of_the_universe_in_equal_weight() -> None:
    portfolio = mock_portfolio(universe(30), top_n=20)
    assert list(portfolio.weights) == [f"T{i:02d}" for i in range(20)]
    assert set(portfolio.weights.values()) == {0.05}
    assert portfolio.invested_weight == pytest.approx(1.0)
    assert (portfolio.strategy, portfolio.generator) == ("growth_midcap", "mock")
    assert "top 20 of 30 names by momentum_quality" in portfolio.reason


def test_a_universe_smaller_than_n_is_held_whole() -> None:
    portfolio = mock_portfolio(universe(8), top_n=20)
    assert len(portfolio.weights) == 8
    assert all(weight == pytest.approx(1 / 8) for weight in portfolio.weights.values())


def test_an_unavailable_universe_gives_all_cash_with_its_reason() -> None:
    empty = Universe("value_smallcap", (), pd.Series(dtype=float), None, "price_proxy", False, "only 12 eligible")
    portfolio = mock_portfolio(empty, top_n=20)
    assert portfolio.is_all_cash
    assert portfolio.reason == "all cash: only 12 eligible"


def test_top_n_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="top_n must be at least 1"):
        mock_portfolio(universe(5), top_n=0)


def test_the_mock_is_deterministic_for_the_same_data_in_any_row_order() -> None:
    features = cross_section()

    def portfolios(frame: pd.DataFrame) -> list[dict[str, float]]:
        universes = build_universes(
            frame, stocks=frame.index, close=None, fundamentals=pd.DataFrame(), settings=UniverseSettings()
        )
        return [dict(mock_portfolio(universes[name], top_n=5).weights) for name in STRATEGIES]

    first = portfolios(features)
    assert first == portfolios(features)
    assert first == portfolios(features.sample(frac=1.0, random_state=9))
    assert all(len(weights) == 5 for weights in first)


def test_the_defensive_portfolio_holds_the_safe_haven_at_the_position_limit_and_the_rest_in_cash() -> None:
    close = pd.Series({"GLD": 170.0, "SPY": 420.0})
    portfolio = defensive_portfolio(close, safe_haven="GLD", risk=RiskLimits())
    assert dict(portfolio.weights) == {"GLD": 0.10}
    assert portfolio.cash_weight == pytest.approx(0.90)
    assert (portfolio.strategy, portfolio.generator) == (DEFENSIVE, "defensive")


def test_the_defensive_weight_respects_the_sector_cap_and_minimum_cash_as_well() -> None:
    close = pd.Series({"GLD": 170.0})
    by_sector = RiskLimits(max_position_weight=0.5, max_top3_weight=0.5, max_sector_weight=0.3)
    by_cash = RiskLimits(max_position_weight=1.0, max_top3_weight=1.0, max_sector_weight=1.0, min_cash_weight=0.05)
    assert defensive_portfolio(close, safe_haven="GLD", risk=by_sector).weights["GLD"] == 0.3
    assert defensive_portfolio(close, safe_haven="GLD", risk=by_cash).weights["GLD"] == pytest.approx(0.95)


@pytest.mark.parametrize("close", [pd.Series({"SPY": 420.0}), pd.Series({"GLD": math.nan}), pd.Series({"GLD": 0.0})])
def test_without_a_safe_haven_price_the_defensive_portfolio_is_all_cash_and_says_why(close: pd.Series) -> None:
    portfolio = defensive_portfolio(close, safe_haven="GLD", risk=RiskLimits())
    assert portfolio.is_all_cash
    assert portfolio.reason == "all cash: the safe haven GLD has no price at this date"


def test_a_held_name_within_the_band_keeps_its_place_in_the_mock_and_the_reason_says_so() -> None:
    portfolio = mock_portfolio(universe(30), top_n=10, held={"T00", "T12", "T25"}, band=2)
    assert list(portfolio.weights) == [*(f"T{i:02d}" for i in range(9)), "T12"]  # T25 is beyond the first 20
    assert set(portfolio.weights.values()) == {0.1}
    assert "equal weight over 10 of 30 names by momentum_quality: 9 of the top 10, and 1 held name" in portfolio.reason
    assert "within the first 20 that the holding band kept" in portfolio.reason


def test_with_band_one_the_mock_holds_todays_top_n_whatever_it_holds() -> None:
    portfolio = mock_portfolio(universe(30), top_n=20, held={"T22", "T29"}, band=1)
    assert list(portfolio.weights) == [f"T{i:02d}" for i in range(20)]
    assert "top 20 of 30 names by momentum_quality (test universe)" in portfolio.reason
