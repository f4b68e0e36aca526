"""A sweep's spec: what it expands to, the keys a rerun matches, and every mistake named before a trial runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from backtesting.sweeps.spec import TrialPlan, Window, apply_overrides, load_spec, parse_spec
from trading.errors import ConfigurationError
from trading.settings import FundSettings

BASE: dict[str, Any] = {
    "name": "grid",
    "kind": "backtest",
    "windows": [{"start": "2021-01-04", "end": "2021-03-31"}, {"start": "2021-04-01", "end": "2021-06-30"}],
    "seeds": [0, 1],
    "fixed": {"generator": "mock"},
    "grid": {"risk.max_position_weight": [0.05, 0.1], "strategy.top_n": [10, 20, 30]},
}


def spec_with(**changes: Any) -> dict[str, Any]:
    raw = dict(BASE)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def test_a_grid_expands_to_every_combination_on_every_seed_and_window() -> None:
    spec = parse_spec(BASE)
    configurations = spec.grid_configurations()
    assert len(configurations) == 6
    assert configurations[0] == {"generator": "mock", "risk.max_position_weight": 0.05, "strategy.top_n": 10}
    plans = [plan for c in configurations for plan in spec.trials_of(c)]
    assert len(plans) == 6 * 2 * 2
    assert len({plan.key for plan in plans}) == 24
    assert len({plan.configuration for plan in plans}) == 6
    assert spec.metric == "sharpe"
    assert spec.direction == "maximize"


def test_a_trial_key_depends_on_settings_seed_and_window_but_not_on_the_order_of_the_settings() -> None:
    window = Window(date(2021, 1, 4), date(2021, 3, 31))
    one = TrialPlan("backtest", {"a.b": 1, "generator": "mock"}, 0, window)
    same = TrialPlan("backtest", {"generator": "mock", "a.b": 1}, 0, window)
    assert one.key == same.key
    assert one.configuration == same.configuration
    other_seed = TrialPlan("backtest", {"a.b": 1, "generator": "mock"}, 1, window)
    assert other_seed.key != one.key
    assert other_seed.configuration == one.configuration
    assert TrialPlan.from_dict(one.as_dict()) == one


def test_overrides_reach_the_settings_and_are_validated_as_the_settings_file_is() -> None:
    settings = apply_overrides(FundSettings(), {"risk.max_position_weight": 0.07, "models.ranker.max_depth": 3})
    assert settings.risk.max_position_weight == 0.07
    assert settings.models.ranker.max_depth == 3
    with pytest.raises(ConfigurationError, match=r"risk.max_position_weight: .*less than or equal to 1"):
        apply_overrides(FundSettings(), {"risk.max_position_weight": 3})
    with pytest.raises(
        ConfigurationError, match=r"risk.max_position_wieght: the settings have no 'max_position_wieght'"
    ):
        apply_overrides(FundSettings(), {"risk.max_position_wieght": 0.1})
    with pytest.raises(ConfigurationError, match=r"rsk.max_position_weight: the settings have no section 'rsk'"):
        apply_overrides(FundSettings(), {"rsk.max_position_weight": 0.1})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": None}, r"name: give the sweep a name"),
        ({"kind": "portfolio"}, r"kind = 'portfolio': expected one of backtest, ranker, agent"),
        ({"metric": "rank_ic"}, r"metric = 'rank_ic': a backtest trial reports total_return"),
        ({"direction": "up"}, r"direction = 'up'"),
        ({"seeds": []}, r"seeds = \[\]: a non-empty list"),
        ({"seeds": [1, 1]}, r"a seed is repeated"),
        ({"windows": None}, r"windows: give at least one"),
        ({"windows": [{"start": "2021-05-01", "end": "2021-04-01"}]}, r"windows #1: end 2021-04-01 is before start"),
        ({"windows": [{"start": "2021-13-01", "end": "2021-04-01"}]}, r"windows #1 start = '2021-13-01'"),
        ({"grid": {"strategy.top_n": []}}, r"grid.strategy.top_n = \[\]: expected a non-empty list"),
        ({"grid": {"top_n": [1, 2]}}, r"'top_n' is neither a fund setting .* nor a parameter of a backtest trial"),
        ({"fixed": {"strategy.top_n": 5}}, r"strategy.top_n: both fixed and varied"),
        ({"search": {"trials": 3, "space": {"x.y": {"low": 1, "high": 2}}}}, r"give either \[grid\] or \[search\]"),
        ({"colour": "blue"}, r"unknown key\(s\) colour"),
    ],
)
def test_a_mistake_in_the_spec_is_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_spec(spec_with(**changes))


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"trials": 0, "space": {"strategy.top_n": {"low": 1, "high": 5}}}, r"search.trials = 0"),
        ({"trials": 2, "space": {}}, r"\[search.space\]: name at least one setting"),
        ({"trials": 2, "space": {"strategy.top_n": {"low": 5, "high": 1}}}, r"low \(5\) must be below high \(1\)"),
        ({"trials": 2, "space": {"strategy.top_n": {"low": 0, "high": 3, "log": True}}}, r"log = true needs"),
        ({"trials": 2, "space": {"generator": {"choices": []}}}, r"choices is a non-empty list"),
        ({"trials": 2, "sampler": "grid", "space": {"generator": {"choices": ["mock"]}}}, r"search.sampler = 'grid'"),
    ],
)
def test_a_mistake_in_the_search_is_named(search: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_spec(spec_with(grid=None, search=search))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_loading_checks_every_configuration_against_the_settings_before_anything_runs(tmp_path: Path) -> None:
    spec = write(
        tmp_path / "s.toml",
        'name = "x"\n[[windows]]\nstart = "2021-01-04"\nend = "2021-02-26"\n'
        '[grid]\n"risk.max_position_weight" = [0.1, 1.5]\n',
    )
    with pytest.raises(ConfigurationError, match=r"s.toml: risk.max_position_weight: .*less than or equal to 1"):
        load_spec(spec, FundSettings())
    search = write(
        tmp_path / "search.toml",
        'name = "x"\n[[windows]]\nstart = "2021-01-04"\nend = "2021-02-26"\n'
        '[search]\ntrials = 4\n[search.space]\n"strategy.top_n" = { low = 0, high = 30 }\n',
    )
    with pytest.raises(ConfigurationError, match=r"search.toml: strategy.top_n: .*greater than or equal to 1"):
        load_spec(search, FundSettings())
    generator = write(
        tmp_path / "g.toml",
        'name = "x"\n[[windows]]\nstart = "2021-01-04"\nend = "2021-02-26"\n[grid]\ngenerator = ["mock", "ppo"]\n',
    )
    with pytest.raises(ConfigurationError, match=r"generator = 'ppo': expected hybrid, ranker-equal or mock"):
        load_spec(generator, FundSettings())


def test_a_missing_or_broken_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nothing.toml: no such spec file"):
        load_spec(tmp_path / "nothing.toml", FundSettings())
    with pytest.raises(ConfigurationError, match=r"bad.toml: not valid TOML"):
        load_spec(write(tmp_path / "bad.toml", "name = \n"), FundSettings())


def test_a_ranker_sweep_may_be_ranked_by_its_rank_ic_without_late_joiners_and_a_backtest_may_not() -> None:
    ranker = spec_with(
        kind="ranker", metric="rank_ic_without_late_joiners", fixed={}, grid={"models.ranker.max_depth": [2, 4]}
    )
    assert parse_spec(ranker).metric == "rank_ic_without_late_joiners"
    with pytest.raises(ConfigurationError, match="metric = 'rank_ic_without_late_joiners': a backtest trial reports"):
        parse_spec(spec_with(metric="rank_ic_without_late_joiners"))
