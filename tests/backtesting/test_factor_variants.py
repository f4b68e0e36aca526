"""The factor variants of `fund backtest run`: the four single-factor generators and the walk-forward
best factor, by name in --generator and --compare (`factors` for the four), in the comparison table and
the stored run, over the synthetic market of tests/autonomous on SQLite and PostgreSQL; and the best
factor's choice, which cannot see the bars from its own date on."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from autonomous.cli import backtest as backtest_cli
from autonomous.cli.app import fund
from autonomous.factor_choice import FactorSchedule
from backtesting.factor_schedule import choose_factors
from backtesting.variants import COMPARABLE, FACTOR_GENERATORS, GENERATORS, parse_compare
from backtesting.walk_forward import retrain_dates
from tests.autonomous import conftest as market_fixtures
from tests.backtesting.test_walk_forward import benchmark_sessions, rewrite_bars_from
from trading.errors import ConfigurationError
from trading.settings import STRATEGIES, load_settings
from trading.store.backtests import get_backtest

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

START, END = "2013-09-03", "2013-10-31"  # 43 sessions, late enough for the regime's history
FACTOR_VARIANTS = ["factor-mom_12_1", "factor-low_vol", "factor-dist_sma200", "factor-universe_score"]


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", *args], catch_exceptions=False)


def test_factors_expands_to_the_four_factor_generators_without_the_main_one() -> None:
    assert list(FACTOR_GENERATORS) == FACTOR_VARIANTS
    assert parse_compare("factors", "hybrid") == FACTOR_VARIANTS
    assert parse_compare("benchmark,factors,best-factor", "factor-low_vol") == [
        "benchmark",
        "factor-mom_12_1",
        "factor-dist_sma200",
        "factor-universe_score",
        "best-factor",
    ]
    every = parse_compare("all", "hybrid")
    assert {*FACTOR_VARIANTS, "best-factor"} <= set(every)
    assert len(every) == len(set(every))


def test_an_unknown_factor_variant_is_refused_with_the_names_expected() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown variant\(s\) factor-momentum; expected some of .*factors"):
        parse_compare("factor-momentum", "mock")


def test_the_commands_generator_choices_are_the_backtests_generators() -> None:
    # Spelt out in the CLI so that `fund --help` imports nothing heavy: they must not drift apart.
    assert backtest_cli.GENERATORS == GENERATORS
    assert set(GENERATORS) < set(COMPARABLE)


def test_the_help_names_the_factor_variants() -> None:
    result = run("backtest", "run", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.stdout.split())
    for name in ("factor-mom_12_1", "factor-universe_score", "best-factor", "factors (the four factor-*"):
        assert name in flat


def test_an_unknown_generator_or_compared_factor_fails_before_anything_is_loaded(
    market: Engine, database_url: str
) -> None:
    generator = run("backtest", "run", "--start", START, "--end", END, "--generator", "factor-momentum")
    assert generator.exit_code == 2
    assert "Invalid value for '--generator': 'factor-momentum' is not one of" in generator.stderr
    compared = run("backtest", "run", "--start", START, "--end", END, "--generator", "mock", "--compare", "factor-x")
    assert compared.exit_code == 1
    assert "unknown variant(s) factor-x" in compared.stderr
    assert "Traceback" not in compared.output


def test_a_backtest_compares_every_factor_and_the_best_one_and_stores_which_factor_each_decision_held(
    market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three names of universes of about ten: the factors pick different ones (at 20 each holds them all).
    monkeypatch.setenv("FUND_STRATEGY__TOP_N", "3")
    args = ["--start", START, "--end", END, "--generator", "factor-mom_12_1", "--compare", "factors,best-factor,mock"]
    result = run("backtest", "run", *args)
    assert result.exit_code == 0, result.output
    assert "6 replayed variant(s)" in result.stdout
    assert "best-factor choices (best mean rank IC on the window before each date):" in result.stdout
    assert "  2013-09-03 " in result.stdout
    table = result.stdout[result.stdout.index("variant") :]
    for name in [*FACTOR_VARIANTS, "best-factor", "mock", "benchmark"]:
        assert f"  {name} " in table

    record = get_backtest(market, 1)
    assert set(record.variants) == {*FACTOR_VARIANTS, "best-factor", "mock", "benchmark"}
    assert set(record.metrics) >= {*FACTOR_VARIANTS, "best-factor"}
    chosen = record.models["best_factor"]
    assert chosen["retrain_dates"] == ["2013-09-03"]
    by_strategy = chosen["choices"]["2013-09-03"]
    assert set(by_strategy) <= set(STRATEGIES)
    assert by_strategy
    for evidence in by_strategy.values():
        assert evidence["train_end"] < "2013-09-03"
        best = max((v for v in evidence["rank_ic"].values() if v is not None), default=None)
        assert evidence["rank_ic"][evidence["factor"]] == best
    assert any(note.startswith("best-factor holds, for each strategy") for note in record.notes)

    bought = first_buys(market)
    assert len({tuple(bought[name]) for name in FACTOR_VARIANTS}) > 1
    assert all(len(bought[name]) == 3 for name in FACTOR_VARIANTS)
    held = decided_factors(market)
    assert held["factor-low_vol"] == {"low_vol"}
    assert held["factor-universe_score"] == {"universe_score"}
    assert held["best-factor"] <= {choice["factor"] for choice in by_strategy.values()} | {"universe_score"}


def first_buys(engine: Engine) -> dict[str, list[str]]:
    """Per variant, the names it bought at the first session, sorted."""
    query = text("SELECT variant, ticker FROM backtest_orders WHERE session = :day AND side = 'buy' ORDER BY ticker")
    with engine.connect() as connection:
        rows = connection.execute(query, {"day": date(2013, 9, 3)}).all()
    bought: dict[str, list[str]] = {}
    for variant, ticker in rows:
        bought.setdefault(variant, []).append(ticker)
    return bought


def decided_factors(engine: Engine) -> dict[str, set[str]]:
    """Per variant, the factors its decisions' model versions name (defensive sessions name none)."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT variant, model_versions FROM backtest_decisions")).all()
    held: dict[str, set[str]] = {}
    for variant, versions in rows:
        stored = json.loads(versions) if isinstance(versions, str) else versions
        factor = (stored or {}).get("models", {}).get("factor")
        if factor is not None:
            held.setdefault(variant, set()).add(factor)
    return held


