"""The gymnasium environment of one weight agent: the simulator's state seen through the
interpreters. An episode starts all cash at a random session and runs `episode_sessions` steps."""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rl_trading.episodes import EpisodeData
from rl_trading.interpreters import (
    ACTION_BOUND,
    OBSERVATION_BOUND,
    Float32Array,
    decode_action,
    observation_size,
    session_view,
)
from rl_trading.simulator import PortfolioSimulator, PortfolioState, Reward, StepOutcome, TradingCosts
from trading.settings import RiskLimits

logger = logging.getLogger(__name__)


class PortfolioEnv(gym.Env[Float32Array, Float32Array]):
    """Actions are logits over the N slots and cash (see `decode_action`); the reward is the
    simulator's. Episodes are truncated after `episode_sessions` steps or when the window ends,
    and terminate only when costs ruin the portfolio.

    `reset(options={"start": t})` starts at session t (for a deterministic evaluation); otherwise
    the start is uniform over the sessions that leave room for a full episode.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's class attribute

    def __init__(
        self,
        data: EpisodeData,
        *,
        costs: TradingCosts,
        risk: RiskLimits,
        reward: Reward,
        episode_sessions: int,
    ) -> None:
        super().__init__()
        if episode_sessions < 1:
            raise ValueError(f"episode_sessions must be >= 1, got {episode_sessions}")
        self.data = data
        self.episode_sessions = episode_sessions
        self.simulator = PortfolioSimulator(data, costs=costs, risk=risk, reward=reward)
        size = observation_size(data.slots, data.features_per_slot, data.market_size)
        self.observation_space = spaces.Box(-OBSERVATION_BOUND, OBSERVATION_BOUND, (size,), np.float32)
        self.action_space = spaces.Box(-ACTION_BOUND, ACTION_BOUND, (data.slots + 1,), np.float32)
        self._steps = 0

    @property
    def last_start(self) -> int:
        """The latest start that leaves room for a full episode (0 when the window is shorter)."""
        return max(self.data.sessions - self.episode_sessions, 0)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Float32Array, dict[str, Any]]:
        super().reset(seed=seed)
        start = self._start(options)
        state = self.simulator.reset(start)
        self._steps = 0
        return self._observe(state), {"session": start}

    def step(self, action: Float32Array) -> tuple[Float32Array, float, bool, bool, dict[str, Any]]:
        filled = self.simulator.state.slot_filled
        outcome = self.simulator.step(decode_action(action, filled))
        self._steps += 1
        terminated = outcome.ruined
        truncated = not terminated and (outcome.out_of_data or self._steps >= self.episode_sessions)
        return self._observe(outcome.state), outcome.reward, terminated, truncated, _info(outcome)

    def _start(self, options: dict[str, Any] | None) -> int:
        if options is not None and "start" in options:
            start = int(options["start"])
            if not 0 <= start < self.data.sessions:
                raise ValueError(f"options['start'] = {start} is outside the window 0..{self.data.sessions - 1}")
            return start
        return int(self.np_random.integers(0, self.last_start + 1))

    def _observe(self, state: PortfolioState) -> Float32Array:
        return session_view(self.data, state).observation()


def _info(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "session": outcome.state.t - 1,
        "gross_return": outcome.gross_return,
        "net_return": outcome.net_return,
        "slippage": outcome.slippage,
        "commission": outcome.commission,
        "cost": outcome.cost,
        "turnover": outcome.turnover,
        "violation": outcome.violation,
        "value": outcome.state.value,
    }
