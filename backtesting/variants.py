"""What a backtest compares on the same sessions, costs and risk limits: the generators (hybrid, ranker
picks with equal weights, mock, the top N by one factor, the walk-forward best factor), the classic trend
rule, each strategy held throughout, and a random choice of strategy switching exactly when the selector
switched. The benchmark bought and held is computed beside them (metrics.py), without risk limits."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from autonomous.daily_run.journal import Journal
from autonomous.daily_run.steps import StrategyPolicy, choose_strategy
from autonomous.factor_portfolio import FACTORS, factor_generator_name
from autonomous.generators import BEST_FACTOR_GENERATOR, GeneratorChoice
from autonomous.market_state import MarketState
from autonomous.marketview import SessionMarket
from autonomous.mock_portfolio import defensive_portfolio
from autonomous.portfolio import TargetPortfolio
from autonomous.regime import RegimeSnapshot
from autonomous.selector import StrategyChoice
from trading.errors import ConfigurationError
from trading.settings import DEFENSIVE, STRATEGIES, TREND_RULE, FundSettings

logger = logging.getLogger(__name__)

FACTOR_GENERATORS = tuple(factor_generator_name(factor) for factor in FACTORS)
BEST_FACTOR = BEST_FACTOR_GENERATOR
GENERATORS = ("hybrid", "ranker-equal", "mock", *FACTOR_GENERATORS, BEST_FACTOR)
# The generators whose models or factor choices `--retrain-every` retrains walk-forward.
RANKER_GENERATORS = ("hybrid", "ranker-equal")
RETRAINED = (*RANKER_GENERATORS, BEST_FACTOR)
BENCHMARK = "benchmark"
TREND = "trend"
RANDOM = "random"
FIXED_PREFIX = "always-"
FACTORS_GROUP = "factors"
COMPARABLE = (*GENERATORS, FACTORS_GROUP, BENCHMARK, TREND, "fixed", RANDOM)


@dataclass(frozen=True)
class Variant:
    """One replay of the daily run: its generator and how it picks a strategy each session."""

    name: str
    generator: GeneratorChoice
    policy: StrategyPolicy
    description: str


def parse_compare(spec: str, main: str) -> list[str]:
    """The variant names a `--compare` list asks for, besides `main`, in a stable order.

    Names: the GENERATORS (hybrid, ranker-equal, mock, factor-<factor>, best-factor), factors (the four
    factor generators), benchmark, trend, fixed (the seven strategies held throughout), random, or `all`."""
    asked = [part.strip() for part in spec.split(",") if part.strip()]
    if asked == ["all"]:
        asked = list(COMPARABLE)
    unknown = [name for name in asked if name not in COMPARABLE]
    if unknown:
        expected = ", ".join(COMPARABLE)
        raise ConfigurationError(f"--compare: unknown variant(s) {', '.join(unknown)}; expected some of {expected}")
    names: list[str] = []
    for name in asked:
        names.extend(n for n in _expanded(name) if n != main and n not in names)
    return names


def _expanded(name: str) -> list[str]:
    if name == "fixed":
        return [f"{FIXED_PREFIX}{s}" for s in STRATEGIES]
    if name == FACTORS_GROUP:
        return list(FACTOR_GENERATORS)
    return [name]


# --- strategy policies -------------------------------------------------------------------------------


@dataclass
class SelectorRecord:
    """The main variant's selector, remembering on which sessions it changed its choice (for the random variant).

    Sessions are decided in order, so a switch is known when the session is recorded."""

    switches: set[date] = field(default_factory=set)
    _last: str | None = None

    def __call__(
        self, market: SessionMarket, regime: RegimeSnapshot, journal: Journal, settings: FundSettings
    ) -> StrategyChoice:
        choice = choose_strategy(market, regime, journal, settings)
        if choice.strategy != self._last:
            self.switches.add(market.day)
        self._last = choice.strategy
        return choice

    def switched_on(self, day: date) -> bool:
        """Whether the selector chose differently at `day` than at its previous decision (or first chose then)."""
        return day in self.switches


def fixed_policy(strategy: str) -> StrategyPolicy:
    """Hold `strategy` every session, whatever the regime (confidence 1: never sent for approval for it)."""

    def policy(
        market: SessionMarket, regime: RegimeSnapshot, journal: Journal, settings: FundSettings
    ) -> StrategyChoice:
        return StrategyChoice(strategy, 1.0, f"{strategy} held throughout (comparison)", regime.label, None)

    return policy


@dataclass
class RandomSwitching:
    """A random strategy among the seven (those with a universe today), changed exactly on the sessions
    where the selector changed its choice: the same switching frequency, without the regime's information."""

    selector: SelectorRecord
    seed: int
    current: str | None = None
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def __call__(
        self, market: SessionMarket, regime: RegimeSnapshot, journal: Journal, settings: FundSettings
    ) -> StrategyChoice:
        available = sorted(s for s, u in market.state.universes.items() if u.available and s in STRATEGIES)
        switch = self.current is None or self.selector.switched_on(market.day) or self.current not in available
        if switch and available:
            others = [s for s in available if s != self.current] or available
            self.current = self._random.choice(others)
        strategy = self.current if self.current is not None else DEFENSIVE
        reason = "random switch" if switch else "random choice held"
        return StrategyChoice(strategy, 1.0, f"{reason} (seed {self.seed}; comparison)", regime.label, None)


