"""The single-factor generators: the top N of the strategy's universe by one factor in equal weight, names
without the factor left out, ties by ticker, the defensive portfolio in the defensive mode, and the
best-factor generator holding the factor its schedule puts in force."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from autonomous.factor_choice import DEFAULT_FACTOR, FactorChoice, FactorSchedule
from autonomous.factor_portfolio import FACTORS, factor_portfolio, factor_values, top_by_factor
from autonomous.generators import BestFactorGenerator, FactorGenerator
from autonomous.market_state import MarketState
from autonomous.selector import StrategyChoice
from autonomous.universes import Universe
from trading.settings import DEFENSIVE, FundSettings, load_settings

STRATEGY = "growth_midcap"
DAY = date(2020, 6, 1)


def universe(tickers: list[str], scores: list[float] | None = None, *, available: bool = True) -> Universe:
    values = scores if scores is not None else list(np.linspace(1.0, 0.0, len(tickers)))
    series = pd.Series(values, index=tickers, name="momentum_quality", dtype=float)
    return Universe(STRATEGY, tuple(tickers), series, "market_cap", "fundamentals", available, "test universe")


def features(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=[f"T{i:02d}" for i in range(n)])


def state(cross_section: pd.DataFrame, held: Universe) -> MarketState:
    close = pd.Series(100.0, index=[*cross_section.index, "GLD"])
    return MarketState(DAY, close, cross_section, {STRATEGY: held}, tuple(cross_section.index), {}, "GLD")


def chose(strategy: str) -> StrategyChoice:
    return StrategyChoice(strategy, 1.0, "test", "bull_low_vol", None)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    monkeypatch.setenv("FUND_STRATEGY__TOP_N", "3")
    return load_settings(None)


def test_the_generator_holds_the_top_n_by_momentum_in_equal_weight(settings: FundSettings) -> None:
    frame = features(mom_12_1=[0.1, 0.5, -0.2, 0.3, 0.4, 0.0])
    held = universe(list(frame.index))
    portfolio = FactorGenerator(settings, "mom_12_1").generate(state(frame, held), chose(STRATEGY), {})
    assert list(portfolio.weights) == ["T01", "T04", "T03"]
    assert list(portfolio.weights.values()) == pytest.approx([1 / 3] * 3)
    assert portfolio.invested_weight == pytest.approx(1.0)
    assert (portfolio.strategy, portfolio.generator) == (STRATEGY, "factor-mom_12_1")
    assert portfolio.model_versions == {"factor": "mom_12_1"}
    assert "top 3 of 6 names with mom_12_1" in portfolio.reason


def test_low_volatility_prefers_the_lowest_60_session_volatility(settings: FundSettings) -> None:
    frame = features(vol_60=[0.40, 0.15, 0.30, 0.10, 0.25])
    portfolio = FactorGenerator(settings, "low_vol").generate(
        state(frame, universe(list(frame.index))), chose(STRATEGY), {}
    )
    assert list(portfolio.weights) == ["T03", "T01", "T04"]


def test_distance_to_the_200_session_average_prefers_the_names_furthest_above_it(settings: FundSettings) -> None:
    frame = features(dist_sma200=[-0.1, 0.2, 0.05, 0.3])
    portfolio = FactorGenerator(settings, "dist_sma200").generate(
        state(frame, universe(list(frame.index))), chose(STRATEGY), {}
    )
    assert list(portfolio.weights) == ["T03", "T01", "T02"]


def test_names_without_the_factor_are_not_eligible() -> None:
    frame = features(mom_12_1=[np.nan, 0.5, np.inf, 0.3, np.nan])
    portfolio = factor_portfolio(universe(list(frame.index)), frame, "mom_12_1", top_n=3)
    assert list(portfolio.weights) == ["T01", "T03"]
    assert set(portfolio.weights.values()) == {0.5}
    assert "top 2 of 2 names with mom_12_1 (3 without it)" in portfolio.reason


def test_only_names_of_the_strategys_universe_are_ranked() -> None:
    frame = features(mom_12_1=[0.9, 0.1, 0.2, 0.8])
    portfolio = factor_portfolio(universe(["T01", "T02"]), frame, "mom_12_1", top_n=3)
    assert list(portfolio.weights) == ["T02", "T01"]


def test_ties_break_by_ticker_whatever_the_row_order() -> None:
    values = pd.Series([0.2, 0.5, 0.5, 0.2, 0.5], index=["E", "C", "A", "B", "D"])
    assert top_by_factor(values, 4) == ["A", "C", "D", "B"]
    assert top_by_factor(values.sample(frac=1.0, random_state=3), 4) == ["A", "C", "D", "B"]


def test_the_universe_score_factor_ranks_by_the_universes_own_score_and_skips_unknown_scores() -> None:
    frame = features(mom_12_1=[0.0, 0.0, 0.0, 0.0])
    held = universe(["T00", "T01", "T02", "T03"], [0.2, np.nan, 0.9, 0.5])
    portfolio = factor_portfolio(held, frame, "universe_score", top_n=3)
    assert list(portfolio.weights) == ["T02", "T03", "T00"]


def test_a_universe_where_no_name_has_the_factor_or_that_is_unavailable_is_all_cash() -> None:
    frame = features(mom_12_1=[np.nan, np.nan])
    none_known = factor_portfolio(universe(["T00", "T01"]), frame, "mom_12_1", top_n=3)
    assert none_known.is_all_cash
    assert "none of the 2 names of the universe has mom_12_1" in none_known.reason
    closed = factor_portfolio(universe([], [], available=False), frame, "mom_12_1", top_n=3)
    assert closed.is_all_cash
    assert closed.reason == "all cash: test universe"


def test_a_cross_section_without_the_feature_leaves_every_name_out() -> None:
    frame = features(mom_63=[0.1, 0.2])
    assert factor_values("dist_sma200", universe(["T00", "T01"]), frame).isna().all()


def test_the_defensive_strategy_gives_the_defensive_portfolio(settings: FundSettings) -> None:
    frame = features(mom_12_1=[0.1, 0.2])
    portfolio = FactorGenerator(settings, "mom_12_1").generate(
        state(frame, universe(list(frame.index))), chose(DEFENSIVE), {}
    )
    assert portfolio.strategy == DEFENSIVE
    assert list(portfolio.weights) == ["GLD"]


def test_an_unknown_factor_is_refused_by_name(settings: FundSettings) -> None:
    with pytest.raises(ValueError, match="unknown factor 'momentum'; expected one of mom_12_1, low_vol"):
        FactorGenerator(settings, "momentum")
    with pytest.raises(ValueError, match="top_n must be at least 1"):
        top_by_factor(pd.Series([1.0], index=["A"]), 0)


def choice_of(factor: str, effective_from: date) -> FactorChoice:
    window = (date(2019, 1, 2), date(2019, 12, 31))
    return FactorChoice(
        STRATEGY, factor, effective_from, *window, dict.fromkeys(FACTORS, 0.01), dict.fromkeys(FACTORS, 9)
    )


def test_best_factor_holds_the_factor_in_force_and_says_why(settings: FundSettings) -> None:
    frame = features(mom_12_1=[0.1, 0.5, -0.2, 0.3], vol_60=[0.1, 0.4, 0.2, 0.3])
    held = universe(list(frame.index))
    schedule = FactorSchedule((choice_of("low_vol", date(2020, 1, 2)), choice_of("mom_12_1", date(2020, 7, 1))))
    portfolio = BestFactorGenerator(settings, schedule).generate(state(frame, held), chose(STRATEGY), {})
    assert list(portfolio.weights) == ["T00", "T02", "T03"]
    assert portfolio.generator == "best-factor"
    assert portfolio.model_versions["factor"] == "low_vol"
    assert portfolio.model_versions["factor_choice"].startswith("chosen 2020-01-02 on 2019-01-02..2019-12-31")


def test_best_factor_before_any_choice_holds_the_default_and_says_so(settings: FundSettings) -> None:
    frame = features(mom_12_1=[0.1, 0.5, -0.2, 0.3])
    schedule = FactorSchedule((choice_of("low_vol", date(2021, 1, 4)),))
    portfolio = BestFactorGenerator(settings, schedule).generate(
        state(frame, universe(list(frame.index))), chose(STRATEGY), {}
    )
    assert portfolio.model_versions["factor"] == DEFAULT_FACTOR
    assert "no factor chosen by 2020-06-01" in portfolio.model_versions["factor_choice"]
    assert list(portfolio.weights) == ["T00", "T01", "T02"]  # the universe's own order


def test_a_held_name_within_the_band_keeps_its_place_among_the_factor_picks() -> None:
    frame = features(mom_12_1=[0.1, 0.5, -0.2, 0.3, 0.4, 0.0])  # order: T01 T04 T03 T00 T05 T02
    whole = universe(list(frame.index))
    portfolio = factor_portfolio(whole, frame, "mom_12_1", top_n=2, held={"T00"}, band=2)
    assert list(portfolio.weights) == ["T01", "T00"]
    assert "1 of the top 2, and 1 held name ranked within the first 4 that the holding band kept" in portfolio.reason
    beyond = factor_portfolio(whole, frame, "mom_12_1", top_n=2, held={"T05"}, band=2)
    assert list(beyond.weights) == ["T01", "T04"]
    assert "equal weight over the top 2 of 6 names with mom_12_1" in beyond.reason
