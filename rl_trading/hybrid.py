"""The hybrid portfolio generator: the strategy's XGBoost ranker picks the names, its PPO agent sets
their weights; the risk manager runs after it, as after every generator.

At a decision date t it uses the newest VALID models of the chosen strategy trained before t (so a
replay of an earlier date never uses a model that saw it). Valid: the bytes match their sha256,
the inputs are the ones this code computes, and an agent has as many slots as `strategy.top_n`.
An invalid newer model is skipped with a warning, and the next older one is tried.

Where the models come from: by default the open model table (the newest trained before t, whoever
trained it). A backtest pins its own walk-forward models instead by passing a `ModelSource` (its
schedule, backtesting/walk_forward.py): the candidates are then the source's only, with the same
checks and fallbacks, and a candidate trained up to t or later is refused whatever its source.

Which ranker the agent's weights go with (models.agent.ranker_pairing). Paired: the ranker the agent
learned on (its parameters name it), since an agent learns the scale and noise of one ranker's
predictions. But an agent is always trained on a ranker older than its own window (it must learn from
out-of-sample predictions: rl_trading/training.py), so the paired ranker is older than the newest, by
about two years in a walk-forward that retrains both every two. Newest, the default: the newest usable
ranker, whichever the agent learned on; on the shared data it did better (benchmarks/README.md). Either
way the portfolio's model_versions name the ranker in use and the agent's own.

Without agents (`agents=False`, the "ranker-equal" generator) the ranker's picks get equal weights,
capped at the position limit, as when no agent is usable; a report tells the two apart by name.

Fallbacks, each stated in the portfolio's reason (stored in rebalancing_log.strategy_reason) and
in its model_versions (stored in rebalancing_log.model_versions):
- no usable ranker: the mock generator's portfolio;
- a ranker but no usable agent: equal weights over the selected names;
- no name with a positive prediction: all cash.

A ranker fitted with a ranking objective (models.ranker.objective) predicts no return, only an order:
it picks the top N names by score, never all cash, and the reason says so (rl_trading/slots.py).

xgboost, torch and stable-baselines3 are imported only when a model of theirs is loaded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine

from autonomous.holding_band import HELD_WEIGHT, held_names, pick_with_band
from autonomous.market_state import MarketState
from autonomous.mock_portfolio import defensive_portfolio, mock_portfolio
from autonomous.portfolio import TargetPortfolio
from autonomous.ranking.dataset import ranker_inputs
from autonomous.ranking.feature_sets import (
    data_groups_note,
    describe_groups,
    feature_set_of,
    missing_groups,
    present_groups,
)
from autonomous.ranking.xgb import RankerModel, booster_from_bytes, predict
from autonomous.selector import StrategyChoice
from rl_trading.episodes import EMPTY_SLOT
from rl_trading.interpreters import gather_slot_features
from rl_trading.market_features import market_features_of_snapshot
from rl_trading.slots import (
    SLOT_FEATURES,
    assign_slots,
    candidate_features,
    rank_candidates,
    scores_as_ranks,
    select_top_positive,
)
from trading.errors import FundError
from trading.settings import DEFENSIVE, FundSettings
from trading.store.models import AGENT, RANKER, ModelKind, ModelRecord, load_artifact, newest_models

if TYPE_CHECKING:
    from rl_trading.ppo import Agent

logger = logging.getLogger(__name__)

HYBRID_GENERATOR = "hybrid"
RANKER_EQUAL_GENERATOR = "ranker-equal"


class ModelSource(Protocol):
    """Where the generator finds its candidate models (backtesting.walk_forward.ModelSchedule is one)."""

    def models_for(self, kind: ModelKind, strategy: str, day: date) -> Sequence[ModelRecord]:
        """The candidates for a decision on `day`, the preferred first; none trained up to `day`."""
        ...


@dataclass(frozen=True)
class RegistrySource:
    """The open model table: the newest models of the kind and strategy trained before the day."""

    engine: Engine

    def models_for(self, kind: ModelKind, strategy: str, day: date) -> Sequence[ModelRecord]:
        return newest_models(self.engine, kind, strategy, trained_before=day)


@dataclass(frozen=True)
class LoadedModel:
    record: ModelRecord
    model: Any  # an autonomous.ranking.xgb.RankerModel or an rl_trading.ppo.Agent


@dataclass(frozen=True)
class ModelLookup:
    """The model found for a role, or why there is none."""

    loaded: LoadedModel | None
    note: str


class HybridGenerator:
    """Ranker + agent per strategy, from the model table or a pinned source; loaded models are kept by id."""

    def __init__(
        self, engine: Engine, settings: FundSettings, *, schedule: ModelSource | None = None, agents: bool = True
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._source: ModelSource = RegistrySource(engine) if schedule is None else schedule
        self._pinned = schedule is not None
        self._agents = agents
        self._loaded: dict[int, Any] = {}
        self._pairs: dict[int, list[ModelRecord]] = {}  # agent id -> the stored copies of its ranker

    @property
    def name(self) -> str:
        return HYBRID_GENERATOR if self._agents else RANKER_EQUAL_GENERATOR

    def generate(self, state: MarketState, choice: StrategyChoice, holdings: Mapping[str, float]) -> TargetPortfolio:
        strategy = choice.strategy
        if strategy == DEFENSIVE:
            return defensive_portfolio(state.close, safe_haven=state.safe_haven, risk=self._settings.risk)
        universe = state.universes[strategy]
        top_n = self._settings.strategy.top_n
        inputs = ranker_inputs(state.cross_section, state.stocks)
        present = present_groups(inputs)
        ranker, agent = self._models(strategy, state.day, present)
        if ranker.loaded is None:
            fallback = mock_portfolio(
                universe, top_n, held=held_names(holdings), band=self._settings.strategy.hold_band
            )
            return TargetPortfolio(
                strategy,
                fallback.weights,
                f"{self.name}/mock",
                f"{ranker.note}: mock generator instead: {fallback.reason}",
                {"ranker": f"none ({ranker.note})", "agent": "not used"},
            )
        versions = {"ranker": ranker.loaded.record.label, "ranker_inputs": _inputs_note(ranker.loaded.record, present)}
        if not universe.available or not universe.tickers:
            reason = universe.reason if not universe.available else "the universe is empty"
            return TargetPortfolio(strategy, {}, self.name, f"all cash: {reason}", versions)
        members = inputs.reindex([ticker for ticker in universe.tickers if ticker in inputs.index])
        model: RankerModel = ranker.loaded.model
        predictions = predict(model, members)
        if not model.predicts_returns:
            # A ranking score has no sign: percentile ranks make every name eligible (rl_trading/slots.py).
            predictions = scores_as_ranks(predictions)
        selected = select_top_positive(predictions, top_n)
        if selected.empty:
            reason = f"all cash: no name of the {len(members)} in the universe has a positive predicted excess return"
            return TargetPortfolio(strategy, {}, self.name, reason, versions | {"agent": "not used"})
        horizon = ranker.loaded.record.parameters.get("horizon", "?")
        if model.predicts_returns:
            picked = (
                f"the ranker picked {len(selected)} of {len(members)} names with a positive predicted "
                f"{horizon}-session excess return (best {selected.index[0]} {selected.iloc[0]:+.2%})"
            )
        else:
            picked = (
                f"the ranker ({model.objective}, a ranking objective whose score has no sign) picked the top "
                f"{len(selected)} of {len(members)} names by its {horizon}-session score (best {selected.index[0]})"
            )
        if not self._agents:
            # The rule-based generators' holding band (autonomous/holding_band.py), over the positive predictions.
            ranked = list(select_top_positive(predictions, len(predictions)).index)
            picks = pick_with_band(ranked, held_names(holdings), top_n, self._settings.strategy.hold_band)
            weights, capped = self._equal_weights(predictions.reindex(list(picks.tickers)))
            return TargetPortfolio(
                strategy,
                weights,
                RANKER_EQUAL_GENERATOR,
                f"{picked}{picks.band_note}; equal weights{capped} (the ranker-equal generator uses no agent)",
                versions | {"agent": "not used (ranker-equal)"},
            )
        assert agent is not None  # _models looks one up whenever agents are used
        if agent.loaded is None:
            weights, capped = self._equal_weights(selected)
            return TargetPortfolio(
                strategy,
                weights,
                f"{HYBRID_GENERATOR}/equal_weight",
                f"{picked}; {agent.note}: equal weights{capped}",
                versions | {"agent": f"none ({agent.note}): equal weights"},
            )
        if state.regime is None:
            weights, capped = self._equal_weights(selected)
            note = "the market view has no regime for the agent to observe"
            return TargetPortfolio(
                strategy,
                weights,
                f"{HYBRID_GENERATOR}/equal_weight",
                f"{picked}; {note}: equal weights{capped}",
                versions | {"agent": f"{agent.loaded.record.label} not used ({note}): equal weights"},
            )
        band = int(agent.loaded.record.parameters.get("slot_band", self._settings.models.agent.slot_band))
        market = market_features_of_snapshot(state.regime)
        weights = agent_weights(agent.loaded.model, predictions, inputs, holdings, SlotBand(top_n, band), market)
        # The agent learned on the picks of the ranker named here; with models.agent.ranker_pairing = newest
        # that may be older than the one in use now: the log keeps both, so a reader can tell.
        trained_with = str(agent.loaded.record.parameters.get("ranker", "unknown"))
        return TargetPortfolio(
            strategy,
            weights,
            HYBRID_GENERATOR,
            f"{picked}; the PPO agent set their weights ({1.0 - math.fsum(weights.values()):.1%} cash)",
            versions | {"agent": agent.loaded.record.label, "agent_trained_on_ranker": trained_with},
        )

    def _models(self, strategy: str, day: date, present: frozenset[str]) -> tuple[ModelLookup, ModelLookup | None]:
        """The ranker to rank with and, when the generator uses agents, the agent (None otherwise).

        Paired (models.agent.ranker_pairing): the newest valid agent, and the ranker it learned on
        (its parameters' "ranker" label), so that it weighs predictions like those it was trained on.
        When that ranker is unusable (no longer stored, or it reads an input group the data lacks), the
        newest usable ranker ranks and the agent is not used: its picks get equal weights, and the note
        says why. Newest: the newest usable ranker and the newest valid agent, independently."""
        if not self._agents:
            return self.lookup(RANKER, strategy, day, present=present), None
        agent = self.lookup(AGENT, strategy, day)
        if agent.loaded is None or self._settings.models.agent.ranker_pairing == "newest":
            return self.lookup(RANKER, strategy, day, present=present), agent
        own = self._paired_ranker(agent.loaded.record, day, present)
        if own.loaded is not None:
            return own, agent
        note = f"{agent.loaded.record.label} is not used: {own.note}"
        return self.lookup(RANKER, strategy, day, present=present), ModelLookup(None, note)

    def _paired_ranker(self, agent: ModelRecord, day: date, present: frozenset[str]) -> ModelLookup:
        """The ranker `agent` learned on, found by its label (window and content hash, so a copy stored
        again, in this database or another, is the same ranker), with the lookup's checks."""
        label = agent.parameters.get("ranker")
        if not isinstance(label, str):
            return ModelLookup(None, "it does not name the ranker it learned on")
        if agent.id not in self._pairs:  # a backtest asks every session: one query per agent
            rankers = newest_models(self._engine, RANKER, agent.strategy, include_sweep_trials=True)
            self._pairs[agent.id] = [record for record in rankers if record.label == label]
        stored = self._pairs[agent.id]
        if not stored:
            return ModelLookup(None, f"the ranker it learned on, {label}, is not stored")
        found = self._first_usable(stored, RANKER, day, present)
        if found.loaded is None:
            return ModelLookup(None, f"the ranker it learned on is unusable ({found.note})")
        return found

    def _equal_weights(self, selected: pd.Series) -> tuple[dict[str, float], str]:
        """Equal weights over the picks and, when the position limit capped them, a clause saying so."""
        # Capped at the per-position limit: five picks at 20% each would only be clipped by the
        # risk manager, and a clip that large reads as a borderline plan needing approval.
        weight = min(1.0 / len(selected), self._settings.risk.max_position_weight)
        capped = f", capped at the {weight:.0%} position limit" if weight < 1.0 / len(selected) else ""
        return dict.fromkeys(map(str, selected.index), weight), capped

    def lookup(
        self, kind: ModelKind, strategy: str, day: date, *, present: frozenset[str] | None = None
    ) -> ModelLookup:
        """The newest valid model of `kind` for `strategy` trained before `day`, from the generator's
        source (module doc). For a ranker, `present` (the optional input groups the day's data has)
        rules out a model reading a group that is missing; of models with the same window, the one
        reading the most inputs comes first (autonomous/ranking/feature_sets.py)."""
        candidates = self._source.models_for(kind, strategy, day)
        if not candidates:
            where = "scheduled in force on" if self._pinned else "trained before"
            return ModelLookup(None, f"no {kind} for {strategy} {where} {day}")
        if kind == RANKER:
            # Stable: the source's order (newest window first) is kept between windows.
            candidates = sorted(
                candidates, key=lambda record: (-record.train_end.toordinal(), -len(record.feature_set))
            )
        found = self._first_usable(candidates, kind, day, present)
        return (
            found if found.loaded is not None else ModelLookup(None, f"no valid {kind} for {strategy} ({found.note})")
        )

    def _first_usable(
        self, candidates: Sequence[ModelRecord], kind: ModelKind, day: date, present: frozenset[str] | None
    ) -> ModelLookup:
        """The first candidate that passes every check, loaded; or none, and each candidate's problem."""
        problems = []
        for record in candidates:
            try:
                if record.train_end >= day:
                    raise ValueError(f"it was trained up to {record.train_end}, which a decision on {day} may not see")
                lacking = _lacking_inputs(record, present) if kind == RANKER and present is not None else None
                if lacking:
                    # Expected on a feed without that group, every session: not worth a warning each time.
                    problems.append(f"{record.version}: it reads {lacking}, which the data lacks")
                    continue
                return ModelLookup(LoadedModel(record, self._load(record)), f"{record.label}")
            except (FundError, ValueError) as exc:
                logger.warning("skipping %s: %s", record.label, exc)
                problems.append(f"{record.version}: {exc}")
        return ModelLookup(None, "; ".join(problems))

    def _load(self, record: ModelRecord) -> Any:
        if record.id not in self._loaded:
            self._check_compatible(record)
            loader = _LOADERS[record.kind]
            self._loaded[record.id] = loader(load_artifact(self._engine, record), record, self._settings)
        return self._loaded[record.id]

    def _check_compatible(self, record: ModelRecord) -> None:
        if record.kind == RANKER:
            compatible = feature_set_of(record.feature_set) is not None
        else:
            compatible = tuple(record.feature_set) == SLOT_FEATURES
        if not compatible:
            raise ValueError(f"its inputs {record.feature_set[:3]}… are not the ones this version computes")


def _lacking_inputs(record: ModelRecord, present: frozenset[str]) -> str:
    """The optional input groups a ranker reads that the data lacks, named; '' when it has them all
    (a ranker with unknown inputs is refused by the compatibility check instead)."""
    variant = feature_set_of(record.feature_set)
    lacking = frozenset() if variant is None else missing_groups(variant, present)
    return describe_groups(lacking) if lacking else ""


def _inputs_note(record: ModelRecord, present: frozenset[str]) -> str:
    """Which inputs the ranker in use reads, and the optional groups the data has (the run's record)."""
    variant = feature_set_of(record.feature_set)
    name = variant.name if variant is not None else "unknown"
    return f"{name} ({len(record.feature_set)} inputs); {data_groups_note(present)}"


def _load_ranker(artifact: bytes, record: ModelRecord, settings: FundSettings) -> RankerModel:
    return booster_from_bytes(artifact)


def _load_agent(artifact: bytes, record: ModelRecord, settings: FundSettings) -> Agent:
    from rl_trading.ppo import load_agent

    agent = load_agent(artifact)
    if agent.slots != settings.strategy.top_n:
        raise ValueError(f"it has {agent.slots} slots, and strategy.top_n is {settings.strategy.top_n}")
    if agent.features_per_slot != len(SLOT_FEATURES):
        raise ValueError(f"it reads {agent.features_per_slot} features per slot, not {len(SLOT_FEATURES)}")
    return agent


_LOADERS: dict[str, Callable[[bytes, ModelRecord, FundSettings], Any]] = {RANKER: _load_ranker, AGENT: _load_agent}


@dataclass(frozen=True)
class SlotBand:
    """The agent's slots and the band (a multiple of them) of the ranking they are filled from."""

    slots: int
    band: int

    @property
    def candidates(self) -> int:
        return self.slots * self.band


def agent_weights(
    agent: Agent,
    predictions: pd.Series,
    inputs: pd.DataFrame,
    holdings: Mapping[str, float],
    band: SlotBand,
    market: npt.NDArray[np.float64],
) -> dict[str, float]:
    """The agent's target over its slots, seen exactly as in training: the same ranking, slot
    assignment and features (rl_trading/slots.py) and market state (rl_trading/market_features.py)."""
    ranked = rank_candidates(predictions, band.candidates)
    held = np.array([float(holdings.get(ticker, 0.0)) > HELD_WEIGHT for ticker in ranked.index], dtype=np.bool_)
    chosen = assign_slots(ranked.to_numpy(dtype=np.float64), held, band.slots)
    positions = np.full(band.slots, EMPTY_SLOT, dtype=np.intp)
    positions[: len(chosen)] = chosen
    features = gather_slot_features(candidate_features(ranked, inputs, band.candidates), positions)
    names = [str(ticker) for ticker in ranked.index[chosen]]
    weights = np.zeros(band.slots, dtype=np.float64)
    weights[: len(names)] = [max(0.0, float(holdings.get(ticker, 0.0))) for ticker in names]
    invested = math.fsum(max(0.0, float(weight)) for weight in holdings.values())
    other = max(0.0, invested - float(weights.sum()))
    cash = max(0.0, 1.0 - invested)
    target = agent.target_weights(features, positions != EMPTY_SLOT, weights, cash, other, market)
    return {ticker: float(target[slot]) for slot, ticker in enumerate(names) if target[slot] > 0}
