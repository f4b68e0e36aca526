"""What every benchmark script shares: measures with targets, timing, peak memory, throw-away
databases and the result table."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from trading.db.engine import normalise_url

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "sp500_av_1999_2021"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

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


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def peak_rss_kib() -> int:
    # ru_maxrss is in KiB on Linux (bytes on macOS; the benchmarks target Linux).
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@contextmanager
def postgres_database(server_url: str, prefix: str = "autofund_bench") -> Iterator[URL]:
    """A throw-away database on the server, dropped at the end even when the benchmark fails."""
    server = normalise_url(server_url)
    name = f"{prefix}_{os.getpid()}"
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
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="autofund_bench_") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


def print_table(title: str, measures: list[Measure]) -> None:
    width = max(len(m.name) for m in measures)
    print(f"\n{title}")
    print(f"{'measure':<{width}}  {'value':>14}  {'target':>10}  result")
    for m in measures:
        print(f"{m.name:<{width}}  {m.value:>14}  {m.target or '-':>10}  {m.verdict}")


def exit_status(measures: list[Measure]) -> int:
    """Prints the verdict line; 1 when a target was missed."""
    failed = [m.name for m in measures if m.passed is False]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print("\nall targets met")
    return 0
