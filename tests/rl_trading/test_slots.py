"""Which names the ranker hands to the agent, and what the agent sees of each (rl_trading/slots.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rl_trading.slots import (
    RANK_FEATURES,
    SLOT_FEATURES,
    assign_slots,
    candidate_features,
    held_candidates,
    rank_candidates,
    scores_as_ranks,
    select_top_positive,
)

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


@given(
    st.dictionaries(TICKERS, st.one_of(PREDICTIONS, st.floats(-50, 50)), max_size=25),
    st.integers(min_value=1, max_value=8),
)
def test_a_ranking_models_scores_as_ranks_select_the_top_n_finite_names_by_score_whatever_their_sign(
    scores: dict[str, float], top_n: int
) -> None:
    ranks = scores_as_ranks(pd.Series(scores, dtype=np.float64))
    chosen = select_top_positive(ranks, top_n)

    usable = [(ticker, value) for ticker, value in scores.items() if math.isfinite(value)]
    expected = sorted(usable, key=lambda pair: (-pair[1], pair[0]))[:top_n]
    assert list(chosen.index) == [ticker for ticker, _ in expected]
    assert ((ranks > 0) & (ranks <= 1)).sum() == len(usable)


def test_scores_as_ranks_rank_each_date_of_a_date_and_ticker_index_on_its_own() -> None:
    index = pd.MultiIndex.from_product([["2020-01-02", "2020-01-03"], ["AAA", "BBB"]], names=["date", "ticker"])
    scores = pd.Series([-3.0, -1.0, 10.0, 20.0], index=index)

    assert scores_as_ranks(scores).tolist() == [0.5, 1.0, 0.5, 1.0]


def test_candidate_features_standardise_the_prediction_and_centre_the_ranks_in_the_selected_order() -> None:
    selected = pd.Series({"CCC": 0.03, "AAA": 0.02, "BBB": 0.01})
    ranks = [[0.1 * (i + 1) + 0.01 * j for j in range(len(RANK_FEATURES))] for i in range(4)]
    # The inputs cover more names than were selected, in another order.
    inputs = _inputs(["AAA", "BBB", "CCC", "ZZZ"], ranks)

    features = candidate_features(selected, inputs, rows=5)

    assert features.shape == (5, len(SLOT_FEATURES))
    assert SLOT_FEATURES[0] == "prediction_z"
    np.testing.assert_allclose(features[:3, 0], [math.sqrt(1.5), 0.0, -math.sqrt(1.5)])
    assert features[:3, 0].mean() == pytest.approx(0.0)
    assert features[:3, 0].std() == pytest.approx(1.0)
    np.testing.assert_allclose(features[:3, 1:], inputs.loc[["CCC", "AAA", "BBB"]].to_numpy() - 0.5)


def test_candidate_features_are_zero_in_the_empty_slots_and_for_a_missing_rank() -> None:
    selected = pd.Series({"AAA": 0.05, "BBB": 0.01})
    inputs = _inputs(["AAA", "BBB"], [[0.9] * len(RANK_FEATURES), [math.nan] + [0.25] * (len(RANK_FEATURES) - 1)])

    features = candidate_features(selected, inputs, rows=4)

    assert (features[2:] == 0.0).all()
    assert features[1, 1] == 0.0, "a missing rank is centred at the middle of the cross-section"
    np.testing.assert_allclose(features[1, 2:], -0.25)
    np.testing.assert_allclose(features[0, 1:], 0.4)
    # A name absent from the inputs has no ranks at all: zeros, not NaN.
    absent = candidate_features(pd.Series({"QQQ": 0.02, "AAA": 0.01}), inputs, rows=2)
    assert (absent[0, 1:] == 0.0).all()
    assert np.isfinite(absent).all()


def test_candidate_features_of_no_selected_name_or_a_single_one_carry_no_prediction_spread() -> None:
    inputs = _inputs(["AAA"], [[0.5] * len(RANK_FEATURES)])
    assert (candidate_features(pd.Series(dtype=np.float64), inputs, rows=3) == 0.0).all()
    single = candidate_features(pd.Series({"AAA": 0.07}), inputs, rows=3)
    assert (single == 0.0).all()


@pytest.mark.parametrize("value", [0.1, 0.7])
def test_candidate_features_of_equal_predictions_carry_no_prediction_spread(value: float) -> None:
    selected = pd.Series({"AAA": value, "BBB": value, "CCC": value})
    inputs = _inputs(["AAA", "BBB", "CCC"], [[0.5] * len(RANK_FEATURES)] * 3)
    assert (candidate_features(selected, inputs, rows=3)[:, 0] == 0.0).all()


def test_candidate_features_refuse_more_names_than_slots() -> None:
    selected = pd.Series({"AAA": 0.3, "BBB": 0.2, "CCC": 0.1})
    with pytest.raises(ValueError, match="3 candidates for 2 rows"):
        candidate_features(selected, _inputs(["AAA"], [[0.5] * len(RANK_FEATURES)]), rows=2)


def test_a_held_name_ranked_within_the_band_keeps_its_slot_and_one_outside_it_is_dropped() -> None:
    predictions = pd.Series({"AAA": 0.05, "BBB": 0.04, "CCC": 0.03, "DDD": -0.01, "EEE": -0.02, "FFF": -0.03})
    ranked = rank_candidates(predictions, 4)  # two slots, a band of twice as many
    assert ranked.index.tolist() == ["AAA", "BBB", "CCC", "DDD"]
    # DDD is held and fourth: inside the band, so it keeps a slot (even with a negative prediction).
    held = np.array([ticker in {"DDD"} for ticker in ranked.index])
    chosen = assign_slots(ranked.to_numpy(), held, 2)
    assert ranked.index[chosen].tolist() == ["AAA", "DDD"]
    # EEE is held and fifth: outside the band, it is not a candidate and the best two positive names take the slots.
    held = np.array([ticker in {"EEE"} for ticker in ranked.index])
    assert ranked.index[assign_slots(ranked.to_numpy(), held, 2)].tolist() == ["AAA", "BBB"]


def test_no_positive_prediction_leaves_every_slot_empty_even_for_held_names() -> None:
    predictions = np.array([-0.01, -0.02, np.nan])
    assert assign_slots(predictions, np.array([True, False, False]), 2).tolist() == []


def test_held_candidates_read_the_holdings_of_the_ranked_tickers_only() -> None:
    holdings = np.array([0.0, 0.3, 1e-12, 0.2])
    assert held_candidates(np.array([3, 2, 0, -1]), holdings).tolist() == [True, False, False, False]


@given(
    st.lists(st.one_of(st.floats(-0.1, 0.1, allow_nan=False), st.just(math.nan)), min_size=0, max_size=12),
    st.lists(st.booleans(), min_size=12, max_size=12),
    st.integers(min_value=1, max_value=6),
)
def test_slots_hold_the_best_held_candidates_then_the_best_positive_ones_in_ranking_order(
    values: list[float], held_flags: list[bool], slots: int
) -> None:
    predictions = np.array(values, dtype=np.float64)
    held = np.array(held_flags[: len(values)], dtype=np.bool_)
    chosen = assign_slots(predictions, held, slots)
    ranked = np.isfinite(predictions)
    assert len(chosen) <= slots
    assert chosen.tolist() == sorted(set(chosen.tolist()))
    assert ranked[chosen].all()
    if not (predictions[ranked] > 0).any():
        assert len(chosen) == 0
        return
    held_ranked = np.flatnonzero(held & ranked)
    assert set(held_ranked[:slots].tolist()) <= set(chosen.tolist()), "held candidates keep their slots first"
    entering = [i for i in chosen.tolist() if not held[i]]
    assert all(predictions[i] > 0 for i in entering), "a name not held enters only with a positive prediction"
    waiting = [i for i in np.flatnonzero(~held & ranked & (predictions > 0)).tolist() if i not in chosen]
    assert len(chosen) == slots or not waiting, "no positive name waits while a slot is free"
