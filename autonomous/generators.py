"""Portfolio generators: what turns a strategy choice and the market state into a target portfolio.

The daily run is given one, chosen where the command is assembled (autonomous/cli/assembly.py), and
calls `generate` with the market state, the chosen strategy and the account's current weights. The
mock generator is the transparent rule-based baseline (`--use-mock`); the hybrid generator
(rl_trading/hybrid.py: the XGBoost ranker plus PPO weights) is the default. The defensive mode is the
same for every generator: the safe haven and cash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

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
            return defensive_portfolio(state.close, safe_haven=state.safe_haven, risk=self.settings.risk)
        return mock_portfolio(state.universes[choice.strategy], self.settings.strategy.top_n)


@dataclass(frozen=True)
class GeneratorChoice:
    """The generator a command assembled for the run, and why that one (stored with the run)."""

    generator: PortfolioGenerator
    note: str
