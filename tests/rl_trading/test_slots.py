"""Which names the ranker hands to the agent, and what the agent sees of each (rl_trading/slots.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rl_trading.slots import RANK_FEATURES, SLOT_FEATURES, select_top_positive, slot_features

TICKERS = st.text(alphabet="ABCDEFGHIJ", min_size=1, max_size=3)
# Few distinct values so that ties are common; the non-finite ones must never be selected.
PREDICTIONS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.01, 0.02, -0.01, math.nan, math.inf, -math.inf]),
    st.floats(min_value=-0.2, max_value=0.2, allow_nan=False),
)


def _inputs(tickers: list[str], ranks: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(ranks, index=tickers, columns=list(RANK_FEATURES))


@given(st.dictionaries(TICKERS, PREDICTIONS, max_size=25), st.integers(min_value=1, max_value=8))
def test_select_top_positive_keeps_at_most_top_n_positive_finite_names_best_first_with_ties_by_ticker(
    predictions: dict[str, float], top_n: int
) -> None:
    series = pd.Series(predictions, dtype=np.float64)
    chosen = select_top_positive(series, top_n)

    usable = [(ticker, value) for ticker, value in predictions.items() if math.isfinite(value) and value > 0]
    expected = sorted(usable, key=lambda pair: (-pair[1], pair[0]))[:top_n]
    assert list(chosen.index) == [ticker for ticker, _ in expected]
    assert chosen.tolist() == [value for _, value in expected]


def test_select_top_positive_of_nothing_positive_is_empty() -> None:
    predictions = pd.Series({"AAA": 0.0, "BBB": -0.3, "CCC": math.nan, "DDD": math.inf})
    assert select_top_positive(predictions, 5).empty
    assert select_top_positive(pd.Series(dtype=np.float64), 5).empty


def test_select_top_positive_refuses_fewer_than_one_slot() -> None:
    with pytest.raises(ValueError, match="top_n must be at least 1, got 0"):
        select_top_positive(pd.Series({"AAA": 0.1}), 0)


def test_slot_features_standardise_the_prediction_and_centre_the_ranks_in_the_selected_order() -> None:
    selected = pd.Series({"CCC": 0.03, "AAA": 0.02, "BBB": 0.01})
    ranks = [[0.1 * (i + 1) + 0.01 * j for j in range(len(RANK_FEATURES))] for i in range(4)]
    # The inputs cover more names than were selected, in another order.
    inputs = _inputs(["AAA", "BBB", "CCC", "ZZZ"], ranks)

    features = slot_features(selected, inputs, slots=5)

    assert features.shape == (5, len(SLOT_FEATURES))
    assert SLOT_FEATURES[0] == "prediction_z"
    np.testing.assert_allclose(features[:3, 0], [math.sqrt(1.5), 0.0, -math.sqrt(1.5)])
    assert features[:3, 0].mean() == pytest.approx(0.0)
    assert features[:3, 0].std() == pytest.approx(1.0)
    np.testing.assert_allclose(features[:3, 1:], inputs.loc[["CCC", "AAA", "BBB"]].to_numpy() - 0.5)


def test_slot_features_are_zero_in_the_empty_slots_and_for_a_missing_rank() -> None:
    selected = pd.Series({"AAA": 0.05, "BBB": 0.01})
    inputs = _inputs(["AAA", "BBB"], [[0.9] * len(RANK_FEATURES), [math.nan] + [0.25] * (len(RANK_FEATURES) - 1)])

    features = slot_features(selected, inputs, slots=4)

    assert (features[2:] == 0.0).all()
    assert features[1, 1] == 0.0, "a missing rank is centred at the middle of the cross-section"
    np.testing.assert_allclose(features[1, 2:], -0.25)
    np.testing.assert_allclose(features[0, 1:], 0.4)
    # A name absent from the inputs has no ranks at all: zeros, not NaN.
    absent = slot_features(pd.Series({"QQQ": 0.02, "AAA": 0.01}), inputs, slots=2)
    assert (absent[0, 1:] == 0.0).all()
    assert np.isfinite(absent).all()


def test_slot_features_of_no_selected_name_or_a_single_one_carry_no_prediction_spread() -> None:
    inputs = _inputs(["AAA"], [[0.5] * len(RANK_FEATURES)])
    assert (slot_features(pd.Series(dtype=np.float64), inputs, slots=3) == 0.0).all()
    single = slot_features(pd.Series({"AAA": 0.07}), inputs, slots=3)
    assert (single == 0.0).all()


@pytest.mark.parametrize("value", [0.1, 0.7])
def test_slot_features_of_equal_predictions_carry_no_prediction_spread(value: float) -> None:
    selected = pd.Series({"AAA": value, "BBB": value, "CCC": value})
    inputs = _inputs(["AAA", "BBB", "CCC"], [[0.5] * len(RANK_FEATURES)] * 3)
    assert (slot_features(selected, inputs, slots=3)[:, 0] == 0.0).all()


def test_slot_features_refuse_more_names_than_slots() -> None:
    selected = pd.Series({"AAA": 0.3, "BBB": 0.2, "CCC": 0.1})
    with pytest.raises(ValueError, match="3 names selected for 2 slots"):
        slot_features(selected, _inputs(["AAA"], [[0.5] * len(RANK_FEATURES)]), slots=2)
