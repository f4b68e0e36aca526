"""`fund broker check`: whether the next run can reach and trade an account's broker, and what it would do."""

from __future__ import annotations

import os

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from autonomous.cli.rebalance import LIVE_ARMED_VARIABLE
from trading.brokers.health import HealthLine, Verdict
from trading.db.schema import utcnow
from trading.store.accounts import get_paper_account
from trading.store.broker_accounts import broker_account


@click.group()
def broker() -> None:
    """The brokers that hold the fund's accounts: check."""


@broker.command()
@click.option("--account-id", default=None, help="The account (default: settings run.account_id).")
@click.option(
    "--mode",
    type=click.Choice(["paper", "live"]),
    default="paper",
    show_default=True,
    help="Which environment to check (Alpaca's paper or live endpoint).",
)
@pass_app
@fails_cleanly
def check(app: AppContext, account_id: str | None, mode: str) -> None:
    """Connectivity, account status, buying power, the market clock and clock skew; exit 1 on a failure.

    Read-only: nothing is sent, and nothing is written.
    """
    engine = app.migrated_engine()
    settings = app.settings
    account = account_id or settings.run.account_id
    link = broker_account(engine, account)
    armed = os.environ.get(LIVE_ARMED_VARIABLE) == "1"
    if link is None:
        record = get_paper_account(engine, account)
        click.echo(f"{account}: a database paper account (no broker to connect to)")
        click.echo(
            f"ok   {'books':<14} settled through {record.settled_through or 'never'}, equity {record.total_value:,.2f}"
        )
        click.echo("next run: --mode paper trades the database paper venue; live mode is refused for this account")
        return
    if link.broker != "alpaca":
        raise click.ClickException(f"{account} is held at {link.broker}, whose adapter is not built yet")
    from trading.brokers.alpaca.client import endpoint, trading_client
    from trading.brokers.health import alpaca_health

    paper = mode == "paper"
    lines = alpaca_health(
        trading_client(settings.brokers, paper=paper),
        endpoint(settings.brokers, paper=paper),
        expected_account=link.external_account,
        now=utcnow(),
    )
    click.echo(f"{account}: held at alpaca, {mode} environment")
    for line in lines:
        click.echo(line.render())
    environment = "paper" if paper else "live"
    live = f"armed ({LIVE_ARMED_VARIABLE}=1)" if armed else f"not armed ({LIVE_ARMED_VARIABLE} is not 1)"
    click.echo(f"next run: --mode {mode} trades Alpaca's {environment} environment; live mode is {live}")
    _fail_on(lines)


def _fail_on(lines: list[HealthLine]) -> None:
    failed = [line.name for line in lines if line.verdict is Verdict.FAIL]
    if failed:
        raise click.ClickException(f"the next run cannot trade: {', '.join(failed)} failed")
