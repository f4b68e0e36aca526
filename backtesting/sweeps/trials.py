"""One trial of a sweep, run where a worker runs it: open an engine, read the inputs through the same code as
everything else, run the backtest or the training, and answer a TrialOutcome (never raise: a failed trial
is an outcome too, with its error).

A worker keeps what it read for its next trials (WorkerCache): the span's panel, features and regimes of a
backtest, the rows of a ranker's windows. Ray reuses its worker processes, so each is read once per worker,
not once per trial. Models a trial trains are handed back in the outcome, not stored here: whoever writes
the outcome (writing.py) stores them with it.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from backtesting.sweeps.spec import (
    RANK_IC_EVERY_NAME_SAME_DATES,
    RANK_IC_WITHOUT_LATE_JOINERS,
    VALUES_WITHOUT_LATE_JOINERS,
    TrialPlan,
)
from trading.db.engine import make_engine
from trading.errors import DataError, FundError
from trading.settings import STRATEGIES, FundSettings

if TYPE_CHECKING:
    from autonomous.ranking.dataset import RankerData
    from autonomous.ranking.late_joiners import LateJoinerSplit
    from autonomous.ranking.metrics import RankingMetrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialOutcome:
    """What a trial answers: its figures, or its error; `models` are trainings still to be stored."""

    plan: TrialPlan
    status: str  # done | failed
    metrics: dict[str, Any]
    series: dict[str, list[Any]]  # {"dates": [...], "values": [...]}, or {} for none
    duration_seconds: float
    timings: dict[str, float]
    worker: str
    error: str | None = None
    models: tuple[Any, ...] = ()  # RankerTraining / FittedAgent, stored by the writer
    model_ids: tuple[int, ...] = ()
    written: bool = False  # stored in the database already (by the trial itself, or by the driver)

    def metric(self, name: str) -> float | None:
        value = self.metrics.get(name)
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


class WorkerCache:
    """What one worker process read, by what decides it: a loaded span, a ranker window's rows. A few items
    only: a ten-year span holds about a gigabyte, and the runner hands out trials window by window."""

    def __init__(self, limit: int = 3) -> None:
        self._items: dict[Hashable, Any] = {}
        self._limit = limit

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        if key in self._items:
            return self._items[key]
        if len(self._items) >= self._limit:  # the oldest goes: a sweep moves through its windows in order
            self._items.pop(next(iter(self._items)))
        value = load()
        self._items[key] = value
        return value


# One per process: a Ray worker keeps it between the tasks it runs.
WORKER_CACHE = WorkerCache()


def run_trial(database_url: str, base: FundSettings, plan: TrialPlan) -> TrialOutcome:
    """Run one trial on its own engine; any error becomes a failed outcome naming it."""
    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    timings: dict[str, float] = {}
    engine = make_engine(database_url)
    try:
        settings = plan.fund_settings(base)
        runner = RUNNERS[plan.kind]
        metrics, series, models = runner(engine, settings, plan, timings)
    except Exception as exc:  # a trial's failure is recorded, and the sweep goes on
        # The driver logs the failure; here (a Ray worker's log) the whole traceback.
        logger.debug("trial %s failed", plan.key[:12], exc_info=True)
        expected = isinstance(exc, FundError | ValueError | KeyError)
        error = f"{type(exc).__name__}: {exc}"
        if not expected:
            error += "\n" + "".join(traceback.format_exception(exc)[-3:])
        return TrialOutcome(plan, "failed", {}, {}, time.perf_counter() - started, timings, worker, error)
    finally:
        engine.dispose()
    return TrialOutcome(
        plan, "done", metrics, series, time.perf_counter() - started, timings, worker, models=tuple(models)
    )


Runner = Callable[
    [Engine, FundSettings, TrialPlan, dict[str, float]],
    tuple[dict[str, Any], dict[str, list[Any]], list[Any]],
]


# --- a backtest -----------------------------------------------------------------------------------------


def _backtest(
    engine: Engine, settings: FundSettings, plan: TrialPlan, timings: dict[str, float]
) -> tuple[dict[str, Any], dict[str, list[Any]], list[Any]]:
    from backtesting.job import BacktestRequest, replay_request
    from backtesting.metrics import compute_metrics

    own = plan.parameters()
    request = BacktestRequest(
        start=plan.window.start,
        end=plan.window.end,
        capital=Decimal(str(own["capital"])),
        generator=own["generator"],
        compare=(),
        seed=plan.seed,
        approvals="approve" if own["approvals"] == "approve" else "reject",
        fractional_shares=bool(own["fractional"]),
    )
    url = engine.url.render_as_string(hide_password=False)

    def load(engine: Engine, settings: FundSettings, first: date, last: date, fills_through: date) -> Any:
        return _cached_span(url, engine, settings, first, last, fills_through, timings)

    replayed = replay_request(engine, settings, request, load=load, prefetch=False)
    timings["decisions"] = replayed.replay_seconds
    started = time.perf_counter()
    result = replayed.results[0]
    equity = result.equity.astype("float64")  # money columns are Decimal; the metrics are float64 analytics
    metrics = compute_metrics(
        equity["equity"],
        benchmark=replayed.benchmark,
        turnover=equity["turnover"],
        costs=equity["costs"],
        exposure=equity["exposure"],
        cash=equity["cash"] / equity["equity"],
    ).as_dict()
    decisions = result.decisions
    metrics["failed_sessions"] = int((decisions["status"] == "failed").sum()) if "status" in decisions else 0
    returns = equity["equity"].pct_change().dropna()
    timings["metrics"] = time.perf_counter() - started
    return metrics, _series(returns), []


def _cached_span(
    url: str,
    engine: Engine,
    settings: FundSettings,
    first: date,
    last: date,
    fills_through: date,
    timings: dict[str, float],
) -> Any:
    """The span as this worker read it for an earlier trial under the same data settings (its panel,
    features and cross-sections computed once), viewed under this trial's settings."""
    from backtesting.job import load_span

    key = ("span", url, first, last, fills_through, settings.data.model_dump_json())

    def read() -> Any:
        started = time.perf_counter()
        market, bars = load_span(engine, settings, first, last, fills_through)
        timings["load"] = time.perf_counter() - started
        started = time.perf_counter()
        market.cross_sections  # noqa: B018 - computed once for every trial of this worker
        market.regimes  # noqa: B018 - shared by the trials with the same regime settings
        timings["features"] = time.perf_counter() - started  # the features and the first settings' regimes
        return market, bars

    market, bars = WORKER_CACHE.get(key, read)
    view = market.with_settings(settings)
    started = time.perf_counter()
    view.regimes  # noqa: B018 - shared when the regime settings are the cached view's
    timings["regimes"] = time.perf_counter() - started
    return view, bars


