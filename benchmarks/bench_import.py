"""Benchmark of the bar import and the point-in-time view on the shared real data set: a full import
into a fresh database, an idempotent re-import, and a 10-year adjusted-close panel, against targets."""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from benchmarks.common import (
    DEFAULT_DATA_DIR,
    DEFAULT_PG_URL,
    Measure,
    exit_status,
    peak_rss_kib,
    postgres_database,
    print_table,
    sqlite_database,
    timed,
)
from trading.db import migrate
from trading.db.engine import make_engine
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.view import load_panel

FILES = ("prices_stocks.csv.gz", "benchmarks.csv.gz")

IMPORT_SECONDS_TARGET = {"postgresql": 60.0, "sqlite": 120.0}
PEAK_RSS_TARGET_KIB = 2 * 1024 * 1024  # 2 GiB
PANEL_SECONDS_TARGET = {"postgresql": 3.0}  # SQLite is reported without a target
PANEL_AS_OF = date(2021, 4, 21)
PANEL_START = date(2011, 4, 21)
PANEL_RUNS = 3


def run_benchmark(engine: Engine, backend: str, paths: list[Path]) -> list[Measure]:
    measures: list[Measure] = []
    migrate.upgrade(engine)

    first, seconds = timed(lambda: import_bar_files(engine, paths))
    peak = peak_rss_kib()
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

    again, seconds = timed(lambda: import_bar_files(engine, paths))
    changed = again.rows_inserted + again.rows_updated
    measures += [
        Measure("re-import: wall time", f"{seconds:.1f} s", "", None),
        Measure("re-import: rows changed", f"{changed:,}", "== 0", changed == 0),
    ]

    times: list[float] = []
    shape: tuple[int, int] = (0, 0)
    for _ in range(PANEL_RUNS):
        panel, seconds = timed(lambda: load_panel(engine, PANEL_AS_OF, start=PANEL_START, fields=("adj_close",)))
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
        Measure("peak RSS at the end", f"{peak_rss_kib() / 1024:,.0f} MiB", "", None),
    ]
    return measures


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

    database = postgres_database(args.pg_url) if args.backend == "postgresql" else sqlite_database()
    with database as url:
        engine = make_engine(url)
        try:
            measures = run_benchmark(engine, args.backend, paths)
        finally:
            engine.dispose()
    print_table(f"bench_import on {args.backend}", measures)
    return exit_status(measures)


if __name__ == "__main__":
    sys.exit(main())
