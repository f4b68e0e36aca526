"""The hybrid generator (rl_trading/hybrid.py) at one decision date: which stored models it may use,
what it does with them, and the fallbacks it states when it cannot use them.

The agent is trained once (on the first backend to need it) on a ranker fitted in memory; both are
stored again in each test's model table, so every test chooses exactly which models exist."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, get_args

import pytest
from sqlalchemy import Engine, create_engine, delete, update

from autonomous.cli.assembly import choose_generator
from autonomous.factor_portfolio import FACTORS, factor_generator_name
from autonomous.generators import FactorGenerator, MockGenerator
from autonomous.market_state import MarketState, regime_on
from autonomous.marketview.database import market_state_on
from autonomous.mock_portfolio import defensive_portfolio, mock_portfolio
from autonomous.ranking.dataset import ranker_inputs
from autonomous.ranking.xgb import RankerModel, booster_from_bytes, booster_to_bytes, predict
from autonomous.selector import StrategyChoice, select_strategy
from backtesting.walk_forward import ModelSchedule
from rl_trading.hybrid import HybridGenerator, SlotBand, agent_weights
from rl_trading.market_features import market_features_of_snapshot
from rl_trading.ppo import load_agent
from rl_trading.training import agent_training_parameters, train_weight_agent
from tests.rl_trading.market import (
    FULL_INPUTS,
    low_volatility_booster,
    momentum_booster,
    pessimist_booster,
    ranking_booster,
    store_momentum_ranker,
    versions_with_agent,
)
from trading.db.schema import ModelArtifact
from trading.settings import DEFENSIVE, FundSettings, GeneratorName, load_settings
from trading.store.models import AGENT, RANKER, ModelKind, ModelRecord, load_artifact, save_model, sha256_of

STRATEGY = "growth_midcap"
TOP_N = 4
# The default rule table picks growth_midcap on DAY (bull market, medium volatility) and the
# defensive mode on DEFENSIVE_DAY (benchmark under its SMA200); regimes exist from 2013-01-25.
DAY = date(2013, 5, 20)
DEFENSIVE_DAY = date(2013, 3, 25)
RANKER_START, RANKER_END = date(2012, 4, 2), date(2012, 8, 31)
AGENT_START, AGENT_END, EVAL_END = date(2012, 9, 4), date(2012, 12, 7), date(2013, 1, 11)
TINY = {
    "FUND_REGIME__VOLATILITY_LOOKBACK_SESSIONS": "300",
    "FUND_MODELS__RANKER__N_ESTIMATORS": "5",
    "FUND_MODELS__RANKER__FOLDS": "2",
    "FUND_MODELS__AGENT__N_STEPS": "32",
    "FUND_MODELS__AGENT__BATCH_SIZE": "16",
    "FUND_MODELS__AGENT__EPISODE_SESSIONS": "10",
    "FUND_STRATEGY__TOP_N": str(TOP_N),
}


@dataclass(frozen=True)
class StoredModel:
    """A trained model as save_model takes it, to be stored again in another database or window."""

    kind: ModelKind
    strategy: str
    train_start: date
    train_end: date
    feature_set: list[str]
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    artifact: bytes

    @classmethod
    def of(cls, engine: Engine, record: ModelRecord) -> StoredModel:
        kind: ModelKind = RANKER if record.kind == RANKER else AGENT
        return cls(
            kind,
            record.strategy,
            record.train_start,
            record.train_end,
            record.feature_set,
            record.parameters,
            record.metrics,
            load_artifact(engine, record),
        )

    def store(self, engine: Engine, **changes: Any) -> ModelRecord:
        model = replace(self, **changes)
        return save_model(
            engine,
            kind=model.kind,
            strategy=model.strategy,
            train_start=model.train_start,
            train_end=model.train_end,
            feature_set=model.feature_set,
            parameters=model.parameters,
            metrics=model.metrics,
            artifact=model.artifact,
        )


@dataclass(frozen=True)
class Trained:
    ranker: StoredModel
    agent: StoredModel


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    for name, value in TINY.items():
        monkeypatch.setenv(name, value)
    return load_settings(None)


def ranking_with(settings: FundSettings, ranker: str) -> FundSettings:
    """`settings` with models.agent.ranker_pairing set: "paired" or "newest" (the default)."""
    agent = settings.models.agent.model_copy(update={"ranker_pairing": ranker})
    return settings.model_copy(update={"models": settings.models.model_copy(update={"agent": agent})})


def clear_models(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(ModelArtifact))


@pytest.fixture
def db(shared_market: Engine) -> Engine:
    """The shared market with an empty model table."""
    clear_models(shared_market)
    return shared_market


@pytest.fixture(scope="module")
def trained_once() -> dict[str, Trained]:
    return {}


@pytest.fixture
def trained(db: Engine, settings: FundSettings, trained_once: dict[str, Trained]) -> Trained:
    if not trained_once:
        # The ranker's quality does not matter here, only that it leaves some names out: a booster
        # fitted in memory (tests/rl_trading/test_episode_builder.py), stored as a ranker.
        ranker = store_momentum_ranker(db, STRATEGY, RANKER_START, RANKER_END)
        agent = train_weight_agent(
            db, settings, STRATEGY, timesteps=64, start=AGENT_START, end=AGENT_END, eval_end=EVAL_END, seed=3
        ).record
        trained_once["models"] = Trained(StoredModel.of(db, ranker), StoredModel.of(db, agent))
        clear_models(db)
    return trained_once["models"]


def decision(engine: Engine, settings: FundSettings, day: date) -> tuple[MarketState, StrategyChoice]:
    """The market state and the strategy choice of `day`, as the daily run builds them."""
    state = market_state_on(engine, settings, day)
    available = {name for name, universe in state.universes.items() if universe.available}
    return state, select_strategy(regime_on(engine, settings, day), settings.strategy, available=available)


def positive_top(engine: Engine, ranker: ModelRecord, state: MarketState, top_n: int) -> list[str]:
    """The universe's names with a positive prediction of `ranker`, best first: at most top_n."""
    universe = state.universes[STRATEGY]
    inputs = ranker_inputs(state.cross_section, state.stocks)
    scores = predict(booster_from_bytes(load_artifact(engine, ranker)), inputs.loc[list(universe.tickers)])
    assert (scores <= 0).any(), "the test needs names the ranker leaves out"
    return sorted(scores.index[scores > 0], key=lambda ticker: (-scores[ticker], ticker))[:top_n]


