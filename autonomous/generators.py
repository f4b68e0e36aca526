"""Portfolio generators: what turns a strategy choice and the market state into a target portfolio.

The daily run is given one, chosen where the command is assembled (autonomous/cli/assembly.py, from the
`models.generator` setting), and calls `generate` with the market state, the chosen strategy and the
account's current weights. The mock generator is the transparent rule-based baseline and the default
(the models did not beat it out of sample: README); the hybrid generator (rl_trading/hybrid.py: the
XGBoost ranker plus PPO weights) and the ranker with equal weights are opt-in. The factor generators hold
the top N by one simple factor (autonomous/factor_portfolio.py), fixed or chosen walk-forward by its
past rank IC (autonomous/factor_choice.py). The rule-based generators keep a held name while it ranks
within the first strategy.hold_band x top_n names (autonomous/holding_band.py). The defensive mode is
the same for every generator: the safe haven and cash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from autonomous.factor_choice import DEFAULT_FACTOR, FactorSchedule
from autonomous.factor_portfolio import factor_generator_name, factor_portfolio, require_factor
from autonomous.holding_band import held_names
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
        strategy = self.settings.strategy
        return mock_portfolio(
            state.universes[choice.strategy], strategy.top_n, held=held_names(holdings), band=strategy.hold_band
        )


@dataclass(frozen=True)
class FactorGenerator:
    """Equal weight over the strategy's universe's top N by one factor (`factor-<name>`)."""

    settings: FundSettings
    factor: str

    def __post_init__(self) -> None:
        require_factor(self.factor)

    @property
    def name(self) -> str:
        return factor_generator_name(self.factor)

    def generate(self, state: MarketState, choice: StrategyChoice, holdings: Mapping[str, float]) -> TargetPortfolio:
        if choice.strategy == DEFENSIVE:
            return defensive_portfolio(state.close, safe_haven=state.safe_haven, risk=self.settings.risk)
        universe = state.universes[choice.strategy]
        strategy = self.settings.strategy
        return factor_portfolio(
            universe,
            state.cross_section,
            self.factor,
            strategy.top_n,
            held=held_names(holdings),
            band=strategy.hold_band,
        )


BEST_FACTOR_GENERATOR = "best-factor"


@dataclass(frozen=True)
class BestFactorGenerator:
    """Like FactorGenerator, with the factor the schedule puts in force for the strategy at the day (the
    best past rank IC, chosen before it); the portfolio's model_versions say which and on what evidence."""

    settings: FundSettings
    schedule: FactorSchedule

    @property
    def name(self) -> str:
        return BEST_FACTOR_GENERATOR

    def generate(self, state: MarketState, choice: StrategyChoice, holdings: Mapping[str, float]) -> TargetPortfolio:
        if choice.strategy == DEFENSIVE:
            return defensive_portfolio(state.close, safe_haven=state.safe_haven, risk=self.settings.risk)
        chosen = self.schedule.in_force(choice.strategy, state.day)
        if chosen is None:
            factor, evidence = DEFAULT_FACTOR, f"no factor chosen by {state.day}: the default {DEFAULT_FACTOR}"
        else:
            factor, evidence = chosen.factor, chosen.describe()
        universe = state.universes[choice.strategy]
        return factor_portfolio(
            universe,
            state.cross_section,
            factor,
            self.settings.strategy.top_n,
            held=held_names(holdings),
            band=self.settings.strategy.hold_band,
            generator=BEST_FACTOR_GENERATOR,
            model_versions={"factor_choice": evidence},
        )


@dataclass(frozen=True)
class GeneratorChoice:
    """The generator a command assembled for the run, and why that one (stored with the run)."""

    generator: PortfolioGenerator
    note: str
