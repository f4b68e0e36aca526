from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rl_trading.agent_artifact import AgentArtifactError, unpack_policy, unpack_sb3
from rl_trading.episodes import EpisodeData
from rl_trading.interpreters import encode_observation
from rl_trading.ppo import (
    Agent,
    TrainedAgent,
    annualised_sharpe,
    evaluate_agent,
    load_agent,
    load_sb3_model,
    train_agent,
)
from tests.rl_trading.builders import LOOSE, PENALISED, costs, episode, random_episode
from trading.settings import AgentSettings, RiskLimits

SETTINGS = AgentSettings(episode_sessions=8, n_steps=64, batch_size=32, seed=11)
COSTS = costs(5.0, per_share=0.005, minimum=1.0)
TIMESTEPS = 256


@pytest.fixture(scope="module")
def data() -> EpisodeData:
    return random_episode(sessions_count=30, tickers=8, slots=4, features=3, seed=5, candidates=6, market=2)


@pytest.fixture(scope="module")
def trained(data: EpisodeData) -> TrainedAgent:
    return train_agent(data, settings=SETTINGS, costs=COSTS, risk=RiskLimits(), timesteps=TIMESTEPS)


@pytest.fixture(scope="module")
def agent(trained: TrainedAgent) -> Agent:
    return load_agent(trained.artifact)


def test_importing_the_ppo_module_does_not_import_torch() -> None:
    code = "import sys, rl_trading.ppo; print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_tiny_training_run_reports_its_timesteps_and_seed(trained: TrainedAgent) -> None:
    assert trained.timesteps == TIMESTEPS
    assert trained.seed == SETTINGS.seed
    assert trained.seconds > 0.0
    assert trained.artifact[:2] == b"PK"  # the SB3 zip


def test_the_loaded_agent_gives_masked_weights_that_sum_to_one(agent: Agent, data: EpisodeData) -> None:
    assert (agent.slots, agent.features_per_slot, agent.market_features) == (4, 3, 2)
    filled = np.array([True, True, False, False])
    market = data.market_features[0]
    weights = agent.target_weights(data.ranked_features[0, :4], filled, np.zeros(4), 1.0, 0.0, market)
    assert weights.shape == (5,)
    assert weights.sum() == pytest.approx(1.0)
    assert (weights[2:4] == 0.0).all()
    observation = encode_observation(data.ranked_features[0, :4], filled, np.zeros(4), 1.0, 0.0, market)
    np.testing.assert_array_equal(agent.weights(observation, filled), weights)


def test_the_agent_rejects_slots_of_another_shape(agent: Agent) -> None:
    with pytest.raises(ValueError, match=r"slot features of shape \(4, 3\)"):
        agent.target_weights(np.zeros((5, 3)), np.ones(5, dtype=bool), np.zeros(5), 1.0, 0.0, np.zeros(2))
    with pytest.raises(ValueError, match="expects 2 market features"):
        agent.target_weights(np.zeros((4, 3)), np.ones(4, dtype=bool), np.zeros(4), 1.0, 0.0, np.zeros(3))


def test_the_same_seed_trains_identical_parameters_and_another_seed_does_not(
    data: EpisodeData, trained: TrainedAgent, agent: Agent
) -> None:
    repeated = train_agent(data, settings=SETTINGS, costs=COSTS, risk=RiskLimits(), timesteps=TIMESTEPS)
    again = load_agent(repeated.artifact)
    other = load_agent(
        train_agent(data, settings=SETTINGS, costs=COSTS, risk=RiskLimits(), timesteps=TIMESTEPS, seed=12).artifact
    )
    first, second, third = agent.parameters(), again.parameters(), other.parameters()
    assert first.keys() == second.keys() == third.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    assert any(not np.array_equal(first[name], third[name]) for name in first)
    # The stored policy is byte-identical; the SB3 model beside it is not (it holds time stamps).
    policy_members = [name for name in _names(trained.artifact) if name.startswith("policy/")]
    assert len(policy_members) == 7  # two hidden layers and the head (weights and biases), and meta
    for name in policy_members:
        assert _member(trained.artifact, name) == _member(repeated.artifact, name), name