def pessimist_bytes() -> bytes:
    return booster_to_bytes(pessimist_booster())


def test_the_command_chooses_the_generator_the_settings_name_unless_the_mock_is_asked_for(
    settings: FundSettings,
) -> None:
    engine = create_engine("sqlite://")  # never connected: the generators read models only when generating
    default = choose_generator(engine, settings, use_mock=False)
    assert settings.models.generator == "mock"  # what the out-of-sample evidence supports (README)
    assert isinstance(default.generator, MockGenerator)
    assert default.note == "mock generator (models.generator)"
    hybrid_settings = settings.model_copy(update={"models": settings.models.model_copy(update={"generator": "hybrid"})})
    chosen = choose_generator(engine, hybrid_settings, use_mock=False)
    assert isinstance(chosen.generator, HybridGenerator)
    assert chosen.generator.name == "hybrid"
    assert chosen.note == "model generator hybrid"
    equal = settings.model_copy(update={"models": settings.models.model_copy(update={"generator": "ranker-equal"})})
    assert choose_generator(engine, equal, use_mock=False).generator.name == "ranker-equal"
    factor = settings.model_copy(update={"models": settings.models.model_copy(update={"generator": "factor-low_vol"})})
    assert isinstance(choose_generator(engine, factor, use_mock=False).generator, FactorGenerator)
    mock = choose_generator(engine, hybrid_settings, use_mock=True)
    assert isinstance(mock.generator, MockGenerator)
    assert mock.note == "mock generator (--use-mock)"


