"""The hybrid generator's commands as a person or cron uses them: `fund train ppo`, its specification
spelling rl_trading/train_hybrid_ppo.py, `fund models list`, and `fund rebalance` without --use-mock."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from autonomous.cli.app import fund
from tests.rl_trading.market import (
    BACKENDS,
    PostgresServer,
    store_momentum_ranker,
    synthetic_market_database,
    versions_with_agent,
)
from trading.db.schema import RebalancingLog
from trading.store.accounts import create_paper_account
from trading.store.models import AGENT, RANKER, ModelRecord, newest_models

REPOSITORY = Path(__file__).resolve().parents[2]
ACCOUNT = "HYBRID_FUND"
STRATEGY = "growth_midcap"
RANKER_START, RANKER_END = date(2012, 4, 2), date(2012, 8, 31)
AGENT_START, AGENT_END, EVAL_END = "2012-09-04", "2012-12-07", "2013-01-11"
# With the default rule table: growth_midcap on 2013-05-20 (a bull market with medium volatility),
# value_largecap on 2013-04-15 (high volatility), for which no model is ever trained here.
MODELLED_DAY, UNMODELLED_DAY = date(2013, 5, 20), date(2013, 4, 15)
TINY = {
    "FUND_REGIME__VOLATILITY_LOOKBACK_SESSIONS": "300",
    "FUND_MODELS__AGENT__N_STEPS": "32",
    "FUND_MODELS__AGENT__BATCH_SIZE": "16",
    "FUND_MODELS__AGENT__EPISODE_SESSIONS": "10",
    "FUND_STRATEGY__TOP_N": "5",
}
PPO_ARGUMENTS = [
    "--strategy",
    "growth",
    "--market-cap",
    "mid",
    "--timesteps",
    "64",
    "--start-date",
    AGENT_START,
    "--end-date",
    AGENT_END,
    "--eval-end-date",
    EVAL_END,
]


def environment(engine: Engine) -> dict[str, str | None]:
    return {
        "FUND_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "FUND_CONFIG_FILE": None,
        # These tests run the hybrid daily run, which a user turns on by name (the default is the mock).
        "FUND_MODELS__GENERATOR": "hybrid",
        **TINY,
    }


def run(engine: Engine | None, *args: str) -> Result:
    env = environment(engine) if engine is not None else {"FUND_CONFIG_FILE": None}
    return CliRunner().invoke(fund, ["--log-level", "WARNING", *args], env=env, catch_exceptions=False)


@pytest.fixture(scope="module", params=BACKENDS)
def market(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_sqlite_template: Path,
    postgres_server: PostgresServer,
) -> Iterator[Engine]:
    """The synthetic market with a funded paper account and a growth_midcap ranker.

    The ranker is a booster fitted in memory (tests/rl_trading/test_episode_builder.py): these tests
    are about the commands, not about how well a ranker ranks."""
    engine = synthetic_market_database(
        request, tmp_path_factory.mktemp("cli-market"), migrated_sqlite_template, postgres_server
    )
    create_paper_account(engine, ACCOUNT, Decimal("100000"))
    store_momentum_ranker(
        engine, STRATEGY, RANKER_START, RANKER_END, {"walk_forward": {"overall": {"rank_ic": 0.0312}}}
    )
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def trained(market: Engine) -> Result:
    """`fund train ppo` once per backend."""
    return run(market, "train", "ppo", *PPO_ARGUMENTS)


def ranker_of(engine: Engine) -> ModelRecord:
    [ranker] = newest_models(engine, RANKER, STRATEGY)
    return ranker


def logged_run(engine: Engine, day: date) -> dict[str, Any]:
    with engine.connect() as connection:
        [row] = connection.execute(
            select(
                RebalancingLog.status,
                RebalancingLog.strategy_selected,
                RebalancingLog.model_versions,
                RebalancingLog.strategy_reason,
            ).where(RebalancingLog.account_id == ACCOUNT, RebalancingLog.rebalance_date == day)
        ).all()
    return dict(row._mapping)


def test_fund_train_ppo_prints_the_held_out_comparison_and_stores_the_agent(market: Engine, trained: Result) -> None:
    assert trained.exit_code == 0, trained.output
    [agent] = newest_models(market, AGENT, STRATEGY)
    lines = trained.stdout.splitlines()
    assert lines[0] == f"{STRATEGY}: {agent.version}, ranker {ranker_of(market).version}"
    assert re.fullmatch(
        rf"trained on {AGENT_START}\.\.{AGENT_END} \(\d+ sessions\): 64 timesteps in [\d.]+ s \(seed 7\)", lines[1]
    )
    assert re.fullmatch(rf"held out \d+ sessions up to {EVAL_END}:", lines[2])
    assert lines[3].split() == ["return", "Sharpe", "turnover", "cost/day", "reward"]
    figure = r"\s+-?[\d.]+%\s+-?[\d.]+\s+[\d.]+%\s+[\d.]+%\s+-?[\d.]+"
    assert re.fullmatch(rf"PPO agent{figure}", lines[4])
    assert re.fullmatch(rf"equal weight{figure}", lines[5])
    assert len(lines) == 6
    assert agent.train_start.isoformat() == AGENT_START
    assert agent.train_end.isoformat() == AGENT_END
    assert agent.parameters["ranker"] == ranker_of(market).label


@pytest.mark.parametrize(
    ("arguments", "exit_code", "message"),
    [
        pytest.param(
            ["--strategy", "dividend", "--market-cap", "mid"],
            1,
            "the dividend strategy spans every size",
            id="dividend",
        ),
        pytest.param(
            ["--strategy", "growth"],
            1,
            "the growth strategies come in large, mid and small cap: give --market-cap",
            id="growth-without-size",
        ),
        pytest.param(
            ["--strategy", "momentum", "--market-cap", "mid"],
            2,
            "'momentum' is not one of 'growth', 'value'",
            id="unknown-style",
        ),
        pytest.param(
            ["--strategy", "value", "--market-cap", "mid", "--timesteps", "0"],
            2,
            "0 is not in the range x>=1",
            id="no-timesteps",
        ),
    ],
)
def test_fund_train_ppo_refuses_a_strategy_it_cannot_train_with_a_message(
    arguments: list[str], exit_code: int, message: str
) -> None:
    result = run(None, "train", "ppo", *arguments)
    assert result.exit_code == exit_code
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_fund_models_list_shows_both_kinds_with_their_window_age_and_metrics(market: Engine, trained: Result) -> None:
    ranker = ranker_of(market)
    [agent] = newest_models(market, AGENT, STRATEGY)
    result = run(market, "models", "list")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:7] == ["id", "kind", "strategy", "version", "window", "age", "KiB"]
    by_kind = {row.split()[1]: row for row in rows}
    assert set(by_kind) == {AGENT, RANKER}
    age = r"\s+\d+ (s|min)\s+\d+  "
    assert re.search(
        rf"{RANKER}\s+{STRATEGY}\s+{ranker.version}\s+{RANKER_START}\.\.{RANKER_END}{age}walk-forward rank IC 0\.0312$",
        by_kind[RANKER],
    )
    evaluation = agent.metrics["evaluation"]
    window = "..".join(evaluation["window"])
    assert re.search(
        rf"{AGENT}\s+{STRATEGY}\s+{agent.version}\s+{AGENT_START}\.\.{AGENT_END}{age}held-out {window}: "
        rf"Sharpe {evaluation['sharpe_agent']:.4f} vs equal weight {evaluation['sharpe_equal_weight']:.4f}, "
        rf"mean reward {evaluation['mean_reward']:.5f}; 64 timesteps$",
        by_kind[AGENT],
    )
    only_agents = run(market, "models", "list", "--kind", AGENT)
    assert [row.split()[1] for row in only_agents.stdout.splitlines()[1:]] == [AGENT]


def test_the_specification_script_trains_and_stores_an_agent_like_fund_train_ppo(
    market: Engine, trained: Result
) -> None:
    if market.dialect.name != "sqlite":
        pytest.skip("a second Python process costs seconds; `fund train ppo` covers PostgreSQL in-process")
    env = {name: value for name, value in {**os.environ, **environment(market)}.items() if value is not None}
    completed = subprocess.run(
        [sys.executable, "rl_trading/train_hybrid_ppo.py", *PPO_ARGUMENTS, "--seed", "5"],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    newest = newest_models(market, AGENT, STRATEGY)
    assert len(newest) == 2
    scripted = next(agent for agent in newest if agent.parameters["seed"] == 5)
    assert completed.stdout.splitlines()[0] == f"{STRATEGY}: {scripted.version}, ranker {ranker_of(market).version}"
    assert "(seed 5)" in completed.stdout
    assert re.search(r"^PPO agent\s", completed.stdout, re.MULTILINE)
    assert (scripted.train_start.isoformat(), scripted.train_end.isoformat()) == (AGENT_START, AGENT_END)

    refused = subprocess.run(
        [sys.executable, "rl_trading/train_hybrid_ppo.py", "--strategy", "dividend", "--market-cap", "mid"],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert "the dividend strategy spans every size" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_daily_run_without_the_mock_states_the_hybrid_fallback_when_the_strategy_has_no_model(
    market: Engine, trained: Result
) -> None:
    result = run(market, "rebalance", "--dry-run", "--date", str(UNMODELLED_DAY), "--account-id", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert "dry_run: run " in result.stdout
    logged = logged_run(market, UNMODELLED_DAY)
    assert logged["status"] == "dry_run"
    assert logged["strategy_selected"] == "value_largecap"
    missing = f"no xgboost_ranker for value_largecap trained before {UNMODELLED_DAY}"
    assert logged["model_versions"] == {
        "generator": "hybrid",
        "portfolio": "hybrid/mock",
        "models": {"ranker": f"none ({missing})", "agent": "not used"},
    }
    reason = logged["strategy_reason"]
    assert f"; model generator hybrid: {missing}: mock generator instead: equal weight over" in reason


def test_a_daily_run_without_the_mock_records_the_versions_of_the_models_it_used(
    market: Engine, trained: Result, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The table picks STRATEGY (the one trained) on MODELLED_DAY; without confirmation the run follows it.
    monkeypatch.setenv("FUND_STRATEGY__CONFIRM_SESSIONS", "1")
    result = run(market, "rebalance", "--dry-run", "--date", str(MODELLED_DAY), "--account-id", ACCOUNT)
    assert result.exit_code == 0, result.output
    logged = logged_run(market, MODELLED_DAY)
    assert logged["strategy_selected"] == STRATEGY
    [agent, *_] = newest_models(market, AGENT, STRATEGY, trained_before=MODELLED_DAY)
    assert logged["model_versions"] == {
        "generator": "hybrid",
        "portfolio": "hybrid",
        "models": versions_with_agent(ranker_of(market).label, agent),
    }
    assert "; model generator hybrid: the ranker picked " in logged["strategy_reason"]
    assert "the PPO agent set their weights" in logged["strategy_reason"]
