"""The rankers' rows: labels, inputs and point-in-time universes, on small frames and in a real database."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from autonomous.features import FEATURE_NAMES
from autonomous.marketview.database import market_state_on
from autonomous.ranking.dataset import (
    RANKER_FEATURES,
    forward_excess_returns,
    load_ranker_data,
    ranker_inputs,
    sample_sessions,
)
from trading.marketdata.reference_import import FundamentalsTimeline, fundamentals_as_of
from trading.settings import load_settings

DAYS = pd.bdate_range("2024-01-01", periods=6)


def test_the_label_is_the_forward_return_in_excess_of_the_benchmark_over_h_sessions() -> None:
    prices = pd.DataFrame({"AAA": [100.0, 101.0, 103.0, 99.0, 110.0, 111.0]}, index=DAYS)
    benchmark = pd.Series([10.0, 10.0, 10.5, 10.0, 11.0, 11.0], index=DAYS)
    labels = forward_excess_returns(prices, benchmark, horizon=2)
    assert labels.loc[DAYS[0], "AAA"] == pytest.approx(103.0 / 100.0 - 10.5 / 10.0)
    assert labels.loc[DAYS[2], "AAA"] == pytest.approx(110.0 / 103.0 - 11.0 / 10.5)
    # The last two sessions need bars that are not loaded: no label, never a guess.
    assert labels["AAA"].iloc[-2:].isna().all()


def test_labels_count_sessions_of_the_benchmark_calendar_not_rows_of_a_stock() -> None:
    # AAA has no bar on the third session: its label still spans two benchmark sessions.
    prices = pd.DataFrame({"AAA": [100.0, 101.0, np.nan, 104.0, 105.0, 106.0]}, index=DAYS)
    benchmark = pd.Series(10.0, index=DAYS)
    labels = forward_excess_returns(prices, benchmark, horizon=2)
    assert labels.loc[DAYS[1], "AAA"] == pytest.approx(104.0 / 101.0 - 1.0)
    assert np.isnan(labels.loc[DAYS[0], "AAA"])  # t + 2 has no bar: unknown


def test_a_horizon_below_one_session_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 session"):
        forward_excess_returns(pd.DataFrame(index=DAYS), pd.Series(1.0, index=DAYS), horizon=0)


def test_sample_sessions_take_every_step_th_session_of_the_window() -> None:
    sessions = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=30))
    chosen = sample_sessions(sessions, date(2024, 1, 3), date(2024, 1, 31), step=5)
    assert list(chosen) == list(sessions[2::5][: len(chosen)])
    assert chosen[-1] <= pd.Timestamp("2024-01-31")
    with pytest.raises(ValueError, match="step"):
        sample_sessions(sessions, date(2024, 1, 3), date(2024, 1, 31), step=0)


def test_inputs_are_percentile_ranks_of_the_eligible_stocks_only() -> None:
    rng = np.random.default_rng(3)
    tickers = ["A", "B", "C", "D", "ETF"]
    cross_section = pd.DataFrame(rng.normal(size=(5, len(FEATURE_NAMES))), index=tickers, columns=list(FEATURE_NAMES))
    cross_section.loc["D", "size"] = np.nan  # not eligible: no size
    cross_section.loc["A", "rsi_14"] = np.nan  # eligible, one feature unknown
    inputs = ranker_inputs(cross_section, stocks=["A", "B", "C", "D"])
    assert list(inputs.index) == ["A", "B", "C"]
    assert list(inputs.columns) == list(RANKER_FEATURES)
    assert np.isnan(inputs.loc["A", "rsi_14_rank"])
    known = inputs.to_numpy()[np.isfinite(inputs.to_numpy())]
    assert ((known > 0) & (known <= 1)).all()
    assert inputs["mom_21_rank"].rank().tolist() == cross_section.loc[["A", "B", "C"], "mom_21"].rank().tolist()


def test_the_fundamentals_timeline_answers_like_a_query_on_each_date(market: Engine) -> None:
    timeline = FundamentalsTimeline.load(market, date(2014, 12, 31))
    for day in (date(2011, 6, 1), date(2012, 12, 31), date(2013, 1, 2), date(2014, 7, 1)):
        expected = fundamentals_as_of(market, day)
        pd.testing.assert_frame_equal(timeline.as_of(day).sort_index(axis=1), expected.sort_index(axis=1))


def test_training_rows_come_from_the_universes_the_daily_run_would_have_built(market: Engine) -> None:
    settings = load_settings(None)
    data = load_ranker_data(market, settings, date(2013, 6, 3), date(2013, 12, 31), horizon=21, step=10)
    day = data.inputs.index.get_level_values("date")[0]
    state = market_state_on(market, settings, day.date())
    for strategy, universe in state.universes.items():
        members = data.members[strategy]
        on_day = sorted(members[members.get_level_values("date") == day].get_level_values("ticker"))
        assert on_day == sorted(universe.tickers), strategy


def test_the_last_horizon_of_a_window_has_no_label_and_is_not_trained_on(market: Engine) -> None:
    settings = load_settings(None)
    data = load_ranker_data(market, settings, date(2013, 6, 3), date(2013, 12, 31), horizon=21, step=5)
    dates = data.inputs.index.get_level_values("date")
    last_labelled = data.sessions[data.sessions.get_loc(pd.Timestamp("2013-12-31")) - 21]
    assert data.labels[dates > last_labelled].isna().all()
    assert data.labels[dates <= last_labelled].notna().any()
    inputs, labels = data.rows_of("growth_midcap")
    assert labels.notna().all()
    assert inputs.index.get_level_values("date").max() <= last_labelled