def test_every_generator_the_settings_may_name_is_one_the_command_builds() -> None:
    factors = {factor_generator_name(factor) for factor in FACTORS}
    assert set(get_args(GeneratorName)) == {"mock", "ranker-equal", "hybrid", *factors}


def test_without_a_ranker_the_generator_gives_the_mock_portfolio_and_says_so(
    db: Engine, settings: FundSettings
) -> None:
    state, choice = decision(db, settings, DAY)
    assert choice.strategy == STRATEGY

    portfolio = HybridGenerator(db, settings).generate(state, choice, {})

    expected = mock_portfolio(state.universes[STRATEGY], TOP_N)
    assert expected.weights
    assert dict(portfolio.weights) == dict(expected.weights)
    assert portfolio.generator == "hybrid/mock"
    missing = f"no xgboost_ranker for {STRATEGY} trained before {DAY}"
    assert portfolio.reason == f"{missing}: mock generator instead: {expected.reason}"
    assert dict(portfolio.model_versions) == {"ranker": f"none ({missing})", "agent": "not used"}


def test_with_a_ranker_and_no_agent_the_top_n_positive_names_of_the_universe_get_equal_weights(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker = trained.ranker.store(db)
    state, choice = decision(db, settings, DAY)

    portfolio = HybridGenerator(db, settings).generate(state, choice, {})

    names = positive_top(db, ranker, state, TOP_N)
    assert len(names) == TOP_N
    # Equal weights, capped at the per-position limit (four at 25% would break the 10% limit).
    assert settings.risk.max_position_weight == 0.1
    assert dict(portfolio.weights) == dict.fromkeys(names, 0.1)
    assert portfolio.generator == "hybrid/equal_weight"
    assert portfolio.reason.startswith(f"the ranker picked {len(names)} of ")
    assert portfolio.reason.endswith(": equal weights, capped at the 10% position limit")
    assert dict(portfolio.model_versions) == {
        "ranker": ranker.label,
        "ranker_inputs": FULL_INPUTS,
        "agent": f"none (no ppo_agent for {STRATEGY} trained before {DAY}): equal weights",
    }


def test_with_a_ranker_and_an_agent_the_agent_weights_only_the_selected_names(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker, agent = trained.ranker.store(db), trained.agent.store(db)
    state, choice = decision(db, settings, DAY)
    names = positive_top(db, ranker, state, TOP_N)
    holdings = {names[0]: 0.08, "GLD": 0.05, "NOT_SELECTED": 0.1}

    generator = HybridGenerator(db, settings)
    for held in ({}, holdings):
        portfolio = generator.generate(state, choice, held)
        assert portfolio.generator == "hybrid"
        assert dict(portfolio.model_versions) == versions_with_agent(ranker.label, agent)
        assert set(portfolio.weights) <= set(names)
        assert all(weight > 0 for weight in portfolio.weights.values())
        assert sum(portfolio.weights.values()) <= 1.0 + 1e-9
        assert "the PPO agent set their weights" in portfolio.reason
        inputs = ranker_inputs(state.cross_section, state.stocks)
        members = [ticker for ticker in state.universes[STRATEGY].tickers if ticker in inputs.index]
        scores = predict(booster_from_bytes(load_artifact(db, ranker)), inputs.loc[members])
        assert state.regime is not None
        band = SlotBand(TOP_N, settings.models.agent.slot_band)
        market = market_features_of_snapshot(state.regime)
        expected = agent_weights(load_agent(load_artifact(db, agent)), scores, inputs, held, band, market)
        assert dict(portfolio.weights) == pytest.approx(expected)


def test_an_agent_stored_with_the_old_observation_layout_is_refused_for_equal_weights_with_the_reason(
    db: Engine, settings: FundSettings, trained: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    ranker = trained.ranker.store(db)
    agent = trained.agent.store(db, artifact=old_layout(trained.agent.artifact))
    state, choice = decision(db, settings, DAY)

    with caplog.at_level(logging.WARNING, logger="rl_trading.hybrid"):
        portfolio = HybridGenerator(db, settings).generate(state, choice, {})

    assert portfolio.generator == "hybrid/equal_weight"
    assert portfolio.model_versions["ranker"] == ranker.label
    assert "reads observation layout 1, and this version builds layout 2" in portfolio.model_versions["agent"]
    assert f"skipping {agent.label}" in caplog.text


def old_layout(artifact: bytes) -> bytes:
    """The artifact as an agent of observation layout 1 was stored: its meta records no layout."""
    copy = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(artifact)) as source, zipfile.ZipFile(copy, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "policy/meta.json":
                data = json.dumps({k: v for k, v in json.loads(data).items() if k != "observation"}).encode()
            target.writestr(name, data)
    return copy.getvalue()


def test_when_no_name_has_a_positive_prediction_the_portfolio_is_all_cash(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker = trained.ranker.store(db, artifact=pessimist_bytes())
    trained.agent.store(db)
    state, choice = decision(db, settings, DAY)

    portfolio = HybridGenerator(db, settings).generate(state, choice, {})

    assert dict(portfolio.weights) == {}
    assert portfolio.generator == "hybrid"
    assert portfolio.reason.startswith("all cash: no name of the ")
    assert dict(portfolio.model_versions) == {"ranker": ranker.label, "ranker_inputs": FULL_INPUTS, "agent": "not used"}


def test_a_ranking_model_picks_the_top_n_names_by_score_though_every_score_is_negative_and_says_so(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker = trained.ranker.store(db, artifact=booster_to_bytes(ranking_booster()))
    state, choice = decision(db, settings, DAY)

    portfolio = HybridGenerator(db, settings, agents=False).generate(state, choice, {})

    universe = state.universes[STRATEGY]
    inputs = ranker_inputs(state.cross_section, state.stocks)
    scores = predict(booster_from_bytes(load_artifact(db, ranker)), inputs.loc[list(universe.tickers)])
    assert (scores < 0).all(), "a regression's picks would be all cash"
    top = sorted(scores.index, key=lambda ticker: (-scores[ticker], ticker))[:TOP_N]
    assert dict(portfolio.weights) == dict.fromkeys(top, 0.1)
    assert portfolio.generator == "ranker-equal"
    assert portfolio.reason.startswith(
        f"the ranker (rank:pairwise, a ranking objective whose score has no sign) picked the top {TOP_N} of "
    )


def test_an_ensemble_stored_as_one_artifact_picks_the_top_names_of_its_members_mean_prediction(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    members = (momentum_booster(), low_volatility_booster())
    ensemble = booster_to_bytes(RankerModel(members, "reg:squarederror"))
    ranker = trained.ranker.store(db, artifact=ensemble)
    state, choice = decision(db, settings, DAY)

    portfolio = HybridGenerator(db, settings, agents=False).generate(state, choice, {})

    universe = state.universes[STRATEGY]
    inputs = ranker_inputs(state.cross_section, state.stocks).loc[list(universe.tickers)]
    mean = (predict(members[0], inputs) + predict(members[1], inputs)) / 2
    assert ensemble.startswith(b"PK")
    names = positive_top(db, ranker, state, TOP_N)
    assert len(names) >= 2, "the test needs picks"
    assert names == sorted(mean.index[mean > 0], key=lambda ticker: (-mean[ticker], ticker))[:TOP_N]
    assert dict(portfolio.weights) == dict.fromkeys(names, 0.1)


def test_models_trained_up_to_or_after_the_decision_date_are_not_used_the_older_ones_or_the_fallback_are(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker, agent = trained.ranker.store(db), trained.agent.store(db)
    # A ranker that saw the decision date (and would put everything in cash) and an agent trained
    # until after it.
    trained.ranker.store(db, train_end=DAY, artifact=pessimist_bytes())
    trained.agent.store(db, train_end=DAY + timedelta(days=30))
    state, choice = decision(db, settings, DAY)

    portfolio = HybridGenerator(db, settings).generate(state, choice, {})
    assert dict(portfolio.model_versions) == versions_with_agent(ranker.label, agent)
    assert portfolio.weights

    with db.begin() as connection:
        connection.execute(delete(ModelArtifact).where(ModelArtifact.id.in_([ranker.id, agent.id])))
    fallback = HybridGenerator(db, settings).generate(state, choice, {})
    assert fallback.generator == "hybrid/mock"
    assert f"no xgboost_ranker for {STRATEGY} trained before {DAY}: mock generator instead" in fallback.reason


@pytest.mark.parametrize("rehashed", [False, True], ids=["bytes-changed", "not-a-model-with-a-matching-hash"])
def test_a_corrupted_artifact_is_skipped_for_the_next_older_valid_model_or_the_fallback(
    db: Engine, settings: FundSettings, trained: Trained, caplog: pytest.LogCaptureFixture, rehashed: bool
) -> None:
    older, agent = trained.ranker.store(db), trained.agent.store(db)
    newer = trained.ranker.store(db, train_end=date(2012, 12, 31))
    state, choice = decision(db, settings, DAY)

    def corrupt(record: ModelRecord) -> None:
        garbage = b"\x00 not a model " + record.sha256.encode()
        values: dict[str, Any] = {"artifact": garbage}
        if rehashed:
            values["sha256"] = sha256_of(garbage)
        with db.begin() as connection:
            connection.execute(update(ModelArtifact).where(ModelArtifact.id == record.id).values(**values))

    # Which ranker comes first is the newest lookup's order; the paired lookup would not look at `newer`.
    settings = ranking_with(settings, "newest")
    corrupt(newer)
    with caplog.at_level(logging.WARNING, logger="rl_trading.hybrid"):
        portfolio = HybridGenerator(db, settings).generate(state, choice, {})
    assert dict(portfolio.model_versions) == versions_with_agent(older.label, agent)
    assert f"skipping {newer.label}" in caplog.text

    corrupt(agent)
    equal = HybridGenerator(db, settings).generate(state, choice, {})
    assert equal.generator == "hybrid/equal_weight"
    assert equal.model_versions["ranker"] == older.label
    assert equal.model_versions["agent"].startswith(f"none (no valid ppo_agent for {STRATEGY} ({agent.version}: ")

    corrupt(older)
    fallback = HybridGenerator(db, settings).generate(state, choice, {})
    assert fallback.generator == "hybrid/mock"
    assert fallback.reason.startswith(f"no valid xgboost_ranker for {STRATEGY} ({newer.version}: ")
    assert f"; {older.version}: " in fallback.reason
    assert dict(fallback.weights) == dict(mock_portfolio(state.universes[STRATEGY], TOP_N).weights)


def test_an_agent_with_another_slot_count_than_top_n_is_skipped_for_equal_weights(
    db: Engine, settings: FundSettings, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUND_STRATEGY__TOP_N", "3")
    monkeypatch.setenv("FUND_RISK__MAX_POSITION_WEIGHT", "0.34")
    three = load_settings(None)
    ranker, agent = trained.ranker.store(db), trained.agent.store(db)
    state, choice = decision(db, three, DAY)

    portfolio = HybridGenerator(db, three).generate(state, choice, {})

    names = positive_top(db, ranker, state, 3)
    assert len(names) == 3
    # Equal weights, under a 34% position limit.
    assert dict(portfolio.weights) == pytest.approx(dict.fromkeys(names, 1 / 3))
    assert portfolio.generator == "hybrid/equal_weight"
    assert portfolio.reason.endswith("it has 4 slots, and strategy.top_n is 3): equal weights")
    assert portfolio.model_versions["agent"] == (
        f"none (no valid ppo_agent for {STRATEGY} ({agent.version}: it has 4 slots, and strategy.top_n is 3)): "
        "equal weights"
    )


def test_the_defensive_choice_gives_the_defensive_portfolio_whatever_models_are_stored(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    trained.ranker.store(db)
    trained.agent.store(db)
    state, choice = decision(db, settings, DEFENSIVE_DAY)
    assert choice.strategy == DEFENSIVE

    portfolio = HybridGenerator(db, settings).generate(state, choice, {"GLD": 0.1})

    assert portfolio == defensive_portfolio(state.close, safe_haven=state.safe_haven, risk=settings.risk)
    assert portfolio == MockGenerator(settings).generate(state, choice, {})
    assert list(portfolio.weights) == [state.safe_haven] == ["GLD"]


def test_a_generator_pinned_to_a_schedule_uses_its_models_not_newer_ones_in_the_table(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker, agent = trained.ranker.store(db), trained.agent.store(db)
    # Another command's models, newer and still trained before the day: the open table's choice.
    newer_ranker = trained.ranker.store(db, train_end=date(2013, 4, 30), artifact=pessimist_bytes())
    trained.agent.store(db, train_end=date(2013, 4, 30))
    schedule = ModelSchedule.of([(date(2013, 1, 2), ranker), (date(2013, 1, 2), agent)])
    settings = ranking_with(settings, "newest")  # the newer agent would otherwise bring its own ranker
    state, choice = decision(db, settings, DAY)

    pinned = HybridGenerator(db, settings, schedule=schedule).generate(state, choice, {})
    unpinned = HybridGenerator(db, settings).generate(state, choice, {})

    assert pinned.generator == "hybrid"
    assert dict(pinned.model_versions) == versions_with_agent(ranker.label, agent)
    assert set(pinned.weights) <= set(positive_top(db, ranker, state, TOP_N))
    assert pinned.weights
    assert unpinned.model_versions["ranker"] == newer_ranker.label
    assert dict(unpinned.weights) == {}


def test_the_ranker_equal_generator_gives_the_rankers_picks_equal_weights_even_with_an_agent_stored(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker = trained.ranker.store(db)
    trained.agent.store(db)
    state, choice = decision(db, settings, DAY)

    generator = HybridGenerator(db, settings, agents=False)
    portfolio = generator.generate(state, choice, {})

    names = positive_top(db, ranker, state, TOP_N)
    assert generator.name == portfolio.generator == "ranker-equal"
    # Equal weights, capped at the 10% position limit as on the hybrid's no-agent path.
    assert dict(portfolio.weights) == dict.fromkeys(names, 0.1)
    assert portfolio.reason.startswith(f"the ranker picked {len(names)} of ")
    assert portfolio.reason.endswith(
        "; equal weights, capped at the 10% position limit (the ranker-equal generator uses no agent)"
    )
    assert dict(portfolio.model_versions) == {
        "ranker": ranker.label,
        "ranker_inputs": FULL_INPUTS,
        "agent": "not used (ranker-equal)",
    }


def test_a_schedule_with_no_ranker_in_force_yet_gives_the_mock_portfolio_and_says_so(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker = trained.ranker.store(db)  # in the table, trained before the day, but scheduled from later
    schedule = ModelSchedule.of([(DAY + timedelta(days=1), ranker)])
    state, choice = decision(db, settings, DAY)

    for agents, name in ((True, "hybrid"), (False, "ranker-equal")):
        portfolio = HybridGenerator(db, settings, schedule=schedule, agents=agents).generate(state, choice, {})
        assert portfolio.generator == f"{name}/mock"
        assert portfolio.reason.startswith(f"no xgboost_ranker for {STRATEGY} scheduled in force on {DAY}: mock")
        assert dict(portfolio.weights) == dict(mock_portfolio(state.universes[STRATEGY], TOP_N).weights)


@dataclass(frozen=True)
class OfferingAnything:
    """A model source that ignores the day: the generator must still refuse what the day may not see."""

    models: Sequence[ModelRecord]

    def models_for(self, kind: ModelKind, strategy: str, day: date) -> Sequence[ModelRecord]:
        return [model for model in self.models if model.kind == kind and model.strategy == strategy]


def test_a_model_trained_up_to_the_decision_date_is_refused_whatever_source_offers_it(
    db: Engine, settings: FundSettings, trained: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    saw_the_day = trained.ranker.store(db, train_end=DAY)
    older = trained.ranker.store(db)
    state, choice = decision(db, settings, DAY)

    with caplog.at_level(logging.WARNING, logger="rl_trading.hybrid"):
        portfolio = HybridGenerator(db, settings, schedule=OfferingAnything([saw_the_day, older])).generate(
            state, choice, {}
        )

    assert portfolio.model_versions["ranker"] == older.label
    assert f"skipping {saw_the_day.label}: it was trained up to {DAY}, which a decision on {DAY} may not see" in (
        caplog.text
    )


def test_the_agent_weighs_the_newest_rankers_picks_unless_the_settings_pair_it_with_the_one_it_learned_on(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    own, agent = trained.ranker.store(db), trained.agent.store(db)
    # A ranker trained after the agent's, which would put the whole fund in cash.
    newer = trained.ranker.store(db, train_end=date(2013, 4, 30), artifact=pessimist_bytes())
    state, choice = decision(db, settings, DAY)
    assert agent.parameters["ranker"] == own.label

    paired = HybridGenerator(db, ranking_with(settings, "paired")).generate(state, choice, {})
    newest = HybridGenerator(db, settings).generate(state, choice, {})

    assert settings.models.agent.ranker_pairing == "newest"
    assert paired.generator == "hybrid"
    assert dict(paired.model_versions) == versions_with_agent(own.label, agent)
    assert paired.weights
    assert set(paired.weights) <= set(positive_top(db, own, state, TOP_N))
    assert newest.model_versions["ranker"] == newer.label
    assert dict(newest.weights) == {}


def test_a_paired_agent_whose_own_ranker_is_gone_is_not_used_and_the_newest_rankers_picks_get_equal_weights(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    settings = ranking_with(settings, "paired")
    agent = trained.agent.store(db)
    # Another ranker of the strategy, with another window than the one the agent learned on.
    other = trained.ranker.store(db, train_end=date(2012, 12, 31))
    state, choice = decision(db, settings, DAY)

    portfolio = HybridGenerator(db, settings).generate(state, choice, {})

    names = positive_top(db, other, state, TOP_N)
    assert portfolio.generator == "hybrid/equal_weight"
    assert dict(portfolio.weights) == dict.fromkeys(names, 0.1)
    assert portfolio.model_versions["ranker"] == other.label
    expected = f"{agent.label} is not used: the ranker it learned on, {agent.parameters['ranker']}, is not stored"
    assert portfolio.model_versions["agent"] == f"none ({expected}): equal weights"
    assert f"; {expected}: equal weights" in portfolio.reason


def test_how_an_agent_is_paired_with_a_ranker_is_not_part_of_its_training_key(
    settings: FundSettings, trained: Trained, db: Engine
) -> None:
    ranker = trained.ranker.store(db)
    keys = [
        agent_training_parameters(ranking_with(settings, pairing), timesteps=64, seed=None, ranker=ranker)
        for pairing in ("paired", "newest")
    ]
    assert keys[0] == keys[1]
    assert keys[0]["ranker"] == ranker.label
    assert "ranker_pairing" not in keys[0]


def test_the_ranker_equal_generator_keeps_a_held_positive_name_within_the_holding_band(
    db: Engine, settings: FundSettings, trained: Trained
) -> None:
    ranker = trained.ranker.store(db)
    state, choice = decision(db, settings, DAY)
    ranked = positive_top(db, ranker, state, TOP_N)
    assert len(ranked) == TOP_N, "the test needs four positive names: a top 2 and a band of 4"
    held = {ranked[2]: 0.1, "GLD": 0.1}  # the first name below the top 2, and one the ranking never holds

    def two(band: int) -> FundSettings:
        return settings.model_copy(
            update={"strategy": settings.strategy.model_copy(update={"top_n": 2, "hold_band": band})}
        )

    portfolio = HybridGenerator(db, two(2), agents=False).generate(state, choice, held)
    today = HybridGenerator(db, two(1), agents=False).generate(state, choice, held)

    assert list(portfolio.weights) == [ranked[0], ranked[2]]
    assert "1 of the top 2, and 1 held name ranked within the first 4 that the holding band kept" in portfolio.reason
    assert list(today.weights) == ranked[:2]
