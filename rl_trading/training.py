"""Training a strategy's PPO weight agent against the database: the code behind `fund train ppo` and
rl_trading/train_hybrid_ppo.py.

Windows. The agent learns from the decisions of [start, end) (each earns its return by `end`'s
close) and is evaluated on the decisions from `end` on, up to the session before `eval_end` (whose
returns start at `end`'s close): the two windows share no day of returns.

Its inputs are the predictions of the strategy's newest ranker trained BEFORE `start`, so the agent
only ever sees out-of-sample predictions, as it will in the daily run; an agent trained on a
ranker's in-sample predictions would learn to trust them far too much. A caller may pin the ranker
instead (a walk-forward backtest pins one of its schedule's, backtesting/walk_forward.py); the pinned
one must have been trained before `start` too.

Defaults: the evaluation window is the last `EVAL_SESSIONS` sessions of the data, and training
covers up to `TRAIN_YEARS` years before it, starting after the ranker's training window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from autonomous.ranking.xgb import booster_from_bytes
from rl_trading.episode_builder import load_episode_data
from rl_trading.episodes import EpisodeData
from rl_trading.interpreters import OBSERVATION_LAYOUT
from rl_trading.ppo import AgentEvaluation, TrainedAgent, evaluate_agent, load_agent, train_agent
from rl_trading.simulator import Reward, TradingCosts
from rl_trading.slots import SLOT_FEATURES
from trading.errors import ConfigurationError, DataError
from trading.marketdata.calendar import TradingCalendar
from trading.settings import STRATEGIES, FundSettings
from trading.store.models import AGENT, RANKER, ModelRecord, load_artifact, newest_models, save_model

logger = logging.getLogger(__name__)

EVAL_SESSIONS = 252
TRAIN_YEARS = 3
# `fund train ppo`'s budget: enough for the policy to move well away from equal weights.
DEFAULT_TIMESTEPS = 100_000
# Fewer sessions than this cannot hold an episode and teach anything.
MIN_TRAIN_SESSIONS = 60


def strategy_name(style: str, market_cap: str | None) -> str:
    """('growth', 'mid') -> 'growth_midcap'; ('dividend', None) -> 'dividend' (it spans every size)."""
    if style == "dividend":
        if market_cap is not None:
            raise ConfigurationError("the dividend strategy spans every size: leave out --market-cap")
        return "dividend"
    if market_cap is None:
        raise ConfigurationError(f"the {style} strategies come in large, mid and small cap: give --market-cap")
    name = f"{style}_{market_cap}cap"
    if name not in STRATEGIES:
        raise ConfigurationError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return name


@dataclass(frozen=True)
class AgentWindows:
    start: date
    end: date
    eval_end: date
    ranker: ModelRecord


@dataclass(frozen=True)
class AgentTraining:
    strategy: str
    windows: AgentWindows
    train_sessions: int
    eval_sessions: int
    trained: TrainedAgent
    evaluation: AgentEvaluation
    record: ModelRecord


def plan_windows(
    engine: Engine,
    settings: FundSettings,
    strategy: str,
    *,
    start: date | None,
    end: date | None,
    eval_end: date | None,
    ranker: ModelRecord | None = None,
) -> AgentWindows:
    """The training and evaluation windows and the ranker to use (module doc for the defaults).

    `ranker` pins the ranker instead of taking the registry's newest; it must be a ranker of the
    strategy trained before the window starts (before `end` when `start` is left to the default).
    """
    calendar = TradingCalendar.from_database(engine, settings.data.benchmark_ticker)
    last = calendar.last_session
    if last is None:
        raise DataError(f"no bars for the benchmark {settings.data.benchmark_ticker}: import market data first")
    eval_end = min(eval_end or last, last)
    if end is None:
        sessions = calendar.history[calendar.history <= pd.Timestamp(eval_end)]
        if len(sessions) <= EVAL_SESSIONS:
            raise DataError(f"only {len(sessions)} sessions up to {eval_end}: give --end-date explicitly")
        end = sessions[-EVAL_SESSIONS - 1].date()
    if end >= eval_end:
        raise ConfigurationError(f"the training window must end ({end}) before the evaluation window does ({eval_end})")
    before = start or end
    if ranker is None:
        ranker = _newest_ranker(engine, strategy, before)
    else:
        _check_pinned(ranker, strategy, before)
    if start is None:
        start = max(ranker.train_end + timedelta(days=1), end - timedelta(days=365 * TRAIN_YEARS))
    if start > end:
        raise ConfigurationError(f"the training window starts ({start}) after it ends ({end})")
    return AgentWindows(start=start, end=end, eval_end=eval_end, ranker=ranker)


def _newest_ranker(engine: Engine, strategy: str, before: date) -> ModelRecord:
    rankers = newest_models(engine, RANKER, strategy, trained_before=before)
    if not rankers:
        raise DataError(
            f"no {strategy} ranker trained before {before}: train one first (fund train xgboost --models {strategy} "
            f"--end-date <a date before {before}>)"
        )
    return rankers[0]


def _check_pinned(ranker: ModelRecord, strategy: str, before: date) -> None:
    if (ranker.kind, ranker.strategy) != (RANKER, strategy):
        raise ConfigurationError(f"{ranker.label} cannot be pinned as the {strategy} agent's ranker")
    if ranker.train_end >= before:
        raise ConfigurationError(
            f"{ranker.label} was trained up to {ranker.train_end}, not before {before}: the agent would learn "
            "from its in-sample predictions"
        )


# Agent settings that decide how a trained agent is used, not how it is trained: left out of the key, so
# that changing them reuses the stored agents.
USE_ONLY_SETTINGS = frozenset({"ranker_pairing"})


def agent_training_parameters(
    settings: FundSettings, *, timesteps: int, seed: int | None, ranker: ModelRecord
) -> dict[str, Any]:
    """Everything that shapes an agent's training besides its window: stored with the agent, and the
    key a stored agent must match to stand in for one trained now (backtesting/walk_forward.py).

    The risk limits are the ones the simulator's reward penalises; the benchmark and universe
    settings decide which names the episodes hold. `sharpe_eta` shapes only the differential Sharpe
    reward, so only its agents carry it: agents of the other rewards, stored before it existed, still
    match the key of their own settings.
    """
    agent = settings.models.agent
    costs = TradingCosts.from_settings(settings.execution, agent).engine
    risk = settings.risk
    exclude = set(USE_ONLY_SETTINGS)
    if agent.reward != "differential_sharpe":
        exclude.add("sharpe_eta")
    return {
        **agent.model_dump(mode="json", exclude=exclude),
        "seed": agent.seed if seed is None else seed,
        "timesteps": timesteps,
        "slots": settings.strategy.top_n,
        "observation_layout": OBSERVATION_LAYOUT,
        "ranker": ranker.label,
        "costs": {
            "slippage_bps": float(settings.execution.slippage_bps),
            "commission_per_share": costs.commission_per_share,
            "commission_minimum": costs.commission_minimum,
        },
        "risk_limits": {
            "max_position_weight": risk.max_position_weight,
            "max_top3_weight": risk.max_top3_weight,
            "min_cash_weight": risk.min_cash_weight,
            "max_daily_turnover": risk.max_daily_turnover,
        },
        "data": {"benchmark": settings.data.benchmark_ticker, "universe": settings.universe.model_dump(mode="json")},
    }


def train_weight_agent(
    engine: Engine,
    settings: FundSettings,
    strategy: str,
    *,
    timesteps: int,
    start: date | None = None,
    end: date | None = None,
    eval_end: date | None = None,
    seed: int | None = None,
    ranker: ModelRecord | None = None,
    extra_parameters: Mapping[str, Any] | None = None,
) -> AgentTraining:
    """Trains, evaluates and stores the strategy's agent (windows and `ranker` as in `plan_windows`).

    `extra_parameters` are stored with the agent's parameters, e.g. the lineage of a walk-forward backtest.
    """
    fitted = fit_weight_agent(
        engine,
        settings,
        strategy,
        timesteps=timesteps,
        start=start,
        end=end,
        eval_end=eval_end,
        seed=seed,
        ranker=ranker,
    )
    return store_weight_agent(engine, fitted, extra_parameters)


@dataclass(frozen=True)
class FittedAgent:
    """A trained and evaluated agent, not stored yet (a sweep's trial hands it to whoever writes)."""

    strategy: str
    windows: AgentWindows
    train_sessions: int
    eval_sessions: int
    trained: TrainedAgent
    evaluation: AgentEvaluation
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    eval_dates: tuple[date, ...]  # the held-out window's sessions: step i decides at eval_dates[i]


def fit_weight_agent(
    engine: Engine,
    settings: FundSettings,
    strategy: str,
    *,
    timesteps: int,
    start: date | None = None,
    end: date | None = None,
    eval_end: date | None = None,
    seed: int | None = None,
    ranker: ModelRecord | None = None,
) -> FittedAgent:
    """Trains the strategy's agent and evaluates it on the held-out window; reads the database only."""
    windows = plan_windows(engine, settings, strategy, start=start, end=end, eval_end=eval_end, ranker=ranker)
    booster = booster_from_bytes(load_artifact(engine, windows.ranker))
    episodes = load_episode_data(engine, settings, strategy, booster, windows.start, windows.eval_end)
    train, held_out = split_at(episodes, windows.end)
    if train.sessions < MIN_TRAIN_SESSIONS:
        raise DataError(
            f"{strategy}: {train.sessions} training sessions in {windows.start}..{windows.end}; "
            f"at least {MIN_TRAIN_SESSIONS} are needed"
        )
    agent_settings = settings.models.agent
    costs = TradingCosts.from_settings(settings.execution, agent_settings)
    trained = train_agent(
        train, settings=agent_settings, costs=costs, risk=settings.risk, timesteps=timesteps, seed=seed
    )
    evaluation = evaluate_agent(
        load_agent(trained.artifact),
        held_out,
        costs=costs,
        risk=settings.risk,
        reward=Reward.from_settings(agent_settings),
    )
    parameters = agent_training_parameters(settings, timesteps=timesteps, seed=trained.seed, ranker=windows.ranker)
    metrics = {
        "timesteps": timesteps,
        "training_seconds": round(trained.seconds, 3),
        "train_sessions": train.sessions,
        "evaluation": evaluation_dict(evaluation, held_out),
    }
    return FittedAgent(
        strategy,
        windows,
        train.sessions,
        held_out.sessions,
        trained,
        evaluation,
        parameters,
        metrics,
        tuple(held_out.dates),
    )


def store_weight_agent(
    engine: Engine, fitted: FittedAgent, extra_parameters: Mapping[str, Any] | None = None
) -> AgentTraining:
    """Stores a fitted agent in the model registry, with `extra_parameters` beside its own."""
    windows = fitted.windows
    record = save_model(
        engine,
        kind=AGENT,
        strategy=fitted.strategy,
        train_start=windows.start,
        train_end=windows.end,
        feature_set=SLOT_FEATURES,
        parameters={**(extra_parameters or {}), **fitted.parameters, "ranker_id": windows.ranker.id},
        metrics=fitted.metrics,
        artifact=fitted.trained.artifact,
    )
    return AgentTraining(
        fitted.strategy, windows, fitted.train_sessions, fitted.eval_sessions, fitted.trained, fitted.evaluation, record
    )


def split_at(episodes: EpisodeData, end: date) -> tuple[EpisodeData, EpisodeData]:
    """Training sessions (a decision before `end` earns a return that ends by `end`) and the rest."""
    cut = sum(1 for day in episodes.dates if day < end)
    if cut < 2 or episodes.sessions - cut < 2:
        raise DataError(
            f"the window {episodes.dates[0]}..{episodes.dates[-1]} leaves {cut} training and "
            f"{episodes.sessions - cut} evaluation sessions around {end}; each needs at least 2"
        )
    return episodes.window(0, cut), episodes.window(cut, episodes.sessions)


def evaluation_dict(evaluation: AgentEvaluation, held_out: EpisodeData) -> dict[str, Any]:
    """The held-out figures flat, as `fund models list` and SQL readers want them."""
    return {
        "window": [held_out.dates[0].isoformat(), held_out.dates[-1].isoformat()],
        "sessions": evaluation.sessions,
        "mean_reward": evaluation.agent.mean_reward,
        "sharpe_agent": evaluation.agent.sharpe,
        "sharpe_equal_weight": evaluation.equal_weight.sharpe,
        "total_return_agent": evaluation.agent.total_return,
        "total_return_equal_weight": evaluation.equal_weight.total_return,
        "turnover_agent": evaluation.agent.turnover,
        "turnover_equal_weight": evaluation.equal_weight.turnover,
        "cash_agent": evaluation.agent.cash,
        "cash_equal_weight": evaluation.equal_weight.cash,
        "cost_agent": evaluation.agent.cost,
        "cost_equal_weight": evaluation.equal_weight.cost,
    }
