"""Benchmark of the bar import and the point-in-time view on the shared real data set: a full import
into a fresh database, an idempotent re-import, and a 10-year adjusted-close panel, against targets."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL

from trading.db import migrate
from trading.db.engine import make_engine, normalise_url
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.view import load_panel

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "sp500_av_1999_2021"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FILES = ("prices_stocks.csv.gz", "benchmarks.csv.gz")

IMPORT_SECONDS_TARGET = {"postgresql": 60.0, "sqlite": 120.0}
PEAK_RSS_TARGET_KIB = 2 * 1024 * 1024  # 2 GiB
PANEL_SECONDS_TARGET = {"postgresql": 3.0}  # SQLite is reported without a target
PANEL_AS_OF = date(2021, 4, 21)
PANEL_START = date(2011, 4, 21)
PANEL_RUNS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class Measure:
    name: str
    value: str
    target: str
    passed: bool | None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return "info" if self.passed is None else ("PASS" if self.passed else "FAIL")


def _timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def _peak_rss_kib() -> int:
    # ru_maxrss is in KiB on Linux (bytes on macOS; this benchmark targets Linux).
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@contextmanager
def _postgres_database(server_url: str) -> Iterator[URL]:
    """A throw-away database on the server, dropped at the end even when the benchmark fails."""
    server = normalise_url(server_url)
    name = f"autofund_bench_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def _sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="autofund_bench_") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


def run_benchmark(engine: Engine, backend: str, paths: list[Path]) -> list[Measure]:
    measures: list[Measure] = []
    migrate.upgrade(engine)

    first, seconds = _timed(lambda: import_bar_files(engine, paths))
    peak = _peak_rss_kib()
    limit = IMPORT_SECONDS_TARGET[backend]
    measures += [
        Measure("full import: wall time", f"{seconds:.1f} s", f"<= {limit:.0f} s", seconds <= limit),
        Measure("full import: rows read", f"{first.rows_read:,}", "", None),
        Measure("full import: rows inserted", f"{first.rows_inserted:,}", "", None),
        Measure("full import: rows rejected", f"{first.rows_rejected:,}", "", None),
        Measure(
            "full import: peak RSS",
            f"{peak / 1024:,.0f} MiB",
            f"<= {PEAK_RSS_TARGET_KIB / 1024 / 1024:.0f} GiB",
            peak <= PEAK_RSS_TARGET_KIB,
        ),
    ]

    again, seconds = _timed(lambda: import_bar_files(engine, paths))
    changed = again.rows_inserted + again.rows_updated
    measures += [
        Measure("re-import: wall time", f"{seconds:.1f} s", "", None),
        Measure("re-import: rows changed", f"{changed:,}", "== 0", changed == 0),
    ]

    times: list[float] = []
    shape: tuple[int, int] = (0, 0)
    for _ in range(PANEL_RUNS):
        panel, seconds = _timed(lambda: load_panel(engine, PANEL_AS_OF, start=PANEL_START, fields=("adj_close",)))
        times.append(seconds)
        shape = panel.frames["adj_close"].shape
    median = statistics.median(times)
    panel_limit = PANEL_SECONDS_TARGET.get(backend)
    measures += [
        Measure(
            f"load_panel 10y adj_close: median of {PANEL_RUNS}",
            f"{median:.2f} s",
            f"<= {panel_limit:.0f} s" if panel_limit is not None else "",
            median <= panel_limit if panel_limit is not None else None,
        ),
        Measure("load_panel 10y adj_close: shape", f"{shape[0]:,} x {shape[1]:,}", "", None),
        Measure("peak RSS at the end", f"{_peak_rss_kib() / 1024:,.0f} MiB", "", None),
    ]
    return measures


def _print_table(backend: str, measures: list[Measure]) -> None:
    width = max(len(m.name) for m in measures)
    print(f"\nbench_import on {backend}")
    print(f"{'measure':<{width}}  {'value':>14}  {'target':>10}  result")
    for m in measures:
        print(f"{m.name:<{width}}  {m.value:>14}  {m.target or '-':>10}  {m.verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), required=True)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="the data folder (default: %(default)s)")
    args = parser.parse_args(argv)

    paths = [args.data / name for name in FILES]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        print(f"missing data file(s): {', '.join(absent)}", file=sys.stderr)
        return 2

    database = _postgres_database(args.pg_url) if args.backend == "postgresql" else _sqlite_database()
    with database as url:
        engine = make_engine(url)
        try:
            measures = run_benchmark(engine, args.backend, paths)
        finally:
            engine.dispose()
    _print_table(args.backend, measures)
    failed = [m.name for m in measures if m.passed is False]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
