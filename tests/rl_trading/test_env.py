from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rl_trading.env import PortfolioEnv
from rl_trading.interpreters import observation_size
from rl_trading.simulator import Reward, SharpeMoments
from tests.rl_trading.builders import FREE, LOOSE, PENALISED, random_episode
from trading.settings import RiskLimits

EPISODE = 5


def make_env(sessions: int = 12, episode_sessions: int = EPISODE) -> PortfolioEnv:
    data = random_episode(sessions_count=sessions, tickers=6, slots=3, features=2, seed=1)
    return PortfolioEnv(data, costs=FREE, risk=RiskLimits(), reward=PENALISED, episode_sessions=episode_sessions)


# The checker recommends a [-1, 1] action box; [-5, 5] is on purpose (logits, see decode_action).
@pytest.mark.filterwarnings("ignore:.*symmetric and normalized space")
def test_the_gymnasium_env_checker_passes() -> None:
    check_env(make_env(), skip_render_check=True)


def test_the_spaces_have_the_observation_and_action_shapes() -> None:
    env = make_env()
    assert env.observation_space.shape == (observation_size(3, 2),)
    assert env.observation_space.dtype == np.float32
    assert env.action_space.shape == (4,)
    observation, _ = env.reset(seed=0)
    assert observation.shape == env.observation_space.shape
    observation, _, _, _, _ = env.step(env.action_space.sample())
    assert env.observation_space.contains(observation)


def test_reset_samples_every_start_that_leaves_room_for_a_full_episode() -> None:
    env = make_env(sessions=12, episode_sessions=EPISODE)
    starts = {env.reset(seed=seed)[1]["session"] for seed in range(200)}
    assert starts == set(range(12 - EPISODE + 1))


def test_reset_honours_a_start_from_the_options() -> None:
    env = make_env()
    _, info = env.reset(seed=0, options={"start": 9})
    assert info["session"] == 9
    assert env.simulator.state.t == 9
    with pytest.raises(ValueError, match="outside the window"):
        env.reset(options={"start": 12})


def test_an_episode_is_truncated_after_episode_sessions_steps() -> None:
    env = make_env()
    env.reset(seed=3, options={"start": 0})
    for _ in range(EPISODE - 1):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        assert not truncated
    _, _, terminated, truncated, _ = env.step(env.action_space.sample())
    assert truncated
    assert not terminated


def test_an_episode_is_truncated_when_the_data_runs_out() -> None:
    env = make_env(sessions=12)
    env.reset(options={"start": 10})
    assert env.step(np.zeros(4, dtype=np.float32))[3] is False
    _, _, terminated, truncated, info = env.step(np.zeros(4, dtype=np.float32))
    assert (terminated, truncated) == (False, True)
    assert info["session"] == 11


def test_the_info_carries_the_net_return_costs_and_violation() -> None:
    data = random_episode(sessions_count=8, seed=2)
    env = PortfolioEnv(data, costs=FREE, risk=LOOSE, reward=Reward("penalised", 0.5), episode_sessions=EPISODE)
    env.reset(options={"start": 0})
    _, reward, _, _, info = env.step(np.zeros(4, dtype=np.float32))
    assert {"net_return", "gross_return", "slippage", "commission", "cost", "turnover", "violation"} <= info.keys()
    assert info["cost"] == info["slippage"] + info["commission"] == 0.0
    assert info["violation"] == 0.0
    assert reward == pytest.approx(np.log1p(info["net_return"]))


def test_a_window_shorter_than_an_episode_always_starts_at_zero() -> None:
    env = make_env(sessions=4, episode_sessions=EPISODE)
    assert {env.reset(seed=seed)[1]["session"] for seed in range(20)} == {0}


def test_every_episode_of_the_environment_starts_the_differential_sharpe_afresh() -> None:
    data = random_episode(sessions_count=12, tickers=6, slots=3, features=2, seed=1)
    reward = Reward("differential_sharpe", 1.0, 0.1)
    env = PortfolioEnv(data, costs=FREE, risk=RiskLimits(), reward=reward, episode_sessions=EPISODE)
    actions = np.random.default_rng(3).uniform(-2.0, 2.0, size=(EPISODE, 4)).astype(np.float32)

    def rewards(start: int) -> list[float]:
        env.reset(options={"start": start})
        return [env.step(action)[1] for action in actions]

    first = rewards(1)
    rewards(4)
    assert rewards(1) == first
    env.reset(options={"start": 4})
    assert env.simulator.state.moments == SharpeMoments.prior(data.market_volatility[4])
