"""The simple factor baselines a ranker is compared with: on small frames against scipy, and on the
rows built from a real database (point in time, and the universe score as the universes give it)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sqlalchemy import Engine, text

from autonomous.marketview.database import market_state_on
from autonomous.ranking.baselines import (
    BASELINES,
    baseline_scores,
    compare_with_baselines,
    daily_baseline_rank_ic,
)
from autonomous.ranking.dataset import RANKER_FEATURES, load_ranker_data
from autonomous.ranking.metrics import newey_west_t_stat
from autonomous.ranking.walk_forward import labelled_by
from trading.settings import load_settings

DATES = pd.bdate_range("2020-01-01", periods=30, freq="5B")
TICKERS = [f"T{number:02d}" for number in range(40)]
LAGS = 3


def synthetic_rows(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random inputs and ranker predictions; the label orders the names exactly as 12-1 momentum does."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([DATES, TICKERS], names=["date", "ticker"])
    inputs = pd.DataFrame(rng.uniform(0.01, 1.0, size=(len(index), len(RANKER_FEATURES))), index, RANKER_FEATURES)
    # A monotone but non-linear map of the momentum rank: only the order is shared.
    label = np.exp(3.0 * inputs["mom_12_1_rank"]) / 50.0 - 0.05
    # The ranker knows the label a little, through noise, so its IC is positive but below 1.
    prediction = label + rng.normal(scale=0.2, size=len(index))
    scored = pd.DataFrame({"prediction": prediction, "label": label}, index=index)
    return inputs, scored


def scipy_rank_ic(score: pd.Series, label: pd.Series) -> pd.Series:
    """The independent reference: scipy's Spearman correlation date by date, over the names with both."""
    result = {}
    for day, values in pd.DataFrame({"score": score, "label": label}).dropna().groupby(level="date"):
        if len(values) >= 10:
            result[day] = spearmanr(values["score"], values["label"]).statistic
    return pd.Series(result, dtype=np.float64)


def test_a_label_ordered_by_momentum_gives_that_baseline_an_ic_of_one_and_the_paired_difference_matches_scipy() -> None:
    inputs, scored = synthetic_rows(seed=7)
    universe_score = pd.Series(np.random.default_rng(8).uniform(size=len(inputs)), index=inputs.index)
    comparison = compare_with_baselines(scored, baseline_scores(inputs, universe_score), overlap_lags=LAGS)

    assert comparison.best == "mom_12_1"
    assert comparison.baselines["mom_12_1"].rank_ic == pytest.approx(1.0)
    assert comparison.baselines["mom_12_1"].dates == len(DATES)
    assert set(comparison.baselines) == set(BASELINES)
    ranker = scipy_rank_ic(scored["prediction"], scored["label"])
    momentum = scipy_rank_ic(inputs["mom_12_1_rank"], scored["label"])
    assert np.allclose(momentum, 1.0)
    difference = ranker - momentum
    assert comparison.ranker.rank_ic == pytest.approx(ranker.mean())
    assert comparison.difference.rank_ic == pytest.approx(difference.mean())
    assert comparison.difference.rank_ic < 0  # a noisy copy of the label cannot beat the label's own order
    assert comparison.difference.dates == len(DATES)
    assert comparison.difference.rank_ic_t_stat == pytest.approx(newey_west_t_stat(difference.to_numpy(), LAGS))
    # Low volatility is the volatility rank negated: its IC is minus that of the volatility rank.
    volatility = scipy_rank_ic(inputs["vol_60_rank"], scored["label"])
    assert comparison.baselines["low_vol"].rank_ic == pytest.approx(-volatility.mean())


def test_the_best_baseline_is_the_one_with_the_highest_mean_ic_whichever_it_is() -> None:
    inputs, scored = synthetic_rows(seed=11)
    # Now the label falls with the volatility rank: low volatility is the best baseline.
    scored["label"] = -inputs["vol_60_rank"]
    comparison = compare_with_baselines(
        scored, baseline_scores(inputs, pd.Series(np.nan, index=inputs.index)), overlap_lags=LAGS
    )
    assert comparison.best == "low_vol"
    assert comparison.baselines["low_vol"].rank_ic == pytest.approx(1.0)
    # A baseline no name has (an unknown universe score) has no IC and is never the best.
    assert comparison.baselines["universe_score"].dates == 0
    assert comparison.as_dict()["factors"]["universe_score"]["rank_ic"] is None


