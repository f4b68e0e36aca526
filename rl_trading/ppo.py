"""PPO training of a weight agent (stable-baselines3), loading it back from bytes, and its
evaluation against equal weights on a window.

torch and stable-baselines3 are imported inside the functions that need them: importing this
module must stay cheap for the CLI and the daily run, which only sometimes train or load an agent.

Determinism: the same data, settings and seed give identical policy parameters (and so identical
predictions) on the same machine and library versions; the artifact's policy members are then
byte-identical too. The artifact as a whole is not: the SB3 model inside it holds the training's
start time (SB3's start_time), and its zip stamps members with the time they were written.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from rl_trading.agent_artifact import (
    ObservationLayout,
    PolicyWeights,
    pack,
    policy_weights_of,
    unpack_layout,
    unpack_policy,
    unpack_sb3,
)
from rl_trading.env import PortfolioEnv
from rl_trading.episodes import EpisodeData
from rl_trading.interpreters import (
    OBSERVATION_LAYOUT,
    BoolArray,
    Float32Array,
    FloatArray,
    SessionView,
    decode_action,
    encode_observation,
    equal_weights,
    observation_size,
    session_view,
)
from rl_trading.simulator import PortfolioSimulator, Reward, StepOutcome, TradingCosts
from trading.settings import AgentSettings, RiskLimits

if TYPE_CHECKING:
    from stable_baselines3 import PPO

logger = logging.getLogger(__name__)

SESSIONS_PER_YEAR = 252
SHARPE_MIN_DEVIATION = 1e-12
# The policy is a tiny MLP on batches of a few dozen rows: a second intra-op thread only adds
# synchronisation (measured ~15x slower backward passes with 2 threads on the 2-core target).
TORCH_THREADS = 1

Policy = Callable[[SessionView], FloatArray]


@dataclass(frozen=True)
class TrainedAgent:
    artifact: bytes  # the SB3 model zip (PPO.save)
    timesteps: int
    seconds: float
    seed: int


class Agent:
    """A trained policy that turns a session's slots and weights into target weights.

    It acts from the policy's plain arrays (rl_trading/agent_artifact.py): no torch at decision time.
    """

    def __init__(self, policy: PolicyWeights, layout: ObservationLayout) -> None:
        self._policy = policy
        self.slots = layout.slots
        self.features_per_slot = layout.features_per_slot
        self.market_features = layout.market_features
        if policy.action_size != self.slots + 1:
            raise ValueError(f"the policy has {policy.action_size} actions, and its layout {self.slots} slots and cash")
        if observation_size(self.slots, self.features_per_slot, self.market_features) != policy.observation_size:
            raise ValueError(f"observation size {policy.observation_size} does not fit the layout {layout}")

    def weights(self, observation: Float32Array, slot_filled: BoolArray) -> FloatArray:
        """Target weights (N slots, then cash) for an encoded observation."""
        expected = observation_size(self.slots, self.features_per_slot, self.market_features)
        if observation.shape != (expected,):
            raise ValueError(f"the agent expects an observation of {expected} values, got {observation.shape}")
        return decode_action(self._policy.act(observation), slot_filled)

    def target_weights(
        self,
        slot_features: FloatArray,
        slot_filled: BoolArray,
        slot_weights: FloatArray,
        cash_weight: float,
        other_weight: float,
        market_features: FloatArray,
    ) -> FloatArray:
        """Target weights (N slots, then cash) for one session's slots, the current weights and the market."""
        if slot_features.shape != (self.slots, self.features_per_slot):
            raise ValueError(
                f"the agent expects slot features of shape {(self.slots, self.features_per_slot)}, "
                f"got {slot_features.shape}"
            )
        if market_features.shape != (self.market_features,):
            raise ValueError(f"the agent expects {self.market_features} market features, got {market_features.shape}")
        observation = encode_observation(
            slot_features, slot_filled, slot_weights, cash_weight, other_weight, market_features
        )
        return self.weights(observation, slot_filled)

    def parameters(self) -> dict[str, FloatArray]:
        """The policy network's parameters as float64 arrays, by name (to compare two agents)."""
        return {name: array.astype(np.float64) for name, array in self._policy.arrays().items()}

    def policy(self, view: SessionView) -> FloatArray:
        return self.target_weights(
            view.slot_features,
            view.slot_filled,
            view.slot_weights,
            view.cash_weight,
            view.other_weight,
            view.market_features,
        )


