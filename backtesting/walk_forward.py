"""Walk-forward models for a backtest: the retraining dates, the rankers trained on data strictly before
each of them (or found again in the model registry), and the schedule of which model is in force when.

Window of a retraining date R. The training window ends at the last benchmark session before R, so a
ranker effective from R read no bar of R or later: `load_ranker_data` reads bars up to the window's
end only, and `train_ranker` keeps the rows whose `horizon`-session label is known by then. It starts
`training_sessions` sessions earlier (a rolling window of that many sessions) or, without it, at the
benchmark's first bar (an expanding window: each retraining sees all the history before R; a stock
gives rows once its features have the history they need, autonomous/universes.eligible_stocks).

Reuse. Before training, the registry is asked for a ranker of the strategy with the same window,
inputs and training parameters (booster, horizon, sample step, and the benchmark and universe settings
that shape its rows). xgboost is deterministic at a fixed seed with one thread, so such a ranker is the
one training would give: every compared variant and every later backtest over the same windows uses
the same model. A ranker from `fund train xgboost` lacks the universe settings and is not reused; its
twin trained here has the same bytes, and `save_model` hands the stored copy back.

Agents (`ensure_agents`). The agent effective from R learns how to weigh the picks of one of the
schedule's rankers, and is judged on a held-out window; both end before R (`agent_window`):
- evaluation: the last `eval_sessions` decisions before R. The last of them earns its return by the
  close of L, the last session before R: L is the last bar the agent's episodes read
  (rl_trading/episode_builder.py reads bars and fundamentals up to its window's end only);
- training: the decisions from just after its ranker's training window up to the evaluation's first
  (at least MIN_TRAIN_SESSIONS of them, at most TRAIN_YEARS years: rl_trading/training.py);
- ranker: the newest of the schedule's rankers effective by R whose window ended before the latest
  start that leaves MIN_TRAIN_SESSIONS, so that the agent learns from out-of-sample predictions, as
  in the daily run (rl_trading/training.py says why). The ranker in force AT R was trained up to L,
  over the agent's window, so it is never that one. From R on the hybrid generator ranks with the
  agent's own ranker (models.agent.ranker_pairing = paired: rl_trading/hybrid.py), or with the
  newest ranker in force (newest, the default); it logs both. A date with no ranker that old gets no agent
  (skipped, with the reason): the previous agent stays in force or, before the first, the hybrid
  gives equal weights.
Reuse as for rankers: a stored agent of the strategy with the same training window and every parameter
that shapes its training (`agent_training_parameters`, the ranker included) is found again. PPO is
deterministic at a fixed seed on one machine. The held-out window is not in the key: it changes an
agent's metrics, never its policy.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from sqlalchemy import Engine

from autonomous.ranking.dataset import load_ranker_data
from autonomous.ranking.feature_sets import FEATURE_SETS, matching_set, present_groups
from autonomous.ranking.training import ranker_training_parameters, store_ranker
from autonomous.ranking.xgb import train_ranker
from rl_trading.slots import SLOT_FEATURES
from rl_trading.training import (
    DEFAULT_TIMESTEPS,
    MIN_TRAIN_SESSIONS,
    agent_training_parameters,
    plan_windows,
    train_weight_agent,
)
from trading.errors import ConfigurationError, DataError
from trading.marketdata.calendar import TradingCalendar
from trading.settings import STRATEGIES, FundSettings
from trading.store.models import AGENT, RANKER, ModelRecord, find_model

logger = logging.getLogger(__name__)

ScheduleKey = tuple[str, str]  # (kind, strategy)
# An agent's held-out month: enough to report on, and its training data is a month older than its date.
AGENT_EVAL_SESSIONS = 21


def retrain_dates(sessions: Sequence[date], every: int) -> list[date]:
    """The first session and then every `every`-th session after it (sessions in ascending order)."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every (the sessions between retrainings) must be an integer >= 1, got {every!r}")
    ordered = sorted(set(sessions))
    return ordered[::every]


