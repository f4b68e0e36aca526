from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autonomous.ranking.walk_forward import Fold, labelled_by, purge_before, walk_forward_folds

SESSIONS = pd.bdate_range("2020-01-01", periods=300)


def _label_end(date: pd.Timestamp, sessions: pd.DatetimeIndex, horizon: int) -> pd.Timestamp | None:
    """The session `horizon` sessions after `date`, the slow obvious way; None past the calendar."""
    position = int(sessions.get_loc(date)) + horizon
    return sessions[position] if position < len(sessions) else None


@st.composite
def calendars(draw: st.DrawFn) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Business days with random holidays removed, and every `step`-th session from an offset."""
    days = pd.bdate_range("2015-01-01", periods=draw(st.integers(40, 400)))
    holidays = draw(st.lists(st.integers(0, len(days) - 1), max_size=30, unique=True))
    sessions = days.delete(sorted(holidays))
    step = draw(st.integers(1, 10))
    offset = draw(st.integers(0, step - 1))
    return sessions, sessions[offset::step]


# --- the purge ---------------------------------------------------------------------------------


@given(
    calendar=calendars(),
    folds=st.integers(1, 6),
    horizon=st.integers(1, 30),
    min_train_dates=st.integers(1, 5),
)
def test_no_fold_trains_on_a_label_window_that_reaches_its_validation_block(
    calendar: tuple[pd.DatetimeIndex, pd.DatetimeIndex], folds: int, horizon: int, min_train_dates: int
) -> None:
    sessions, sample_dates = calendar
    if len(sample_dates) < folds + 1:
        return
    for fold in walk_forward_folds(
        sample_dates, sessions, folds=folds, horizon=horizon, min_train_dates=min_train_dates
    ):
        candidates = sample_dates[sample_dates < fold.validation_start]
        for date in candidates:
            end = _label_end(date, sessions, horizon)
            keeps = end is not None and end < fold.validation_start
            # Kept exactly when the label window closes before validation: no leak, no needless loss.
            assert (date in fold.train_dates) == keeps
        assert fold.purged == len(candidates) - len(fold.train_dates)
        assert len(fold.train_dates) >= min_train_dates


def test_a_label_ending_on_the_first_validation_date_is_purged() -> None:
    # Sample every 5 sessions, horizon 20: the date 20 sessions before validation ends exactly on it.
    sample_dates = SESSIONS[:100:5]
    validation_start = sample_dates[10]
    train = purge_before(sample_dates[:10], SESSIONS, validation_start, horizon=20)
    assert train.equals(sample_dates[:6])
    assert purge_before(sample_dates[:10], SESSIONS, validation_start, horizon=19).equals(sample_dates[:7])


def test_the_purge_counts_sessions_not_calendar_days() -> None:
    # A two-week market closure: five sessions after 2020-01-10 is 2020-01-31, not 2020-01-17.
    days = pd.bdate_range("2020-01-01", "2020-02-28")
    sessions = days[(days < "2020-01-13") | (days > "2020-01-24")]
    date = pd.Timestamp("2020-01-10")
    assert purge_before(pd.DatetimeIndex([date]), sessions, pd.Timestamp("2020-01-31"), horizon=5).empty
    kept = purge_before(pd.DatetimeIndex([date]), sessions, pd.Timestamp("2020-02-03"), horizon=5)
    assert kept.tolist() == [date]


def test_purge_before_drops_a_date_whose_label_runs_past_the_calendar() -> None:
    dates = SESSIONS[-5:]
    assert purge_before(dates, SESSIONS, pd.Timestamp("2099-01-01"), horizon=3).equals(SESSIONS[-5:-3])


# --- fold layout ---------------------------------------------------------------------------------


def test_folds_expand_and_their_validation_blocks_partition_the_later_dates() -> None:
    # 103 dates in 5 blocks of 21, 21, 21, 20, 20.
    sample_dates = SESSIONS[:103]
    result = walk_forward_folds(sample_dates, SESSIONS, folds=4, horizon=1, min_train_dates=1)
    assert [fold.number for fold in result] == [1, 2, 3, 4]
    assert [len(fold.validation_dates) for fold in result] == [21, 21, 20, 20]
    assert pd.DatetimeIndex(np.concatenate([fold.validation_dates for fold in result])).equals(sample_dates[21:])
    for fold in result:
        assert fold.train_start == sample_dates[0]
        # Horizon 1 purges exactly the last date before validation (its label ends on validation_start).
        assert fold.train_dates.equals(sample_dates[sample_dates < fold.validation_start][:-1])
        assert fold.purged == 1
        assert fold.validation_end == fold.validation_dates[-1]
    assert [fold.train_end for fold in result] == [sample_dates[i] for i in (19, 40, 61, 81)]


@given(calendar=calendars(), folds=st.integers(1, 6), horizon=st.integers(1, 30))
def test_validation_blocks_are_consecutive_and_nearly_equal(
    calendar: tuple[pd.DatetimeIndex, pd.DatetimeIndex], folds: int, horizon: int
) -> None:
    sessions, sample_dates = calendar
    if len(sample_dates) < folds + 1:
        return
    result = walk_forward_folds(sample_dates, sessions, folds=folds, horizon=horizon, min_train_dates=1)
    block = len(sample_dates) / (folds + 1)
    for fold in result:
        position = sample_dates.get_loc(fold.validation_start)
        assert fold.validation_dates.equals(sample_dates[position : position + len(fold.validation_dates)])
        assert abs(len(fold.validation_dates) - block) < 1
        assert fold.train_end < fold.validation_start
    numbers = [fold.number for fold in result]
    assert numbers == sorted(numbers)
    sizes = [len(fold.train_dates) for fold in result]
    assert sizes == sorted(sizes)


def test_a_fold_with_too_few_training_dates_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # 40 dates in 4 blocks of 10; horizon 3 purges 3 dates, so fold 1 trains on 7 and fold 2 on 17.
    with caplog.at_level(logging.INFO, logger="autonomous.ranking.walk_forward"):
        result = walk_forward_folds(SESSIONS[:40], SESSIONS, folds=3, horizon=3, min_train_dates=10)
    assert [fold.number for fold in result] == [2, 3]
    assert [len(fold.train_dates) for fold in result] == [17, 27]
    assert "fold 1 left out: 7 training dates after purging 3" in caplog.text


def test_a_fold_names_its_boundaries() -> None:
    fold = Fold(1, SESSIONS[:10], SESSIONS[12:20], purged=2)
    assert (fold.train_start, fold.train_end) == (SESSIONS[0], SESSIONS[9])
    assert (fold.validation_start, fold.validation_end) == (SESSIONS[12], SESSIONS[19])


# --- the final model's training set ----------------------------------------------------------------


@given(calendar=calendars(), horizon=st.integers(1, 30), end_position=st.integers(0, 399))
def test_labelled_by_never_returns_a_date_whose_label_needs_a_session_after_end(
    calendar: tuple[pd.DatetimeIndex, pd.DatetimeIndex], horizon: int, end_position: int
) -> None:
    sessions, sample_dates = calendar
    end = sessions[min(end_position, len(sessions) - 1)]
    result = labelled_by(sample_dates, sessions, end, horizon)
    for date in sample_dates:
        label_end = _label_end(date, sessions, horizon)
        assert (date in result) == (label_end is not None and label_end <= end)


def test_labelled_by_includes_a_label_that_ends_on_end_itself() -> None:
    dates = SESSIONS[:10]
    assert labelled_by(dates, SESSIONS, SESSIONS[9], horizon=5).equals(SESSIONS[:5])


# --- invalid input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample_dates", "sessions", "folds", "horizon", "message"),
    [
        (SESSIONS[:50][::-1], SESSIONS, 2, 5, "sample_dates must be sorted ascending without duplicates"),
        (SESSIONS[:50].append(SESSIONS[49:50]), SESSIONS, 2, 5, "sample_dates must be sorted ascending"),
        (SESSIONS[:50], SESSIONS[::-1], 2, 5, "sessions must be sorted ascending"),
        (pd.bdate_range("2020-01-01", periods=50, freq="D"), SESSIONS, 2, 5, "must be sessions.*first 2020-01-04"),
        (SESSIONS[:50], SESSIONS, 0, 5, "folds must be >= 1, got 0"),
        (SESSIONS[:50], SESSIONS, 2, 0, "horizon must be >= 1 session, got 0"),
        (SESSIONS[:3], SESSIONS, 3, 5, "3 folds need at least 4 sample dates.*got 3"),
    ],
    ids=["unsorted", "duplicated", "unsorted sessions", "not sessions", "no folds", "no horizon", "too few dates"],
)
def test_invalid_fold_arguments_raise_a_clear_message(
    sample_dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex, folds: int, horizon: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        walk_forward_folds(sample_dates, sessions, folds=folds, horizon=horizon)


def test_sample_dates_that_are_not_a_datetime_index_are_refused() -> None:
    with pytest.raises(ValueError, match="sample_dates must be a pandas DatetimeIndex, got list"):
        walk_forward_folds(list(SESSIONS[:50]), SESSIONS, folds=2, horizon=5)  # type: ignore[arg-type]


def test_purging_a_date_outside_the_calendar_or_with_no_horizon_raises() -> None:
    with pytest.raises(ValueError, match="1 date\\(s\\) are not sessions of the calendar, first 2020-01-04"):
        purge_before(pd.DatetimeIndex(["2020-01-04"]), SESSIONS, SESSIONS[50], horizon=5)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        labelled_by(SESSIONS[:5], SESSIONS, SESSIONS[50], horizon=0)
