from __future__ import annotations

import pytest

from autonomous.strategies import DEFENSIVE_DESCRIPTION, STRATEGY_BY_NAME, describe, strategy_named
from trading.errors import ConfigurationError
from trading.settings import DEFENSIVE, STRATEGIES


def test_the_seven_strategies_are_the_ones_settings_validate_against_in_the_same_order() -> None:
    assert tuple(STRATEGY_BY_NAME) == STRATEGIES
    assert all(name == strategy.name for name, strategy in STRATEGY_BY_NAME.items())


@pytest.mark.parametrize("name", [name for name in STRATEGIES if name != "dividend"])
def test_each_style_strategy_names_its_size_bucket_and_style(name: str) -> None:
    strategy = STRATEGY_BY_NAME[name]
    style, size = name.removesuffix("cap").split("_")
    assert (strategy.style, strategy.size) == (style, size)
    assert strategy.score == ("momentum_quality" if style == "growth" else "cheapness")


def test_dividend_spans_every_size_and_ranks_by_trailing_yield() -> None:
    dividend = STRATEGY_BY_NAME["dividend"]
    assert (dividend.size, dividend.style, dividend.score) == (None, "dividend", "trailing_yield")


def test_the_strategy_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        STRATEGY_BY_NAME["growth_largecap"] = STRATEGY_BY_NAME["dividend"]  # type: ignore[index]


def test_an_unknown_strategy_name_is_a_configuration_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown strategy 'growth_megacap'.*value_smallcap"):
        strategy_named("growth_megacap")


def test_the_defensive_mode_is_not_a_strategy_with_a_universe_but_has_a_description() -> None:
    with pytest.raises(ConfigurationError, match="defensive mode has no universe"):
        strategy_named(DEFENSIVE)
    assert describe(DEFENSIVE) == DEFENSIVE_DESCRIPTION
    assert describe("value_midcap") == STRATEGY_BY_NAME["value_midcap"].description
