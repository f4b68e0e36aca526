"""`fund accounts`: create a database paper account and show one."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from trading.store.accounts import (
    create_paper_account,
    equity_history,
    get_paper_account,
    list_paper_accounts,
    paper_positions,
    waiting_orders,
)
from trading.store.rebalances import recent_runs


def _amount(_ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number", param=param) from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"{value!r} must be a finite amount >= 0", param=param)
    return amount


@click.group()
def accounts() -> None:
    """Paper accounts: create, show."""


@accounts.command()
@click.option("--account-id", default=None, help="The new account's id (default: settings run.account_id).")
@click.option("--cash", required=True, callback=_amount, help="Starting cash, e.g. 100000.")
@click.option("--fractional", is_flag=True, help="Allow fractional-share orders (default: whole shares).")
@click.option("--exist-ok", is_flag=True, help="An existing account with this id is fine (it is left as it is).")
@pass_app
@fails_cleanly
def create(app: AppContext, account_id: str | None, cash: Decimal, fractional: bool, exist_ok: bool) -> None:
    """Create a paper account holding only cash."""
    account = account_id or app.settings.run.account_id
    if exist_ok and account in {a.account_id for a in list_paper_accounts(app.migrated_engine())}:
        click.echo(f"paper account {account} already exists; left unchanged")
        return
    try:
        record = create_paper_account(app.migrated_engine(), account, cash, fractional_shares=fractional)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    shares = "fractional" if record.fractional_shares else "whole"
    click.echo(f"created paper account {record.account_id}: {record.cash:,.2f} {record.currency}, {shares} shares")


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
        return
    record = get_paper_account(engine, account_id or app.settings.run.account_id)
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
    recent = recent_runs(engine, record.account_id, limit=runs)
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