def _names(artifact: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        return archive.namelist()


def _member(artifact: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        return archive.read(name)


def test_loading_the_same_bytes_twice_predicts_the_same_weights(
    agent: Agent, trained: TrainedAgent, data: EpisodeData
) -> None:
    reloaded = load_agent(trained.artifact)
    filled = np.ones(4, dtype=bool)
    for t in range(5):
        np.testing.assert_array_equal(
            reloaded.target_weights(data.ranked_features[t, :4], filled, np.full(4, 0.2), 0.2, 0.0, np.ones(2)),
            agent.target_weights(data.ranked_features[t, :4], filled, np.full(4, 0.2), 0.2, 0.0, np.ones(2)),
        )


def test_the_evaluation_reports_finite_figures_for_the_agent(agent: Agent, data: EpisodeData) -> None:
    evaluation = evaluate_agent(agent, data, costs=COSTS, risk=RiskLimits(), reward=PENALISED)
    assert evaluation.sessions == data.sessions
    stored = evaluation.as_dict()
    figures = [*stored["agent"].values(), *stored["equal_weight"].values()]  # type: ignore[union-attr]
    assert all(isinstance(value, float) and math.isfinite(value) for value in figures)
    assert stored["sessions"] == data.sessions


def test_the_equal_weight_figures_match_a_hand_computation(agent: Agent) -> None:
    # The agent must fit the data's shape: 4 slots of 3 features; only slots 0 and 1 are ever filled.
    slot_tickers = [[0, 1, -1, -1], [1, 2, -1, -1], [2, -1, -1, -1]]
    returns = [[0.1, -0.1, 0.0], [0.0, 0.2, 0.1], [0.05, 0.0, -0.05]]
    tiny = episode(slot_tickers=slot_tickers, next_returns=returns)
    tiny = replace(
        tiny,
        feature_names=("a", "b", "c"),
        ranked_features=np.repeat(tiny.ranked_features, 3, axis=2),
        market_names=("m0", "m1"),
        market_features=np.zeros((3, 2)),
    )
    figures = evaluate_agent(agent, tiny, costs=costs(10.0), risk=LOOSE, reward=PENALISED).equal_weight

    # Session 0: buy half T00, half T01 from cash; the two returns cancel.
    turnover_0 = 1.0
    net_0 = 0.0 - 0.001 * turnover_0
    g0 = 1.0 + net_0
    # Session 1: T00 leaves, T01 goes back to a half, T02 comes in at a half.
    t00, t01 = 0.55 / g0, 0.45 / g0
    turnover_1 = t00 + abs(0.5 - t01) + 0.5
    net_1 = 0.5 * 0.2 + 0.5 * 0.1 - 0.001 * turnover_1
    g1 = 1.0 + net_1
    # Session 2: everything into T02.
    t01, t02 = 0.6 / g1, 0.55 / g1
    turnover_2 = t01 + abs(1.0 - t02)
    net_2 = -0.05 - 0.001 * turnover_2
    nets = np.array([net_0, net_1, net_2])

    assert figures.total_return == pytest.approx(np.prod(1.0 + nets) - 1.0)
    assert figures.turnover == pytest.approx((turnover_0 + turnover_1 + turnover_2) / 3)
    assert figures.cost == pytest.approx(0.001 * (turnover_0 + turnover_1 + turnover_2) / 3)
    # Equal weights hold no cash, so the costs take the cash below the (zero) floor by that much.
    breaches = 0.001 * np.array([turnover_0, turnover_1, turnover_2])
    assert figures.mean_reward == pytest.approx(np.mean(np.log1p(nets) - breaches))
    assert figures.sharpe == pytest.approx(nets.mean() / nets.std(ddof=1) * math.sqrt(252))
    # Fully invested, so the cash at each close is what the costs took from it, over the new value.
    turnovers = np.array([turnover_0, turnover_1, turnover_2])
    assert figures.cash == pytest.approx(np.mean(-0.001 * turnovers / (1.0 + nets)))


def test_an_evaluation_on_data_of_another_shape_is_refused(agent: Agent) -> None:
    other = random_episode(sessions_count=6, tickers=8, slots=3, features=3, seed=1, market=2)
    with pytest.raises(ValueError, match="trained on 4 slots x 3 features and 2 market features"):
        evaluate_agent(agent, other, costs=COSTS, risk=RiskLimits(), reward=PENALISED)


def test_the_sharpe_of_returns_that_never_vary_is_zero() -> None:
    assert annualised_sharpe(np.full(10, 0.001)) == 0.0
    assert annualised_sharpe(np.array([0.01])) == 0.0


def test_the_numpy_policy_acts_exactly_as_stable_baselines3_predicts(trained: TrainedAgent) -> None:
    model = load_sb3_model(trained.artifact)
    policy = unpack_policy(trained.artifact)
    rng = np.random.default_rng(5)
    for _ in range(50):
        observation = rng.normal(scale=3.0, size=policy.observation_size).astype(np.float32)
        expected, _ = model.predict(observation, deterministic=True)
        np.testing.assert_allclose(policy.act(observation), expected, rtol=0, atol=1e-5)


def test_bytes_that_are_not_an_agent_artifact_are_refused_with_the_reason(trained: TrainedAgent) -> None:
    with pytest.raises(AgentArtifactError, match="not a zip archive"):
        load_agent(b"xgboost bytes")
    with pytest.raises(AgentArtifactError, match=r"expected sb3_model\.zip"):
        load_agent(unpack_sb3(trained.artifact))  # the bare SB3 zip, without the policy arrays


def test_an_agent_stored_with_the_old_observation_layout_is_refused_clearly(trained: TrainedAgent) -> None:
    old = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(trained.artifact)) as source, zipfile.ZipFile(old, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "policy/meta.json":
                meta = json.loads(data)
                del meta["observation"]  # layout 1 recorded none
                data = json.dumps(meta).encode()
            target.writestr(name, data)
    with pytest.raises(AgentArtifactError, match="reads observation layout 1, and this version builds layout 2"):
        load_agent(old.getvalue())


def test_training_leaves_no_log_folder_in_the_temporary_directory(
    data: EpisodeData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stable-baselines3 puts its default log folder (SB3-<timestamp>) in tempfile.gettempdir().
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    train_agent(data, settings=SETTINGS, costs=COSTS, risk=RiskLimits(), timesteps=64)
    assert list(tmp_path.iterdir()) == []
