"""`fund sweep` as a user runs it, over the synthetic market of tests/autonomous on SQLite and PostgreSQL:
grids and searches of backtests, a failed trial recorded while the rest finish, a rerun that skips what is
done, the deflated Sharpe against an independent computation, the same results serially and on Ray (a local
one, and a separate `ray start --head` cluster), ranker and agent trials that store their models, and ranker
sweeps read with and without the late joiners (names with no fundamentals row at the decision date)."""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from scipy import stats
from sqlalchemy import Engine, func, select

from autonomous.cli.app import fund
from backtesting.statistics import per_period_sharpe
from backtesting.sweeps.executors import RayExecutor, SerialExecutor
from backtesting.sweeps.runner import run_sweep
from backtesting.sweeps.spec import load_spec
from backtesting.sweeps.trials import TrialOutcome
from backtesting.sweeps.writing import trial_row
from tests.autonomous import conftest as market_fixtures
from tests.autonomous.ranking.test_late_joiners import late_joiners_in
from trading.db.schema import BacktestRun, RebalancingLog, Sweep, SweepTrial
from trading.settings import load_settings
from trading.store.models import AGENT, RANKER, list_models
from trading.store.sweeps import get_sweep, open_sweep, record_trial, sweep_trials

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

# Two short windows of the synthetic market (2012-01-03 on), late enough for the regime's history.
WINDOWS = (
    '[[windows]]\nstart = "2013-09-03"\nend = "2013-09-30"\n\n[[windows]]\nstart = "2013-10-01"\nend = "2013-10-31"\n'
)
GRID = (
    'name = "{name}"\nkind = "backtest"\nmetric = "sharpe"\nseeds = [0]\n\n'
    + WINDOWS
    + '\n[fixed]\ngenerator = "mock"\n\n[grid]\n"strategy.top_n" = [5, 15]\n"risk.max_daily_turnover" = [0.1, 0.5]\n'
)


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", *args], catch_exceptions=False)