def train_agent(
    data: EpisodeData,
    *,
    settings: AgentSettings,
    costs: TradingCosts,
    risk: RiskLimits,
    timesteps: int,
    seed: int | None = None,
) -> TrainedAgent:
    """Train a PPO MLP policy on episodes sampled from `data`, seeded (argument, else settings.seed).

    Sets torch's intra-op threads for the whole process (see TORCH_THREADS).
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    seed = settings.seed if seed is None else seed
    torch.set_num_threads(TORCH_THREADS)
    env = PortfolioEnv(
        data,
        costs=costs,
        risk=risk,
        reward=Reward.from_settings(settings),
        episode_sessions=settings.episode_sessions,
    )
    began = time.perf_counter()
    model = PPO(
        "MlpPolicy",
        env,
        learning_rate=settings.learning_rate,
        n_steps=settings.n_steps,
        batch_size=settings.batch_size,
        gamma=settings.gamma,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    # A logger without outputs: left to itself, stable-baselines3 makes an SB3-<timestamp> folder in the
    # temporary directory for every training, even with nothing to write there.
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.learn(total_timesteps=timesteps)
    seconds = time.perf_counter() - began
    buffer = io.BytesIO()
    model.save(buffer)
    logger.info("trained a PPO agent: %d timesteps in %.1f s (seed %d)", timesteps, seconds, seed)
    layout = ObservationLayout(OBSERVATION_LAYOUT, data.slots, data.features_per_slot, data.market_size)
    artifact = pack(buffer.getvalue(), policy_weights_of(model), layout)
    return TrainedAgent(artifact=artifact, timesteps=timesteps, seconds=seconds, seed=seed)


def load_agent(artifact: bytes) -> Agent:
    """The agent of a stored artifact, ready to act (numpy only); AgentArtifactError for an artifact of
    another observation layout."""
    return Agent(unpack_policy(artifact), unpack_layout(artifact, OBSERVATION_LAYOUT))


def load_sb3_model(artifact: bytes) -> PPO:
    """The full stable-baselines3 model of an artifact (imports torch): to inspect or train further."""
    from stable_baselines3 import PPO

    return PPO.load(io.BytesIO(unpack_sb3(artifact)), device="cpu")


@dataclass(frozen=True)
class PassFigures:
    """One policy's pass over a window, per session where not said otherwise."""

    mean_reward: float
    total_return: float  # over the whole pass
    sharpe: float  # annualised, of the net daily returns (0 when they do not vary)
    turnover: float
    cost: float  # slippage plus commission, as a fraction of value
    cash: float  # the weight in cash at each close, after the session's trades


@dataclass(frozen=True)
class AgentEvaluation:
    sessions: int
    agent: PassFigures
    equal_weight: PassFigures
    agent_returns: tuple[float, ...] = ()  # the agent's net return of each step, in order

    def as_dict(self) -> dict[str, int | dict[str, float]]:
        return {"sessions": self.sessions, "agent": asdict(self.agent), "equal_weight": asdict(self.equal_weight)}


def evaluate_agent(
    agent: Agent, data: EpisodeData, *, costs: TradingCosts, risk: RiskLimits, reward: Reward
) -> AgentEvaluation:
    """One deterministic pass over the whole window from session 0 (all cash), for the agent and for
    equal weights, both charged the same costs and scored by the same reward."""
    trained = (agent.slots, agent.features_per_slot, agent.market_features)
    if trained != (data.slots, data.features_per_slot, data.market_size):
        raise ValueError(
            f"the agent was trained on {agent.slots} slots x {agent.features_per_slot} features and "
            f"{agent.market_features} market features, the data has {data.slots} x {data.features_per_slot} "
            f"and {data.market_size}"
        )
    simulator = PortfolioSimulator(data, costs=costs, risk=risk, reward=reward)
    agent_outcomes = replay(simulator, agent.policy)
    equal_outcomes = replay(simulator, lambda view: equal_weights(view.slot_filled))
    evaluation = AgentEvaluation(
        sessions=len(agent_outcomes),
        agent=summarise(agent_outcomes),
        equal_weight=summarise(equal_outcomes),
        agent_returns=tuple(float(outcome.net_return) for outcome in agent_outcomes),
    )
    logger.info(
        "agent evaluation over %d sessions: return %.4f (equal weight %.4f), Sharpe %.2f (%.2f)",
        evaluation.sessions,
        evaluation.agent.total_return,
        evaluation.equal_weight.total_return,
        evaluation.agent.sharpe,
        evaluation.equal_weight.sharpe,
    )
    return evaluation


def replay(simulator: PortfolioSimulator, policy: Policy) -> list[StepOutcome]:
    """Every step of `policy` from session 0 until the window ends (or the portfolio is ruined)."""
    state = simulator.reset(0)
    outcomes: list[StepOutcome] = []
    while True:
        outcome = simulator.step(policy(session_view(simulator.data, state)))
        outcomes.append(outcome)
        if outcome.out_of_data or outcome.ruined:
            return outcomes
        state = outcome.state


def summarise(outcomes: list[StepOutcome]) -> PassFigures:
    net = np.array([outcome.net_return for outcome in outcomes], dtype=np.float64)
    return PassFigures(
        mean_reward=float(np.mean([outcome.reward for outcome in outcomes])),
        total_return=outcomes[-1].state.value - 1.0,
        sharpe=annualised_sharpe(net),
        turnover=float(np.mean([outcome.turnover for outcome in outcomes])),
        cost=float(np.mean([outcome.cost for outcome in outcomes])),
        cash=float(np.mean([outcome.state.cash for outcome in outcomes])),
    )


def annualised_sharpe(daily_returns: FloatArray) -> float:
    if len(daily_returns) < 2:
        return 0.0
    deviation = float(np.std(daily_returns, ddof=1))
    # Float noise makes constant returns deviate by ~1e-19; no real strategy is that steady.
    if deviation < SHARPE_MIN_DEVIATION:
        return 0.0
    return float(np.mean(daily_returns)) / deviation * math.sqrt(SESSIONS_PER_YEAR)
