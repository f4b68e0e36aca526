"""Benchmark of the hybrid generator's models on the shared real data set: the rankers' training time,
walk-forward and held-out metrics, one PPO agent's training, and the daily run that loads them.

Every measured command is the real `fund` CLI in a fresh process, on one throw-away PostgreSQL
database holding the shared data (bench_rebalance.prepare_database). The figures of the models are
read back from the model table, where the commands store them.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from benchmarks.bench_rebalance import (
    BAR_FILES,
    FUNDAMENTALS_FILE,
    SECURITIES_FILE,
    CliRun,
    in_helper,
    prepare_database,
    run_cli,
)
from benchmarks.common import (
    DEFAULT_DATA_DIR,
    DEFAULT_PG_URL,
    Measure,
    exit_status,
    peak_rss_kib,
    postgres_database,
    print_table,
)
from trading.db.engine import make_engine
from trading.db.schema import RebalancingLog
from trading.settings import STRATEGIES
from trading.store.models import AGENT, RANKER, ModelRecord, newest_models

# The windows: rankers trained on 2005-2014, evaluated on the rest of the data.
DEFAULT_TRAIN_START = date(2005, 1, 1)
DEFAULT_TRAIN_END = date(2014, 12, 31)
DEFAULT_EVAL_END = date(2021, 4, 21)
DEFAULT_DATE = date(2021, 4, 21)
DEFAULT_TIMESTEPS = 100_000
DEFAULT_RUNS = 3

RANKER_SECONDS_TARGET = 60.0
PPO_SECONDS_TARGET = 300.0
RUN_SECONDS_TARGET = 8.0

SINGLE_STRATEGY = "growth_midcap"
PPO_STYLE, PPO_MARKET_CAP = "growth", "mid"
PPO_STRATEGY = "growth_midcap"
STARTING_CASH = "100000"
ACCOUNT_PREFIX = "BENCH_HYBRID"

# `fund train xgboost` prints one such line per ranker:
# "growth_midcap: <version> (full inputs, 17; 12,345 rows, 8.1 s)".
FIT_LINE = re.compile(r"^(\w+): \S+ \((\w+) inputs, \d+; ([\d,]+) rows, ([\d.]+) s\)$", re.MULTILINE)


@dataclass(frozen=True)
class Windows:
    train_start: date
    train_end: date
    eval_start: date
    eval_end: date

    @property
    def evaluation_key(self) -> str:
        """The name `fund models evaluate` stores its figures under in metrics['evaluations']."""
        return f"{self.eval_start.isoformat()}..{self.eval_end.isoformat()}"


@dataclass
class Bench:
    """What every stage needs: the `fund` command, the database, and the commands worth profiling."""

    fund: Path
    url: str
    engine: Engine
    slow: list[tuple[str, list[str]]]  # (label, fund arguments) of the commands that missed a time target

    def run(self, *arguments: str) -> CliRun:
        return run_cli([str(self.fund), *arguments], self.url)


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def checked(run: CliRun, label: str) -> bool:
    """Whether the command exited 0; prints its output tails when it did not."""
    if run.status != 0:
        run.show_failure(label)
    return run.status == 0


def timing(name: str, run: CliRun, target: float | None) -> Measure:
    """A wall-time measure; a command that failed fails its time target too (its time means nothing)."""
    if target is None:
        return Measure(name, f"{run.seconds:.1f} s", "", None if run.status == 0 else False)
    return Measure(name, f"{run.seconds:.1f} s", f"<= {target:.0f} s", run.status == 0 and run.seconds <= target)


# --- 1. rankers -------------------------------------------------------------------------------------


def train_arguments(models: str, windows: Windows) -> list[str]:
    return [
        "train",
        "xgboost",
        "--models",
        models,
        "--start-date",
        windows.train_start.isoformat(),
        "--end-date",
        windows.train_end.isoformat(),
    ]


def fit_figures(stdout: str) -> dict[str, tuple[int, float]]:
    """strategy -> (final rows, RankerTraining.seconds) from the output of a one-variant command."""
    return {m[1]: (int(m[3].replace(",", "")), float(m[4])) for m in FIT_LINE.finditer(stdout)}


def variant_fit_figures(stdout: str) -> dict[str, tuple[int, float]]:
    """feature-set variant -> (final rows, RankerTraining.seconds) from a one-strategy command."""
    return {m[2]: (int(m[3].replace(",", "")), float(m[4])) for m in FIT_LINE.finditer(stdout)}


def variant_measures(bench: Bench, windows: Windows) -> list[Measure]:
    """One strategy's ranker in each feature-set variant (autonomous/ranking/feature_sets.py): what
    training every variant costs, beside the default run's one."""
    run = bench.run(*train_arguments(SINGLE_STRATEGY, windows), "--feature-sets", "all")
    checked(run, f"train xgboost {SINGLE_STRATEGY} --feature-sets all")
    fits = variant_fit_figures(run.stdout)
    measures = [timing(f"train xgboost {SINGLE_STRATEGY} --feature-sets all: process wall time", run, None)]
    for variant, (rows, seconds) in fits.items():
        measures.append(Measure(f"  fit {variant} ({rows:,} rows)", f"{seconds:.1f} s", "", None))
    measures.append(Measure("feature-set variants fitted", f"{len(fits)} of 4", "4", len(fits) == 4))
    return measures


