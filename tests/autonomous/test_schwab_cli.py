"""`fund broker login schwab` and `fund broker check` on a Schwab account, as a person runs them at a
terminal: the login prints the address, takes the pasted redirect and writes an owner-only token that the
check then reads; an old token is a warning, then a failure. Schwab is the local fake server
(tests/fakes/schwab_api.py), reached through the `schwab_api_url` setting."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from autonomous.cli.app import fund
from tests.fakes.schwab_api import FakeSchwab
from tests.fakes.schwab_tokens import write_token
from trading.store.broker_accounts import link_broker_account

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def schwab(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeSchwab]:
    fake = FakeSchwab(cash="40000")
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_API_KEY", "app-key")
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_APP_SECRET", "app-secret")
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_API_URL", fake.serve())
    monkeypatch.setenv("FUND_BROKERS__SCHWAB_TOKEN_PATH", str(tmp_path / "token.json"))
    monkeypatch.delenv("FUND_LIVE_ARMED", raising=False)
    link_broker_account(engine, "SCH", "schwab", fake.account_number)
    yield fake
    fake.stop()


def check(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", "broker", "check", *args], catch_exceptions=False)


def test_the_manual_login_writes_an_owner_only_token_that_the_check_then_reads(
    schwab: FakeSchwab, tmp_path: Path
) -> None:
    login = subprocess.Popen(
        [str(Path(sys.executable).parent / "fund"), "--log-level", "WARNING", "broker", "login", "schwab"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert login.stdout is not None
    lines = [login.stdout.readline() for _ in range(2)]
    address = lines[1].strip()
    assert address.startswith("https://api.schwabapi.com/v1/oauth/authorize?")
    state = re.search(r"state=([^&]+)", address)
    assert state is not None
    out, err = login.communicate(f"https://127.0.0.1:8182/?code=CODE%40&state={state.group(1)}\n", timeout=60)
    assert login.returncode == 0, err
    assert "wrote the Schwab token to" in out
    token = tmp_path / "token.json"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    stored = json.loads(token.read_text())
    assert stored["token"]["access_token"] == schwab.access_token
    assert "app-secret" not in out + err

    result = check("--account-id", "SCH")
    assert result.exit_code == 0, result.output
    assert "ok   token" in result.stdout
    assert "valid for 7.0 more days" in result.stdout
    assert "cash 40,000.00" in result.stdout
    assert "clock skew" in result.stdout
    assert "next run: --live trades the Schwab account" in result.stdout


def test_a_pasted_address_that_is_not_the_callback_is_refused(schwab: FakeSchwab, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        fund, ["broker", "login", "schwab"], input="https://example.com/?code=1\n", catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "does not start with the app's callback URL" in result.output
    assert not (tmp_path / "token.json").exists()


@pytest.mark.parametrize(("age", "verdict", "code"), [(6.5, "warn", 0), (7.2, "FAIL", 1)])
def test_an_old_token_is_a_warning_then_a_failure(
    schwab: FakeSchwab, tmp_path: Path, age: float, verdict: str, code: int
) -> None:
    write_token(tmp_path / "token.json", schwab, age_days=age)
    result = check("--account-id", "SCH")
    assert result.exit_code == code, result.output
    assert f"{verdict:<4} token" in result.stdout
    assert "fund broker login schwab" in result.stdout


def test_a_missing_token_fails_the_check_with_how_to_log_in(schwab: FakeSchwab) -> None:
    result = check("--account-id", "SCH")
    assert result.exit_code == 1
    assert "FAIL token" in result.stdout
    assert "no Schwab token at" in result.stdout


def test_the_specifications_spelling_runs_the_same_check(schwab: FakeSchwab, tmp_path: Path) -> None:
    write_token(tmp_path / "token.json", schwab)
    result = subprocess.run(
        [sys.executable, "trading/schwab_connector.py", "--paper", "--account-id", "SCH"],
        cwd=REPO,
        env={**os.environ, "FUND_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "SCH: held at schwab" in result.stdout
    assert "ok   connection" in result.stdout
