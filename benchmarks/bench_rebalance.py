"""Benchmark of the daily run on the shared real data set: one paper rebalance through the `fund` CLI
(wall time from process start, peak RSS), and a year of consecutive daily runs in one process."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import ParamSpec, TypeVar

import pandas as pd

from autonomous.cli.assembly import assemble_daily_run, choose_generator, open_broker
from autonomous.daily_run.journal import DatabaseJournal
from autonomous.daily_run.run import DailyRun, Outcome, RunMode, RunRequest
from autonomous.marketview.preloaded import PreloadedMarketView
from benchmarks.common import (
    DEFAULT_DATA_DIR,
    DEFAULT_PG_URL,
    Measure,
    exit_status,
    peak_rss_kib,
    postgres_database,
    print_table,
    timed,
)
from trading.db import migrate
from trading.db.engine import make_engine
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.reference_import import import_fundamentals, import_securities
from trading.settings import load_settings
from trading.store.accounts import create_paper_account

P = ParamSpec("P")
T = TypeVar("T")

RUN_SECONDS_TARGET = 1.8
# Consecutive runs in one process (a backtest's loop): the median run.
LOOP_SECONDS_TARGET = 0.6
DEFAULT_DATE = date(2021, 4, 21)
DEFAULT_RUNS = 250
STARTING_CASH = Decimal("100000")
BAR_FILES = ("prices_stocks.csv.gz", "benchmarks.csv.gz")
SECURITIES_FILE = "tickers.csv"
# Loaded as scripts/load_shared_data.sh loads it: the daily run's universes read fundamentals.
FUNDAMENTALS_FILE = "fundamentals_snapshot_2018-02-08.csv"
FUNDAMENTALS_AS_OF = date(2018, 2, 8)
# One fresh account per measure, so no measure finds another's run already done or its positions.
CLI_COLD_ACCOUNT = "BENCH_CLI_COLD"
CLI_ACCOUNT = "BENCH_CLI"
LOOP_ACCOUNT = "BENCH_LOOP"
PRELOADED_LOOP_ACCOUNT = "BENCH_LOOP_PRELOADED"
PROFILE_ACCOUNT = "BENCH_PROFILE"
# The loop's first and last runs, compared to see whether a run slows down as the ledger grows.
DRIFT_WINDOW = 25


def benchmark_sessions(folder: Path, benchmark: str) -> list[date]:
    """The benchmark's bar dates in the data file: the sessions the calendar will know after the import."""
    bars = pd.read_csv(folder / "benchmarks.csv.gz", usecols=["date", "ticker"], parse_dates=["date"])
    return sorted(d.date() for d in bars.loc[bars["ticker"] == benchmark, "date"])