def test_a_baseline_missing_for_some_names_ranks_only_the_names_that_have_it() -> None:
    inputs, scored = synthetic_rows(seed=3)
    rng = np.random.default_rng(4)
    # A fifth of the names lack 12-1 momentum (e.g. under a year of history); on the last date all
    # but five do, too few (under 10) for a ranking.
    missing = rng.uniform(size=len(inputs)) < 0.2
    last = inputs.index.get_level_values("date") == DATES[-1]
    missing |= last & (inputs.index.get_level_values("ticker") >= "T05")
    inputs.loc[missing, "mom_12_1_rank"] = np.nan
    baselines = baseline_scores(inputs, pd.Series(0.5, index=inputs.index))

    daily = daily_baseline_rank_ic(scored, baselines)
    expected = scipy_rank_ic(inputs["mom_12_1_rank"], scored["label"])
    assert DATES[-1] not in expected.index
    pd.testing.assert_series_equal(daily["mom_12_1"].dropna(), expected, check_names=False, check_freq=False)
    comparison = compare_with_baselines(scored, baselines, overlap_lags=LAGS)
    assert comparison.baselines["mom_12_1"].dates == len(DATES) - 1
    assert comparison.baselines["mom_12_1"].rank_ic == pytest.approx(1.0)
    # The pair drops the date the best baseline could not rank; the ranker keeps its own IC there.
    assert comparison.ranker.dates == len(DATES)
    assert comparison.difference.dates == len(DATES) - 1
    ranker = scipy_rank_ic(scored["prediction"], scored["label"])
    assert comparison.difference.rank_ic == pytest.approx((ranker - expected).dropna().mean())


def test_baselines_on_other_rows_than_the_ranker_are_refused() -> None:
    inputs, scored = synthetic_rows(seed=1)
    baselines = baseline_scores(inputs, pd.Series(0.5, index=inputs.index))
    with pytest.raises(ValueError, match="own"):
        compare_with_baselines(scored.iloc[1:], baselines, overlap_lags=LAGS)


def test_the_universe_score_in_the_rows_is_the_one_the_universes_rank_by_on_that_date(market: Engine) -> None:
    settings = load_settings(None)
    data = load_ranker_data(market, settings, date(2013, 6, 3), date(2013, 12, 31), horizon=21, step=10)
    day = data.inputs.index.get_level_values("date")[3]
    state = market_state_on(market, settings, day.date())
    for strategy, universe in state.universes.items():
        scores = data.universe_scores[strategy]
        on_day = scores[scores.index.get_level_values("date") == day].droplevel("date")
        expected = universe.scores.astype(np.float64)
        assert len(expected) > 0, strategy
        pd.testing.assert_series_equal(
            on_day.sort_index(), expected.sort_index(), check_names=False, check_index_type=False
        )


def baseline_frame(market: Engine, start: date, end: date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """The growth_midcap rows' baselines and their daily rank IC, and the calendar."""
    data = load_ranker_data(market, load_settings(None), start, end, horizon=21, step=5)
    inputs, labels = data.rows_of("growth_midcap")
    baselines = baseline_scores(inputs, data.universe_score_of("growth_midcap", inputs.index))
    scored = pd.DataFrame({"prediction": 0.0, "label": labels}, index=inputs.index)
    return baselines, daily_baseline_rank_ic(scored, baselines, min_names=5), data.sessions


def test_a_baseline_cannot_see_bars_after_its_date(market: Engine) -> None:
    start, end, cut = date(2013, 1, 2), date(2013, 12, 31), pd.Timestamp("2013-07-01")
    before, daily_before, sessions = baseline_frame(market, start, end)
    with market.begin() as connection:
        # Not a uniform rescaling (which leaves every rank unchanged): half the names move.
        changed = connection.execute(
            text(
                "UPDATE price_bars SET open = open * 1.7, high = high * 1.7, low = low * 1.7, close = close * 1.7, "
                "adj_close = adj_close * 1.7, volume = volume * 3 WHERE date > :cut AND ticker < 'M'"
            ),
            {"cut": cut.date()},
        ).rowcount
    assert changed > 0
    after, daily_after, _ = baseline_frame(market, start, end)

    rows_dates = before.index.get_level_values("date")
    known = rows_dates <= cut
    pd.testing.assert_frame_equal(after[after.index.get_level_values("date") <= cut], before[known])
    # The rows after the cut do move: the check above could have failed.
    later = before.index[~known].intersection(after.index)
    assert not after.loc[later].equals(before.loc[later])
    # A date's IC also needs its label, which is known once its 21 sessions have closed by the cut.
    settled = labelled_by(pd.DatetimeIndex(daily_before.index), sessions, cut, 21)
    assert len(settled) > 3
    pd.testing.assert_frame_equal(daily_after.loc[settled], daily_before.loc[settled])
    assert not daily_after.drop(index=settled).equals(daily_before.drop(index=settled))