def ranker_measures(bench: Bench, windows: Windows) -> list[Measure]:
    single_arguments = train_arguments(SINGLE_STRATEGY, windows)
    single = bench.run(*single_arguments)
    checked(single, f"train xgboost {SINGLE_STRATEGY}")
    if single.status != 0 or single.seconds > RANKER_SECONDS_TARGET:
        bench.slow.append((f"train xgboost {SINGLE_STRATEGY}", single_arguments))
    # All seven in one process: the training rows are built once and shared (train_rankers).
    every = bench.run(*train_arguments("all", windows))
    checked(every, "train xgboost all")
    single_fit = fit_figures(single.stdout).get(SINGLE_STRATEGY)
    fits = fit_figures(every.stdout)
    window = f"{windows.train_start}..{windows.train_end}"
    measures = [
        timing(f"train xgboost {SINGLE_STRATEGY} {window}: process wall time", single, RANKER_SECONDS_TARGET),
        Measure(f"train xgboost {SINGLE_STRATEGY}: peak RSS", mib(single.peak_rss_kib), "", None),
    ]
    if single_fit is not None:
        # What is not the fit is the start-up, the row building (load_ranker_data) and the store.
        rows, seconds = single_fit
        measures += [
            Measure(f"  fit (walk-forward + final), {rows:,} rows", f"{seconds:.1f} s", "", None),
            Measure("  the rest: start-up, training rows, store", f"{single.seconds - seconds:.1f} s", "", None),
        ]
    measures += [
        timing(f"train xgboost all ({len(fits)} fitted): process wall time", every, None),
        Measure("train xgboost all: peak RSS", mib(every.peak_rss_kib), "", None),
    ]
    for strategy, (rows, seconds) in fits.items():
        measures.append(Measure(f"  fit {strategy} ({rows:,} rows)", f"{seconds:.1f} s", "", None))
    if fits:
        rest = every.seconds - sum(seconds for _, seconds in fits.values())
        measures.append(Measure("  the rest: start-up, training rows, store", f"{rest:.1f} s", "", None))
    measures.append(
        Measure(
            "rankers fitted", f"{len(fits)} of {len(STRATEGIES)}", f"{len(STRATEGIES)}", len(fits) == len(STRATEGIES)
        )
    )
    return measures


# --- 2. walk-forward and held-out metrics ----------------------------------------------------------


def evaluation_measures(bench: Bench, windows: Windows) -> list[Measure]:
    run = bench.run(
        "models",
        "evaluate",
        "--models",
        "all",
        "--start-date",
        windows.eval_start.isoformat(),
        "--end-date",
        windows.eval_end.isoformat(),
    )
    checked(run, "models evaluate")
    rankers = newest_rankers(bench.engine, windows.eval_start)
    evaluated = sum(1 for record in rankers.values() if windows.evaluation_key in record.metrics.get("evaluations", {}))
    return [
        timing(f"models evaluate all {windows.evaluation_key}: process wall time", run, None),
        Measure("models evaluate: peak RSS", mib(run.peak_rss_kib), "", None),
        Measure(
            "rankers evaluated on the held-out window",
            f"{evaluated} of {len(STRATEGIES)}",
            f"{len(STRATEGIES)}",
            evaluated == len(STRATEGIES),
        ),
    ]


def newest_rankers(engine: Engine, before: date) -> dict[str, ModelRecord]:
    """Each strategy's ranker that `fund models evaluate` and the daily run would use."""
    found = {strategy: newest_models(engine, RANKER, strategy, trained_before=before) for strategy in STRATEGIES}
    return {strategy: records[0] for strategy, records in found.items() if records}


