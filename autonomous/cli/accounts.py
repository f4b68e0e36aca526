"""`fund accounts`: create a database paper account and show one."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import partial

import click
from sqlalchemy import Engine

from autonomous.cli.assembly import live_broker
from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from autonomous.daily_run.request import RunMode
from trading.brokers.base import call_with_retry
from trading.brokers.read_only import DryRunBroker
from trading.db.schema import utcnow
from trading.marketdata.calendar import exchange_today
from trading.reconciliation import reconcile_account
from trading.store.accounts import (
    create_paper_account,
    equity_history,
    get_paper_account,
    list_paper_accounts,
    paper_positions,
    waiting_orders,
)
from trading.store.broker_accounts import (
    BrokerAccountRecord,
    broker_account,
    link_broker_account,
    list_broker_accounts,
)
from trading.store.rebalances import open_ledger_orders, recent_runs, record_broker_order
from trading.store.reconciliations import record_reconciliation


def _amount(_ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number", param=param) from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"{value!r} must be a finite amount >= 0", param=param)
    return amount


@click.group()
def accounts() -> None:
    """Accounts: create a paper account or link one held at a broker; show one."""


@accounts.command()
@click.option("--account-id", default=None, help="The new account's id (default: settings run.account_id).")
@click.option(
    "--broker",
    type=click.Choice(["paper", "alpaca", "schwab"]),
    default="paper",
    show_default=True,
    help="Where the account is held: the database paper venue, or a live broker.",
)
@click.option("--external-account", default=None, help="The broker's account number (required for Schwab).")
@click.option("--cash", default=None, callback=_amount, help="Starting cash of a paper account, e.g. 100000.")
@click.option("--fractional", is_flag=True, help="Paper account: allow fractional-share orders (default: whole).")
@click.option("--exist-ok", is_flag=True, help="An existing account with this id is fine (it is left as it is).")
@pass_app
@fails_cleanly
def create(
    app: AppContext,
    account_id: str | None,
    broker: str,
    external_account: str | None,
    cash: Decimal | None,
    fractional: bool,
    exist_ok: bool,
) -> None:
    """Create a paper account holding only cash, or link an account held at Alpaca or Schwab."""
    account = account_id or app.settings.run.account_id
    engine = app.migrated_engine()
    if broker != "paper":
        if cash is not None or fractional:
            raise click.UsageError(f"--cash and --fractional are for paper accounts; {broker} holds this one's cash")
        _link(engine, account, broker, external_account, exist_ok)
        return
    if cash is None:
        raise click.UsageError("a paper account needs its starting cash: --cash 100000")
    if external_account is not None:
        raise click.UsageError("--external-account is for an account held at a broker (--broker alpaca|schwab)")
    if exist_ok and account in {a.account_id for a in list_paper_accounts(engine)}:
        click.echo(f"paper account {account} already exists; left unchanged")
        return
    try:
        record = create_paper_account(engine, account, cash, fractional_shares=fractional)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    shares = "fractional" if record.fractional_shares else "whole"
    click.echo(f"created paper account {record.account_id}: {record.cash:,.2f} {record.currency}, {shares} shares")


def _link(engine: Engine, account: str, broker: str, external_account: str | None, exist_ok: bool) -> None:
    existing = broker_account(engine, account)
    if exist_ok and existing is not None and existing.broker == broker:
        click.echo(f"account {account} is already linked to {broker}; left unchanged")
        return
    try:
        link = link_broker_account(engine, account, broker, external_account)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    number = f" account {link.external_account}" if link.external_account else " (the account the keys reach)"
    click.echo(
        f"linked account {link.account_id} to {link.broker}{number}. Next: `fund broker check --account-id "
        f"{link.account_id}`, then `fund rebalance --dry-run --account-id {link.account_id}`"
    )


@accounts.command()
@click.option("--account-id", default=None, help="The account (default: settings run.account_id; --all: every one).")
@click.option("--all", "show_all", is_flag=True, help="List every paper account in one line each.")
@click.option("--runs", type=click.IntRange(min=0), default=5, show_default=True, help="Recent runs to list.")
@pass_app
@fails_cleanly
def show(app: AppContext, account_id: str | None, show_all: bool, runs: int) -> None:
    """An account's cash, equity, positions, and its recent runs."""
    engine = app.migrated_engine()
    if show_all:
        for record in list_paper_accounts(engine):
            click.echo(f"{record.account_id:<24} equity {record.total_value:>14,.2f}  cash {record.cash:>14,.2f}")
        for linked in list_broker_accounts(engine):
            click.echo(f"{linked.account_id:<24} held at {linked.broker} {linked.external_account or ''}".rstrip())
        return
    account = account_id or app.settings.run.account_id
    link = broker_account(engine, account)
    if link is not None:
        _show_linked(engine, link, runs)
        return
    record = get_paper_account(engine, account)
    drawdown = 1 - record.total_value / record.peak_value if record.peak_value else Decimal(0)
    click.echo(f"account {record.account_id} ({record.currency}, settled through {record.settled_through or 'never'})")
    click.echo(f"  equity {record.total_value:,.2f}  cash {record.cash:,.2f}  peak {record.peak_value:,.2f}")
    click.echo(f"  drawdown from peak {drawdown:.2%}")
    positions = paper_positions(engine, record.account_id)
    waiting = waiting_orders(engine, record.account_id)
    if positions or waiting:
        click.echo(f"  {'ticker':<8} {'quantity':>14} {'avg price':>12} {'value':>14} {'weight':>7}  at the next open")
    for position in positions:
        weight = position.market_value / record.total_value if record.total_value else Decimal(0)
        next_open = _waiting(waiting.get(position.ticker), position.quantity)
        click.echo(
            f"  {position.ticker:<8} {position.quantity.normalize():>14,f} {position.average_price:>12,.4f} "
            f"{position.market_value:>14,.2f} {weight:>7.2%}  {next_open}"
        )
    for ticker in sorted(set(waiting) - {p.ticker for p in positions}):
        click.echo(f"  {ticker:<8} {0:>14} {'':>12} {'':>14} {'':>7}  {_waiting(waiting[ticker], Decimal(0))}")
    history = equity_history(engine, record.account_id)
    if history:
        first, last = history[0], history[-1]
        growth = last.equity / first.equity - 1 if first.equity else Decimal(0)
        click.echo(f"  equity {first.day} {first.equity:,.2f} -> {last.day} {last.equity:,.2f} ({growth:+.2%})")
    _recent(engine, record.account_id, runs)


