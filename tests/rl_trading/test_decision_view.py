"""The agent's view at decision time (the hybrid generator) is the one it trained on (the simulator):
the same candidates, slots, features, weights and market state give the same target."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from rl_trading.agent_artifact import ObservationLayout, PolicyWeights
from rl_trading.episodes import EpisodeData
from rl_trading.hybrid import SlotBand, agent_weights
from rl_trading.interpreters import OBSERVATION_LAYOUT, observation_size, session_view
from rl_trading.market_features import MARKET_FEATURES
from rl_trading.ppo import Agent
from rl_trading.simulator import PortfolioSimulator
from rl_trading.slots import RANK_FEATURES, SLOT_FEATURES, candidate_features, rank_candidates
from tests.rl_trading.builders import FREE, LOOSE, PENALISED

SLOTS, BAND = 3, 2


def random_agent(seed: int) -> Agent:
    """A real agent with random weights: what matters here is that both paths feed it the same view."""
    rng = np.random.default_rng(seed)
    size = observation_size(SLOTS, len(SLOT_FEATURES), len(MARKET_FEATURES))
    hidden = ((rng.normal(size=(16, size)).astype(np.float32), rng.normal(size=16).astype(np.float32)),)
    head = (rng.normal(size=(SLOTS + 1, 16)).astype(np.float32), rng.normal(size=SLOTS + 1).astype(np.float32))
    layout = ObservationLayout(OBSERVATION_LAYOUT, SLOTS, len(SLOT_FEATURES), len(MARKET_FEATURES))
    return Agent(PolicyWeights(hidden, head, -5.0, 5.0), layout)


def one_session(ranked: pd.Series, inputs: pd.DataFrame, tickers: list[str], market: np.ndarray) -> EpisodeData:
    """The session as the episode builder stores it (twice: a window needs two sessions)."""
    rows = SLOTS * BAND
    column = {ticker: i for i, ticker in enumerate(tickers)}
    ranked_tickers = np.full(rows, -1)
    ranked_tickers[: len(ranked)] = [column[ticker] for ticker in ranked.index]
    predictions = np.full(rows, np.nan)
    predictions[: len(ranked)] = ranked.to_numpy()
    features = candidate_features(ranked, inputs, rows)
    sessions = 2
    return EpisodeData(
        dates=tuple(date(2024, 1, 2) + timedelta(days=i) for i in range(sessions)),
        tickers=tuple(tickers),
        feature_names=SLOT_FEATURES,
        slots=SLOTS,
        ranked_tickers=np.tile(ranked_tickers, (sessions, 1)),
        ranked_predictions=np.tile(predictions, (sessions, 1)),
        ranked_features=np.tile(features, (sessions, 1, 1)),
        next_returns=np.zeros((sessions, len(tickers))),
        gap_returns=np.zeros((sessions, len(tickers))),
        fill_price=np.full((sessions, len(tickers)), 50.0),
        market_volatility=np.full(sessions, 0.01),
        market_names=MARKET_FEATURES,
        market_features=np.tile(market, (sessions, 1)),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_hybrid_generator_and_the_simulator_give_the_agent_the_same_slots_and_target(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tickers = [f"N{i}" for i in range(10)]
    predictions = pd.Series(rng.normal(0.005, 0.02, size=len(tickers)), index=tickers)
    inputs = pd.DataFrame(rng.uniform(size=(len(tickers), len(RANK_FEATURES))), index=tickers, columns=RANK_FEATURES)
    ranked = rank_candidates(predictions, SLOTS * BAND)
    # Held: the fifth ranked name (in the band), the last of all (outside it), and the best one.
    order = list(ranked.index)
    outside = next(ticker for ticker in reversed(predictions.sort_values().index) if ticker not in order)
    holdings = {order[4]: 0.2, outside: 0.1, order[0]: 0.3}
    market = rng.normal(size=len(MARKET_FEATURES))
    agent = random_agent(seed)

    decided = agent_weights(agent, predictions, inputs, holdings, SlotBand(SLOTS, BAND), market)

    data = one_session(ranked, inputs, tickers, market)
    simulator = PortfolioSimulator(data, costs=FREE, risk=LOOSE, reward=PENALISED)
    book = np.array([holdings.get(ticker, 0.0) for ticker in tickers])
    state = simulator.holding(0, book, cash=1.0 - book.sum())
    target = agent.policy(session_view(data, state))
    trained = {
        tickers[index]: float(target[slot])
        for slot, index in enumerate(state.slot_tickers)
        if index >= 0 and target[slot] > 0
    }
    assert decided == trained
    slot_names = [tickers[index] for index in state.slot_tickers if index >= 0]
    assert order[4] in slot_names, "the held name in the band keeps a slot"
    assert outside not in slot_names, "the held name outside the band has none"
