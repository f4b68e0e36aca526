from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rl_trading.episodes import EpisodeData
from tests.rl_trading.builders import random_episode, sessions


@pytest.fixture
def data() -> EpisodeData:
    return random_episode(sessions_count=6, tickers=5, slots=3, features=2, seed=4)


def test_ranked_features_of_the_wrong_shape_are_rejected(data: EpisodeData) -> None:
    with pytest.raises(ValueError, match=r"ranked_features must be \(6, 3, 2\)"):
        replace(data, ranked_features=np.zeros((6, 3, 3)))


def test_next_returns_with_a_nan_are_rejected(data: EpisodeData) -> None:
    returns = data.next_returns.copy()
    returns[2, 1] = np.nan
    with pytest.raises(ValueError, match="must be finite"):
        replace(data, next_returns=returns)


def test_unsorted_dates_are_rejected(data: EpisodeData) -> None:
    with pytest.raises(ValueError, match="unique and ascending"):
        replace(data, dates=tuple(reversed(sessions(6))))


def test_a_ranked_name_after_an_empty_place_is_rejected(data: EpisodeData) -> None:
    ranked = data.ranked_tickers.copy()
    ranked[0] = [-1, 2, 3]
    with pytest.raises(ValueError, match="empty places must follow"):
        replace(data, ranked_tickers=ranked)


def test_a_ticker_ranked_twice_in_a_session_is_rejected(data: EpisodeData) -> None:
    ranked = data.ranked_tickers.copy()
    ranked[1] = [1, 1, 2]
    with pytest.raises(ValueError, match="ranks a ticker more than once"):
        replace(data, ranked_tickers=ranked, ranked_predictions=np.full((6, 3), 0.01))


def test_more_slots_than_candidates_are_rejected(data: EpisodeData) -> None:
    with pytest.raises(ValueError, match="slots must be between 1 and the 3 ranked candidates"):
        replace(data, slots=4)


def test_a_gap_return_of_minus_100_percent_is_rejected(data: EpisodeData) -> None:
    gaps = data.gap_returns.copy()
    gaps[0, 0] = -1.0
    with pytest.raises(ValueError, match="-100%"):
        replace(data, gap_returns=gaps)


def test_a_window_keeps_its_sessions_and_checks_its_bounds(data: EpisodeData) -> None:
    window = data.window(2, 5)
    assert window.dates == data.dates[2:5]
    np.testing.assert_array_equal(window.next_returns, data.next_returns[2:5])
    np.testing.assert_array_equal(window.gap_returns, data.gap_returns[2:5])
    assert window.market_features.shape == (3, 0)
    with pytest.raises(ValueError, match="outside"):
        data.window(4, 7)
