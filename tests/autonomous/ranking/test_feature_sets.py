"""Feature-set variants of the rankers: which inputs the data has, which variant is trained for it, and
which stored ranker a decision uses when volume or dividends are missing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from autonomous.features import FEATURE_NAMES
from autonomous.market_state import MarketState
from autonomous.marketview.database import market_state_on
from autonomous.ranking.dataset import RANKER_FEATURES, load_ranker_data
from autonomous.ranking.feature_sets import (
    AUTO,
    DIVIDENDS,
    FULL,
    NO_DIVIDENDS,
    NO_VOLUME,
    OPTIONAL_GROUPS,
    PRICES_ONLY,
    VOLUME,
    data_groups_note,
    feature_set_of,
    matching_set,
    parse_feature_sets,
    present_groups,
    resolve_feature_sets,
)
from autonomous.ranking.training import evaluate_rankers, store_ranker, train_rankers
from autonomous.ranking.xgb import fit_booster, predict, train_ranker
from autonomous.selector import StrategyChoice
from rl_trading.hybrid import RANKER_EQUAL_GENERATOR, HybridGenerator
from tests.autonomous.ranking.conftest import run_fund
from trading.errors import ConfigurationError
from trading.settings import FundSettings, load_settings
from trading.store.models import RANKER, list_models

START, END = date(2012, 6, 1), date(2012, 12, 31)
DAY = date(2013, 5, 20)
STRATEGY = "growth_midcap"
VOLUME_AND_DIVIDEND_FEATURES = ("volume_z_20", "dollar_volume_20", "size", "div_yield_ttm", "div_stability")


def inputs_with(values: dict[str, list[float]], rows: int = 4) -> pd.DataFrame:
    frame = pd.DataFrame(0.5, index=range(rows), columns=list(RANKER_FEATURES))
    for column, column_values in values.items():
        frame[column] = column_values
    return frame


def test_a_group_is_present_when_its_indicator_has_a_value_for_at_least_half_the_names() -> None:
    assert present_groups(inputs_with({})) == {VOLUME, DIVIDENDS}
    assert data_groups_note({VOLUME, DIVIDENDS}) == "the data has volume and dividends"
    assert data_groups_note({DIVIDENDS}) == "the data has dividends, not volume"
    assert data_groups_note(set()) == "the data has no volume or dividends"
    nan = np.nan
    no_volume = inputs_with({"dollar_volume_20_rank": [nan, nan, nan, 0.5]})
    assert present_groups(no_volume) == {DIVIDENDS}
    # Half the names is enough: new listings lack the history, the data does not lack the group.
    half = inputs_with({"div_yield_ttm_rank": [nan, nan, 0.2, 0.5], "div_stability_rank": [nan] * 4})
    assert present_groups(half) == {VOLUME, DIVIDENDS}
    assert present_groups(inputs_with({"dollar_volume_20_rank": [nan] * 4, "div_yield_ttm_rank": [nan] * 4})) == set()
    assert present_groups(inputs_with({}).iloc[:0]) == set()


def test_each_variant_reads_the_price_inputs_and_only_the_groups_it_keeps() -> None:
    assert FULL.features == RANKER_FEATURES
    for variant in (NO_DIVIDENDS, NO_VOLUME, PRICES_ONLY):
        for group, features in OPTIONAL_GROUPS.items():
            assert (group in variant.groups) == all(feature in variant.features for feature in features)
        assert [f for f in RANKER_FEATURES if f in variant.features] == list(variant.features)  # canonical order
    price_inputs = {f"{name}_rank" for name in FEATURE_NAMES if name not in VOLUME_AND_DIVIDEND_FEATURES}
    assert set(PRICES_ONLY.features) == price_inputs
    assert matching_set({VOLUME}) == NO_DIVIDENDS
    assert matching_set(set()) == PRICES_ONLY
    assert feature_set_of(list(NO_VOLUME.features)) == NO_VOLUME
    assert feature_set_of(list(reversed(RANKER_FEATURES))) is None


def test_feature_sets_are_asked_for_by_name_and_unknown_names_are_refused() -> None:
    assert parse_feature_sets("auto") == [AUTO]
    assert parse_feature_sets("all") == ["full", "no_dividends", "no_volume", "prices_only"]
    assert parse_feature_sets("prices_only, full,prices_only") == ["prices_only", "full"]
    with pytest.raises(ConfigurationError, match="unknown no_prices"):
        parse_feature_sets("full,no_prices")
    with pytest.raises(ConfigurationError, match="nothing given"):
        parse_feature_sets(" , ")


def test_a_variant_reading_a_group_the_data_lacks_is_skipped_with_the_reason() -> None:
    assert resolve_feature_sets([AUTO], frozenset({DIVIDENDS})) == ([NO_VOLUME], [])
    chosen, skipped = resolve_feature_sets(["full", "no_volume", "prices_only"], frozenset({DIVIDENDS}))
    assert chosen == [NO_VOLUME, PRICES_ONLY]
    assert skipped == ["full: the window has no volume data"]


def test_a_model_of_a_variant_predicts_from_its_own_columns_of_a_wider_frame() -> None:
    rng = np.random.default_rng(3)
    index = pd.MultiIndex.from_product(
        [pd.date_range("2020-01-01", periods=20, freq="W"), [f"S{i}" for i in range(15)]], names=["date", "ticker"]
    )
    inputs = pd.DataFrame(rng.uniform(size=(len(index), len(RANKER_FEATURES))), index=index, columns=RANKER_FEATURES)
    labels = pd.Series(inputs["mom_21_rank"].to_numpy() + rng.normal(0, 0.05, len(index)), index=index)
    settings = load_settings(None).models.ranker.model_copy(update={"n_estimators": 10, "label_clip_quantile": 0.0})
    booster = fit_booster(inputs[list(PRICES_ONLY.features)], labels, settings)
    # The volume and dividend columns of the wider frame are ignored, whatever they hold.
    scrambled = inputs.assign(**{feature: np.nan for feature in OPTIONAL_GROUPS[VOLUME]})
    pd.testing.assert_series_equal(predict(booster, inputs), predict(booster, scrambled))
    with pytest.raises(ValueError, match="lack the model's features"):
        predict(booster, inputs.drop(columns=["mom_21_rank"]))
    with pytest.raises(ValueError, match="in that order"):
        fit_booster(inputs[list(reversed(PRICES_ONLY.features))], labels, settings)


def test_training_every_variant_stores_one_ranker_per_variant_with_its_inputs(
    market: Engine, tiny: FundSettings
) -> None:
    run = train_rankers(market, tiny, [STRATEGY], START, END, feature_sets=parse_feature_sets("all"))
    assert run.present == {VOLUME, DIVIDENDS}
    assert run.skipped == []
    stored = {feature_set_of(record.feature_set) for _, record in run.trained}
    assert stored == {FULL, NO_DIVIDENDS, NO_VOLUME, PRICES_ONLY}
    for training, record in run.trained:
        assert tuple(record.feature_set) == training.features
        assert training.baselines.ranker.dates > 0  # each variant has its own walk-forward report
    assert len(list_models(market, kind=RANKER)) == 4


def test_the_cli_trains_the_variants_the_window_supports_and_says_which(market: Engine, tiny: FundSettings) -> None:
    args = ["train", "xgboost", "--models", STRATEGY, "--start-date", "2012-06-01", "--end-date", "2012-12-31"]
    result = run_fund(*args, "--feature-sets", "full,prices_only")
    assert result.exit_code == 0, result.output
    assert "optional inputs in the window: volume and dividends" in result.output
    assert "full inputs, 17" in result.output
    assert "prices_only inputs, 12" in result.output
    refused = run_fund(*args, "--feature-sets", "everything")
    assert refused.exit_code != 0
    assert "--feature-sets: unknown everything" in refused.output
    assert "Traceback" not in refused.output


def stripped(state: MarketState) -> MarketState:
    """The state as a feed with adjusted closes only gives it: no volume or dividend input for any name."""
    cross_section = state.cross_section.copy()
    cross_section[list(VOLUME_AND_DIVIDEND_FEATURES)] = np.nan
    return replace(state, cross_section=cross_section)


def test_a_decision_uses_the_ranker_whose_inputs_the_data_has_and_records_which(
    market: Engine, tiny: FundSettings
) -> None:
    train_rankers(market, tiny, [STRATEGY], START, END, feature_sets=["full", "prices_only"])
    state = market_state_on(market, tiny, DAY)
    choice = StrategyChoice(STRATEGY, 1.0, "test", "bull", None)
    generator = HybridGenerator(market, tiny, agents=False)
    full = generator.generate(state, choice, {})
    assert full.model_versions["ranker_inputs"].startswith("full (17 inputs)")
    assert full.generator == RANKER_EQUAL_GENERATOR
    without = generator.generate(stripped(state), choice, {})
    expected = "prices_only (12 inputs); the data has no volume or dividends"
    assert without.model_versions["ranker_inputs"] == expected
    assert without.generator == RANKER_EQUAL_GENERATOR


def test_without_a_ranker_for_the_inputs_present_the_decision_falls_back_and_says_what_is_missing(
    market: Engine, tiny: FundSettings
) -> None:
    train_rankers(market, tiny, [STRATEGY], START, END, feature_sets=["full"])
    state = stripped(market_state_on(market, tiny, DAY))
    choice = StrategyChoice(STRATEGY, 1.0, "test", "bull", None)
    portfolio = HybridGenerator(market, tiny, agents=False).generate(state, choice, {})
    assert portfolio.generator.endswith("/mock")
    assert "it reads volume and dividends, which the data lacks" in portfolio.reason


def test_a_window_without_volume_trains_the_variant_without_it(market: Engine, tiny: FundSettings) -> None:
    data = load_ranker_data(market, tiny, START, END, horizon=21, step=5)
    without_volume = replace(data, inputs=data.inputs.assign(**dict.fromkeys(OPTIONAL_GROUPS[VOLUME], np.nan)))
    variant = matching_set(present_groups(without_volume.inputs))
    assert variant == NO_VOLUME
    training = train_ranker(without_volume, STRATEGY, tiny.models.ranker, variant.features)
    record = store_ranker(market, training)
    assert feature_set_of(record.feature_set) == NO_VOLUME


def test_evaluating_every_variant_reports_the_ic_with_each_input_group_removed(
    market: Engine, tiny: FundSettings
) -> None:
    train_rankers(market, tiny, [STRATEGY], START, END, feature_sets=["full", "no_volume", "prices_only"])
    evaluations, missing = evaluate_rankers(market, tiny, [STRATEGY], date(2013, 1, 2), date(2013, 6, 28))
    assert missing == []
    assert [evaluation.variant for evaluation in evaluations] == ["full", "no_volume", "prices_only"]
    stored = {record.id: record for record in list_models(market, kind=RANKER)}
    for evaluation in evaluations:
        held_out = stored[evaluation.model.id].metrics["evaluations"]["2013-01-02..2013-06-28"]
        assert held_out["rows"] == evaluation.metrics.rows
    result = run_fund(
        "models", "evaluate", "--models", STRATEGY, "--start-date", "2013-01-02", "--end-date", "2013-06-28"
    )
    assert result.exit_code == 0, result.output
    assert f"\n{STRATEGY}\n  full inputs " in result.output
    assert "\n  no_volume inputs " in result.output
    assert "\n  prices_only inputs " in result.output