def number(value: Any, places: int = 4, *, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{float(value):.{places - 2}%}" if percent else f"{float(value):.{places}f}"


def print_metrics(engine: Engine, windows: Windows) -> None:
    """The rankers' quality: walk-forward (out-of-fold, inside the training window) and held out."""
    rankers = newest_rankers(engine, windows.eval_start)
    print(f"\nrankers trained on {windows.train_start}..{windows.train_end}: walk-forward, all folds' predictions")
    print(
        f"{'strategy':<17}{'folds':>6}{'dates':>7}{'rankIC':>9}{'ICIR':>8}{'rkICIR':>8}{'t(rIC)':>8}{'top-bot':>9}{'hit':>8}"
    )
    for strategy in STRATEGIES:
        record = rankers.get(strategy)
        if record is None:
            print(f"{strategy:<17}  no ranker")
            continue
        walk = record.metrics.get("walk_forward", {})
        o = walk.get("overall", {})
        print(
            f"{strategy:<17}{len(walk.get('folds', [])):>6}{o.get('dates', 0):>7}{number(o.get('rank_ic')):>9}"
            f"{number(o.get('icir'), 3):>8}{number(o.get('rank_icir'), 3):>8}{number(o.get('rank_ic_t_stat'), 2):>8}"
            f"{number(o.get('top_minus_bottom'), 4, percent=True):>9}{number(o.get('hit_rate'), 3, percent=True):>8}"
        )
    print(f"\nheld out {windows.evaluation_key} (Newey-West t of the rank IC)")
    print(
        f"{'strategy':<17}{'dates':>7}{'rows':>8}{'rankIC':>9}{'t(rIC)':>8}{'IC':>9}{'ICIR':>8}{'top-bot':>9}{'hit':>8}"
    )
    for strategy in STRATEGIES:
        record = rankers.get(strategy)
        e = record.metrics.get("evaluations", {}).get(windows.evaluation_key) if record else None
        if e is None:
            print(f"{strategy:<17}  no held-out evaluation")
            continue
        print(
            f"{strategy:<17}{e.get('dates', 0):>7}{e.get('rows', 0):>8}{number(e.get('rank_ic')):>9}"
            f"{number(e.get('rank_ic_t_stat'), 2):>8}{number(e.get('ic')):>9}{number(e.get('icir'), 3):>8}"
            f"{number(e.get('top_minus_bottom'), 4, percent=True):>9}{number(e.get('hit_rate'), 3, percent=True):>8}"
        )


# --- 3. PPO -----------------------------------------------------------------------------------------


def ppo_measures(bench: Bench, timesteps: int) -> list[Measure]:
    arguments = [
        "train",
        "ppo",
        "--strategy",
        PPO_STYLE,
        "--market-cap",
        PPO_MARKET_CAP,
        "--timesteps",
        str(timesteps),
    ]
    run = bench.run(*arguments)
    checked(run, "train ppo")
    agents = newest_models(bench.engine, AGENT, PPO_STRATEGY)
    label = f"train ppo {PPO_STRATEGY} {timesteps:,} timesteps"
    measures = [
        timing(f"{label}: process wall time", run, None),
        Measure("train ppo: peak RSS", mib(run.peak_rss_kib), "", None),
    ]
    if run.status != 0 or not agents:
        return [*measures, Measure("train ppo: agent stored", "no", "yes", False)]
    metrics = agents[0].metrics
    seconds = float(metrics["training_seconds"])
    # The target is stated for 100k timesteps; a shorter run (a smoke test) only reports its time.
    target = PPO_SECONDS_TARGET if timesteps == DEFAULT_TIMESTEPS else None
    if target is not None and seconds > target:
        bench.slow.append((label, arguments))
    evaluation = metrics.get("evaluation", {})
    held_out = "..".join(evaluation.get("window", [])) or "?"
    measures += [
        Measure(
            f"  PPO training alone ({metrics.get('train_sessions')} sessions {agents[0].train_start}..)",
            f"{seconds:.1f} s",
            f"<= {target:.0f} s" if target else "",
            seconds <= target if target else None,
        ),
        Measure("  timesteps per second", f"{timesteps / seconds:,.0f}", "", None),
        Measure("  the rest: start-up, episodes, evaluation", f"{run.seconds - seconds:.1f} s", "", None),
        Measure(
            f"held-out {held_out} Sharpe: agent / equal weight",
            f"{number(evaluation.get('sharpe_agent'), 2)} / {number(evaluation.get('sharpe_equal_weight'), 2)}",
            "",
            None,
        ),
        Measure(
            "held-out total return: agent / equal weight",
            f"{number(evaluation.get('total_return_agent'), 3, percent=True)} / "
            f"{number(evaluation.get('total_return_equal_weight'), 3, percent=True)}",
            "",
            None,
        ),
        Measure(
            "held-out turnover per day: agent / equal weight",
            f"{number(evaluation.get('turnover_agent'), 3, percent=True)} / "
            f"{number(evaluation.get('turnover_equal_weight'), 3, percent=True)}",
            "",
            None,
        ),
    ]
    return measures


# --- 4. the daily run with the hybrid generator -----------------------------------------------------


def rebalance_arguments(day: date, account: str) -> list[str]:
    # No --use-mock: the CLI registers the hybrid generator, which loads the models from the database.
    return ["rebalance", "--paper-trading", "--account-id", account, "--date", day.isoformat()]


def logged_run(engine: Engine, account: str, day: date) -> dict[str, Any]:
    """The account's rebalancing_log row of the day (the latest attempt): what the run decided and why."""
    query = (
        select(
            RebalancingLog.status,
            RebalancingLog.strategy_selected,
            RebalancingLog.market_regime,
            RebalancingLog.risk_verdict,
            RebalancingLog.num_buys,
            RebalancingLog.model_versions,
            RebalancingLog.strategy_reason,
            RebalancingLog.error,
        )
        .where(RebalancingLog.account_id == account, RebalancingLog.rebalance_date == day)
        .order_by(RebalancingLog.id.desc())
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return dict(row._mapping) if row is not None else {}


def rebalance_measures(bench: Bench, day: date, runs: int) -> tuple[list[Measure], list[dict[str, Any]]]:
    accounts = [f"{ACCOUNT_PREFIX}_{number}" for number in range(1, runs + 1)]
    for account in accounts:
        # A fresh account per run: no run finds another's session already done or its positions.
        checked(bench.run("accounts", "create", "--cash", STARTING_CASH, "--account-id", account), "accounts create")
    results = [bench.run(*rebalance_arguments(day, account)) for account in accounts]
    for account, result in zip(accounts, results, strict=True):
        if not result.completed:
            result.show_failure(f"rebalance {account}")
    logs = [logged_run(bench.engine, account, day) for account in accounts]
    median = statistics.median(result.seconds for result in results)
    if median > RUN_SECONDS_TARGET:
        bench.slow.append((f"rebalance {day} (hybrid)", rebalance_arguments(day, f"{ACCOUNT_PREFIX}_PROFILE")))
    completed = sum(result.completed for result in results)
    generators = sorted({str((log.get("model_versions") or {}).get("portfolio")) for log in logs})
    measures = [
        Measure(f"rebalance {day} hybrid: runs completed", f"{completed} of {runs}", f"{runs}", completed == runs),
        Measure(
            f"rebalance hybrid: wall time, median of {runs}",
            f"{median:.2f} s",
            f"<= {RUN_SECONDS_TARGET:.0f} s",
            completed == runs and median <= RUN_SECONDS_TARGET,
        ),
        Measure("  each run", " / ".join(f"{result.seconds:.2f}" for result in results), "", None),
        Measure("rebalance hybrid: peak RSS, largest", mib(max(r.peak_rss_kib for r in results)), "", None),
        Measure("rebalance hybrid: portfolio generator", ", ".join(generators), "", None),
    ]
    return measures, logs


def print_logs(logs: Sequence[dict[str, Any]]) -> None:
    for number_, log in enumerate(logs, start=1):
        print(f"\nrebalancing_log of run {number_}:")
        for key in ("status", "market_regime", "strategy_selected", "risk_verdict", "num_buys", "error"):
            print(f"  {key}: {log.get(key)}")
        print(f"  model_versions: {log.get('model_versions')}")
        print(f"  strategy_reason: {log.get('strategy_reason')}")


# --- the whole benchmark ----------------------------------------------------------------------------


def profile_slow(bench: Bench, folder: Path) -> None:
    """Each command that missed its time target once more under cProfile (imports included)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number_, (label, arguments) in enumerate(bench.slow, start=1):
        if arguments[0] == "rebalance":
            # A run on an account that already ran this session would find it done and stop early.
            account = arguments[arguments.index("--account-id") + 1]
            bench.run("accounts", "create", "--cash", STARTING_CASH, "--account-id", account)
        output = folder / f"bench_models_{number_}.prof"
        run = run_cli([sys.executable, "-m", "cProfile", "-o", str(output), str(bench.fund), *arguments], bench.url)
        checked(run, f"profiled {label}")
        print(f"\nprofile of {label} ({run.seconds:.1f} s under cProfile), written to {output}:")
        pstats.Stats(str(output)).sort_stats("cumulative").print_stats(30)


def measure_all(bench: Bench, args: argparse.Namespace, windows: Windows) -> list[Measure]:
    measures = [Measure("load average 1/5/15 min, start", load_average(), "", None)]
    print("training the rankers (one, then all seven)...", flush=True)
    measures += ranker_measures(bench, windows)
    print("evaluating the rankers on the held-out window...", flush=True)
    measures += evaluation_measures(bench, windows)
    if not args.skip_ppo:
        print(f"training the {PPO_STRATEGY} PPO agent ({args.timesteps:,} timesteps)...", flush=True)
        measures += ppo_measures(bench, args.timesteps)
    print(f"{args.runs} daily runs with the hybrid generator...", flush=True)
    run_measures, logs = rebalance_measures(bench, args.date, args.runs)
    measures += run_measures
    # Last: the variants' rankers share the default one's window, so the stages above would see them.
    print(f"training {SINGLE_STRATEGY}'s ranker in every feature-set variant...", flush=True)
    measures += variant_measures(bench, windows)
    measures += [
        Measure("load average 1/5/15 min, end", load_average(), "", None),
        Measure("this process's peak RSS (a floor of the above)", mib(peak_rss_kib()), "", None),
    ]
    print_metrics(bench.engine, windows)
    print_logs(logs)
    return measures


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL (default: %(default)s)")
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the data folder (default: %(default)s)"
    )
    iso = date.fromisoformat
    parser.add_argument("--train-start", type=iso, default=DEFAULT_TRAIN_START, help="(default: %(default)s)")
    parser.add_argument("--train-end", type=iso, default=DEFAULT_TRAIN_END, help="(default: %(default)s)")
    parser.add_argument("--eval-start", type=iso, default=None, help="(default: the day after --train-end)")
    parser.add_argument("--eval-end", type=iso, default=DEFAULT_EVAL_END, help="(default: %(default)s)")
    parser.add_argument(
        "--date", type=iso, default=DEFAULT_DATE, help="the session to rebalance (default: %(default)s)"
    )
    parser.add_argument("--timesteps", type=int, default=DEFAULT_TIMESTEPS, help="PPO timesteps (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="hybrid daily runs (default: %(default)s)")
    parser.add_argument("--skip-ppo", action="store_true", help="no PPO agent: the daily run uses equal weights")
    parser.add_argument("--profile", type=Path, default=None, help="profile each command that misses a time target")
    args = parser.parse_args(argv)
    args.eval_start = args.eval_start or args.train_end + timedelta(days=1)
    if not args.train_start < args.train_end < args.eval_start < args.eval_end:
        parser.error("the windows must be ordered: train start < train end < eval start < eval end")
    if args.runs < 1 or args.timesteps < 1:
        parser.error("--runs and --timesteps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    absent = [
        str(p) for p in (args.data_dir / n for n in (*BAR_FILES, SECURITIES_FILE, FUNDAMENTALS_FILE)) if not p.is_file()
    ]
    if absent:
        print(f"missing data file(s): {', '.join(absent)}", file=sys.stderr)
        return 2
    fund = Path(sys.executable).with_name("fund")
    if not fund.is_file():
        print(f"no `fund` command next to {sys.executable}: install the package into this environment", file=sys.stderr)
        return 2
    windows = Windows(args.train_start, args.train_end, args.eval_start, args.eval_end)
    with postgres_database(args.pg_url, prefix="autofund_bench_models") as server_url:
        url = server_url.render_as_string(hide_password=False)
        print("importing the shared data into a throw-away database (about a minute, not timed)...", flush=True)
        # In a helper: the import's memory would otherwise be the floor of every child's peak RSS.
        in_helper(prepare_database, url, args.data_dir)
        engine = make_engine(url)
        try:
            bench = Bench(fund, url, engine, [])
            measures = measure_all(bench, args, windows)
            if args.profile is not None and bench.slow:
                profile_slow(bench, args.profile)
        finally:
            engine.dispose()
    print_table(f"bench_models on postgresql (train {windows.train_start}..{windows.train_end})", measures)
    return exit_status(measures)


if __name__ == "__main__":
    sys.exit(main())
