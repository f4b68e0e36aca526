from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rl_trading.episodes import EpisodeData
from tests.rl_trading.builders import random_episode, sessions


@pytest.fixture
def data() -> EpisodeData:
    return random_episode(sessions_count=6, tickers=5, slots=3, features=2, seed=4)


def test_slot_features_of_the_wrong_shape_are_rejected(data: EpisodeData) -> None:
    with pytest.raises(ValueError, match=r"slot_features must be \(6, 3, 2\)"):
        replace(data, slot_features=np.zeros((6, 3, 3)))


def test_next_returns_with_a_nan_are_rejected(data: EpisodeData) -> None:
    returns = data.next_returns.copy()
    returns[2, 1] = np.nan
    with pytest.raises(ValueError, match="must be finite"):
        replace(data, next_returns=returns)


def test_unsorted_dates_are_rejected(data: EpisodeData) -> None:
    with pytest.raises(ValueError, match="unique and ascending"):
        replace(data, dates=tuple(reversed(sessions(6))))


def test_a_filled_slot_after_an_empty_one_is_rejected(data: EpisodeData) -> None:
    slot_tickers = data.slot_tickers.copy()
    slot_tickers[0] = [-1, 2, 3]
    with pytest.raises(ValueError, match="empty slots must follow"):
        replace(data, slot_tickers=slot_tickers)


def test_a_window_keeps_its_sessions_and_checks_its_bounds(data: EpisodeData) -> None:
    window = data.window(2, 5)
    assert window.dates == data.dates[2:5]
    np.testing.assert_array_equal(window.next_returns, data.next_returns[2:5])
    with pytest.raises(ValueError, match="outside"):
        data.window(4, 7)
