"""Accounts held at a live broker: linking one through `fund accounts create --broker`, what is refused,
how `fund accounts show` reads one, and which broker a run of each mode gets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from autonomous.cli.app import fund
from autonomous.cli.assembly import NoLiveBroker, open_broker
from autonomous.daily_run.request import RunMode
from trading.brokers.alpaca import AlpacaBroker
from trading.brokers.paper import PaperVenue
from trading.brokers.read_only import DryRunBroker, ReadOnlyBroker
from trading.errors import ConfigurationError
from trading.marketdata.calendar import TradingCalendar
from trading.orders import OrderRequest, OrderSide
from trading.settings import FundSettings
from trading.store.accounts import AccountExists, create_paper_account, record_equity
from trading.store.broker_accounts import broker_account, broker_of, link_broker_account, list_broker_accounts


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", *args], catch_exceptions=False)


def test_an_account_linked_to_alpaca_is_recorded_with_its_number_and_shown(engine: Engine, database_url: str) -> None:
    created = run("accounts", "create", "--account-id", "ALP", "--broker", "alpaca", "--external-account", "PA123")
    assert created.exit_code == 0, created.output
    assert "linked account ALP to alpaca account PA123" in created.stdout
    assert "fund rebalance --dry-run --account-id ALP" in created.stdout
    link = broker_account(engine, "ALP")
    assert link is not None
    assert (link.broker, link.external_account) == ("alpaca", "PA123")
    assert broker_of(engine, "ALP") == "alpaca"
    assert broker_of(engine, "ANY_OTHER") == "paper"

    record_equity(engine, "ALP", date(2024, 6, 3), cash=Decimal(60), positions_value=Decimal(40))
    shown = run("accounts", "show", "--account-id", "ALP")
    assert shown.exit_code == 0, shown.output
    assert "account ALP, held at alpaca (PA123)" in shown.stdout
    assert "equity 2024-06-03 100.00" in shown.stdout
    listed = run("accounts", "show", "--all")
    assert "ALP" in listed.stdout
    assert "held at alpaca PA123" in listed.stdout


def test_linking_again_with_exist_ok_leaves_the_link_and_without_it_is_refused(
    engine: Engine, database_url: str
) -> None:
    assert run("accounts", "create", "--account-id", "ALP", "--broker", "alpaca").exit_code == 0
    again = run("accounts", "create", "--account-id", "ALP", "--broker", "alpaca", "--exist-ok")
    assert again.exit_code == 0
    assert "already linked to alpaca; left unchanged" in again.stdout
    refused = run("accounts", "create", "--account-id", "ALP", "--broker", "alpaca")
    assert refused.exit_code == 1
    assert "already linked to a broker" in refused.stderr
    assert len(list_broker_accounts(engine)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--broker", "schwab"], "needs its account number (--external-account)"),
        (["--broker", "alpaca", "--cash", "100"], "--cash and --fractional are for paper accounts"),
        (["--external-account", "PA1", "--cash", "100"], "--external-account is for an account held at a broker"),
        ([], "a paper account needs its starting cash"),
        (["--broker", "alpaca", "--external-account", "X" * 65], "more than 64 characters"),
    ],
)
def test_a_link_or_account_that_cannot_work_is_refused_and_nothing_is_written(
    engine: Engine, database_url: str, args: list[str], message: str
) -> None:
    result = run("accounts", "create", "--account-id", "BAD", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert list_broker_accounts(engine) == []


def test_a_paper_account_and_a_linked_account_never_share_an_id(engine: Engine) -> None:
    create_paper_account(engine, "SAME", Decimal(100))
    with pytest.raises(AccountExists, match="already a database paper account"):
        link_broker_account(engine, "SAME", "alpaca", None)
    link_broker_account(engine, "LINKED", "alpaca", None)
    with pytest.raises(AccountExists, match="linked to a live broker"):
        create_paper_account(engine, "LINKED", Decimal(100))


def settings_with_keys() -> FundSettings:
    return FundSettings.model_validate(
        {"brokers": {"alpaca_api_key": "k", "alpaca_secret_key": "s", "alpaca_trading_url": "http://127.0.0.1:9"}}
    )


def test_each_mode_gets_the_accounts_own_broker(engine: Engine) -> None:
    create_paper_account(engine, "PAPER", Decimal(100))
    link_broker_account(engine, "ALP", "alpaca", None)
    link_broker_account(engine, "SCH", "schwab", "12345678")
    settings, calendar = settings_with_keys(), TradingCalendar.from_database(engine, "SPY")
    assert isinstance(open_broker(engine, settings, RunMode.PAPER, "PAPER", calendar), PaperVenue)
    with pytest.raises(NoLiveBroker, match="database paper account"):
        open_broker(engine, settings, RunMode.LIVE, "PAPER", calendar)
    assert isinstance(open_broker(engine, settings, RunMode.PAPER, "ALP", calendar), AlpacaBroker)
    assert isinstance(open_broker(engine, settings, RunMode.LIVE, "ALP", calendar), AlpacaBroker)
    dry = open_broker(engine, settings, RunMode.DRY_RUN, "ALP", calendar)
    assert isinstance(dry, DryRunBroker)
    with pytest.raises(ReadOnlyBroker, match="a dry run sends nothing"):
        dry.submit(OrderRequest("af-x", "AAA", OrderSide.BUY, Decimal(1)))
    with pytest.raises(ReadOnlyBroker, match="cancels nothing"):
        dry.cancel("some-id")
    with pytest.raises(ConfigurationError, match="Schwab, which has no paper environment"):
        open_broker(engine, settings, RunMode.PAPER, "SCH", calendar)


def test_an_alpaca_account_without_keys_names_the_settings_to_set(engine: Engine) -> None:
    link_broker_account(engine, "ALP", "alpaca", None)
    with pytest.raises(ConfigurationError, match="FUND_BROKERS__ALPACA_API_KEY"):
        open_broker(engine, FundSettings(), RunMode.PAPER, "ALP", TradingCalendar.from_database(engine, "SPY"))


@pytest.mark.parametrize("url", ["paper-api.alpaca.markets", "ftp://x"])
def test_a_broker_url_without_http_is_refused_by_the_settings(url: str) -> None:
    with pytest.raises(ValueError, match="must start with http"):
        FundSettings.model_validate({"brokers": {"alpaca_trading_url": url}})