def test_best_factor_is_chosen_again_at_each_retraining_date_and_needs_no_ranker(
    market: Engine, database_url: str
) -> None:
    args = ["--start", START, "--end", END, "--generator", "best-factor", "--compare", "benchmark"]
    result = run("backtest", "run", *args, "--retrain-every", "21", "--train-sessions", "126")
    assert result.exit_code == 0, result.output
    assert "walk-forward models" not in result.stdout  # no ranker was trained for it
    record = get_backtest(market, 1)
    chosen = record.models["best_factor"]
    assert chosen["retrain_dates"] == ["2013-09-03", "2013-10-02", "2013-10-31"]
    assert chosen["train_sessions"] == 126
    assert list(chosen["choices"]) == chosen["retrain_dates"]
    for day in chosen["retrain_dates"]:
        assert f"  {day} " in result.stdout
    with market.connect() as connection:
        versions = connection.execute(
            text("SELECT model_versions FROM backtest_decisions WHERE variant = 'best-factor'")
        ).scalars()
        texts = [json.dumps(json.loads(v) if isinstance(v, str) else v) for v in versions]
    assert any("chosen 2013-10-02 on" in t for t in texts)


def test_retraining_without_a_retrained_variant_names_best_factor_among_the_choices(
    market: Engine, database_url: str
) -> None:
    result = run("backtest", "run", "--start", START, "--end", END, "--generator", "mock", "--retrain-every", "21")
    assert result.exit_code == 1
    assert "run or compare hybrid, ranker-equal or best-factor" in result.stderr


def test_rewriting_every_bar_from_a_retraining_date_on_leaves_the_factor_choices_up_to_it_unchanged(
    market: Engine,
) -> None:
    settings = load_settings(None)
    sessions = [day for day in benchmark_sessions(market) if date(2013, 4, 1) <= day <= date(2013, 8, 30)]
    dates = retrain_dates(sessions, 42)  # 2013-04-01, 2013-05-30, 2013-07-30
    before = choose_factors(market, settings, list(STRATEGIES), dates, training_sessions=126)
    rewrite_bars_from(market, dates[1])
    after = choose_factors(market, settings, list(STRATEGIES), dates, training_sessions=126)

    def on(day: date, schedule: FactorSchedule) -> dict[str, object]:
        return dict(schedule.as_dict()["choices"].get(str(day), {}))

    assert on(dates[0], before)
    # In force at the rewritten date: chosen on bars and labels before it only, the same choice and evidence.
    assert on(dates[0], before) == on(dates[0], after)
    assert on(dates[1], before) == on(dates[1], after)
    # The control: the next window holds rewritten bars, and its evidence changes.
    assert on(dates[2], before) != on(dates[2], after)