def trend_policy(
    market: SessionMarket, regime: RegimeSnapshot, journal: Journal, settings: FundSettings
) -> StrategyChoice:
    """The classic trend rule's switch: invested while the benchmark is above its 200-session average."""
    if regime.benchmark_below_sma200:
        return StrategyChoice(DEFENSIVE, 1.0, "trend rule: benchmark below its SMA200", regime.label, None)
    return StrategyChoice(TREND_RULE, 1.0, "trend rule: benchmark above its SMA200", regime.label, None)


@dataclass(frozen=True)
class TrendRuleGenerator:
    """Equal weight over every stock some universe holds today; the defensive portfolio below the SMA200."""

    settings: FundSettings

    @property
    def name(self) -> str:
        return TREND

    def generate(self, state: MarketState, choice: StrategyChoice, holdings: Mapping[str, float]) -> TargetPortfolio:
        if choice.strategy == DEFENSIVE:
            return defensive_portfolio(state.close, safe_haven=state.safe_haven, risk=self.settings.risk)
        names = sorted({t for u in state.universes.values() if u.available for t in u.tickers})
        if not names:
            return TargetPortfolio(TREND_RULE, {}, TREND, "all cash: no universe can be built today")
        weight = 1.0 / len(names)
        return TargetPortfolio(
            TREND_RULE, dict.fromkeys(names, weight), TREND, f"trend rule: equal weight over {len(names)} names"
        )


# --- building the variants -------------------------------------------------------------------------------


GeneratorFactory = Callable[[str], GeneratorChoice]
"""The generator of a name in GENERATORS (the backtest command builds them: the models live above)."""


def build_variants(
    main: str, compared: list[str], generators: GeneratorFactory, settings: FundSettings, *, seed: int
) -> list[Variant]:
    """The main variant first (its selector is recorded for the random one), then the compared ones."""
    selector = SelectorRecord()
    variants = [Variant(main, generators(main), selector, f"the {main} generator with the regime selector")]
    for name in compared:
        if name == BENCHMARK:
            continue  # bought and held outside the daily run
        if name in GENERATORS:
            variants.append(Variant(name, generators(name), choose_strategy, f"the {name} generator with the selector"))
        elif name == TREND:
            choice = GeneratorChoice(TrendRuleGenerator(settings), "the trend rule (comparison)")
            variants.append(Variant(name, choice, trend_policy, "benchmark above SMA200: equal weight, else defensive"))
        elif name == RANDOM:
            described = f"the {main} generator, a random strategy switched when the selector switched (seed {seed})"
            variants.append(Variant(name, generators(main), RandomSwitching(selector, seed), described))
        elif name.startswith(FIXED_PREFIX):
            strategy = name.removeprefix(FIXED_PREFIX)
            held = f"the {main} generator holding {strategy}"
            variants.append(Variant(name, generators(main), fixed_policy(strategy), held))
    return variants
