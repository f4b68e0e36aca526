from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rl_trading.interpreters import (
    decode_action,
    encode_observation,
    equal_weights,
    observation_size,
    session_view,
    slot_weights,
)
from rl_trading.simulator import PortfolioSimulator, Reward
from tests.rl_trading.builders import FREE, LOOSE, episode


@st.composite
def masks_and_actions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    slots = draw(st.integers(1, 12))
    filled_count = draw(st.integers(0, slots))
    filled = np.arange(slots) < filled_count
    action = draw(hnp.arrays(np.float64, slots + 1, elements=st.floats(-1e6, 1e6)))
    return filled, action


@given(masks_and_actions())
def test_the_masked_softmax_sums_to_one_and_an_empty_slot_never_gets_weight(
    case: tuple[np.ndarray, np.ndarray],
) -> None:
    filled, action = case
    weights = decode_action(action, filled)
    assert weights.shape == (len(filled) + 1,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (weights >= 0.0).all()
    assert (weights[:-1][~filled] == 0.0).all()
    # The clip bounds the odds between any two allowed entries at e^10.
    allowed = weights[np.append(filled, True)]
    assert allowed.min() > 0.0
    assert allowed.max() / allowed.min() <= np.exp(10.0) * (1 + 1e-9)


def test_equal_logits_give_equal_weight_to_the_filled_slots_and_cash() -> None:
    np.testing.assert_allclose(decode_action(np.zeros(4), np.array([True, True, False])), [1 / 3, 1 / 3, 0.0, 1 / 3])


def test_a_non_finite_or_misshaped_action_is_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        decode_action(np.array([np.nan, 0.0]), np.array([True]))
    with pytest.raises(ValueError, match="must have 2 entries"):
        decode_action(np.zeros(3), np.array([True]))


def test_equal_weights_split_the_filled_slots_and_hold_no_cash() -> None:
    np.testing.assert_allclose(equal_weights(np.array([True, True, True, False])), [1 / 3, 1 / 3, 1 / 3, 0.0, 0.0])
    np.testing.assert_array_equal(equal_weights(np.array([False, False])), [0.0, 0.0, 1.0])


def test_the_observation_has_the_declared_size_and_never_leaves_the_bound() -> None:
    features = np.array([[1.0, np.inf], [-np.inf, np.nan], [1e9, -0.5]])
    observation = encode_observation(features, np.array([True, True, False]), np.array([0.2, 0.3, 0.0]), 0.4, 0.1)
    assert observation.dtype == np.float32
    assert observation.shape == (observation_size(3, 2),) == (14,)
    expected = [1, 10, -10, 0, 10, -0.5, 1, 1, 0, 0.2, 0.3, 0, 0.4, 0.1]
    np.testing.assert_array_equal(observation, np.array(expected, dtype=np.float32))


def test_the_market_features_follow_the_weights_at_the_end_of_the_observation() -> None:
    features = np.zeros((2, 1))
    market = np.array([1.0, 0.0, -0.3])
    observation = encode_observation(features, np.array([True, False]), np.array([0.5, 0.0]), 0.5, 0.0, market)
    assert observation.shape == (observation_size(2, 1, 3),) == (11,)
    np.testing.assert_array_equal(observation[-3:], market.astype(np.float32))


def test_misshaped_observation_parts_are_rejected() -> None:
    with pytest.raises(ValueError, match="slot_features must be"):
        encode_observation(np.zeros((3, 2)), np.ones(2, dtype=bool), np.zeros(2), 1.0, 0.0)


def test_slot_weights_read_the_holdings_of_the_slot_names_and_the_rest_is_other() -> None:
    holdings = np.array([0.1, 0.2, 0.3, 0.15])
    weights, other = slot_weights(holdings, np.array([2, 0, -1]))
    np.testing.assert_allclose(weights, [0.3, 0.1, 0.0])
    assert other == pytest.approx(0.35)


def test_the_view_after_the_last_session_reuses_its_slots() -> None:
    data = episode(slot_tickers=[[0, 1], [1, -1]], next_returns=[[0.0, 0.0], [0.0, 0.5]])
    sim = PortfolioSimulator(data, costs=FREE, risk=LOOSE, reward=Reward("penalised", 0.0))
    sim.reset(1)
    outcome = sim.step(np.array([0.5, 0.0, 0.5]))
    assert outcome.out_of_data
    view = session_view(data, outcome.state)
    np.testing.assert_array_equal(view.slot_filled, [True, False])
    np.testing.assert_allclose(view.slot_weights, [0.75 / 1.25, 0.0])
    assert view.cash_weight == pytest.approx(0.5 / 1.25)
    assert view.other_weight == 0.0
    assert view.observation().shape == (observation_size(2, 1),)