def _show_linked(engine: Engine, link: BrokerAccountRecord, runs: int) -> None:
    """What the fund's database knows of an account held at a broker (the broker's own view:
    `fund broker check`)."""
    number = link.external_account or "the account its keys reach"
    click.echo(f"account {link.account_id}, held at {link.broker} ({number}); linked {link.created_at:%Y-%m-%d}")
    history = equity_history(engine, link.account_id)
    if history:
        first, last = history[0], history[-1]
        growth = last.equity / first.equity - 1 if first.equity else Decimal(0)
        peak = max(h.equity for h in history)
        click.echo(f"  equity {first.day} {first.equity:,.2f} -> {last.day} {last.equity:,.2f} ({growth:+.2%})")
        click.echo(f"  cash {last.cash:,.2f}  peak {peak:,.2f}  drawdown from peak {1 - last.equity / peak:.2%}")
    else:
        click.echo("  no run has recorded its equity yet")
    _recent(engine, link.account_id, runs)


def _recent(engine: Engine, account_id: str, runs: int) -> None:
    recent = recent_runs(engine, account_id, limit=runs)
    if recent:
        click.echo("  recent runs (rebalancing_log):")
    for run in recent:
        click.echo(
            f"  run {run.id}: {run.rebalance_date} {run.mode} {run.status:<17} {run.regime or '-':<22} "
            f"{run.strategy or '-':<15} {run.risk_verdict or '-':<14} {run.error or ''}".rstrip()
        )


def _waiting(change: Decimal | None, held: Decimal) -> str:
    """What the orders waiting at the venue will do to a holding at the next open."""
    if not change:
        return ""
    if change < 0 and -change >= held:
        return f"sell all {held.normalize():f}"
    return f"{'buy' if change > 0 else 'sell'} {abs(change).normalize():f}"


@accounts.command()
@click.option("--account-id", default=None, help="The account (default: settings run.account_id).")
@click.option(
    "--mode",
    type=click.Choice(["paper", "live"]),
    default=None,
    help="Which of the account's ledgers to compare: Alpaca's paper or live environment (default: paper at "
    "Alpaca, live at Schwab, which has no paper environment).",
)
@click.option("--accept", is_flag=True, help="Record the broker's state as the truth (needs --by and --reason).")
@click.option("--by", "by", default=None, help="Who accepts the broker's state.")
@click.option("--reason", default=None, help="Why: a deposit, a trade made by hand, ...")
@pass_app
@fails_cleanly
def reconcile(
    app: AppContext, account_id: str | None, mode: str | None, accept: bool, by: str | None, reason: str | None
) -> None:
    """Compare an account held at a broker with the fund's ledger, as a run does before it trades.

    Exit status 1 when a difference nobody can explain would stop the next run (and --accept was not
    given). With --accept, the broker's positions, cash and open orders become the ledger's baseline;
    open orders the fund did not place are acknowledged, never canceled.
    """
    if accept and not (by and by.strip() and reason and reason.strip()):
        raise click.UsageError("--accept needs --by NAME and --reason TEXT: the record says who and why")
    engine = app.migrated_engine()
    settings = app.settings
    account = account_id or settings.run.account_id
    link = broker_account(engine, account)
    if link is None:
        raise click.UsageError(
            f"{account} is a database paper account: its venue's books are the ledger, there is nothing to reconcile"
        )
    mode = mode or ("live" if link.broker == "schwab" else "paper")
    # Read-only: a reconciliation never sends or cancels.
    broker = DryRunBroker(live_broker(engine, link, settings, RunMode(mode)))
    for order in open_ledger_orders(engine, account, broker.name):
        assert order.order_id is not None
        fresh = call_with_retry(partial(broker.get_order, order.order_id), idempotent=True, what="order status")
        record_broker_order(engine, order.id, fresh)
    now = utcnow()
    session = exchange_today(now)
    result = reconcile_account(
        engine,
        broker,
        account,
        mode,
        session,
        cash_tolerance=settings.brokers.reconcile_cash_tolerance,
        now=now,
    )
    click.echo(f"{account} at {link.broker} ({mode}): {result.outcome}")
    click.echo(result.table())
    if accept:
        row = record_reconciliation(
            engine,
            result,
            broker=broker.name,
            mode=mode,
            session=session,
            checked_at=utcnow(),
            accepted_by=by,
            reason=reason,
            acknowledge_unknown_orders=True,
        )
        click.echo(f"recorded the broker's state as the ledger's baseline (reconciliation {row}, by {by}: {reason})")
        return
    if result.outcome == "stopped":
        raise click.ClickException(
            "the next run would stop on these differences; if the broker is right, record it with --accept "
            "--by NAME --reason TEXT"
        )
