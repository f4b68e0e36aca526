"""scripts/run_daily_rebalance.sh, run for real against the synthetic demo market in a SQLite file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run_daily_rebalance.sh"
FUND = REPO / ".venv" / "bin" / "fund"
WEEKEND = "2021-10-02"  # a Saturday inside the demo market, which runs 2012-01-03 to 2021-12-31
LAST_SESSION = "2021-12-31"
LOG_NAME = re.compile(r"rebalance_(\d{8}_\d{6})\.log")


def _clean_environment(tmp: Path) -> dict[str, str]:
    """The caller's environment without any FUND_* setting, and no user config file."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FUND_")}
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    return env


def _fund(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(FUND), *args], env=env, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the demo market and the default paper account (built once: ~8 s)."""
    if not FUND.is_file():
        pytest.skip(f"{FUND} is missing: run `make install` first")
    folder = tmp_path_factory.mktemp("demo-database")
    path = folder / "fund.db"
    env = _clean_environment(folder) | {"FUND_DATABASE_URL": f"sqlite:///{path}"}
    _fund(env, "db", "upgrade")
    _fund(env, "data", "demo")
    _fund(env, "accounts", "create", "--cash", "100000")
    return path


@pytest.fixture
def env(demo_database: Path, tmp_path: Path) -> dict[str, str]:
    database = tmp_path / "fund.db"
    shutil.copy(demo_database, database)
    return _clean_environment(tmp_path) | {
        "FUND_DATABASE_URL": f"sqlite:///{database}",
        "FUND_LOG_DIR": str(tmp_path / "logs"),
        "FUND_BIN": str(FUND),
    }


def run_script(
    env: dict[str, str], *args: str, script: Path = SCRIPT, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def the_log(env: dict[str, str]) -> Path:
    logs = list(Path(env["FUND_LOG_DIR"]).iterdir())
    assert len(logs) == 1, logs
    return logs[0]


def test_a_weekend_exits_0_and_its_log_says_it_is_not_a_session(env: dict[str, str]) -> None:
    result = run_script(env, "--date", WEEKEND)
    assert result.returncode == 0, result.stdout + result.stderr
    log = the_log(env)
    name = LOG_NAME.fullmatch(log.name)
    assert name is not None, log.name
    started = datetime.strptime(name.group(1), "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - started) < timedelta(minutes=5)  # the name is the UTC start time
    text = log.read_text()
    assert f"{WEEKEND} is not a trading session" in text
    lines = text.splitlines()
    assert re.fullmatch(
        rf"\S+Z start: mode paper: {re.escape(str(FUND))} rebalance --paper-trading --date {WEEKEND}", lines[0]
    )
    assert lines[-1].endswith("end: mode paper: exit status 0")
    assert result.stdout == text  # cron mail shows what the log holds


@pytest.mark.parametrize(
    ("args", "mode_variable"),
    [(("dry-run",), None), (("--dry-run",), None), ((), "dry-run")],
    ids=["argument", "spec-flag", "FUND_MODE"],
)
def test_every_spelling_of_dry_run_plans_the_last_session_and_sends_nothing(
    env: dict[str, str], args: tuple[str, ...], mode_variable: str | None
) -> None:
    if mode_variable is not None:
        env["FUND_MODE"] = mode_variable
    result = run_script(env, *args, "--date", LAST_SESSION)
    assert result.returncode == 0, result.stdout + result.stderr
    text = the_log(env).read_text()
    assert f"{LAST_SESSION} PAPER_AUTONOMOUS_FUND dry_run: dry_run: run 1: dry run" in text
    assert "rebalance --dry-run --date" in text.splitlines()[0]
    assert text.splitlines()[-1].endswith("end: mode dry-run: exit status 0")


@pytest.mark.parametrize(
    ("args", "mode_variable"), [(("weekly",), None), ((), "weekly")], ids=["argument", "FUND_MODE"]
)
def test_an_unknown_mode_exits_2_with_the_usage_and_writes_no_log(
    env: dict[str, str], args: tuple[str, ...], mode_variable: str | None
) -> None:
    if mode_variable is not None:
        env["FUND_MODE"] = mode_variable
    result = run_script(env, *args)
    assert result.returncode == 2
    assert "unknown mode 'weekly'" in result.stderr
    assert "usage: run_daily_rebalance.sh [dry-run|paper|live]" in result.stderr
    assert not Path(env["FUND_LOG_DIR"]).exists()


def test_a_missing_fund_executable_exits_2_with_the_install_hint(env: dict[str, str], tmp_path: Path) -> None:
    env["FUND_BIN"] = str(tmp_path / "no-venv" / "bin" / "fund")
    result = run_script(env, "paper")
    assert result.returncode == 2
    assert "run `make install` first" in result.stderr
    assert env["FUND_BIN"] in result.stderr


def test_a_failing_run_exits_with_the_fund_status_and_the_log_records_it(env: dict[str, str]) -> None:
    result = run_script(env, "paper", "--account-id", "NO_SUCH_ACCOUNT", "--date", LAST_SESSION)
    assert result.returncode == 1
    lines = the_log(env).read_text().splitlines()
    assert any("no paper account 'NO_SUCH_ACCOUNT'" in line for line in lines)  # the command's stderr is logged
    assert lines[-1].endswith("end: mode paper: exit status 1")


def test_live_mode_without_the_arming_variable_is_refused(env: dict[str, str]) -> None:
    result = run_script(env, "live", "--date", LAST_SESSION)
    assert result.returncode == 1
    assert "--live --yes also needs FUND_LIVE_ARMED=1" in result.stdout
    lines = the_log(env).read_text().splitlines()
    assert "rebalance --live --yes --date" in lines[0]
    assert lines[-1].endswith("end: mode live: exit status 1")


def test_a_symlink_run_from_elsewhere_finds_the_repository_virtual_environment(
    env: dict[str, str], tmp_path: Path
) -> None:
    del env["FUND_BIN"]
    link = tmp_path / "bin" / "rebalance"
    link.parent.mkdir()
    link.symlink_to(SCRIPT)
    result = run_script(env, "--paper-trading", "--date", WEEKEND, script=link, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    first = the_log(env).read_text().splitlines()[0]
    assert f"{REPO}/.venv/bin/fund rebalance --paper-trading --date {WEEKEND}" in first


STUB_FUND = """#!/usr/bin/env bash
echo "$*" >> "$STUB_CALLS"
if [ "$1" = data ]; then
  echo "alpaca: 4 ticker(s) updated"
  exit "${STUB_UPDATE_STATUS:-0}"
