"""One daily run per account and mode at a time.

PostgreSQL: a session-level advisory lock held on a dedicated connection for the whole run.
SQLite: an exclusive `flock` on a file beside the database (SQLite is a single-host database, so
a host-level lock covers every process that can open it). Both are released by the operating
system or the server when the holder dies, even by kill -9, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, text

from trading.errors import FundError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


class RunLocked(FundError):
    """Another run of the same account and mode held the lock for longer than we were willing to wait."""


def lock_name(account_id: str, mode: str) -> str:
    return f"autofund-daily-run:{account_id}:{mode}"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _wait(try_lock: Callable[[], bool], name: str, wait_seconds: float, sleep: Callable[[float], None]) -> None:
    deadline = time.monotonic() + wait_seconds
    announced = False
    while not try_lock():
        if time.monotonic() >= deadline:
            raise RunLocked(
                f"another run of {name.split(':', 1)[1]} is in progress and still held the lock after "
                f"{wait_seconds:.0f} s; nothing was done (check `ps`, then rerun)"
            )
        if not announced:
            logger.info("another run holds %s; waiting up to %.0f s", name, wait_seconds)
            announced = True
        sleep(POLL_SECONDS)


@contextmanager
def run_lock(engine: Engine, account_id: str, mode: str, *, wait_seconds: float) -> Iterator[None]:
    """Hold the run lock of (account, mode) for the body; RunLocked if it stays taken for `wait_seconds`."""
    name = lock_name(account_id, mode)
    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, name, wait_seconds):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with _memory_lock(name, wait_seconds):
            yield
        return
    with _file_lock(Path(database), name, wait_seconds):
        yield


@contextmanager
def _postgres_lock(engine: Engine, name: str, wait_seconds: float) -> Iterator[None]:
    key = advisory_key(name)
    # AUTOCOMMIT: the lock belongs to the session, not to a transaction the run would commit.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:

        def try_lock() -> bool:
            return bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one())

        _wait(try_lock, name, wait_seconds, time.sleep)
        logger.debug("acquired advisory lock %s (%d)", name, key)
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def _lock_path(database: Path, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name.split(":", 1)[1])
    return database.with_name(f"{database.name}.{safe}.lock")


@contextmanager
def _file_lock(database: Path, name: str, wait_seconds: float) -> Iterator[None]:
    path = _lock_path(database.expanduser(), name)
    handle: IO[str] = path.open("a+")
    try:

        def try_lock() -> bool:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _wait(try_lock, name, wait_seconds, time.sleep)
        # For a person wondering who holds it; the lock itself is the flock, not this text.
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextmanager
def _memory_lock(name: str, wait_seconds: float) -> Iterator[None]:
    with _MEMORY_LOCKS_GUARD:
        lock = _MEMORY_LOCKS.setdefault(name, threading.Lock())
    _wait(lambda: lock.acquire(blocking=False), name, wait_seconds, time.sleep)
    try:
        yield
    finally:
        lock.release()
