"""Two runs at once: exactly one trades. The run lock (PostgreSQL advisory lock, a file lock beside a
SQLite database) serialises them and is released even when its holder is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from autonomous.daily_run.lock import RunLocked, run_lock
from tests.autonomous.daily_run.conftest import ACCOUNT, orders_per_intent
from trading.db.schema import RebalancingLog

REPO = Path(__file__).resolve().parents[3]
FUND = Path(sys.executable).with_name("fund")


def test_a_held_lock_makes_a_second_run_wait_and_then_give_up_with_a_clear_message(engine: Engine) -> None:
    with run_lock(engine, ACCOUNT, "paper", wait_seconds=0):
        started = time.monotonic()
        with (
            pytest.raises(RunLocked, match=f"another run of {ACCOUNT}:paper is in progress"),
            run_lock(engine, ACCOUNT, "paper", wait_seconds=0.5),
        ):
            pass
        assert time.monotonic() - started >= 0.5
        # Another account or mode is not blocked.
        with run_lock(engine, ACCOUNT, "dry_run", wait_seconds=0):
            pass
    with run_lock(engine, ACCOUNT, "paper", wait_seconds=0):
        pass


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from autonomous.daily_run.lock import run_lock
    from trading.db.engine import make_engine
    engine = make_engine(sys.argv[1])
    with run_lock(engine, sys.argv[2], "paper", wait_seconds=0):
        print("locked", flush=True)
        time.sleep(60)
    """
)


def test_a_lock_holder_killed_with_kill_9_leaves_no_stale_lock(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, url, ACCOUNT],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(RunLocked), run_lock(engine, ACCOUNT, "paper", wait_seconds=0):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with run_lock(engine, ACCOUNT, "paper", wait_seconds=10):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_two_runs_started_at_the_same_moment_trade_once(
    funded: Engine, sessions: list[date], database_url: str
) -> None:
    day = sessions[-5]
    env = {**os.environ, "FUND_DATABASE_URL": database_url, "FUND_LOG_LEVEL": "WARNING"}
    command = [str(FUND), "rebalance", "--paper-trading", "--use-mock", "--account-id", ACCOUNT, "--date", str(day)]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], [err.decode()[-1500:] for _, err in outputs]
    said = sorted(out.decode() for out, _ in outputs)
    assert sum("already exists" in text for text in said) == 1, said
    assert sum(": completed:" in text for text in said) == 1, said
    with funded.connect() as connection:
        statuses = list(connection.execute(select(RebalancingLog.status)).scalars())
    assert statuses == ["completed"]
    assert max(orders_per_intent(funded).values()) == 1
