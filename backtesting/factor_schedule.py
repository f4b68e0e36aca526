"""The best-factor variant's walk-forward choices: at each retraining date, each strategy's factor with the
best mean daily rank IC over the training window the rankers would use (backtesting/walk_forward.py).

Window of a retraining date R: `training_window`, the rankers' own, so it ends at the last session before
R. `load_ranker_data` reads bars up to that session only and leaves a label unknown where its horizon runs
past it, so every label the choice reads ended before R too: rewriting the bars from R on cannot change
the choice in force at R (a test shows it). The rows, horizon and sample step are the rankers', so the
factor chosen is the best baseline a ranker of the same window would have been compared with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date

from sqlalchemy import Engine

from autonomous.factor_choice import FactorChoice, FactorSchedule, choose_factor
from autonomous.ranking.dataset import RankerData, load_ranker_data
from backtesting.walk_forward import benchmark_sessions, training_window
from trading.errors import DataError
from trading.settings import FundSettings

logger = logging.getLogger(__name__)


def choose_factors(
    engine: Engine,
    settings: FundSettings,
    strategies: Sequence[str],
    dates: Sequence[date],
    *,
    training_sessions: int | None,
    on_progress: Callable[[str], None] = lambda _: None,
) -> FactorSchedule:
    """Each strategy's factor at each of `dates` (module doc). A date whose window has no data skips every
    strategy; a strategy whose universe has no IC in a window is skipped there: its earlier choice stays."""
    sessions = benchmark_sessions(engine, settings)
    choices: list[FactorChoice] = []
    skipped: dict[date, str] = {}
    retrain = sorted(set(dates))
    for number, day in enumerate(retrain, 1):
        try:
            data = _window_data(engine, settings, sessions, day, training_sessions)
        except DataError as exc:
            logger.warning("best-factor: no choice at %s: %s", day, exc)
            skipped[day] = str(exc)
            continue
        found, missing = _choices_on(data, strategies, day)
        choices.extend(found)
        if missing:
            skipped[day] = f"no rank IC in the window for {', '.join(missing)}"
        on_progress(f"factors {number}/{len(retrain)}: {day} " + ", ".join(f"{c.strategy} {c.factor}" for c in found))
    return FactorSchedule(tuple(choices), skipped)


def _window_data(
    engine: Engine, settings: FundSettings, sessions: Sequence[date], day: date, training_sessions: int | None
) -> RankerData:
    start, end = training_window(sessions, day, training_sessions)
    ranker = settings.models.ranker
    return load_ranker_data(engine, settings, start, end, horizon=ranker.horizon, step=ranker.sample_step)


def _choices_on(data: RankerData, strategies: Sequence[str], day: date) -> tuple[list[FactorChoice], list[str]]:
    found: list[FactorChoice] = []
    missing: list[str] = []
    for strategy in strategies:
        if strategy not in data.members:  # the universe never had a row in the window
            missing.append(strategy)
            continue
        choice = choose_factor(data, strategy, day)
        if choice is None:
            missing.append(strategy)
        else:
            found.append(choice)
    return found, missing
