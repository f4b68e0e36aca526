"""The best-factor choice: the factor with the highest mean daily rank IC over the rankers' rows of a
window, a fixed tie-break, nothing without evidence, and a schedule that refuses a choice made on data
up to its own date."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from autonomous.factor_choice import FactorChoice, FactorSchedule, best_factor, choose_factor
from autonomous.factor_portfolio import FACTORS
from autonomous.ranking.dataset import RANKER_FEATURES, RankerData

STRATEGY = "value_largecap"
DATES = pd.bdate_range("2020-01-01", periods=20, freq="5B")
TICKERS = [f"T{number:02d}" for number in range(30)]


def ranker_data(label_of: str, seed: int = 0) -> RankerData:
    """Random inputs whose label orders the names as `label_of` does (a factor name, higher better)."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([DATES, TICKERS], names=["date", "ticker"])
    inputs = pd.DataFrame(rng.uniform(0.01, 1.0, size=(len(index), len(RANKER_FEATURES))), index, RANKER_FEATURES)
    score = pd.Series(rng.normal(size=len(index)), index=index, name="universe_score")
    driver = {
        "mom_12_1": inputs["mom_12_1_rank"],
        "low_vol": -inputs["vol_60_rank"],
        "dist_sma200": inputs["dist_sma200_rank"],
        "universe_score": score,
    }[label_of]
    labels = (np.tanh(driver) / 10.0).rename("label")
    labels.iloc[-len(TICKERS) :] = np.nan  # the last date's label runs past the window: unknown
    return RankerData(
        start=DATES[0].date(),
        end=DATES[-1].date(),
        horizon=21,
        step=5,
        sessions=DATES,
        inputs=inputs,
        labels=labels,
        members={STRATEGY: index},
        universe_scores={STRATEGY: score},
        has_fundamentals=pd.Series(True, index=index),
    )


@pytest.mark.parametrize("factor", FACTORS)
def test_the_choice_is_the_factor_that_ordered_the_labels(factor: str) -> None:
    data = ranker_data(factor)
    choice = choose_factor(data, STRATEGY, date(2020, 6, 1))
    assert choice is not None
    assert choice.factor == factor
    assert choice.rank_ic[factor] == pytest.approx(1.0)
    assert choice.dates[factor] == len(DATES) - 1  # the unlabelled last date is not scored
    assert max(choice.rank_ic.values()) == choice.rank_ic[factor]


def test_a_tie_goes_to_the_earlier_factor_and_no_evidence_gives_no_choice() -> None:
    tied = pd.DataFrame({"mom_12_1": [0.1, 0.3], "low_vol": [0.2, 0.2], "dist_sma200": [0.0, 0.1]})
    assert best_factor(tied) == "mom_12_1"
    assert best_factor(tied.reindex(columns=["dist_sma200", "low_vol"])) == "low_vol"
    assert best_factor(pd.DataFrame({name: [np.nan] for name in FACTORS})) is None


def test_a_choice_may_not_be_made_on_a_window_reaching_its_own_date() -> None:
    data = ranker_data("mom_12_1")
    with pytest.raises(ValueError, match="may not be used from"):
        choose_factor(data, STRATEGY, data.end)


def choice(factor: str, effective_from: date, train_end: date) -> FactorChoice:
    return FactorChoice(STRATEGY, factor, effective_from, date(2019, 1, 2), train_end, dict.fromkeys(FACTORS, 0.0), {})


def test_the_schedule_gives_the_latest_choice_in_force_and_none_before_the_first() -> None:
    first = choice("low_vol", date(2020, 1, 2), date(2019, 12, 31))
    second = choice("mom_12_1", date(2020, 4, 1), date(2020, 3, 31))
    schedule = FactorSchedule((second, first), {date(2020, 7, 1): "no data"})
    assert schedule.in_force(STRATEGY, date(2019, 12, 31)) is None
    assert schedule.in_force(STRATEGY, date(2020, 1, 2)) == first
    assert schedule.in_force(STRATEGY, date(2020, 3, 31)) == first
    assert schedule.in_force(STRATEGY, date(2020, 9, 1)) == second
    assert schedule.in_force("dividend", date(2020, 9, 1)) is None
    assert schedule.summary() == [
        f"2020-01-02 low_vol: {STRATEGY}",
        f"2020-04-01 mom_12_1: {STRATEGY}",
        "2020-07-01 no choice (no data)",
    ]
    stored = schedule.as_dict()
    assert stored["choices"]["2020-04-01"][STRATEGY]["factor"] == "mom_12_1"
    assert stored["skipped"] == {"2020-07-01": "no data"}


def test_the_schedule_refuses_a_choice_made_on_data_up_to_its_date() -> None:
    with pytest.raises(ValueError, match="look-ahead"):
        FactorSchedule((choice("low_vol", date(2020, 1, 2), date(2020, 1, 2)),))