# --- a ranker ---------------------------------------------------------------------------------------------


def _ranker(
    engine: Engine, settings: FundSettings, plan: TrialPlan, timings: dict[str, float]
) -> tuple[dict[str, Any], dict[str, list[Any]], list[Any]]:
    from autonomous.ranking.dataset import load_ranker_data
    from autonomous.ranking.feature_sets import matching_set, present_groups
    from autonomous.ranking.metrics import cross_sectional_ic, ranking_metrics
    from autonomous.ranking.xgb import booster_from_bytes, overlap_lags, predict, train_ranker
    from backtesting.walk_forward import training_window
    from trading.marketdata.calendar import TradingCalendar

    own = plan.parameters()
    strategies = list(STRATEGIES) if own["strategies"] == "all" else list(own["strategies"])
    if "models.ranker.seed" not in plan.settings:
        ranker_settings = settings.models.ranker.model_copy(update={"seed": plan.seed})
        settings = settings.model_copy(
            update={"models": settings.models.model_copy(update={"ranker": ranker_settings})}
        )
    ranker = settings.models.ranker
    url = engine.url.render_as_string(hide_password=False)
    started = time.perf_counter()
    calendar = TradingCalendar.from_database(engine, settings.data.benchmark_ticker, settings.data.exchange_calendar)
    sessions = [d.date() for d in calendar.history]
    train_start, train_end = training_window(sessions, plan.window.start, own["train_sessions"])
    data_key = (
        settings.data.model_dump_json(),
        settings.universe.model_dump_json(),
        ranker.horizon,
        ranker.sample_step,
    )

    def rows(start: date, end: date) -> Any:
        def read() -> Any:
            return load_ranker_data(engine, settings, start, end, horizon=ranker.horizon, step=ranker.sample_step)

        return WORKER_CACHE.get(("ranker", url, start, end, *data_key), read)

    training_rows, held_out_rows = rows(train_start, train_end), rows(plan.window.start, plan.window.end)
    timings["load"] = time.perf_counter() - started
    trainings, per_strategy, daily = [], {}, []
    splits: dict[str, tuple[LateJoinerSplit, RankingMetrics]] = {}
    daily_without_late_joiners: list[pd.Series | None] = []
    lags = overlap_lags(ranker.horizon, ranker.sample_step)
    # As in the backtest's walk-forward: the inputs the training window has (feature_sets.py).
    features = matching_set(present_groups(training_rows.inputs)).features
    for strategy in strategies:
        started = time.perf_counter()
        training = train_ranker(training_rows, strategy, ranker, features)
        timings["training"] = timings.get("training", 0.0) + time.perf_counter() - started
        started = time.perf_counter()
        inputs, labels = held_out_rows.rows_of(strategy)
        if inputs.empty:
            raise DataError(f"{strategy}: no labelled rows held out in {plan.window.start}..{plan.window.end}")
        scored = pd.DataFrame({"prediction": predict(booster_from_bytes(training.artifact), inputs), "label": labels})
        every_name = ranking_metrics(scored, overlap_lags=lags)
        per_strategy[strategy] = every_name.as_dict()
        daily.append(cross_sectional_ic(scored)["rank_ic"].rename(strategy))
        split, daily_kept = _without_late_joiners(held_out_rows, strategy, inputs, scored, lags)
        splits[strategy] = (split, every_name)
        daily_without_late_joiners.append(daily_kept)
        timings["evaluation"] = timings.get("evaluation", 0.0) + time.perf_counter() - started
        trainings.append(training)
    metrics: dict[str, Any] = {}
    for name in next(iter(per_strategy.values())):
        values = [float(x) for v in per_strategy.values() if isinstance(x := v[name], int | float)]
        metrics[name] = float(np.mean(values)) if values else None
    metrics |= _late_joiner_metrics(splits)
    metrics |= {"train_window": [train_start.isoformat(), train_end.isoformat()], "by_strategy": per_strategy}
    mean_ic = pd.concat(daily, axis=1).mean(axis=1).dropna()
    # The labels of consecutive sample dates overlap (a 21-session horizon sampled every 5): the series keeps
    # dates whose labels do not, so that the deflated Sharpe and CSCV, which take observations as independent,
    # are not flattered by the overlap.
    independent = mean_ic.iloc[:: lags + 1]
    series = _series(independent)
    # The same dates without the late joiners (NaN where a date keeps too few names): the series of a sweep
    # ranked by that figure (summary.py). None when a strategy has no such figure, as for the mean.
    kept = pd.Series(np.nan, index=independent.index)
    if metrics[RANK_IC_WITHOUT_LATE_JOINERS] is not None:
        kept = pd.concat(daily_without_late_joiners, axis=1).mean(axis=1).reindex(independent.index)
    series[VALUES_WITHOUT_LATE_JOINERS] = [float(v) for v in kept.to_numpy()]
    return metrics, series, trainings


