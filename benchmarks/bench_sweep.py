"""Sweep speed on the shared data: 16 short backtest trials (a 4 x 4 grid, the mock generator, one window of
about three months of ~500 stocks) serially in this process, then on a local Ray with two CPUs: the speed-up,
Ray's start-up, the overhead per task, and where one trial's time goes (panel load, features, regimes,
decisions, metrics).

    .venv/bin/python -m benchmarks.bench_sweep --database-url URL [--start 2019-01-02] [--end 2019-03-29]

With --database-url the shared data must already be loaded there (scripts/load_shared_data.sh); without it a
throw-away PostgreSQL database is created and filled first (a few minutes, not timed). Each run is its own
sweep (a fresh name), so nothing is skipped as done. There is no target (issue 14 asks for the figures).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

from benchmarks.bench_rebalance import in_helper, prepare_database
from benchmarks.common import DEFAULT_DATA_DIR, DEFAULT_PG_URL, Measure, postgres_database, print_table

PHASES = ("load", "features", "regimes", "decisions", "metrics")


def spec_text(name: str, start: date, end: date) -> str:
    return (
        f'name = "{name}"\nkind = "backtest"\nmetric = "sharpe"\nseeds = [0]\n'
        f'[[windows]]\nstart = "{start}"\nend = "{end}"\n'
        '[fixed]\ngenerator = "mock"\n'
        '[grid]\n"strategy.top_n" = [10, 15, 20, 30]\n"risk.max_daily_turnover" = [0.1, 0.2, 0.3, 0.5]\n'
    )


def run_once(
    url: str, start: date, end: date, executor_name: str, folder: Path
) -> tuple[float, float, list[dict[str, float]]]:
    """(wall seconds of the sweep, seconds to start the executor, each trial's timings and duration)."""
    from backtesting.sweeps.executors import RayExecutor, SerialExecutor
    from backtesting.sweeps.runner import run_sweep
    from backtesting.sweeps.spec import load_spec
    from trading.db.engine import make_engine
    from trading.settings import load_settings
    from trading.store.sweeps import get_sweep, sweep_trials

    settings = load_settings(None)
    name = f"bench-{executor_name}-{uuid.uuid4().hex[:8]}"
    path = folder / f"{name}.toml"
    path.write_text(spec_text(name, start, end))
    spec = load_spec(path, settings)
    engine = make_engine(url)
    started = time.perf_counter()
    executor = SerialExecutor() if executor_name == "serial" else RayExecutor(num_cpus=2)
    startup = time.perf_counter() - started
    try:
        started = time.perf_counter()
        result = run_sweep(engine, url, settings, spec, executor, code="bench")
        wall = time.perf_counter() - started
    finally:
        executor.close()
    trials = sweep_trials(engine, get_sweep(engine, name).id)
    engine.dispose()
    failed = [t for t in trials if t.status != "done"]
    if failed or result.progress.done != 16:
        raise SystemExit(f"{executor_name}: {len(failed)} trial(s) failed: {failed[0].error if failed else ''}")
    return wall, startup, [{**t.timings, "duration": t.duration_seconds} for t in trials]


def phase_line(trials: list[dict[str, float]], label: str) -> Measure:
    first = [t for t in trials if "load" in t]
    parts = [f"load {statistics.fmean(t['load'] for t in first):.1f} s (x{len(first)})"]
    parts += [f"features and regimes {statistics.fmean(t.get('features', 0.0) for t in first):.1f} s (x{len(first)})"]
    for phase in ("regimes", "decisions", "metrics"):
        parts.append(f"{phase} {statistics.median(t.get(phase, 0.0) for t in trials):.2f} s")
    parts.append(f"whole trial {statistics.median(t['duration'] for t in trials):.1f} s (median)")
    return Measure(f"one trial, {label}: where the time goes", ", ".join(parts), "", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None, help="a database already holding the shared data")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server for a throw-away database")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="the data folder (default: %(default)s)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2019, 1, 2))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2019, 3, 29))
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        if args.database_url:
            measures = measure_all(args.database_url, args.start, args.end, Path(folder))
        else:
            with postgres_database(args.pg_url) as server_url:
                url = server_url.render_as_string(hide_password=False)
                print("importing the shared data into a throw-away database (not timed)...", flush=True)
                in_helper(prepare_database, url, args.data)
                measures = measure_all(url, args.start, args.end, Path(folder))
    print_table("bench_sweep", measures)
    return 0


def measure_all(url: str, start: date, end: date, folder: Path) -> list[Measure]:
    from trading.db.engine import make_engine
    from trading.db.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)  # a database loaded before the sweep tables existed gets them
    engine.dispose()
    serial_wall, _, serial = run_once(url, start, end, "serial", folder)
    ray_wall, startup, on_ray = run_once(url, start, end, "ray", folder)
    busy = sum(t["duration"] for t in on_ray)
    # What two CPUs spent on anything but the trials themselves, shared out over the 16 tasks.
    overhead = max(0.0, 2 * ray_wall - busy) / len(on_ray)
    window = f"{start}..{end}"
    return [
        Measure(f"16 backtest trials serially, {window}", f"{serial_wall:.1f} s", "", None),
        Measure(
            "the same on a local two-CPU Ray",
            f"{ray_wall:.1f} s (+ {startup:.1f} s to start Ray); speed-up {serial_wall / ray_wall:.2f}x",
            "",
            None,
        ),
        Measure("Ray's overhead per task (2 x wall - trial time, over 16)", f"{overhead:.2f} s", "", None),
        phase_line(serial, "serial"),
        phase_line(on_ray, "Ray"),
    ]


if __name__ == "__main__":
    sys.exit(main())