def in_helper(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args)` in a fresh interpreter (spawned, not forked: a fork would copy this process's memory)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args, **kwargs).result()


def prepare_database(url: str, folder: Path) -> None:
    """Schema, securities, bars, fundamentals and the paper accounts: what a deployment has before cron runs."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        import_securities(engine, folder / SECURITIES_FILE)
        import_bar_files(engine, [folder / name for name in BAR_FILES])
        import_fundamentals(engine, folder / FUNDAMENTALS_FILE, FUNDAMENTALS_AS_OF)
        for account in (CLI_COLD_ACCOUNT, CLI_ACCOUNT, LOOP_ACCOUNT, PRELOADED_LOOP_ACCOUNT, PROFILE_ACCOUNT):
            create_paper_account(engine, account, STARTING_CASH)
    finally:
        engine.dispose()


def rebalance_command(fund: Path, day: date, account: str) -> list[str]:
    return [str(fund), "rebalance", "--paper-trading", "--use-mock", "--date", day.isoformat(), "--account-id", account]


@dataclass(frozen=True)
class CliRun:
    status: int  # the exit status
    stdout: str
    stderr: str
    seconds: float  # from the spawn to the exit
    peak_rss_kib: int  # the child's own ru_maxrss, from wait4

    @property
    def completed(self) -> bool:
        return self.status == 0 and f": {Outcome.COMPLETED.value}:" in self.stdout

    @property
    def outcome(self) -> str:
        """The outcome word of the command's line `<date> <account> <mode>: <outcome>: <message>`."""
        parts = self.stdout.strip().split(": ")
        return parts[1] if len(parts) > 1 else f"exit status {self.status}"

    def show_failure(self, label: str) -> None:
        print(f"{label}: exit status {self.status}", self.stdout[-2000:], self.stderr[-4000:], sep="\n")


def run_cli(command: list[str], url: str) -> CliRun:
    """Spawn the command and wait for it with wait4, which gives this child's own resource usage.

    RUSAGE_CHILDREN would not do: it is the largest of every child waited for so far. And the figure
    of any child starts from the spawning process's own peak (Linux carries the pre-exec high-water
    mark over exec), which is why the bulk import runs in a helper process and not in this one.
    """
    environment = {**os.environ, "FUND_DATABASE_URL": url}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        redirects = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        started = time.perf_counter()
        pid = os.posix_spawn(command[0], command, environment, file_actions=redirects)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return CliRun(os.waitstatus_to_exitcode(status), out.read(), err.read(), seconds, int(usage.ru_maxrss))


def cli_measures(fund: Path, url: str, day: date) -> list[Measure]:
    floor_kib = peak_rss_kib()
    # The first run after the import pays for cold caches (the server's buffers, the page cache of
    # the packages); the second, on another fresh account, is what a daily cron run on a live database
    # looks like. The target applies to the second; the first is reported.
    cold = run_cli(rebalance_command(fund, day, CLI_COLD_ACCOUNT), url)
    warm = run_cli(rebalance_command(fund, day, CLI_ACCOUNT), url)
    for label, run in (("first CLI run", cold), ("second CLI run", warm)):
        if not run.completed:
            run.show_failure(label)
    return [
        Measure(f"CLI rebalance {day}: outcome", warm.outcome, Outcome.COMPLETED.value, warm.completed),
        Measure(
            "CLI rebalance: wall time from process start",
            f"{warm.seconds:.2f} s",
            f"<= {RUN_SECONDS_TARGET} s",
            warm.seconds <= RUN_SECONDS_TARGET,
        ),
        Measure("CLI rebalance: peak RSS", f"{warm.peak_rss_kib / 1024:,.0f} MiB", "", None),
        Measure("CLI rebalance, first after the import: wall time", f"{cold.seconds:.2f} s", "", cold.completed),
        Measure("CLI rebalance, first after the import: peak RSS", f"{cold.peak_rss_kib / 1024:,.0f} MiB", "", None),
        Measure("this process's peak RSS (a floor of the above)", f"{floor_kib / 1024:,.0f} MiB", "", None),
    ]


def run_loop(url: str, account: str, sessions: list[date], view: str) -> tuple[list[float], list[str], int, int, float]:
    """Consecutive paper runs, one DailyRun: seconds and outcome of each run, peak RSS (KiB) before the
    first run and at the end, and the seconds the market view took to build. `view` is "database" (one
    panel read per session, as cron's runs do) or "preloaded" (one panel for the span, features and
    regimes computed once, as a backtest's runs do). Runs in its own process (see loop_measures)."""
    settings = load_settings()
    engine = make_engine(url)
    try:
        if view == "database":
            daily, setup = assemble_daily_run(engine, settings, RunMode.PAPER, account, use_mock=True), 0.0
        else:
            started = time.perf_counter()
            market = PreloadedMarketView.load(engine, settings, sessions[0], sessions[-1])
            daily = DailyRun(
                settings,
                market=market,
                broker=open_broker(engine, settings, RunMode.PAPER, account, market.calendar()),
                journal=DatabaseJournal(engine, lock_wait_seconds=settings.run.lock_wait_seconds),
                generator=choose_generator(engine, settings, use_mock=True),
            )
            setup = time.perf_counter() - started
        peak_before = peak_rss_kib()
        seconds: list[float] = []
        outcomes: list[str] = []
        for day in sessions:
            request = RunRequest(account, RunMode.PAPER, day)
            result, elapsed = timed(partial(daily.run, request))
            seconds.append(elapsed)
            outcome = result.outcome.value
            outcomes.append(outcome if result.outcome is Outcome.COMPLETED else f"{outcome} on {day}: {result.message}")
        return seconds, outcomes, peak_before, peak_rss_kib(), setup
    finally:
        engine.dispose()


def loop_measures(url: str, sessions: list[date], view: str, account: str) -> list[Measure]:
    # A fresh interpreter, as a backtest process would be, whose peak RSS is the loop's alone.
    seconds, outcomes, peak_before, peak, setup = in_helper(run_loop, url, account, sessions, view)
    failed = [o for o in outcomes if o != Outcome.COMPLETED.value]
    for line in failed[:10]:
        print(f"loop run not completed: {line}", file=sys.stderr)
    runs = len(seconds)
    ordered = sorted(seconds)
    p90 = ordered[min(runs - 1, int(0.9 * runs))]
    window = min(DRIFT_WINDOW, runs)
    first, last = statistics.median(seconds[:window]), statistics.median(seconds[-window:])
    span = f"{sessions[0]} .. {sessions[-1]}"
    median = statistics.median(seconds)
    # The target is for runs as a backtest drives them, over a preloaded market; cron's database
    # view reads a panel every session, and is reported beside it.
    target = view == "preloaded"
    measures = [
        Measure(f"loop ({view}) {span}: runs completed", f"{runs - len(failed)} of {runs}", f"{runs}", not failed),
        Measure(
            f"loop ({view}): time per run, median",
            f"{median:.2f} s",
            f"<= {LOOP_SECONDS_TARGET} s" if target else "",
            median <= LOOP_SECONDS_TARGET if target else None,
        ),
        Measure(f"loop ({view}): time per run, p90", f"{p90:.2f} s", "", None),
        Measure(f"loop ({view}): first run", f"{seconds[0]:.2f} s", "", None),
        Measure(f"loop ({view}): median of first / last {window}", f"{first:.2f} / {last:.2f} s", "", None),
        Measure(f"loop ({view}): total", f"{sum(seconds):.0f} s", "", None),
        Measure(f"loop ({view}): peak RSS before the first run", f"{peak_before / 1024:,.0f} MiB", "", None),
        Measure(f"loop ({view}): peak RSS", f"{peak / 1024:,.0f} MiB", "", None),
    ]
    if target:
        measures.insert(1, Measure("loop (preloaded): loading the span's market", f"{setup:.1f} s", "", None))
    return measures


def profile_cli(fund: Path, url: str, day: date, output: Path) -> None:
    """The measured CLI run once more under cProfile (imports included), on its own account."""
    command = [sys.executable, "-m", "cProfile", "-o", str(output), *rebalance_command(fund, day, PROFILE_ACCOUNT)]
    run = run_cli(command, url)
    if not run.completed:
        run.show_failure("profiled CLI run")
    print(f"\nprofile of one CLI rebalance ({run.seconds:.2f} s under cProfile), written to {output}:")
    pstats.Stats(str(output)).sort_stats("cumulative").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="the data folder (default: %(default)s)")
    parser.add_argument(
        "--date",
        type=date.fromisoformat,
        default=DEFAULT_DATE,
        help="the session to rebalance at (default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="sessions in the loop (default: %(default)s)")
    parser.add_argument("--skip-loop", action="store_true", help="measure the CLI run only")
    parser.add_argument("--profile", type=Path, default=None, help="also profile one CLI run into this pstats file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    paths = [args.data / name for name in (*BAR_FILES, SECURITIES_FILE, FUNDAMENTALS_FILE)]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        print(f"missing data file(s): {', '.join(absent)}", file=sys.stderr)
        return 2
    fund = Path(sys.executable).with_name("fund")
    if not fund.is_file():
        print(f"no `fund` command next to {sys.executable}: install the package into this environment", file=sys.stderr)
        return 2
    benchmark = load_settings().data.benchmark_ticker
    sessions = [d for d in benchmark_sessions(args.data, benchmark) if d <= args.date]
    if not sessions or sessions[-1] != args.date:
        print(f"{args.date} is not a {benchmark} session in {args.data}", file=sys.stderr)
        return 2
    if len(sessions) < args.runs:
        print(f"only {len(sessions)} {benchmark} sessions up to {args.date}, not {args.runs}", file=sys.stderr)
        return 2

    with postgres_database(args.pg_url) as server_url:
        url = server_url.render_as_string(hide_password=False)
        print("importing the shared data into a throw-away database (about a minute, not timed)...", flush=True)
        # In a helper process: the import's memory would otherwise be the floor of every child's peak RSS.
        in_helper(prepare_database, url, args.data)
        measures = cli_measures(fund, url, args.date)
        if not args.skip_loop:
            print(f"running {args.runs} consecutive daily runs (several minutes)...", flush=True)
            for view, account in (("preloaded", PRELOADED_LOOP_ACCOUNT), ("database", LOOP_ACCOUNT)):
                measures += loop_measures(url, sessions[-args.runs :], view, account)
        if args.profile is not None:
            profile_cli(fund, url, args.date, args.profile)
    print_table(f"bench_rebalance on postgresql, {args.date}", measures)
    return exit_status(measures)


if __name__ == "__main__":
    sys.exit(main())