fi
echo "rebalanced"
"""


@pytest.fixture
def stub_env(tmp_path: Path) -> dict[str, str]:
    """A stand-in `fund` that records its arguments, so the script's sequencing is tested without a database."""
    stub = tmp_path / "bin" / "fund"
    stub.parent.mkdir()
    stub.write_text(STUB_FUND)
    stub.chmod(0o755)
    return _clean_environment(tmp_path) | {
        "FUND_BIN": str(stub),
        "FUND_LOG_DIR": str(tmp_path / "logs"),
        "STUB_CALLS": str(tmp_path / "calls"),
    }


def test_fund_update_data_updates_the_data_before_the_rebalance_and_logs_both(stub_env: dict[str, str]) -> None:
    stub_env["FUND_UPDATE_DATA"] = "alpaca"
    result = run_script(stub_env, "paper", "--date", LAST_SESSION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(stub_env["STUB_CALLS"]).read_text().splitlines() == [
        "data update --provider alpaca",
        f"rebalance --paper-trading --date {LAST_SESSION}",
    ]
    lines = the_log(stub_env).read_text().splitlines()
    assert lines[0].endswith(
        f"start: mode paper: {stub_env['FUND_BIN']} rebalance --paper-trading --date {LAST_SESSION}"
    )
    assert lines[1].endswith(f"data update: {stub_env['FUND_BIN']} data update --provider alpaca")
    assert lines[2:4] == ["alpaca: 4 ticker(s) updated", "rebalanced"]
    assert lines[-1].endswith("end: mode paper: exit status 0")


def test_a_failed_data_update_stops_the_run_with_the_updates_exit_status(stub_env: dict[str, str]) -> None:
    stub_env |= {"FUND_UPDATE_DATA": "alpaca", "STUB_UPDATE_STATUS": "1"}
    result = run_script(stub_env, "paper")
    assert result.returncode == 1
    assert Path(stub_env["STUB_CALLS"]).read_text().splitlines() == ["data update --provider alpaca"]
    assert the_log(stub_env).read_text().splitlines()[-1].endswith("end: mode paper: data update failed: exit status 1")


def test_without_fund_update_data_only_the_rebalance_runs(stub_env: dict[str, str]) -> None:
    result = run_script(stub_env, "dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(stub_env["STUB_CALLS"]).read_text().splitlines() == ["rebalance --dry-run"]


def test_fund_daily_report_writes_the_sessions_report_after_the_run_and_keeps_the_runs_status(
    env: dict[str, str], tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    env["FUND_DAILY_REPORT"] = str(reports)
    result = run_script(env, "dry-run", "--account-id", "PAPER_AUTONOMOUS_FUND", "--date", LAST_SESSION)
    assert result.returncode == 0, result.stdout + result.stderr
    text = the_log(env).read_text()
    assert "daily report: " in text
    assert "--account-id PAPER_AUTONOMOUS_FUND" in text.split("daily report: ")[1].splitlines()[0]
    assert (
        (reports / f"daily-PAPER_AUTONOMOUS_FUND-{LAST_SESSION}.txt")
        .read_text()
        .startswith(f"Daily report PAPER_AUTONOMOUS_FUND {LAST_SESSION} (dry_run)")
    )
    assert (reports / f"daily-PAPER_AUTONOMOUS_FUND-{LAST_SESSION}.png").is_file() is False  # no equity yet
    assert text.splitlines()[-1].endswith("end: mode dry-run: exit status 0")

    # A failed run keeps its status; the report of an account without runs fails alone, logged.
    failed = run_script(env, "paper", "--account-id", "NO_SUCH_ACCOUNT", "--date", LAST_SESSION)
    assert failed.returncode == 1
    assert "daily report failed: exit status 1" in failed.stdout
