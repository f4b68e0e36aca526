"""Walk-forward folds over the ranker's sample dates, purged of training labels that see validation.

A sample date t carries the label of the window (t, t + horizon sessions], counted in the sessions
of the trading calendar (not calendar days: a holiday would otherwise shorten the purge). A model
trained on t has therefore seen prices up to the session `horizon` sessions after t. A training
date whose label window reaches the first validation date would leak the validation period into
training, so it is purged.

The sample dates are cut into `folds + 1` consecutive blocks of nearly equal size (sizes differ by at
most one, the earlier blocks being the larger). Fold k (1..folds) trains on blocks 0..k-1, an
expanding window, and validates on block k. A fold keeps its number k even when an earlier fold is
left out for lack of training dates, so a fold's number always names the same block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """One walk-forward split; `purged` counts the training dates dropped by the purge."""

    number: int
    train_dates: pd.DatetimeIndex
    validation_dates: pd.DatetimeIndex
    purged: int

    @property
    def train_start(self) -> pd.Timestamp:
        return self.train_dates[0]

    @property
    def train_end(self) -> pd.Timestamp:
        return self.train_dates[-1]

    @property
    def validation_start(self) -> pd.Timestamp:
        return self.validation_dates[0]

    @property
    def validation_end(self) -> pd.Timestamp:
        return self.validation_dates[-1]


def walk_forward_folds(
    sample_dates: pd.DatetimeIndex,
    sessions: pd.DatetimeIndex,
    *,
    folds: int,
    horizon: int,
    min_train_dates: int = 20,
) -> list[Fold]:
    """The purged expanding-window folds; a fold left with fewer than `min_train_dates` is left out."""
    _check_fold_arguments(sample_dates, sessions, folds=folds, horizon=horizon, min_train_dates=min_train_dates)
    blocks = np.array_split(np.arange(len(sample_dates)), folds + 1)
    result: list[Fold] = []
    for number in range(1, folds + 1):
        validation = sample_dates[blocks[number]]
        candidates = sample_dates[: blocks[number][0]]
        train = purge_before(candidates, sessions, validation[0], horizon)
        if len(train) < min_train_dates:
            logger.info(
                "walk-forward fold %d left out: %d training dates after purging %d, fewer than min_train_dates=%d",
                number,
                len(train),
                len(candidates) - len(train),
                min_train_dates,
            )
            continue
        result.append(Fold(number, train, validation, purged=len(candidates) - len(train)))
    return result


def purge_before(
    train_dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex, boundary: pd.Timestamp, horizon: int
) -> pd.DatetimeIndex:
    """The train dates whose label window ends strictly before `boundary`.

    A date whose window runs past the end of `sessions` is dropped: its label cannot be known.
    """
    ends = _label_ends(train_dates, sessions, horizon)
    return train_dates[np.asarray(ends < boundary, dtype=bool)]


def labelled_by(
    dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex, end: pd.Timestamp, horizon: int
) -> pd.DatetimeIndex:
    """The dates whose label window ends on or before `end`: the label is known once `end` closes.

    This is what a final model trained at `end` may use; unlike `purge_before`, `end` itself is
    allowed, because there is no later validation block to protect.
    """
    ends = _label_ends(dates, sessions, horizon)
    return dates[np.asarray(ends <= end, dtype=bool)]


def _label_ends(dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The session `horizon` sessions after each date; NaT where the calendar ends first.

    NaT compares False with everything, so such dates fall out of every filter above.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 session, got {horizon}")
    _check_sorted_unique(sessions, "sessions")
    positions = sessions.get_indexer(dates)
    if (positions < 0).any():
        missing = dates[positions < 0]
        raise ValueError(f"{len(missing)} date(s) are not sessions of the calendar, first {missing[0].date()}")
    ahead = positions + horizon
    inside = ahead < len(sessions)
    if not inside.any():
        return pd.DatetimeIndex([pd.NaT] * len(dates), tz=sessions.tz)
    return pd.DatetimeIndex(sessions.take(np.minimum(ahead, len(sessions) - 1)).where(inside))


def _check_fold_arguments(
    sample_dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex, *, folds: int, horizon: int, min_train_dates: int
) -> None:
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 session, got {horizon}")
    if min_train_dates < 1:
        raise ValueError(f"min_train_dates must be >= 1, got {min_train_dates}")
    _check_sorted_unique(sample_dates, "sample_dates")
    _check_sorted_unique(sessions, "sessions")
    outside = sample_dates[~sample_dates.isin(sessions)]
    if len(outside):
        raise ValueError(
            f"sample_dates must be sessions of the calendar; {len(outside)} are not, first {outside[0].date()}"
        )
    if len(sample_dates) < folds + 1:
        raise ValueError(
            f"{folds} folds need at least {folds + 1} sample dates (one block each for training and every "
            f"validation), got {len(sample_dates)}"
        )


def _check_sorted_unique(dates: pd.DatetimeIndex, name: str) -> None:
    if not isinstance(dates, pd.DatetimeIndex):
        raise ValueError(f"{name} must be a pandas DatetimeIndex, got {type(dates).__name__}")
    if not dates.is_monotonic_increasing or not dates.is_unique:
        raise ValueError(f"{name} must be sorted ascending without duplicates")
