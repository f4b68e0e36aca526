"""`fund broker check`: whether the next run can reach and trade an account's broker, and what it would do."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from autonomous.cli.rebalance import LIVE_ARMED_VARIABLE
from autonomous.daily_run.request import RunMode
from trading.brokers.health import HealthLine, Verdict
from trading.db.schema import utcnow
from trading.errors import FundError
from trading.store.accounts import get_paper_account
from trading.store.broker_accounts import broker_account


@click.group()
def broker() -> None:
    """The brokers that hold the fund's accounts: check one, log in to Schwab."""


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
    if link.broker == "schwab":
        _check_schwab(app, link.account_id, armed)
        return
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


def _check_schwab(app: AppContext, account: str, armed: bool) -> None:
    from autonomous.cli.assembly import live_broker, schwab_token_file
    from trading.brokers.health import schwab_health
    from trading.brokers.schwab import SchwabBroker

    engine, settings = app.migrated_engine(), app.settings
    link = broker_account(engine, account)
    assert link is not None
    tokens = schwab_token_file(settings)
    click.echo(
        f"{account}: held at schwab, account {link.external_account} (live only: Schwab has no paper environment)"
    )
    try:
        broker = live_broker(engine, link, settings, RunMode.LIVE)
    except FundError as exc:
        lines = [HealthLine("token", Verdict.FAIL, str(exc))]
    else:
        assert isinstance(broker, SchwabBroker)
        endpoint = settings.brokers.schwab_api_url or "https://api.schwabapi.com"
        lines = schwab_health(broker, broker.client, tokens, endpoint=endpoint, now=utcnow())
    for line in lines:
        click.echo(line.render())
    live = f"armed ({LIVE_ARMED_VARIABLE}=1)" if armed else f"not armed ({LIVE_ARMED_VARIABLE} is not 1)"
    click.echo(f"next run: --live trades the Schwab account; --dry-run reads it; live mode is {live}")
    _fail_on(lines)


@broker.command()
@click.argument("which", type=click.Choice(["schwab"]))
@pass_app
@fails_cleanly
def login(app: AppContext, which: str) -> None:
    """Log in to Schwab by hand (cron has no browser) and write the token file, owner-only.

    Open the address printed, log in, allow the app, then paste the whole address the browser was sent
    to. Schwab's refresh token lasts 7 days: log in again before then (`fund broker check` warns).
    """
    from autonomous.cli.assembly import schwab_token_file
    from trading.brokers.schwab.login import finish_login, start_login

    settings = app.settings
    tokens = schwab_token_file(settings)
    context = start_login(settings.brokers)
    click.echo("1. Open this address in a browser, log in to Schwab and allow the app:")
    click.echo(f"   {context.authorization_url}")
    click.echo(
        f"2. The browser is then sent to {context.callback_url}/?code=... (the page may not load: that is fine)."
    )
    received = click.prompt("   Paste that whole address here")
    now = utcnow()
    finish_login(settings.brokers, context, received, tokens, now=now)
    expires = datetime.fromtimestamp(now.timestamp() + 7 * 86400, UTC)
    click.echo(
        f"wrote the Schwab token to {tokens.path} (owner-only); log in again before {expires:%Y-%m-%d %H:%M} UTC"
    )


def _fail_on(lines: list[HealthLine]) -> None:
    failed = [line.name for line in lines if line.verdict is Verdict.FAIL]
    if failed:
        raise click.ClickException(f"the next run cannot trade: {', '.join(failed)} failed")