def write_spec(folder: Path, text: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_grid_sweep_runs_stores_and_shows_its_trials(market: Engine, database_url: str, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GRID.format(name="top-n"))
    result = run("sweep", "run", str(spec), "--serial")
    assert result.exit_code == 0, result.output
    assert "sweep 'top-n': backtest trials ranked by sharpe, serially, in this process" in result.stdout
    assert "sweep 1 (top-n): 8 trial(s) run, 0 failed, 0 already done" in result.stdout
    assert "4 configuration(s), 8 trial(s)" in result.stdout
    assert "deflated Sharpe" in result.stdout
    assert "probability of backtest overfitting" in result.stdout

    record = get_sweep(market, "top-n")
    trials = sweep_trials(market, record.id)
    assert len(trials) == 8
    assert {t.status for t in trials} == {"done"}
    assert {(t.window_start, t.window_end) for t in trials} == {
        (date(2013, 9, 3), date(2013, 9, 30)),
        (date(2013, 10, 1), date(2013, 10, 31)),
    }
    for trial in trials:
        assert trial.metric_value == trial.metrics["sharpe"]
        returns = np.asarray(trial.series["values"])
        # The stored series is the variant's daily returns: the stored Sharpe follows from it.
        assert trial.metrics["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(252))
        assert {"decisions", "metrics"} <= set(trial.timings)
        assert trial.seed == 0
    # Each window's span is read once by the process, for the first trial on it; the others reuse it.
    assert sum("load" in t.timings for t in trials) == 2
    # A trial keeps its replay in memory: nothing of the backtest tables or the fund's ledger moved.
    assert count(market, Sweep) == 1
    assert count(market, BacktestRun) == 0
    assert count(market, RebalancingLog) == 0

    shown = run("sweep", "show", "top-n")
    assert shown.exit_code == 0
    lines = [line for line in shown.stdout.splitlines() if "strategy.top_n=" in line]
    assert len(lines) == 4
    values = [float(line.split()[1]) for line in lines]
    assert values == sorted(values, reverse=True)
    listed = run("sweep", "list")
    assert "top-n" in listed.stdout
    assert "8 done, 0 failed" in listed.stdout

    again = run("sweep", "run", str(spec), "--serial")
    assert again.exit_code == 0
    assert "0 trial(s) run, 0 failed, 8 already done" in again.stdout
    assert count(market, SweepTrial) == 8


def test_a_failed_trial_is_recorded_the_rest_finish_and_a_rerun_skips_what_is_done(
    market: Engine, database_url: str, tmp_path: Path
) -> None:
    # The second window lies before the data: its trials fail (no benchmark bar), the first window's run.
    text = (
        'name = "gap"\nseeds = [0, 1]\n[[windows]]\nstart = "2013-09-03"\nend = "2013-09-30"\n'
        '[[windows]]\nstart = "1995-01-03"\nend = "1995-02-28"\n[fixed]\ngenerator = "mock"\n'
        '[grid]\n"strategy.top_n" = [5, 15]\n'
    )
    spec = write_spec(tmp_path, text)
    result = run("sweep", "run", str(spec), "--serial")
    assert result.exit_code == 0, result.output
    assert "4 trial(s) run, 4 failed, 0 already done" in result.stdout
    trials = sweep_trials(market, get_sweep(market, "gap").id)
    failed = [t for t in trials if t.status == "failed"]
    assert len(failed) == 4
    assert all(t.window_start == date(1995, 1, 3) for t in failed)
    assert all("no session with a benchmark bar between 1995-01-03 and 1995-02-28" in (t.error or "") for t in failed)
    assert all(t.metric_value is None for t in failed)
    shown = run("sweep", "show", "gap", "--failed")
    assert "failed: seed 0, 1995-01-03..1995-02-28: DataError: no session with a benchmark bar" in shown.stdout

    again = run("sweep", "run", str(spec), "--serial")
    assert again.exit_code == 0
    # The trials done are skipped; the failed ones run again (and fail again), replacing their rows.
    assert "0 trial(s) run, 4 failed, 4 already done" in again.stdout
    assert count(market, SweepTrial) == 8


def test_the_deflated_sharpe_of_a_sweep_matches_an_independent_computation(
    market: Engine, database_url: str, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, GRID.format(name="deflate"))
    assert run("sweep", "run", str(spec), "--serial").exit_code == 0
    record = get_sweep(market, "deflate")
    trials = sweep_trials(market, record.id)

    # Each configuration's series: its two windows end to end (one seed).
    series: dict[str, list[float]] = {}
    means: dict[str, list[float]] = {}
    for trial in sorted(trials, key=lambda t: t.window_start):
        series.setdefault(trial.configuration, []).extend(trial.series["values"])
        means.setdefault(trial.configuration, []).append(trial.metrics["sharpe"])
    best = max(means, key=lambda key: float(np.mean(means[key])))
    sharpes = {key: np.mean(values) / np.std(values, ddof=1) for key, values in series.items()}
    # Bailey & López de Prado (2014): SR0 from the trials' Sharpe variance, then the PSR against it.
    variance, trials_tried = np.var(list(sharpes.values()), ddof=1), len(sharpes)
    gamma = 0.5772156649015329
    expected_max = math.sqrt(variance) * (
        (1 - gamma) * stats.norm.ppf(1 - 1 / trials_tried) + gamma * stats.norm.ppf(1 - 1 / (trials_tried * math.e))
    )
    returns = np.asarray(series[best])
    skew = stats.skew(returns)
    kurtosis = stats.kurtosis(returns, fisher=False)
    sharpe = sharpes[best]
    z = (
        (sharpe - expected_max)
        * math.sqrt(len(returns) - 1)
        / math.sqrt(1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2)
    )
    expected = stats.norm.cdf(z)

    from backtesting.sweeps.summary import summarise

    summary = summarise(record, trials)
    assert summary.tried == 4
    assert summary.configurations[0].key == best
    assert summary.deflated_sharpe == pytest.approx(expected, abs=1e-9)
    shown = run("sweep", "show", "deflate")
    assert f"the best of 4 configurations: deflated Sharpe {expected:.2f}" in shown.stdout


@pytest.fixture
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Ray head started with `ray start --head` as a separate process (standing in for a cluster)."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray is not None, "the ray command comes with the scale extra"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    command = [ray, "start", "--head", "--num-cpus", "2", "--port", str(port), "--include-dashboard", "false"]
    started = subprocess.run(
        [*command, "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp), "--disable-usage-stats"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)


def figures(engine: Engine, name: str) -> dict[str, tuple[str, float | None]]:
    trials = sweep_trials(engine, get_sweep(engine, name).id)
    return {t.trial_key: (t.status, t.metric_value) for t in trials}


@pytest.mark.usefixtures("database_url")
def test_the_same_sweep_gives_the_same_results_serially_on_a_local_ray_and_on_a_ray_cluster(
    market: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = load_settings(None)
    url = url_of(market)
    serial = load_spec(write_spec(tmp_path, GRID.format(name="serial"), "a.toml"), settings)
    run_sweep(market, url, settings, serial, SerialExecutor(), code="test")
    expected = figures(market, "serial")
    assert len(expected) == 8
    assert {status for status, _ in expected.values()} == {"done"}

    # The same trials (the same keys: a sweep's name is not part of them) on a local Ray with two CPUs.
    local = load_spec(write_spec(tmp_path, GRID.format(name="local"), "b.toml"), settings)
    executor = RayExecutor(num_cpus=2)
    try:
        assert executor.workers == 2
        run_sweep(market, url, settings, local, executor, code="test")
    finally:
        executor.close()
    assert figures(market, "local") == expected
    workers = {t.worker for t in sweep_trials(market, get_sweep(market, "local").id)}
    assert str(os.getpid()) not in {worker.split(":")[-1] for worker in workers}

    if market.dialect.name != "sqlite":
        return  # the separate cluster once, on SQLite: the driver writes there, the trials write on PostgreSQL
    address = request.getfixturevalue("ray_cluster")
    cluster = load_spec(write_spec(tmp_path, GRID.format(name="cluster"), "c.toml"), settings)
    executor = RayExecutor(address=address)
    try:
        assert "on the Ray cluster at" in executor.description
        run_sweep(market, url, settings, cluster, executor, code="test")
    finally:
        executor.close()
    assert figures(market, "cluster") == expected


def test_a_search_suggests_the_same_configurations_anywhere_and_a_rerun_resumes_it(
    market: Engine, database_url: str, tmp_path: Path
) -> None:
    def search(name: str, trials: int) -> str:
        return (
            f'name = "{name}"\nseeds = [3]\n[[windows]]\nstart = "2013-09-03"\nend = "2013-09-30"\n'
            f'[fixed]\ngenerator = "mock"\n[search]\ntrials = {trials}\nbatch = 2\n[search.space]\n'
            '"strategy.top_n" = { low = 4, high = 20, step = 4 }\n'
            '"risk.max_daily_turnover" = { low = 0.05, high = 0.5 }\n'
        )

    first = run("sweep", "run", str(write_spec(tmp_path, search("tpe", 2), "a.toml")), "--serial")
    assert first.exit_code == 0, first.output
    assert "2 trial(s) run, 0 failed, 0 already done" in first.stdout
    resumed = run("sweep", "run", str(write_spec(tmp_path, search("tpe", 3), "a.toml")), "--serial")
    assert resumed.exit_code == 0, resumed.output
    assert "1 trial(s) run, 0 failed, 2 already done" in resumed.stdout
    fresh = run("sweep", "run", str(write_spec(tmp_path, search("fresh", 3), "b.toml")), "--serial")
    assert fresh.exit_code == 0
    resumed_trials = sweep_trials(market, get_sweep(market, "tpe").id)
    fresh_trials = sweep_trials(market, get_sweep(market, "fresh").id)
    assert [t.settings for t in resumed_trials] == [t.settings for t in fresh_trials]
    assert [t.metric_value for t in resumed_trials] == [t.metric_value for t in fresh_trials]
    assert len({t.configuration for t in fresh_trials}) == 3
    for trial in fresh_trials:
        assert trial.settings["strategy.top_n"] in (4, 8, 12, 16, 20)
        assert 0.05 <= trial.settings["risk.max_daily_turnover"] <= 0.5


def test_a_bad_spec_or_request_stops_before_anything_is_written(
    market: Engine, database_url: str, tmp_path: Path
) -> None:
    bad = write_spec(
        tmp_path, GRID.format(name="bad").replace('"strategy.top_n" = [5, 15]', '"strategy.top_n" = [0, 5]')
    )
    result = run("sweep", "run", str(bad), "--serial")
    assert result.exit_code == 1
    assert "spec.toml: strategy.top_n: Input should be greater than or equal to 1 (got 0)" in result.output
    assert "Traceback" not in result.output
    assert count(market, Sweep) == 0
    both = run(
        "sweep", "run", str(write_spec(tmp_path, GRID.format(name="ok"), "ok.toml")), "--serial", "--num-cpus", "2"
    )
    assert both.exit_code == 1
    assert "--serial runs in this process: leave out --address and --num-cpus" in both.output
    assert count(market, Sweep) == 0
    missing = run("sweep", "show", "nothing")
    assert missing.exit_code == 1
    assert "no sweep 'nothing': `fund sweep list` shows the sweeps" in missing.output
    assert "no sweeps stored" in run("sweep", "list").stdout

    assert run("sweep", "run", str(write_spec(tmp_path, GRID.format(name="same"), "x.toml")), "--serial").exit_code == 0
    other = GRID.format(name="same").replace('metric = "sharpe"', 'metric = "cagr"')
    changed = run("sweep", "run", str(write_spec(tmp_path, other, "y.toml")), "--serial")
    assert changed.exit_code == 1
    assert "sweep 'same' (id 1) already exists with other terms (metric 'sharpe' -> 'cagr')" in changed.output


TINY_RANKERS = '[fixed]\nstrategies = ["growth_midcap", "dividend"]\ntrain_sessions = 126\n"models.ranker.folds" = 2\n'


def test_ranker_and_agent_trials_store_their_models_with_the_sweep_as_lineage_and_agents_learn_on_no_trials_ranker(
    market: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite the command stores the models a trial hands back; on PostgreSQL the trial stores them itself.
    rankers = (
        'name = "depth"\nkind = "ranker"\nmetric = "rank_ic"\nseeds = [7]\n'
        '[[windows]]\nstart = "2013-04-01"\nend = "2013-06-28"\n'
        + TINY_RANKERS
        + '[grid]\n"models.ranker.n_estimators" = [3, 6]\n'
    )
    result = run("sweep", "run", str(write_spec(tmp_path, rankers, "r.toml")), "--serial")
    assert result.exit_code == 0, result.output
    trials = sweep_trials(market, get_sweep(market, "depth").id)
    assert [t.status for t in trials] == ["done", "done"]
    stored = {m.id: m for m in list_models(market)}
    for trial in trials:
        assert len(trial.model_ids) == 2
        assert set(trial.metrics["by_strategy"]) == {"growth_midcap", "dividend"}
        assert trial.metrics["train_window"][1] < "2013-04-01"  # trained strictly before the held-out window
        for model_id in trial.model_ids:
            assert stored[model_id].parameters["sweep"] == "depth"
            assert stored[model_id].parameters["trial"] == trial.trial_key
            assert stored[model_id].parameters["n_estimators"] == trial.settings["models.ranker.n_estimators"]
        assert trial.series["dates"]
        assert all(d >= "2013-04-01" for d in trial.series["dates"])

    # An agent trial learns from the newest ranker that is not a sweep's experiment: this one.
    monkeypatch.setenv("FUND_MODELS__RANKER__FOLDS", "2")
    trained = run("train", "xgboost", "--models", "dividend", "--start-date", "2012-10-01", "--end-date", "2013-03-28")
    assert trained.exit_code == 0, trained.output
    (ranker,) = [m for m in list_models(market, kind=RANKER, strategy="dividend") if "sweep" not in m.parameters]
    agents = (
        'name = "penalty"\nkind = "agent"\nmetric = "sharpe_over_equal_weight"\nseeds = [1]\n'
        '[[windows]]\nstart = "2013-08-01"\nend = "2013-08-30"\n'
        '[fixed]\nstrategy = "dividend"\ntimesteps = 64\n"models.agent.n_steps" = 32\n"models.agent.batch_size" = 16\n'
        '"models.agent.episode_sessions" = 10\n"strategy.top_n" = 5\n'
        '[grid]\n"models.agent.risk_penalty" = [0.0, 1.0]\n'
    )
    result = run("sweep", "run", str(write_spec(tmp_path, agents, "a.toml")), "--serial")
    assert result.exit_code == 0, result.output
    trials = sweep_trials(market, get_sweep(market, "penalty").id)
    assert [t.status for t in trials] == ["done", "done"], [t.error for t in trials]
    for trial in trials:
        (agent_id,) = trial.model_ids
        model = {m.id: m for m in list_models(market)}[agent_id]
        assert model.kind == AGENT
        assert model.parameters["sweep"] == "penalty"
        assert trial.metrics["sharpe_over_equal_weight"] == pytest.approx(
            trial.metrics["sharpe_agent"] - trial.metrics["sharpe_equal_weight"]
        )
        assert model.train_end <= date(2013, 8, 1)
        assert trial.metrics["ranker_id"] == ranker.id


def test_without_ray_or_optuna_the_command_says_what_to_install_and_writes_nothing(
    market: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine without the scale extra: importing either library fails.
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "optuna", None)
    grid = run("sweep", "run", str(write_spec(tmp_path, GRID.format(name="g"), "g.toml")))
    assert grid.exit_code == 1
    assert "Ray is not installed: install the extra (pip install 'autofund[scale]') or run with --serial" in grid.output
    search = (
        'name = "s"\n[[windows]]\nstart = "2013-09-03"\nend = "2013-09-30"\n[search]\ntrials = 2\n'
        '[search.space]\n"strategy.top_n" = { low = 4, high = 20 }\n'
    )
    searched = run("sweep", "run", str(write_spec(tmp_path, search, "s.toml")), "--serial")
    assert searched.exit_code == 1
    assert "a [search] needs Optuna: install the extra (pip install 'autofund[scale]'), or give a [grid]" in (
        searched.output
    )
    assert count(market, Sweep) == 0
    # A grid runs serially without either.
    serial = run("sweep", "run", str(write_spec(tmp_path, GRID.format(name="g"), "g.toml")), "--serial")
    assert serial.exit_code == 0, serial.output
    assert "8 trial(s) run, 0 failed" in serial.stdout


def test_a_ranker_sweep_ranked_by_the_rank_ic_without_late_joiners_stores_shows_and_deflates_that_figure(
    market: Engine, database_url: str, tmp_path: Path
) -> None:
    late_joiners_in(market)  # late joiners until 2014: the whole held-out window below
    spec = (
        'name = "survivors"\nkind = "ranker"\nmetric = "rank_ic_without_late_joiners"\nseeds = [7]\n'
        '[[windows]]\nstart = "2013-07-01"\nend = "2013-12-31"\n'
        + TINY_RANKERS
        # Universes of 30 of the 60 names: without its late joiners a date keeps the ten names a rank IC needs.
        + '"universe.min_bucket_size" = 30\n[grid]\n"models.ranker.n_estimators" = [3, 6]\n'
    )
    result = run("sweep", "run", str(write_spec(tmp_path, spec, "s.toml")), "--serial")
    assert result.exit_code == 0, result.output
    record = get_sweep(market, "survivors")
    trials = sweep_trials(market, record.id)
    assert [t.status for t in trials] == ["done", "done"], [t.error for t in trials]
    for trial in trials:
        splits = trial.metrics["without_late_joiners"]
        assert set(splits) == {"growth_midcap", "dividend"}
        assert {split["verdict"] for split in splits.values()} == {"informative"}
        without = np.mean([split["rank_ic"] for split in splits.values()])
        assert trial.metric_value == pytest.approx(without)
        assert trial.metrics["rank_ic_without_late_joiners"] == pytest.approx(without)
        # Fundamentals from the window's first date: every name's counterpart is its figure over the window.
        assert trial.metrics["rank_ic_every_name_same_dates"] == pytest.approx(trial.metrics["rank_ic"])
        assert 0 < trial.metrics["late_joiner_share"] < 1
        assert len(trial.series["values_without_late_joiners"]) == len(trial.series["dates"])

    from backtesting.sweeps.summary import configuration_series, summarise

    # The deflation and the PBO take the series of the figure the sweep is ranked by.
    kept = configuration_series(trials, "rank_ic_without_late_joiners")
    for trial in trials:
        expected = [v for v in trial.series["values_without_late_joiners"] if v is not None]
        assert kept[trial.configuration].tolist() == pytest.approx(expected)
        assert kept[trial.configuration].tolist() != pytest.approx(trial.series["values"])
    summary = summarise(record, trials)
    assert summary.beside == ("rank_ic", "rank_ic_every_name_same_dates")
    best = summary.configurations[0]
    assert best.value == max(t.metric_value or -1.0 for t in trials)

    shown = run("sweep", "show", "survivors")
    assert shown.exit_code == 0, shown.output
    assert "rank_ic_without_late_joiners    rank_ic same dates" in shown.stdout
    assert "ranked by the rank IC without late joiners, the conservative figure, with its own series" in shown.stdout
    assert summary.deflated_sharpe is not None
    assert summary.best_sharpe == pytest.approx(per_period_sharpe(kept[best.key].to_numpy()))
    assert "the Sharpe of its rank IC without late joiners on dates whose labels do not overlap" in shown.stdout

    by_every_name = run("sweep", "show", "survivors", "--metric", "rank_ic", "--trials")
    assert by_every_name.exit_code == 0, by_every_name.output
    assert "trials by rank_ic (the sweep's: rank_ic_without_late_joiners)" in by_every_name.stdout
    assert "w/o late same dates" in by_every_name.stdout
    assert "trials best first (of 2 with a rank_ic; beside it w/o late, same dates)" in by_every_name.stdout
    assert "believe the rank IC without them, the conservative one" in by_every_name.stdout
    refused = run("sweep", "show", "survivors", "--metric", "sharpe")
    assert refused.exit_code == 1
    assert "metric 'sharpe': a ranker trial reports rank_ic, ic" in refused.output


def test_a_ranker_sweep_stored_before_the_late_joiner_split_still_shows_without_that_figure(
    market: Engine, database_url: str
) -> None:
    from backtesting.sweeps.spec import TrialPlan, Window

    sweep = open_sweep(
        market, name="old", kind="ranker", metric="rank_ic", direction="maximize", search="grid", spec={}, code="old"
    )
    dates = [f"2013-0{month}-0{day}" for month in (4, 5, 6) for day in (1, 2, 3, 4, 5, 8)]
    rng = np.random.default_rng(3)
    for depth in (2, 4):
        plan = TrialPlan("ranker", {"models.ranker.max_depth": depth}, 0, Window(date(2013, 4, 1), date(2013, 6, 28)))
        values = rng.normal(0.02, 0.05, size=len(dates)).tolist()
        # A trial as stored before the split: neither the figure without late joiners nor its series.
        metrics = {"rank_ic": float(np.mean(values)), "by_strategy": {}, "train_window": ["2012-09-04", "2013-03-28"]}
        outcome = TrialOutcome(plan, "done", metrics, {"dates": dates, "values": values}, 1.0, {}, "old:1")
        record_trial(market, sweep.id, trial_row(outcome, "rank_ic", "old"))

    shown = run("sweep", "show", "old")
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.stdout.splitlines() if "models.ranker.max_depth=" in line]
    assert [row[2:4] for row in rows] == [["-", "-"], ["-", "-"]]
    assert "the best of 2 configurations: deflated Sharpe" in shown.stdout
    assert "late joiners" not in shown.stdout
    by_without = run("sweep", "show", "old", "--metric", "rank_ic_without_late_joiners")
    assert by_without.exit_code == 0, by_without.output
    rows = [line.split() for line in by_without.stdout.splitlines() if "models.ranker.max_depth=" in line]
    assert [row[1] for row in rows] == ["-", "-"]
    assert "deflated Sharpe" not in by_without.stdout
