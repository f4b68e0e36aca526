"""Portfolio generators: what turns a strategy choice and the market state into a target portfolio.

The daily run asks `generator_for(...)` for one and calls `generate` with the market state, the
chosen strategy and the account's current weights. The mock generator is the transparent
rule-based baseline (`--use-mock`); model-based generators (rl_trading/hybrid.py: the XGBoost
ranker plus PPO weights) are registered in MODEL_GENERATORS by the layer that owns them (the CLI
registers the hybrid one), and are used when --use-mock is not given. The defensive mode is the
same for every generator: the safe haven and cash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from autonomous.market_state import MarketState
from autonomous.mock_portfolio import MOCK_GENERATOR, defensive_portfolio, mock_portfolio
from autonomous.portfolio import TargetPortfolio
from autonomous.selector import StrategyChoice
from trading.settings import DEFENSIVE, FundSettings

logger = logging.getLogger(__name__)


class PortfolioGenerator(Protocol):
    @property
    def name(self) -> str: ...

    def generate(self, state: MarketState, choice: StrategyChoice, holdings: Mapping[str, float]) -> TargetPortfolio:
        """The target for `choice` at `state.day`; `holdings` are the account's current weights by
        ticker (fractions of equity). The portfolio's model_versions name the models used."""
        ...


@dataclass(frozen=True)
class MockGenerator:
    settings: FundSettings

    @property
    def name(self) -> str:
        return MOCK_GENERATOR

    def generate(self, state: MarketState, choice: StrategyChoice, holdings: Mapping[str, float]) -> TargetPortfolio:
        if choice.strategy == DEFENSIVE:
            return defensive_portfolio(state.close, safe_haven=state.market.safe_haven, risk=self.settings.risk)
        return mock_portfolio(state.universes[choice.strategy], self.settings.strategy.top_n)


# name -> factory(engine, settings); the model generators read their models from the database.
MODEL_GENERATORS: dict[str, Callable[[Engine, FundSettings], PortfolioGenerator]] = {}


@dataclass(frozen=True)
class GeneratorChoice:
    generator: PortfolioGenerator
    note: str


def generator_for(engine: Engine, settings: FundSettings, *, use_mock: bool) -> GeneratorChoice:
    """The mock generator when asked for, else the first registered model generator; without one,
    the mock generator, and the note (stored with the run) says so."""
    if use_mock:
        return GeneratorChoice(MockGenerator(settings), "mock generator (--use-mock)")
    for name, factory in MODEL_GENERATORS.items():
        return GeneratorChoice(factory(engine, settings), f"model generator {name}")
    note = "mock generator: no model-based generator is registered"
    logger.warning("%s; the target is the rule-based baseline", note)
    return GeneratorChoice(MockGenerator(settings), note)