def _without_late_joiners(
    held_out: RankerData, strategy: str, inputs: pd.DataFrame, scored: pd.DataFrame, lags: int
) -> tuple[LateJoinerSplit, pd.Series | None]:
    """The strategy's held-out figures without the late joiners (autonomous/ranking/late_joiners.py), and
    their daily rank IC (None when no row has fundamentals: there is no such figure)."""
    from autonomous.ranking.baselines import baseline_scores
    from autonomous.ranking.late_joiners import rows_without_late_joiners, split_late_joiners
    from autonomous.ranking.metrics import cross_sectional_ic

    baselines = baseline_scores(inputs, held_out.universe_score_of(strategy, inputs.index))
    flags = held_out.has_fundamentals_on(scored.index)
    split = split_late_joiners(scored, baselines, flags, overlap_lags=lags)
    kept = rows_without_late_joiners(flags)
    daily = None if kept is None else cross_sectional_ic(scored[kept])["rank_ic"].rename(strategy)
    return split, daily


def _late_joiner_metrics(splits: dict[str, tuple[LateJoinerSplit, RankingMetrics]]) -> dict[str, Any]:
    """The mean over the strategies of the rank IC without late joiners and of its counterpart on every name
    over the same dates (None unless each strategy has one: a mean over fewer strategies would not compare
    with the mean over all), the late joiners' share of the scored rows, and each strategy's split."""
    without = [split.rank_ic_without_late_joiners(every) for split, every in splits.values()]
    same_dates = [split.rank_ic_every_name_same_dates(every) for split, every in splits.values()]
    rows = sum(split.rows for split, _ in splits.values())
    late = sum(split.late_joiner_rows for split, _ in splits.values())
    return {
        RANK_IC_WITHOUT_LATE_JOINERS: _mean_of_all(without),
        RANK_IC_EVERY_NAME_SAME_DATES: _mean_of_all(same_dates),
        "late_joiner_share": late / rows if rows else None,
        "without_late_joiners": {strategy: split.as_dict() for strategy, (split, _) in splits.items()},
    }


