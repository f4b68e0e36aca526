"""Training a strategy's weight agent against the database (rl_trading/training.py): the strategy's
spellings, the windows and the ranker they use, and the stored agent with its held-out evaluation."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from autonomous.ranking.training import train_rankers
from rl_trading.ppo import load_agent
from rl_trading.slots import SLOT_FEATURES
from rl_trading.training import (
    EVAL_SESSIONS,
    MIN_TRAIN_SESSIONS,
    AgentTraining,
    agent_training_parameters,
    plan_windows,
    split_at,
    strategy_name,
    train_weight_agent,
)
from tests.rl_trading.builders import random_episode
from trading.errors import ConfigurationError, DataError
from trading.marketdata.calendar import TradingCalendar
from trading.settings import FundSettings, load_settings
from trading.store.models import AGENT, RANKER, ModelRecord, load_artifact, newest_models

STRATEGY = "growth_midcap"
# The synthetic market runs 2012-01-03..2015-01-02 and its universes fill from April 2012.
RANKER_START, RANKER_END = date(2012, 4, 2), date(2012, 8, 31)
AGENT_START, AGENT_END, EVAL_END = date(2012, 9, 4), date(2012, 12, 7), date(2013, 1, 11)
LAST_SESSION = date(2015, 1, 2)
TIMESTEPS = 64
TINY = {
    "FUND_MODELS__RANKER__N_ESTIMATORS": "5",
    "FUND_MODELS__RANKER__FOLDS": "2",
    "FUND_MODELS__AGENT__N_STEPS": "32",
    "FUND_MODELS__AGENT__BATCH_SIZE": "16",
    "FUND_MODELS__AGENT__EPISODE_SESSIONS": "10",
    "FUND_STRATEGY__TOP_N": "5",
}


def tiny_settings() -> FundSettings:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("FUND_CONFIG_FILE", raising=False)
        for name, value in TINY.items():
            patch.setenv(name, value)
        return load_settings(None)


@pytest.fixture(scope="module")
def settings() -> FundSettings:
    return tiny_settings()


@pytest.fixture(scope="module")
def ranker(shared_market: Engine, settings: FundSettings) -> ModelRecord:
    [(_, record)] = train_rankers(shared_market, settings, [STRATEGY], RANKER_START, RANKER_END).trained
    return record


@pytest.fixture(scope="module")
def trained(shared_market: Engine, settings: FundSettings, ranker: ModelRecord) -> AgentTraining:
    return train_weight_agent(
        shared_market, settings, STRATEGY, timesteps=TIMESTEPS, start=AGENT_START, end=AGENT_END, eval_end=EVAL_END
    )


@pytest.mark.parametrize(
    ("style", "market_cap", "name"),
    [
        ("growth", "mid", "growth_midcap"),
        ("growth", "small", "growth_smallcap"),
        ("value", "large", "value_largecap"),
        ("dividend", None, "dividend"),
    ],
)
def test_strategy_name_joins_the_style_and_the_size(style: str, market_cap: str | None, name: str) -> None:
    assert strategy_name(style, market_cap) == name


@pytest.mark.parametrize(
    ("style", "market_cap", "message"),
    [
        ("dividend", "mid", "the dividend strategy spans every size: leave out --market-cap"),
        ("growth", None, "the growth strategies come in large, mid and small cap: give --market-cap"),
        ("value", "huge", "unknown strategy 'value_hugecap'; expected one of growth_largecap"),
    ],
)
def test_strategy_name_refuses_a_size_for_dividend_and_a_missing_or_unknown_size_for_the_others(
    style: str, market_cap: str | None, message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        strategy_name(style, market_cap)
    assert message in str(raised.value)


def test_split_at_trains_on_the_decisions_before_the_end_and_holds_out_the_rest() -> None:
    data = random_episode(sessions_count=10, tickers=4, slots=2, features=2, seed=1)
    train, held_out = split_at(data, data.dates[6])
    assert train.dates == data.dates[:6]
    assert held_out.dates == data.dates[6:]
    assert (held_out.next_returns == data.next_returns[6:]).all()
    for end in (data.dates[1], data.dates[9]):
        with pytest.raises(DataError, match="each needs at least 2"):
            split_at(data, end)


def test_default_windows_hold_out_the_last_252_sessions_and_train_from_after_the_rankers_window(
    shared_market: Engine, settings: FundSettings, ranker: ModelRecord
) -> None:
    windows = plan_windows(shared_market, settings, STRATEGY, start=None, end=None, eval_end=None)
    sessions = [stamp.date() for stamp in TradingCalendar.from_database(shared_market, "SPY").history]
    assert windows.eval_end == LAST_SESSION == sessions[-1]
    assert len([day for day in sessions if windows.end < day <= windows.eval_end]) == EVAL_SESSIONS
    assert windows.end == date(2014, 1, 2)
    assert windows.start == RANKER_END + timedelta(days=1)
    assert windows.ranker == ranker


def test_an_explicit_evaluation_end_moves_the_default_training_end_252_sessions_before_it(
    shared_market: Engine, settings: FundSettings, ranker: ModelRecord
) -> None:
    windows = plan_windows(shared_market, settings, STRATEGY, start=None, end=None, eval_end=date(2013, 12, 31))
    sessions = [stamp.date() for stamp in TradingCalendar.from_database(shared_market, "SPY").history]
    assert len([day for day in sessions if windows.end < day <= date(2013, 12, 31)]) == EVAL_SESSIONS
    assert windows.start == RANKER_END + timedelta(days=1) < windows.end


def test_explicit_windows_are_kept_and_an_evaluation_end_past_the_data_is_cut_to_the_last_session(
    shared_market: Engine, settings: FundSettings, ranker: ModelRecord
) -> None:
    windows = plan_windows(shared_market, settings, STRATEGY, start=AGENT_START, end=AGENT_END, eval_end=EVAL_END)
    assert (windows.start, windows.end, windows.eval_end, windows.ranker) == (AGENT_START, AGENT_END, EVAL_END, ranker)
    late = plan_windows(shared_market, settings, STRATEGY, start=AGENT_START, end=AGENT_END, eval_end=date(2020, 1, 1))
    assert late.eval_end == LAST_SESSION


@pytest.mark.parametrize(
    ("strategy", "start", "end", "eval_end", "error", "message"),
    [
        pytest.param(
            STRATEGY,
            date(2012, 8, 15),
            AGENT_END,
            EVAL_END,
            DataError,
            "no growth_midcap ranker trained before 2012-08-15: train one first (fund train xgboost --models "
            "growth_midcap --end-date <a date before 2012-08-15>)",
            id="ranker-not-before-start",
        ),
        pytest.param(
            "value_midcap",
            None,
            AGENT_END,
            EVAL_END,
            DataError,
            "no value_midcap ranker trained before 2012-12-07: train one first (fund train xgboost --models "
            "value_midcap",
            id="no-ranker-at-all",
        ),
        pytest.param(
            STRATEGY,
            AGENT_START,
            EVAL_END,
            EVAL_END,
            ConfigurationError,
            "the training window must end (2013-01-11) before the evaluation window does (2013-01-11)",
            id="end-on-eval-end",
        ),
        pytest.param(
            STRATEGY,
            AGENT_START,
            date(2013, 2, 1),
            EVAL_END,
            ConfigurationError,
            "the training window must end (2013-02-01) before the evaluation window does (2013-01-11)",
            id="end-after-eval-end",
        ),
        pytest.param(
            STRATEGY,
            date(2012, 11, 1),
            date(2012, 10, 1),
            EVAL_END,
            ConfigurationError,
            "the training window starts (2012-11-01) after it ends (2012-10-01)",
            id="start-after-end",
        ),
        pytest.param(
            STRATEGY,
            None,
            None,
            date(2012, 6, 1),
            DataError,
            "sessions up to 2012-06-01: give --end-date explicitly",
            id="too-short-for-the-default-end",
        ),
    ],
)
def test_windows_that_cannot_be_trained_are_refused_with_what_to_do(
    shared_market: Engine,
    settings: FundSettings,
    ranker: ModelRecord,
    strategy: str,
    start: date | None,
    end: date | None,
    eval_end: date | None,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as raised:
        plan_windows(shared_market, settings, strategy, start=start, end=end, eval_end=eval_end)
    assert message in str(raised.value)


def test_planning_without_market_data_asks_for_an_import(engine: Engine, settings: FundSettings) -> None:
    with pytest.raises(DataError, match="no bars for the benchmark SPY: import market data first"):
        plan_windows(engine, settings, STRATEGY, start=None, end=None, eval_end=None)


def test_a_training_window_shorter_than_the_minimum_is_refused_before_training(
    shared_market: Engine, settings: FundSettings, ranker: ModelRecord
) -> None:
    with pytest.raises(DataError) as raised:
        train_weight_agent(
            shared_market,
            settings,
            STRATEGY,
            timesteps=TIMESTEPS,
            start=AGENT_START,
            end=date(2012, 10, 12),
            eval_end=date(2012, 11, 2),
        )
    assert f"training sessions in {AGENT_START}..2012-10-12; at least {MIN_TRAIN_SESSIONS} are needed" in str(
        raised.value
    )
    assert str(raised.value).startswith(f"{STRATEGY}: ")


def test_the_trained_agent_is_stored_with_its_window_parameters_and_held_out_evaluation(
    shared_market: Engine, settings: FundSettings, ranker: ModelRecord, trained: AgentTraining
) -> None:
    [record] = newest_models(shared_market, AGENT, STRATEGY)
    assert record == trained.record
    assert record.kind == AGENT
    assert (record.train_start, record.train_end) == (AGENT_START, AGENT_END)
    assert tuple(record.feature_set) == SLOT_FEATURES
    parameters = record.parameters
    assert parameters["seed"] == settings.models.agent.seed == trained.trained.seed
    assert parameters["timesteps"] == TIMESTEPS
    assert parameters["slots"] == settings.strategy.top_n == 5
    assert parameters["ranker"] == ranker.label
    assert parameters["n_steps"] == 32
    assert newest_models(shared_market, RANKER, STRATEGY) == [ranker]

    evaluation = record.metrics["evaluation"]
    assert evaluation["sessions"] == trained.eval_sessions == trained.evaluation.sessions > 10
    assert record.metrics["train_sessions"] == trained.train_sessions >= MIN_TRAIN_SESSIONS
    for key in ("sharpe_agent", "sharpe_equal_weight", "mean_reward", "total_return_agent", "turnover_agent"):
        assert math.isfinite(evaluation[key]), key
    assert evaluation["sharpe_agent"] == pytest.approx(trained.evaluation.agent.sharpe)

    agent = load_agent(load_artifact(shared_market, record))
    assert (agent.slots, agent.features_per_slot) == (5, len(SLOT_FEATURES))


def test_every_return_the_agent_learned_from_ends_by_its_training_end_and_every_evaluated_one_starts_there_or_later(
    shared_market: Engine, trained: AgentTraining
) -> None:
    sessions = [stamp.date() for stamp in TradingCalendar.from_database(shared_market, "SPY").history]
    # A decision at session t earns the return from t to t + 1: training decides on the sessions
    # before its end, so its last return ends on the end's close.
    decisions = [day for day in sessions if AGENT_START <= day < AGENT_END]
    assert trained.train_sessions == len(decisions)
    first, last = (date.fromisoformat(day) for day in trained.record.metrics["evaluation"]["window"])
    assert trained.record.train_end == AGENT_END <= first
    assert first == min(day for day in sessions if day >= AGENT_END)
    assert last < EVAL_END
    assert trained.eval_sessions == len([day for day in sessions if first <= day < EVAL_END])


def test_a_pinned_ranker_replaces_the_registrys_newest_and_the_default_start_follows_its_window(
    shared_market: Engine, settings: FundSettings, ranker: ModelRecord
) -> None:
    # Never stored: pinning reads nothing of the registry, and the module's other tests see one ranker.
    older = replace(ranker, id=ranker.id + 1000, version="pinned", train_end=date(2012, 6, 29))

    windows = plan_windows(
        shared_market, settings, STRATEGY, start=None, end=AGENT_END, eval_end=EVAL_END, ranker=older
    )

    assert windows.ranker == older
    assert (windows.start, windows.end, windows.eval_end) == (date(2012, 6, 30), AGENT_END, EVAL_END)
    explicit = plan_windows(
        shared_market, settings, STRATEGY, start=AGENT_START, end=AGENT_END, eval_end=EVAL_END, ranker=older
    )
    assert (explicit.start, explicit.ranker) == (AGENT_START, older)


@pytest.mark.parametrize(
    ("start", "end", "pinned", "message"),
    [
        pytest.param(
            date(2012, 8, 31),
            AGENT_END,
            {},
            "was trained up to 2012-08-31, not before 2012-08-31: the agent would learn from its in-sample predictions",
            id="window-starts-in-the-rankers-window",
        ),
        pytest.param(
            None,
            date(2012, 8, 31),
            {},
            "was trained up to 2012-08-31, not before 2012-08-31: the agent would learn from its in-sample predictions",
            id="default-start-and-end-in-the-rankers-window",
        ),
        pytest.param(
            AGENT_START,
            AGENT_END,
            {"strategy": "dividend"},
            "cannot be pinned as the growth_midcap agent's ranker",
            id="other-strategy",
        ),
        pytest.param(
            AGENT_START,
            AGENT_END,
            {"kind": AGENT},
            "cannot be pinned as the growth_midcap agent's ranker",
            id="an-agent",
        ),
    ],
)
def test_a_pinned_ranker_trained_into_the_agents_window_or_not_the_strategys_ranker_is_refused(
    shared_market: Engine,
    settings: FundSettings,
    ranker: ModelRecord,
    start: date | None,
    end: date,
    pinned: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        plan_windows(
            shared_market, settings, STRATEGY, start=start, end=end, eval_end=EVAL_END, ranker=replace(ranker, **pinned)
        )
    assert message in str(raised.value)


def test_the_stored_agent_names_its_ranker_by_id_and_holds_every_setting_that_shaped_its_training(
    settings: FundSettings, ranker: ModelRecord, trained: AgentTraining
) -> None:
    parameters = trained.record.parameters
    assert parameters["ranker_id"] == ranker.id
    key = json.loads(json.dumps(agent_training_parameters(settings, timesteps=TIMESTEPS, seed=None, ranker=ranker)))
    assert {name: parameters[name] for name in key} == key
    assert parameters["risk_limits"]["max_position_weight"] == settings.risk.max_position_weight
    assert parameters["data"]["universe"] == settings.universe.model_dump(mode="json")


def with_reward(settings: FundSettings, reward: str, eta: float = 0.02) -> FundSettings:
    agent = settings.models.agent.model_copy(update={"reward": reward, "sharpe_eta": eta})
    return settings.model_copy(update={"models": settings.models.model_copy(update={"agent": agent})})


def test_only_a_differential_sharpe_agents_training_key_holds_its_eta_so_stored_agents_of_the_other_rewards_still_match(
    settings: FundSettings,
) -> None:
    ranker = ModelRecord(1, RANKER, STRATEGY, "v", RANKER_START, RANKER_END, [], {}, {}, "", 0, datetime.now(UTC))

    def key(reward: str, eta: float = 0.02) -> dict[str, object]:
        return agent_training_parameters(with_reward(settings, reward, eta), timesteps=64, seed=None, ranker=ranker)

    for reward in ("risk_scaled", "penalised"):
        assert "sharpe_eta" not in key(reward), reward
        assert key(reward, 0.02) == key(reward, 0.3), "eta does not shape their training"
    assert key("differential_sharpe", 0.05)["sharpe_eta"] == 0.05
    assert key("differential_sharpe", 0.05) != key("differential_sharpe", 0.3)
