"""`fund broker check` as a person runs it before trusting a broker account: every fact with a verdict,
exit 1 when the next run could not trade, and no secret in the output."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from autonomous.cli.app import fund
from tests.fakes.alpaca_server import FakeAlpaca
from trading.store.accounts import create_paper_account
from trading.store.broker_accounts import link_broker_account


@pytest.fixture
def alpaca(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash="25000") as fake:
        monkeypatch.setenv("FUND_BROKERS__ALPACA_API_KEY", "test-key")
        monkeypatch.setenv("FUND_BROKERS__ALPACA_SECRET_KEY", "test-secret")
        monkeypatch.setenv("FUND_BROKERS__ALPACA_TRADING_URL", fake.url)
        monkeypatch.delenv("FUND_LIVE_ARMED", raising=False)
        yield fake


def check(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", "broker", "check", *args], catch_exceptions=False)


def test_a_healthy_alpaca_account_shows_each_fact_and_what_the_next_run_does(
    engine: Engine, alpaca: FakeAlpaca
) -> None:
    link_broker_account(engine, "ALP", "alpaca", "PA0000TEST")
    result = check("--account-id", "ALP")
    assert result.exit_code == 0, result.output
    assert f"ok   connection     {alpaca.url} answered" in result.stdout
    assert "ok   account        PA0000TEST (linked: PA0000TEST), status ACTIVE" in result.stdout
    assert "cash 25,000.00, buying power 25,000.00, equity 25,000.00" in result.stdout
    assert "market " in result.stdout
    assert "clock skew" in result.stdout
    assert "next run: --mode paper trades Alpaca's paper environment; live mode is not armed" in result.stdout
    assert "test-secret" not in result.output


def test_keys_alpaca_refuses_fail_the_check_with_exit_1(
    engine: Engine, alpaca: FakeAlpaca, monkeypatch: pytest.MonkeyPatch
) -> None:
    link_broker_account(engine, "ALP", "alpaca", None)
    monkeypatch.setenv("FUND_BROKERS__ALPACA_SECRET_KEY", "wrong-secret")
    result = check("--account-id", "ALP")
    assert result.exit_code == 1
    assert "FAIL connection" in result.stdout
    assert "refused the keys" in result.stdout
    assert "the next run cannot trade: connection failed" in result.stderr
    assert "wrong-secret" not in result.output


def test_keys_of_another_account_or_a_blocked_account_fail_the_check(engine: Engine, alpaca: FakeAlpaca) -> None:
    link_broker_account(engine, "OTHER", "alpaca", "PA9999")
    wrong = check("--account-id", "OTHER")
    assert wrong.exit_code == 1
    assert "FAIL account        PA0000TEST (linked: PA9999)" in wrong.stdout
    link_broker_account(engine, "ALP", "alpaca", None)
    alpaca.set_trading_blocked(True)
    blocked = check("--account-id", "ALP")
    assert blocked.exit_code == 1
    assert "trading blocked True" in blocked.stdout


def test_a_database_paper_account_has_no_broker_to_reach(engine: Engine, database_url: str) -> None:
    create_paper_account(engine, "PAPER", Decimal(1000))
    result = check("--account-id", "PAPER")
    assert result.exit_code == 0, result.output
    assert "a database paper account (no broker to connect to)" in result.stdout
