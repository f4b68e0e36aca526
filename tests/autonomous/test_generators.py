"""The rule-based generators take the holding band from strategy.hold_band (2 by default) and the held names
from the account's weights (dust is not held); band 1 holds today's top N whatever is held."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from autonomous.factor_choice import FactorSchedule
from autonomous.generators import BestFactorGenerator, FactorGenerator, MockGenerator, PortfolioGenerator
from autonomous.market_state import MarketState
from autonomous.selector import StrategyChoice
from autonomous.universes import Universe
from trading.settings import FundSettings, load_settings

STRATEGY = "growth_midcap"
TICKERS = [f"T{i:02d}" for i in range(8)]
# The universe's score and the momentum order the names alike: T00 best, T07 worst.
SCORES = pd.Series(np.linspace(1.0, 0.0, len(TICKERS)), index=TICKERS, name="momentum_quality", dtype=float)
# T04 ranks fifth: within the first 2 x 3 names, outside the top 3; T06 ranks seventh: only within 3 x 3.
HOLDINGS = {"T00": 0.3, "T04": 0.3, "T06": 0.3, "T02": 1e-12}


def market() -> MarketState:
    universe = Universe(STRATEGY, tuple(TICKERS), SCORES, "market_cap", "fundamentals", True, "test universe")
    cross_section = pd.DataFrame({"mom_12_1": SCORES.to_numpy()}, index=TICKERS)
    close = pd.Series(100.0, index=[*TICKERS, "GLD"])
    return MarketState(date(2020, 6, 1), close, cross_section, {STRATEGY: universe}, tuple(TICKERS), {}, "GLD")


def settings_with(monkeypatch: pytest.MonkeyPatch, band: str | None) -> FundSettings:
    monkeypatch.setenv("FUND_STRATEGY__TOP_N", "3")
    if band is not None:
        monkeypatch.setenv("FUND_STRATEGY__HOLD_BAND", band)
    return load_settings(None)


def generators(settings: FundSettings) -> list[PortfolioGenerator]:
    return [
        MockGenerator(settings),
        FactorGenerator(settings, "mom_12_1"),
        BestFactorGenerator(settings, FactorSchedule(())),
    ]


def generate(generator: PortfolioGenerator) -> list[str]:
    choice = StrategyChoice(STRATEGY, 1.0, "test", "bull_low_vol", None)
    return list(generator.generate(market(), choice, HOLDINGS).weights)


def test_by_default_the_rule_based_generators_keep_a_held_name_within_twice_top_n(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(monkeypatch, None)
    assert settings.strategy.hold_band == 2
    for generator in generators(settings):
        assert generate(generator) == ["T00", "T01", "T04"], generator.name


def test_with_band_one_the_rule_based_generators_hold_todays_top_n_whatever_is_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(monkeypatch, "1")
    for generator in generators(settings):
        assert generate(generator) == ["T00", "T01", "T02"], generator.name


def test_a_wider_band_set_in_the_settings_keeps_a_name_further_down(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, "3")  # the first 9 names: T06 too, in place of T01
    for generator in generators(settings):
        assert generate(generator) == ["T00", "T04", "T06"], generator.name
