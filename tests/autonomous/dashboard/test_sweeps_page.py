"""The dashboard's Sweeps page through AppTest, on both databases: the stored sweeps with their trials counted,
and one sweep's configurations best first with the deflated Sharpe and the PBO that `fund sweep show` prints.
The sweep is written through the store with trials whose metrics and series the test chose."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from autonomous.cli.app import fund
from tests.autonomous.dashboard.apptest import page, texts
from trading.store.sweeps import SweepRecord, open_sweep, record_trial

SESSIONS = pd.bdate_range("2021-01-04", periods=60)
# Per configuration (top_n, turnover): the metric of its seed 0 and seed 1 trials (None: the trial failed),
# and the mean daily return of its series.
CONFIGURATIONS = {
    (10, 0.1): ((1.0, 1.2), 0.0010),
    (20, 0.1): ((0.5, 0.7), 0.0004),
    (10, 0.3): ((2.0, None), 0.0020),
    (20, 0.3): ((-0.4, -0.2), -0.0005),
}


def sweep_spec() -> dict[str, object]:
    return {
        "name": "turnover-grid",
        "kind": "backtest",
        "seeds": [0, 1],
        "fixed": {"generator": "mock"},
        "grid": {"strategy.top_n": [10, 20], "risk.max_daily_turnover": [0.1, 0.3]},
    }


def trial_row(top_n: int, turnover: float, seed: int, value: float | None, drift: float) -> dict[str, object]:
    returns = np.random.default_rng(seed * 100 + top_n).normal(drift, 0.01, len(SESSIONS))
    configuration = f"top{top_n}-turnover{turnover}"
    return {
        "trial_key": f"{configuration}-seed{seed}",
        "configuration": configuration,
        "settings": {"generator": "mock", "strategy.top_n": top_n, "risk.max_daily_turnover": turnover},
        "seed": seed,
        "window_start": date(2021, 1, 4),
        "window_end": SESSIONS[-1].date(),
        "status": "done" if value is not None else "failed",
        "metric_value": value,
        "metrics": {"sharpe": value} if value is not None else {},
        "series": {"dates": [str(d.date()) for d in SESSIONS], "values": returns.tolist()} if value is not None else {},
        "model_ids": [],
        "error": None if value is not None else "ValueError: the window has no session",
        "duration_seconds": 1.5,
        "timings": {},
        "worker": "test",
        "code_version": "test",
    }


@pytest.fixture
def stored_sweep(engine: Engine, database_url: str) -> SweepRecord:
    record = open_sweep(
        engine,
        name="turnover-grid",
        kind="backtest",
        metric="sharpe",
        direction="maximize",
        search="grid",
        spec=sweep_spec(),
        code="test",
    )
    for (top_n, turnover), (values, drift) in CONFIGURATIONS.items():
        for seed, value in enumerate(values):
            record_trial(engine, record.id, trial_row(top_n, turnover, seed, value, drift))
    return record


def test_the_sweeps_page_lists_the_sweeps_with_their_trials_counted(stored_sweep: SweepRecord) -> None:
    sweeps = page("Sweeps").dataframe[0].value
    assert list(sweeps["sweep"]) == [stored_sweep.id]
    [row] = sweeps.to_dict("records")
    assert (row["name"], row["kind"], row["metric"], row["direction"], row["search"]) == (
        "turnover-grid",
        "backtest",
        "sharpe",
        "maximize",
        "grid",
    )
    assert (row["done"], row["failed"]) == (7, 1)
    assert pd.Timestamp(row["last trial"]) >= pd.Timestamp(row["started"])


def test_a_sweeps_configurations_are_ranked_by_their_mean_metric_best_first(stored_sweep: SweepRecord) -> None:
    app = page("Sweeps")
    ranked = app.dataframe[1].value
    assert list(ranked["rank"]) == [1, 2, 3, 4]
    # The failed trial's configuration is ranked by its one trial done; the others by the mean of two.
    assert list(zip(ranked["strategy.top_n"], ranked["risk.max_daily_turnover"], strict=True)) == [
        (10, 0.3),
        (10, 0.1),
        (20, 0.1),
        (20, 0.3),
    ]
    assert list(ranked["sharpe"]) == pytest.approx([2.0, 1.1, 0.6, -0.3])
    assert list(ranked["trials"]) == [2, 2, 2, 2]
    assert list(ranked["failed"]) == [1, 0, 0, 0]
    assert "generator" not in ranked  # the same for every configuration: not a column
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Best mean sharpe"] == "2.0000"
    assert "Sweep 1 'turnover-grid': backtest trials by sharpe (maximize), 4 configuration(s), 8 trial(s)" in [
        h.value for h in app.subheader
    ]
    assert len(app.get("plotly_chart")) == 2  # the configurations' metric, and the best ones' growth


def test_the_sweeps_page_states_the_deflated_sharpe_and_pbo_as_fund_sweep_show_does(
    stored_sweep: SweepRecord,
) -> None:
    shown = CliRunner().invoke(fund, ["--log-level", "WARNING", "sweep", "show", "turnover-grid"])
    assert shown.exit_code == 0, shown.output
    deflated = re.search(r"the best of (\d+) configurations: deflated Sharpe ([0-9.]+)", shown.output)
    pbo = re.search(r"overfitting \(CSCV, (\d+) splits\): (\d+)%", shown.output)
    assert deflated is not None, shown.output
    assert pbo is not None, shown.output

    app = page("Sweeps")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Deflated Sharpe of the best"] == deflated.group(2)
    assert metrics["Probability of overfitting"] == f"{pbo.group(2)}%"
    said = texts(app)
    assert f"once the choice among {deflated.group(1)} configurations is accounted for" in said
    assert f"(CSCV, {pbo.group(1)} splits)" in said


def test_a_sweep_without_trials_yet_is_listed_and_says_so(engine: Engine, database_url: str) -> None:
    open_sweep(
        engine,
        name="just-started",
        kind="ranker",
        metric="rank_ic",
        direction="maximize",
        search="optuna",
        spec={"search": {"trials": 4, "space": {"models.ranker.max_depth": {"low": 2, "high": 6}}}},
        code="test",
    )
    app = page("Sweeps")
    [row] = app.dataframe[0].value.to_dict("records")
    assert (row["name"], row["done"], row["failed"]) == ("just-started", 0, 0)
    assert row["last trial"] is None or pd.isna(row["last trial"])
    assert "0 configuration(s), 0 trial(s)" in app.subheader[0].value
    assert "No trial recorded yet" in texts(app)
    assert not app.metric


def test_the_dashboard_loads_the_backtesting_package_only_when_a_page_needs_it() -> None:
    # autonomous/ sits below backtesting/: the Sweeps page and the tear sheet import it when drawn, as the CLI does.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, autonomous.dashboard.app, autonomous.dashboard.research; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'backtesting'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