def _mean_of_all(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return float(np.mean(present)) if present and len(present) == len(values) else None


# --- an agent ---------------------------------------------------------------------------------------------


def _agent(
    engine: Engine, settings: FundSettings, plan: TrialPlan, timings: dict[str, float]
) -> tuple[dict[str, Any], dict[str, list[Any]], list[Any]]:
    from rl_trading.training import fit_weight_agent

    own = plan.parameters()
    started = time.perf_counter()
    # Trained up to the window's start, held out over the window (rl_trading/training.py's windows).
    fitted = fit_weight_agent(
        engine,
        settings,
        own["strategy"],
        timesteps=int(own["timesteps"]),
        end=plan.window.start,
        eval_end=plan.window.end,
        seed=plan.seed,
    )
    timings["training"] = fitted.trained.seconds
    timings["evaluation"] = time.perf_counter() - started - fitted.trained.seconds
    evaluation = fitted.metrics["evaluation"]
    metrics = {
        **evaluation,
        "sharpe_over_equal_weight": evaluation["sharpe_agent"] - evaluation["sharpe_equal_weight"],
        "return_over_equal_weight": evaluation["total_return_agent"] - evaluation["total_return_equal_weight"],
        "train_window": [fitted.windows.start.isoformat(), fitted.windows.end.isoformat()],
        "ranker_id": fitted.windows.ranker.id,
    }
    # Step i decides at the close of eval_dates[i] and earns its return by the next session's close.
    returns = fitted.evaluation.agent_returns
    earned = fitted.eval_dates[1 : len(returns) + 1]
    series = pd.Series(returns[: len(earned)], index=pd.DatetimeIndex([pd.Timestamp(d) for d in earned]))
    return metrics, _series(series), [fitted]


RUNNERS: dict[str, Runner] = {"backtest": _backtest, "ranker": _ranker, "agent": _agent}


def _series(values: pd.Series) -> dict[str, list[Any]]:
    index = pd.DatetimeIndex(values.index)
    return {"dates": [d.date().isoformat() for d in index], "values": [float(v) for v in values.to_numpy()]}


def written(outcome: TrialOutcome, model_ids: tuple[int, ...]) -> TrialOutcome:
    """The outcome once stored: its models replaced by their ids in the registry."""
    return replace(outcome, models=(), model_ids=model_ids, written=True)