def training_window(sessions: Sequence[date], retrain_date: date, training_sessions: int | None) -> tuple[date, date]:
    """The training window (first, last session) of a ranker effective from `retrain_date` (module doc).

    `sessions` is the benchmark's calendar. A rolling window starting before the first session is
    cut there. A DataError when no session precedes `retrain_date`.
    """
    if training_sessions is not None and training_sessions < 1:
        raise ValueError(f"training_sessions must be >= 1 (or None for an expanding window), got {training_sessions}")
    ordered = sorted(sessions)
    before = bisect.bisect_left(ordered, retrain_date)
    if before == 0:
        raise DataError(f"no session of the benchmark before {retrain_date}: nothing to train a ranker on")
    first = 0 if training_sessions is None else max(0, before - training_sessions)
    return ordered[first], ordered[before - 1]


@dataclass(frozen=True)
class ModelSchedule:
    """Which stored model is in force on a day: per (kind, strategy), (effective_from, record) ascending.

    A model is in force from its date until the next one's. Every model's training window ends before
    its effective date (checked here), so a decision never uses a model that saw its day. Satisfies
    rl_trading.hybrid.ModelSource, the hybrid generator's way of being pinned to it.
    """

    entries: Mapping[ScheduleKey, tuple[tuple[date, ModelRecord], ...]]
    _dates: Mapping[ScheduleKey, list[date]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = {key: tuple(sorted(pairs, key=lambda pair: pair[0])) for key, pairs in self.entries.items() if pairs}
        for key, pairs in entries.items():
            _check_entries(key, pairs)
        object.__setattr__(self, "entries", MappingProxyType(entries))
        object.__setattr__(self, "_dates", {key: [day for day, _ in pairs] for key, pairs in entries.items()})

    @classmethod
    def of(cls, pairs: Iterable[tuple[date, ModelRecord]]) -> ModelSchedule:
        """A schedule from (effective_from, record) pairs of any kinds and strategies."""
        grouped: dict[ScheduleKey, list[tuple[date, ModelRecord]]] = {}
        for day, record in pairs:
            grouped.setdefault((record.kind, record.strategy), []).append((day, record))
        return cls({key: tuple(found) for key, found in grouped.items()})

    def merged(self, other: ModelSchedule) -> ModelSchedule:
        """Both schedules' entries (e.g. the rankers' and the agents'); a date given twice is an error."""
        return ModelSchedule.of([*self.pairs(), *other.pairs()])

    def pairs(self) -> list[tuple[date, ModelRecord]]:
        return [pair for key in sorted(self.entries) for pair in self.entries[key]]

    def models_for(self, kind: str, strategy: str, day: date) -> list[ModelRecord]:
        """The model in force on `day` first, then the earlier scheduled ones, newest first (what the
        generator falls back to when a model's bytes are invalid); empty before the first date."""
        key = (kind, strategy)
        in_force = bisect.bisect_right(self._dates.get(key, []), day)
        return [record for _, record in reversed(self.entries[key][:in_force])] if in_force else []

    @property
    def model_ids(self) -> tuple[int, ...]:
        """The ids of every scheduled model, ascending: the lineage a backtest's run row records."""
        return tuple(sorted({record.id for _, record in self.pairs()}))

    def describe(self) -> str:
        """One line per kind and strategy, for logs: each model's effective date, version and id."""
        if not self.entries:
            return "no scheduled models"
        lines = []
        for (kind, strategy), pairs in sorted(self.entries.items()):
            models = ", ".join(f"from {day} {record.version} (id {record.id})" for day, record in pairs)
            lines.append(f"{kind}/{strategy}: {models}")
        return "\n".join(lines)


def _check_entries(key: ScheduleKey, pairs: tuple[tuple[date, ModelRecord], ...]) -> None:
    days = [day for day, _ in pairs]
    if len(set(days)) != len(days):
        raise ValueError(f"{key[0]}/{key[1]}: two models scheduled from the same date")
    for day, record in pairs:
        if (record.kind, record.strategy) != key:
            raise ValueError(f"{record.label} is scheduled as a {key[0]} of {key[1]}")
        if record.train_end >= day:
            raise ValueError(
                f"{record.label} was trained up to {record.train_end}: it may not be in force from {day} (look-ahead)"
            )


@dataclass(frozen=True)
class RetrainingStep:
    """What one retraining date cost: the strategies trained, reused from the registry, or skipped (why)."""

    retrain_date: date
    train_start: date | None
    train_end: date | None
    trained: tuple[str, ...]
    reused: tuple[str, ...]
    skipped: Mapping[str, str]
    seconds: float

    def describe(self) -> str:
        window = f"{self.train_start}..{self.train_end}" if self.train_start else "no window"
        text = f"{self.retrain_date} ({window}): {len(self.trained)} trained, {len(self.reused)} reused"
        if self.skipped:
            text += ", skipped " + "; ".join(f"{name}: {why}" for name, why in self.skipped.items())
        return text + (f" in {self.seconds:.1f} s" if self.trained else "")


@dataclass(frozen=True)
class TrainingReport:
    steps: tuple[RetrainingStep, ...]
    models: str = "rankers"  # what the steps trained, for people: "rankers" or "agents"

    @property
    def trained(self) -> int:
        return sum(len(step.trained) for step in self.steps)

    @property
    def reused(self) -> int:
        return sum(len(step.reused) for step in self.steps)

    @property
    def skipped(self) -> int:
        return sum(len(step.skipped) for step in self.steps)

    @property
    def seconds(self) -> float:
        """Time spent loading training data and fitting (registry lookups are not counted)."""
        return sum(step.seconds for step in self.steps)

    def describe(self) -> str:
        head = (
            f"{self.models}: {self.trained} trained in {self.seconds:.1f} s, {self.reused} reused, "
            f"{self.skipped} skipped"
        )
        return "\n".join([head, *(step.describe() for step in self.steps)])


def ensure_rankers(
    engine: Engine,
    settings: FundSettings,
    strategies: Sequence[str],
    dates: Sequence[date],
    *,
    training_sessions: int | None = None,
    every: int | None = None,
    on_progress: Callable[[str], None] = lambda _: None,
) -> tuple[ModelSchedule, TrainingReport]:
    """Each strategy's ranker for each retraining date, found in the registry or trained and stored.

    Windows as in the module doc. `every` is only recorded with new models (their lineage, under
    parameters['walk_forward']). A strategy that cannot be trained at a date (too few rows) is
    skipped with the reason in the report: its previous model, if any, stays in force.
    """
    strategies = _known(strategies)
    sessions = benchmark_sessions(engine, settings)
    pairs: list[tuple[date, ModelRecord]] = []
    steps: list[RetrainingStep] = []
    retrain = sorted(set(dates))
    for number, day in enumerate(retrain, 1):
        lineage = {
            "walk_forward": {"retrain_date": day.isoformat(), "every": every, "training_sessions": training_sessions}
        }
        step, found = _ensure_on(engine, settings, strategies, sessions, day, training_sessions, lineage)
        pairs.extend((day, record) for record in found)
        steps.append(step)
        on_progress(f"rankers {number}/{len(retrain)}: {step.describe()}")
    schedule, report = ModelSchedule.of(pairs), TrainingReport(tuple(steps))
    logger.info("%s", report.describe())
    return schedule, report


def _known(strategies: Sequence[str]) -> list[str]:
    named = list(dict.fromkeys(strategies))  # a strategy named twice would be scheduled twice a date
    unknown = [name for name in named if name not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {', '.join(unknown)}; expected some of {', '.join(STRATEGIES)}")
    return named


def benchmark_sessions(engine: Engine, settings: FundSettings) -> list[date]:
    """Every session of the benchmark's calendar in the database, ascending: what training windows count."""
    calendar = TradingCalendar.from_database(engine, settings.data.benchmark_ticker, settings.data.exchange_calendar)
    return [stamp.date() for stamp in calendar.history]


def _ensure_on(
    engine: Engine,
    settings: FundSettings,
    strategies: Sequence[str],
    sessions: Sequence[date],
    day: date,
    training_sessions: int | None,
    lineage: Mapping[str, Any],
) -> tuple[RetrainingStep, list[ModelRecord]]:
    try:
        start, end = training_window(sessions, day, training_sessions)
    except DataError as exc:
        return RetrainingStep(day, None, None, (), (), dict.fromkeys(strategies, str(exc)), 0.0), []
    key = _reuse_key(settings)
    records: list[ModelRecord] = []
    reused, missing = [], []
    for strategy in strategies:
        stored = _stored_ranker(engine, strategy, start, end, key)
        if stored is None:
            missing.append(strategy)
        else:
            reused.append(strategy)
            records.append(stored)
    started = time.perf_counter()
    trained, skipped = _train(engine, settings, missing, start, end, {**key, **lineage}) if missing else ([], {})
    records.extend(trained)
    seconds = time.perf_counter() - started if missing else 0.0
    step = RetrainingStep(day, start, end, tuple(r.strategy for r in trained), tuple(reused), skipped, seconds)
    return step, records


def _reuse_key(settings: FundSettings) -> dict[str, Any]:
    """The parameters a stored ranker must have to stand in for one trained now (module doc)."""
    ranker = settings.models.ranker
    return {
        **ranker_training_parameters(ranker, ranker.horizon),
        "data": {"benchmark": settings.data.benchmark_ticker, "universe": settings.universe.model_dump(mode="json")},
    }


def _stored_ranker(engine: Engine, strategy: str, start: date, end: date, key: Mapping[str, Any]) -> ModelRecord | None:
    """A ranker trained here before on the window, whichever feature-set variant the window's data gave
    it (training picks the variant from the data, so the same data gives the same one); the fullest first."""
    for variant in FEATURE_SETS:
        stored = find_model(
            engine, RANKER, strategy, train_start=start, train_end=end, feature_set=variant.features, parameters=key
        )
        if stored is not None:
            return stored
    return None


def _train(
    engine: Engine,
    settings: FundSettings,
    strategies: Sequence[str],
    start: date,
    end: date,
    extra_parameters: Mapping[str, Any],
) -> tuple[list[ModelRecord], dict[str, str]]:
    """Trains the strategies on the window's rows, built once for all of them, and stores each ranker."""
    ranker = settings.models.ranker
    try:
        data = load_ranker_data(engine, settings, start, end, horizon=ranker.horizon, step=ranker.sample_step)
    except DataError as exc:
        logger.warning("no rankers trained on %s..%s: %s", start, end, exc)
        return [], dict.fromkeys(strategies, str(exc))
    # The inputs the window's data has decide the variant (autonomous/ranking/feature_sets.py): a
    # market without volume or dividends gets rankers that do not read them.
    features = matching_set(present_groups(data.inputs)).features
    records, skipped = [], {}
    for strategy in strategies:
        try:
            training = train_ranker(data, strategy, ranker, features)
        except (DataError, KeyError) as exc:  # KeyError: the strategy's universe had no rows at all
            logger.warning("%s: no ranker trained on %s..%s: %s", strategy, start, end, exc)
            skipped[strategy] = _reason(exc)
            continue
        records.append(store_ranker(engine, training, extra_parameters))
    return records, skipped


def _reason(exc: Exception) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


@dataclass(frozen=True)
class AgentWindow:
    """The sessions an agent effective from a retraining date may use (module doc): it trains on the
    decisions from its ranker's window's end up to `end`, starting no later than `latest_start`, and is
    evaluated on the decisions from `end` up to the session before `eval_end`, its last bar."""

    latest_start: date
    end: date
    eval_end: date


def agent_window(sessions: Sequence[date], retrain_date: date, eval_sessions: int) -> AgentWindow:
    """The window of an agent effective from `retrain_date`; `sessions` is the benchmark's calendar.

    A DataError when fewer than MIN_TRAIN_SESSIONS + eval_sessions sessions precede the date.
    """
    if eval_sessions < 2:
        raise ValueError(f"eval_sessions must be >= 2 (an evaluation needs two sessions), got {eval_sessions}")
    ordered = sorted(sessions)
    last = bisect.bisect_left(ordered, retrain_date) - 1
    first_held_out = last - eval_sessions
    latest_start = first_held_out - MIN_TRAIN_SESSIONS
    if latest_start < 0:
        raise DataError(
            f"{last + 1} sessions before {retrain_date}: an agent needs {MIN_TRAIN_SESSIONS} to train on "
            f"and {eval_sessions} to be evaluated on, and one more for the last return"
        )
    return AgentWindow(ordered[latest_start], ordered[first_held_out], ordered[last])


def ensure_agents(
    engine: Engine,
    settings: FundSettings,
    strategies: Sequence[str],
    schedule: ModelSchedule,
    dates: Sequence[date],
    *,
    timesteps: int | None = None,
    eval_sessions: int = AGENT_EVAL_SESSIONS,
    every: int | None = None,
    on_progress: Callable[[str], None] = lambda _: None,
) -> tuple[ModelSchedule, TrainingReport]:
    """Each strategy's PPO agent for each retraining date, found in the registry or trained and stored;
    returns `schedule` (the rankers') merged with them.

    Windows and rankers as in the module doc: each agent learns from a ranker of `schedule`, never from
    the open registry. `timesteps` defaults to `fund train ppo`'s. `every` is only recorded with new
    agents (parameters['walk_forward'], with the retraining date; parameters['ranker_id'] names the
    ranker). A strategy that cannot be trained at a date is skipped with the reason in the report.
    """
    strategies = _known(strategies)
    budget = DEFAULT_TIMESTEPS if timesteps is None else timesteps
    if budget < 1:
        raise ValueError(f"timesteps must be >= 1, got {budget}")
    sessions = benchmark_sessions(engine, settings)
    pairs: list[tuple[date, ModelRecord]] = []
    steps: list[RetrainingStep] = []
    retrain = sorted(set(dates))
    for number, day in enumerate(retrain, 1):
        lineage = {"walk_forward": {"retrain_date": day.isoformat(), "every": every, "eval_sessions": eval_sessions}}
        plan = _AgentPlan(engine, settings, schedule, budget, lineage)
        step, found = plan.run(strategies, sessions, day, eval_sessions)
        pairs.extend((day, record) for record in found)
        steps.append(step)
        on_progress(f"agents {number}/{len(retrain)}: {step.describe()}")
    report = TrainingReport(tuple(steps), models="agents")
    logger.info("%s", report.describe())
    return schedule.merged(ModelSchedule.of(pairs)), report


@dataclass
class _AgentPlan:
    """One retraining date's agents: what is needed to find, or train, each strategy's."""

    engine: Engine
    settings: FundSettings
    schedule: ModelSchedule
    timesteps: int
    lineage: Mapping[str, Any]
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    starts: list[date] = field(default_factory=list)
    seconds: float = 0.0

    def run(
        self, strategies: Sequence[str], sessions: Sequence[date], day: date, eval_sessions: int
    ) -> tuple[RetrainingStep, list[ModelRecord]]:
        try:
            window = agent_window(sessions, day, eval_sessions)
        except DataError as exc:
            return RetrainingStep(day, None, None, (), (), dict.fromkeys(strategies, str(exc)), 0.0), []
        records = [record for strategy in strategies if (record := self._ensure(strategy, day, window)) is not None]
        step = RetrainingStep(
            day,
            min(self.starts, default=None),
            window.end if self.starts else None,
            tuple(self.trained),
            tuple(self.reused),
            self.skipped,
            self.seconds,
        )
        return step, records

    def _ensure(self, strategy: str, day: date, window: AgentWindow) -> ModelRecord | None:
        ranker = self._ranker(strategy, day, window.latest_start)
        if ranker is None:
            self.skipped[strategy] = f"no scheduled ranker trained before {window.latest_start} to learn from"
            return None
        windows = plan_windows(
            self.engine, self.settings, strategy, start=None, end=window.end, eval_end=window.eval_end, ranker=ranker
        )
        self.starts.append(windows.start)
        key = agent_training_parameters(self.settings, timesteps=self.timesteps, seed=None, ranker=ranker)
        stored = find_model(
            self.engine,
            AGENT,
            strategy,
            train_start=windows.start,
            train_end=windows.end,
            feature_set=SLOT_FEATURES,
            parameters=key,
        )
        if stored is not None:
            self.reused.append(strategy)
            return stored
        return self._train(strategy, ranker, windows.start, window)

    def _ranker(self, strategy: str, day: date, latest_start: date) -> ModelRecord | None:
        """The newest ranker in force by `day` trained before `latest_start` (module doc)."""
        candidates = self.schedule.models_for(RANKER, strategy, day)
        return next((ranker for ranker in candidates if ranker.train_end < latest_start), None)

    def _train(self, strategy: str, ranker: ModelRecord, start: date, window: AgentWindow) -> ModelRecord | None:
        started = time.perf_counter()
        try:
            training = train_weight_agent(
                self.engine,
                self.settings,
                strategy,
                timesteps=self.timesteps,
                start=start,
                end=window.end,
                eval_end=window.eval_end,
                ranker=ranker,
                extra_parameters=self.lineage,
            )
        except (DataError, ConfigurationError) as exc:
            logger.warning("%s: no agent trained on %s..%s: %s", strategy, start, window.end, exc)
            self.skipped[strategy] = str(exc)
            return None
        finally:
            self.seconds += time.perf_counter() - started
        self.trained.append(strategy)
        return training.record
