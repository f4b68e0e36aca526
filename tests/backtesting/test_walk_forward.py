"""Walk-forward models for a backtest (backtesting/walk_forward.py): retraining dates, training windows
that end before each date, reuse of stored rankers and agents, no look-ahead, and the hybrid generator
pinned to the schedule. Rankers are tiny (5 trees, 2 folds) and agents too (64 PPO timesteps, 5 slots)
over the synthetic market of tests/autonomous."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, delete, func, select, text

from autonomous.marketview.database import market_state_on
from autonomous.ranking.dataset import RANKER_FEATURES
from autonomous.ranking.training import ranker_training_parameters
from autonomous.ranking.xgb import booster_to_bytes
from autonomous.selector import StrategyChoice
from backtesting.walk_forward import (
    AgentWindow,
    ModelSchedule,
    TrainingReport,
    agent_window,
    ensure_agents,
    ensure_rankers,
    retrain_dates,
    training_window,
)
from rl_trading.agent_artifact import unpack_policy
from rl_trading.hybrid import HybridGenerator
from rl_trading.slots import SLOT_FEATURES
from rl_trading.training import MIN_TRAIN_SESSIONS, agent_training_parameters
from tests.autonomous import conftest as market_fixtures
from tests.rl_trading.market import FULL_INPUTS, pessimist_booster
from trading.db.schema import ModelArtifact
from trading.errors import DataError
from trading.marketdata.calendar import TradingCalendar
from trading.settings import FundSettings, load_settings
from trading.store.models import AGENT, RANKER, ModelRecord, list_models, load_artifact, save_model

# The synthetic market (three years from 2012-01-03) of the decision-core tests, restored per test.
sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

STRATEGIES = ("growth_midcap", "dividend")
# Three retraining dates 42 sessions apart: 2013-04-01, 2013-05-30 and 2013-07-30.
SPAN = (date(2013, 4, 1), date(2013, 8, 30))
EVERY = 42
ROLLING = 126  # sessions of each training window: half a year keeps the tests fast
# Agents: rankers every 42 sessions from 2012-10-01; with 10 held-out sessions and at least 60 to train
# on, an agent learns from the ranker two dates older than its own (the first two dates get none).
AGENT_SPAN = (date(2012, 10, 1), date(2013, 5, 31))
AGENT_EVERY = 42
AGENT_STRATEGY = "growth_midcap"
EVAL_SESSIONS = 10
TIMESTEPS = 64
TINY_AGENTS = {
    "FUND_MODELS__AGENT__N_STEPS": "32",
    "FUND_MODELS__AGENT__BATCH_SIZE": "16",
    "FUND_MODELS__AGENT__EPISODE_SESSIONS": "10",
    "FUND_STRATEGY__TOP_N": "5",
}


@pytest.fixture
def tiny(market: Engine, monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    monkeypatch.setenv("FUND_MODELS__RANKER__N_ESTIMATORS", "5")
    monkeypatch.setenv("FUND_MODELS__RANKER__FOLDS", "2")
    return load_settings(None)


@pytest.fixture
def tiny_agents(tiny: FundSettings, monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    for name, value in TINY_AGENTS.items():
        monkeypatch.setenv(name, value)
    return load_settings(None)


def benchmark_sessions(engine: Engine) -> list[date]:
    return [stamp.date() for stamp in TradingCalendar.from_database(engine, "SPY").history]


def span_dates(engine: Engine) -> list[date]:
    sessions = [day for day in benchmark_sessions(engine) if SPAN[0] <= day <= SPAN[1]]
    return retrain_dates(sessions, EVERY)


def record(record_id: int, train_end: date, strategy: str = "dividend") -> ModelRecord:
    """A registry row as the schedule sees it (no database needed)."""
    return ModelRecord(
        id=record_id,
        kind=RANKER,
        strategy=strategy,
        version=f"v{record_id}",
        train_start=date(2012, 1, 3),
        train_end=train_end,
        feature_set=list(RANKER_FEATURES),
        parameters={},
        metrics={},
        sha256="0" * 64,
        size_bytes=1,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def model_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ModelArtifact)).scalar_one())


def rewrite_bars_from(engine: Engine, day: date) -> None:
    """Every bar from `day` on changed (prices scaled, unevenly across names), and new fundamentals on it."""
    with engine.begin() as connection:
        changed = connection.execute(
            text(
                "UPDATE price_bars SET open = open * 3, high = high * 3, low = low * 3, "
                "close = close * (CASE WHEN ticker < 'M' THEN 4.5 ELSE 3 END), "
                "adj_close = adj_close * (CASE WHEN ticker < 'M' THEN 4.5 ELSE 3 END), volume = volume * 7 "
                "WHERE date >= :day"
            ),
            {"day": day},
        ).rowcount
        connection.execute(
            text(
                "INSERT INTO fundamentals (ticker, as_of_date, field, value) "
                "SELECT ticker, :day, field, value * 5 FROM fundamentals "
                "WHERE as_of_date = (SELECT MAX(as_of_date) FROM fundamentals WHERE as_of_date < :day)"
            ),
            {"day": day},
        )
    assert changed > 0


def test_retraining_dates_are_the_first_session_and_then_every_nth_session() -> None:
    sessions = [date(2024, 1, day) for day in (2, 3, 4, 5, 8, 9, 10, 11, 12, 16)]
    assert retrain_dates(sessions, 3) == [sessions[0], sessions[3], sessions[6], sessions[9]]
    assert retrain_dates(sessions, 1) == sessions
    assert retrain_dates(sessions, 50) == [sessions[0]]
    assert retrain_dates(list(reversed(sessions)) + sessions[:2], 4) == [sessions[0], sessions[4], sessions[8]]
    assert retrain_dates([], 5) == []


@pytest.mark.parametrize("every", [0, -3, 2.5, True])
def test_a_retraining_interval_below_one_session_is_a_value_error_that_names_it(every: int) -> None:
    with pytest.raises(ValueError, match=r"every \(the sessions between retrainings\) must be an integer >= 1"):
        retrain_dates([date(2024, 1, 2)], every)


def test_a_training_window_ends_at_the_last_session_before_the_retraining_date() -> None:
    sessions = [date(2024, 1, day) for day in (2, 3, 4, 5, 8, 9, 10)]
    # Rolling: the three sessions before the 9th; the retraining date itself is never in the window.
    assert training_window(sessions, date(2024, 1, 9), 3) == (date(2024, 1, 4), date(2024, 1, 8))
    # A retraining date that is not a session: the window still ends at the session before it.
    assert training_window(sessions, date(2024, 1, 7), 2) == (date(2024, 1, 4), date(2024, 1, 5))
    # Expanding, and a rolling window longer than the history: both start at the first session.
    assert training_window(sessions, date(2024, 1, 9), None) == (date(2024, 1, 2), date(2024, 1, 8))
    assert training_window(sessions, date(2024, 1, 9), 100) == (date(2024, 1, 2), date(2024, 1, 8))
    with pytest.raises(DataError, match="no session of the benchmark before 2024-01-02"):
        training_window(sessions, date(2024, 1, 2), None)
    with pytest.raises(ValueError, match="training_sessions must be >= 1"):
        training_window(sessions, date(2024, 1, 9), 0)


def test_the_schedule_gives_the_model_in_force_first_then_the_older_ones_and_none_before_its_first_date() -> None:
    first, second = record(1, date(2013, 3, 28)), record(2, date(2013, 5, 29))
    schedule = ModelSchedule.of([(date(2013, 5, 30), second), (date(2013, 4, 1), first)])

    assert schedule.models_for(RANKER, "dividend", date(2013, 3, 29)) == []
    assert schedule.models_for(RANKER, "dividend", date(2013, 4, 1)) == [first]
    assert schedule.models_for(RANKER, "dividend", date(2013, 5, 29)) == [first]
    assert schedule.models_for(RANKER, "dividend", date(2013, 5, 30)) == [second, first]
    assert schedule.models_for(RANKER, "growth_midcap", date(2014, 1, 2)) == []
    assert schedule.models_for("ppo_agent", "dividend", date(2014, 1, 2)) == []
    assert schedule.model_ids == (1, 2)
    assert schedule.describe() == "xgboost_ranker/dividend: from 2013-04-01 v1 (id 1), from 2013-05-30 v2 (id 2)"
    assert ModelSchedule.of([]).describe() == "no scheduled models"


def test_the_schedule_refuses_a_model_trained_up_to_its_effective_date_or_two_models_on_one_date() -> None:
    with pytest.raises(ValueError, match=r"trained up to 2013-04-01: it may not be in force from 2013-04-01"):
        ModelSchedule.of([(date(2013, 4, 1), record(1, date(2013, 4, 1)))])
    with pytest.raises(ValueError, match="two models scheduled from the same date"):
        ModelSchedule.of(
            [(date(2013, 4, 1), record(1, date(2013, 3, 1))), (date(2013, 4, 1), record(2, date(2013, 3, 2)))]
        )


def test_every_scheduled_ranker_was_trained_on_sessions_strictly_before_its_effective_date(
    market: Engine, tiny: FundSettings
) -> None:
    dates = span_dates(market)
    assert dates == [date(2013, 4, 1), date(2013, 5, 30), date(2013, 7, 30)]
    sessions = benchmark_sessions(market)
    progress: list[str] = []

    schedule, report = ensure_rankers(
        market, tiny, STRATEGIES, dates, training_sessions=ROLLING, every=EVERY, on_progress=progress.append
    )

    assert (report.trained, report.reused, report.skipped) == (6, 0, 0)
    assert [step.retrain_date for step in report.steps] == dates
    assert all(step.seconds > 0 for step in report.steps)
    assert len(progress) == 3
    assert progress[0].startswith("rankers 1/3: 2013-04-01 (2012-09-25..2013-03-28): 2 trained, 0 reused")
    for strategy in STRATEGIES:
        assert schedule.models_for(RANKER, strategy, dates[0] - timedelta(days=1)) == []
        scheduled = schedule.entries[(RANKER, strategy)]
        assert [day for day, _ in scheduled] == dates
        for day, model in scheduled:
            before = [session for session in sessions if session < day]
            assert model.train_end == before[-1] < day
            assert model.train_start == before[-ROLLING]
            assert model.parameters["walk_forward"] == {
                "retrain_date": day.isoformat(),
                "every": EVERY,
                "training_sessions": ROLLING,
            }
            assert schedule.models_for(RANKER, strategy, day)[0] == model
    assert len(schedule.model_ids) == 6


def test_without_a_window_length_the_window_expands_from_the_benchmarks_first_bar(
    market: Engine, tiny: FundSettings
) -> None:
    schedule, report = ensure_rankers(market, tiny, ["dividend"], [date(2013, 4, 1)])

    [(_, model)] = schedule.entries[(RANKER, "dividend")]
    assert (model.train_start, model.train_end) == (date(2012, 1, 3), date(2013, 3, 28))
    assert report.trained == 1


def test_a_second_run_over_the_same_dates_trains_nothing_and_returns_the_same_models(
    market: Engine, tiny: FundSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    dates = span_dates(market)
    first, _ = ensure_rankers(market, tiny, STRATEGIES, dates, training_sessions=ROLLING, every=EVERY)
    stored = model_count(market)

    # Another variant of the backtest, with another retraining interval recorded: the same windows.
    again, report = ensure_rankers(market, tiny, STRATEGIES, dates, training_sessions=ROLLING, every=99)

    assert (report.trained, report.reused, report.seconds) == (0, 6, 0.0)
    assert again == first
    assert again.model_ids == first.model_ids
    assert model_count(market) == stored

    # The last two dates of a later backtest over part of the span: found again too.
    later, partial = ensure_rankers(market, tiny, ["dividend"], dates[1:], training_sessions=ROLLING)
    assert (partial.trained, partial.reused) == (0, 2)
    assert later.entries[(RANKER, "dividend")] == first.entries[(RANKER, "dividend")][1:]


def test_a_ranker_trained_with_other_parameters_is_not_reused(
    market: Engine, tiny: FundSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    [day] = span_dates(market)[:1]
    first, _ = ensure_rankers(market, tiny, ["dividend"], [day], training_sessions=ROLLING)
    [(_, model)] = first.entries[(RANKER, "dividend")]
    # The reuse key is what train_ranker records (plus the rows' settings): if the two drifted apart,
    # nothing would ever be reused.
    key = ranker_training_parameters(tiny.models.ranker, tiny.models.ranker.horizon)
    assert {name: model.parameters[name] for name in key} == key

    monkeypatch.setenv("FUND_MODELS__RANKER__N_ESTIMATORS", "6")
    other_trees, trees_report = ensure_rankers(
        market, load_settings(None), ["dividend"], [day], training_sessions=ROLLING
    )
    monkeypatch.setenv("FUND_MODELS__RANKER__N_ESTIMATORS", "5")
    monkeypatch.setenv("FUND_UNIVERSE__DIVIDEND_TOP_FRACTION", "0.3")
    other_universe, universe_report = ensure_rankers(
        market, load_settings(None), ["dividend"], [day], training_sessions=ROLLING
    )

    assert (trees_report.trained, universe_report.trained) == (1, 1)
    assert len({first.model_ids, other_trees.model_ids, other_universe.model_ids}) == 3


def test_a_stored_ranker_with_the_same_window_and_parameters_but_other_inputs_is_not_reused(
    market: Engine, tiny: FundSettings
) -> None:
    [day] = span_dates(market)[:1]
    first, _ = ensure_rankers(market, tiny, ["dividend"], [day], training_sessions=ROLLING)
    [(_, model)] = first.entries[(RANKER, "dividend")]
    with market.begin() as connection:
        connection.execute(delete(ModelArtifact))
    decoy = save_model(
        market,
        kind=RANKER,
        strategy="dividend",
        train_start=model.train_start,
        train_end=model.train_end,
        feature_set=list(reversed(RANKER_FEATURES)),
        parameters=model.parameters,
        metrics={},
        artifact=booster_to_bytes(pessimist_booster()),
    )

    again, report = ensure_rankers(market, tiny, ["dividend"], [day], training_sessions=ROLLING)

    [(_, retrained)] = again.entries[(RANKER, "dividend")]
    assert report.trained == 1
    assert retrained.id != decoy.id
    assert retrained.sha256 == model.sha256


def test_rewriting_every_bar_from_a_retraining_date_on_leaves_the_models_in_force_up_to_it_unchanged(
    market: Engine, tiny: FundSettings
) -> None:
    dates = span_dates(market)
    rewritten_from = dates[1]
    before, _ = ensure_rankers(market, tiny, ["value_midcap"], dates, training_sessions=ROLLING)
    rewrite_bars_from(market, rewritten_from)
    with market.begin() as connection:
        connection.execute(delete(ModelArtifact))  # a fresh registry: nothing can be found again

    after, report = ensure_rankers(market, tiny, ["value_midcap"], dates, training_sessions=ROLLING)

    assert report.trained == 3
    old, new = before.entries[(RANKER, "value_midcap")], after.entries[(RANKER, "value_midcap")]
    # In force up to and at the rewritten date: trained on the bars before it only, the same bytes.
    assert [model.sha256 for _, model in old[:2]] == [model.sha256 for _, model in new[:2]]
    # The control: the next retraining's window holds rewritten bars, and its model changes.
    assert old[2][1].sha256 != new[2][1].sha256


def test_a_generator_pinned_to_the_schedule_ignores_a_newer_ranker_stored_by_another_command(
    market: Engine, tiny: FundSettings
) -> None:
    day = date(2013, 7, 1)
    schedule, _ = ensure_rankers(market, tiny, ["growth_midcap"], [date(2013, 4, 1)], training_sessions=ROLLING)
    [scheduled] = schedule.models_for(RANKER, "growth_midcap", day)
    # Trained by someone else, later than the scheduled one and still before the day: the open
    # registry's choice, and it would put everything in cash.
    newer = save_model(
        market,
        kind=RANKER,
        strategy="growth_midcap",
        train_start=date(2013, 1, 2),
        train_end=date(2013, 6, 28),
        feature_set=RANKER_FEATURES,
        parameters={"horizon": 21},
        metrics={},
        artifact=booster_to_bytes(pessimist_booster()),
    )
    state = market_state_on(market, tiny, day)
    choice = StrategyChoice("growth_midcap", 0.6, "chosen by the test", "bull_medium_vol", rule_index=None)

    unpinned = HybridGenerator(market, tiny).generate(state, choice, {})
    pinned = HybridGenerator(market, tiny, schedule=schedule).generate(state, choice, {})
    ranker_only = HybridGenerator(market, tiny, schedule=schedule, agents=False).generate(state, choice, {})

    assert unpinned.model_versions["ranker"] == newer.label
    assert dict(unpinned.weights) == {}
    assert pinned.model_versions["ranker"] == ranker_only.model_versions["ranker"] == scheduled.label
    # No agent is scheduled: the hybrid falls back to equal weights, the ranker-equal generator says it chose them.
    assert pinned.generator == "hybrid/equal_weight"
    assert ranker_only.generator == "ranker-equal"
    assert ranker_only.model_versions["agent"] == "not used (ranker-equal)"
    assert dict(ranker_only.weights) == dict(pinned.weights)
    assert ranker_only.weights
    assert set(ranker_only.weights.values()) == {min(tiny.risk.max_position_weight, 1 / len(ranker_only.weights))}
    assert len(list_models(market, kind=RANKER)) == 2


def agent_dates(engine: Engine) -> list[date]:
    """2012-10-01, 2012-12-03, 2013-02-04 and 2013-04-05: an agent needs a ranker two dates older."""
    sessions = [day for day in benchmark_sessions(engine) if AGENT_SPAN[0] <= day <= AGENT_SPAN[1]]
    return retrain_dates(sessions, AGENT_EVERY)


def scheduled_rankers(engine: Engine, settings: FundSettings, dates: list[date]) -> ModelSchedule:
    schedule, report = ensure_rankers(engine, settings, [AGENT_STRATEGY], dates, training_sessions=ROLLING)
    assert report.trained == len(dates)
    return schedule


def ensure_tiny_agents(
    engine: Engine, settings: FundSettings, rankers: ModelSchedule, dates: list[date], **options: Any
) -> tuple[ModelSchedule, TrainingReport]:
    return ensure_agents(
        engine, settings, [AGENT_STRATEGY], rankers, dates, timesteps=TIMESTEPS, eval_sessions=EVAL_SESSIONS, **options
    )


def scheduled_agent(schedule: ModelSchedule) -> tuple[date, ModelRecord]:
    [(day, agent)] = schedule.entries[(AGENT, AGENT_STRATEGY)]
    return day, agent


def policy(engine: Engine, agent: ModelRecord) -> list[np.ndarray]:
    """The agent's policy arrays: what decides its weights (the artifact's bytes also hold a timestamp)."""
    weights = unpack_policy(load_artifact(engine, agent))
    return [array for layer in (*weights.hidden, weights.action) for array in layer]


def same_arrays(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def forget_agents(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(ModelArtifact).where(ModelArtifact.kind == AGENT))


def test_an_agent_window_holds_out_the_last_sessions_before_its_date_and_leaves_the_minimum_to_train_on() -> None:
    sessions = [date(2024, 1, 1) + timedelta(days=day) for day in range(100)]

    window = agent_window(sessions, sessions[80], 5)

    # The last bar read is the session before the date; the five held-out decisions come just before it.
    assert window == AgentWindow(
        latest_start=sessions[74 - MIN_TRAIN_SESSIONS], end=sessions[74], eval_end=sessions[79]
    )
    with pytest.raises(DataError, match=f"65 sessions before {sessions[65]}: an agent needs {MIN_TRAIN_SESSIONS}"):
        agent_window(sessions, sessions[65], 5)
    with pytest.raises(ValueError, match="eval_sessions must be >= 2"):
        agent_window(sessions, sessions[80], 1)


def test_every_scheduled_agent_learned_from_an_older_scheduled_ranker_on_sessions_before_its_date(
    market: Engine, tiny_agents: FundSettings
) -> None:
    dates = agent_dates(market)
    assert dates == [date(2012, 10, 1), date(2012, 12, 3), date(2013, 2, 4), date(2013, 4, 5)]
    rankers = scheduled_rankers(market, tiny_agents, dates)
    sessions = benchmark_sessions(market)
    progress: list[str] = []

    schedule, report = ensure_tiny_agents(
        market, tiny_agents, rankers, dates, every=AGENT_EVERY, on_progress=progress.append
    )

    # The first two dates have no ranker old enough: learning from the one in force would be in-sample.
    assert (report.trained, report.reused, report.skipped) == (2, 0, 2)
    assert report.steps[0].skipped == {AGENT_STRATEGY: "no scheduled ranker trained before 2012-06-20 to learn from"}
    assert progress[2].startswith("agents 3/4: 2013-02-04 (2012-09-29..2013-01-17): 1 trained, 0 reused")
    assert schedule.entries[(RANKER, AGENT_STRATEGY)] == rankers.entries[(RANKER, AGENT_STRATEGY)]
    agents = schedule.entries[(AGENT, AGENT_STRATEGY)]
    assert [day for day, _ in agents] == dates[2:]
    for (day, agent), (_, ranker) in zip(agents, rankers.entries[(RANKER, AGENT_STRATEGY)][:2], strict=True):
        before = [session for session in sessions if session < day]
        # Training decides on the sessions before `train_end`; the held-out decisions earn their
        # returns by the close of the last session before the date, the last bar either reads.
        assert agent.train_end == before[-EVAL_SESSIONS - 1] < day
        first, last = (date.fromisoformat(text) for text in agent.metrics["evaluation"]["window"])
        assert (first, last) == (agent.train_end, before[-2])
        assert agent.metrics["evaluation"]["sessions"] == EVAL_SESSIONS
        assert agent.metrics["train_sessions"] >= MIN_TRAIN_SESSIONS
        # The pinned ranker is the schedule's, two dates older, trained before the agent's window began.
        assert (agent.parameters["ranker"], agent.parameters["ranker_id"]) == (ranker.label, ranker.id)
        assert agent.train_start == ranker.train_end + timedelta(days=1)
        assert ranker in rankers.models_for(RANKER, AGENT_STRATEGY, day)
        assert agent.parameters["walk_forward"] == {
            "retrain_date": day.isoformat(),
            "every": AGENT_EVERY,
            "eval_sessions": EVAL_SESSIONS,
        }
        assert tuple(agent.feature_set) == SLOT_FEATURES
        assert schedule.models_for(AGENT, AGENT_STRATEGY, day)[0] == agent


def test_a_second_call_over_the_same_dates_finds_the_stored_agents_again_and_trains_nothing(
    market: Engine, tiny_agents: FundSettings
) -> None:
    dates = agent_dates(market)
    rankers = scheduled_rankers(market, tiny_agents, dates[:1])
    first, _ = ensure_tiny_agents(market, tiny_agents, rankers, dates[2:3], every=AGENT_EVERY)
    _, agent = scheduled_agent(first)
    stored = model_count(market)

    again, report = ensure_tiny_agents(market, tiny_agents, rankers, dates[2:3], every=99)

    assert (report.trained, report.reused, report.seconds) == (0, 1, 0.0)
    assert again == first
    assert model_count(market) == stored
    # The reuse key is what the training stores: if the two drifted apart, nothing would be found again.
    key = agent_training_parameters(tiny_agents, timesteps=TIMESTEPS, seed=None, ranker=scheduled_agent_ranker(rankers))
    assert {name: agent.parameters[name] for name in key} == json_form(key)


def scheduled_agent_ranker(rankers: ModelSchedule) -> ModelRecord:
    [(_, ranker)] = rankers.entries[(RANKER, AGENT_STRATEGY)]
    return ranker


def json_form(value: dict[str, Any]) -> dict[str, Any]:
    form: dict[str, Any] = json.loads(json.dumps(value))
    return form


def test_rewriting_every_bar_from_an_agents_date_on_leaves_it_unchanged_and_its_last_bar_only_its_evaluation(
    market: Engine, tiny_agents: FundSettings
) -> None:
    dates = agent_dates(market)
    rankers = scheduled_rankers(market, tiny_agents, dates[:1])
    day = dates[2]
    _, original = scheduled_agent(ensure_tiny_agents(market, tiny_agents, rankers, [day])[0])
    original_policy = policy(market, original)

    rewrite_bars_from(market, day)
    forget_agents(market)
    _, unseen = scheduled_agent(ensure_tiny_agents(market, tiny_agents, rankers, [day])[0])

    # Trained and evaluated on bars before the date only: the same policy and the same held-out figures.
    assert same_arrays(policy(market, unseen), original_policy)
    assert unseen.metrics["evaluation"] == original.metrics["evaluation"]

    # The control: the session before the date is the evaluation's last bar, and never a training one.
    last_bar = max(session for session in benchmark_sessions(market) if session < day)
    rewrite_bars_from(market, last_bar)
    forget_agents(market)
    _, control = scheduled_agent(ensure_tiny_agents(market, tiny_agents, rankers, [day])[0])
    assert same_arrays(policy(market, control), original_policy)
    assert control.metrics["evaluation"]["total_return_agent"] != original.metrics["evaluation"]["total_return_agent"]


def test_a_generator_pinned_to_the_merged_schedule_weighs_the_newest_rankers_picks_or_the_scheduled_agents_own(
    market: Engine, tiny_agents: FundSettings
) -> None:
    dates = agent_dates(market)
    rankers = scheduled_rankers(market, tiny_agents, [dates[0], dates[2]])
    schedule, _ = ensure_tiny_agents(market, tiny_agents, rankers, [dates[2]])
    _, agent = scheduled_agent(schedule)
    day = date(2013, 2, 15)
    # Stored by someone else, trained later than the scheduled agent and still before the day: the
    # open registry's choice.
    newer = save_model(
        market,
        kind=AGENT,
        strategy=AGENT_STRATEGY,
        train_start=agent.train_start,
        train_end=date(2013, 2, 1),
        feature_set=SLOT_FEATURES,
        parameters=agent.parameters,
        metrics={},
        artifact=load_artifact(market, agent),
    )
    state = market_state_on(market, tiny_agents, day)
    choice = StrategyChoice(AGENT_STRATEGY, 0.6, "chosen by the test", "bull_medium_vol", rule_index=None)

    agent_settings = tiny_agents.models.agent.model_copy(update={"ranker_pairing": "paired"})
    paired = tiny_agents.model_copy(update={"models": tiny_agents.models.model_copy(update={"agent": agent_settings})})
    pinned = HybridGenerator(market, tiny_agents, schedule=schedule).generate(state, choice, {})
    pinned_paired = HybridGenerator(market, paired, schedule=schedule).generate(state, choice, {})
    unpinned = HybridGenerator(market, tiny_agents).generate(state, choice, {})

    [in_force, older] = schedule.models_for(RANKER, AGENT_STRATEGY, day)
    for portfolio, ranker in ((pinned, in_force), (pinned_paired, older)):
        assert portfolio.generator == "hybrid"
        assert portfolio.weights
        assert dict(portfolio.model_versions) == {
            "ranker": ranker.label,
            "ranker_inputs": FULL_INPUTS,
            "agent": agent.label,
            "agent_trained_on_ranker": older.label,
        }
    assert unpinned.model_versions["agent"] == newer.label != agent.label
