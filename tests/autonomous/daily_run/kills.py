"""A daily run in another process that kills itself with SIGKILL after a chosen step: the crash-safety
tests of every broker (paper venue, Alpaca, Schwab) use it, then let the next run finish the work."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

from autonomous.daily_run.run import RunMode, Step

REPO = Path(__file__).resolve().parents[3]

KILLING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import date
    from autonomous.cli.assembly import assemble_daily_run
    from autonomous.daily_run.run import RunMode, RunRequest, Step
    from trading.db.engine import make_engine
    from trading.settings import load_settings

    account, day, step, mode = sys.argv[1], date.fromisoformat(sys.argv[2]), Step(sys.argv[3]), RunMode(sys.argv[4])

    def die_after(current):
        if current is step:
            os.kill(os.getpid(), signal.SIGKILL)

    settings = load_settings(None)
    engine = make_engine(settings.database_url.get_secret_value())
    run = assemble_daily_run(engine, settings, mode, account, use_mock=True, after_step=die_after)
    run.run(RunRequest(account, mode, day))
    sys.exit("the run was not killed")
    """
)


def kill_run_after(step: Step, account: str, day: date, mode: RunMode = RunMode.PAPER, **env: str) -> None:
    """Run `account`'s daily run for `day` in a subprocess (settings from this process's environment and
    `env`) that SIGKILLs itself right after `step`; fails unless it died that way."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "FUND_LOG_LEVEL": "WARNING", **env}
    killed = subprocess.run(
        [sys.executable, "-c", KILLING_RUN, account, day.isoformat(), step.value, mode.value],
        env=environment,
        capture_output=True,
        timeout=180,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
