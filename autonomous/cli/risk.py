"""`fund risk`: see whether an account is halted after a drawdown breach, and lift the halt by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from trading.store.risk_halts import HaltRecord, active_halt, recent_halts, resume_halt

_account_option = click.option(
    "--account-id", "--account", "account_id", default=None, help="The account (default: settings run.account_id)."
)


def _not_blank(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must not be empty", param=param)
    return value


@click.group()
def risk() -> None:
    """Drawdown halts: status and resume."""


def _breach(halt: HaltRecord) -> str:
    return f"drawdown {halt.drawdown:.2%} (equity {halt.equity:,.2f} vs peak {halt.peak_equity:,.2f}): {halt.reason}"


def _lifted(halt: HaltRecord) -> str:
    assert halt.resumed_at is not None
    return (
        f"resumed {halt.resumed_at:%Y-%m-%d %H:%M} UTC by {halt.resumed_by} ({halt.resume_policy}): "
        f"{halt.resume_reason}"
    )


@risk.command()
@_account_option
@click.option("--history", type=click.IntRange(min=1), default=5, show_default=True, help="Past halts to list.")
@pass_app
@fails_cleanly
def status(app: AppContext, account_id: str | None, history: int) -> None:
    """The account's active halt, if any, and its most recent halts."""
    account_id = account_id or app.settings.run.account_id
    with app.migrated_engine().connect() as connection:
        halt = active_halt(connection, account_id)
        # One more than asked for: the newest may be the active halt, shown above the history.
        past = [h for h in recent_halts(connection, account_id, limit=history + 1) if not h.is_active][:history]
    if halt is None:
        click.echo(f"account {account_id}: no active halt")
    else:
        click.echo(f"account {account_id}: HALTED since {halt.triggered_on}, reduce-only; {_breach(halt)}")
        click.echo(f"  lift it with: fund risk resume --account-id {account_id} --by NAME --reason TEXT")
    if past:
        click.echo("recent halts:")
    for lifted in past:
        click.echo(f"  {lifted.triggered_on}: {_breach(lifted)}; {_lifted(lifted)}")


@risk.command()
@_account_option
@click.option("--by", "resumed_by", required=True, callback=_not_blank, help="Who lifts the halt (recorded).")
@click.option("--reason", required=True, callback=_not_blank, help="Why new risk is acceptable again (recorded).")
@pass_app
@fails_cleanly
def resume(app: AppContext, account_id: str | None, resumed_by: str, reason: str) -> None:
    """Lift the account's active drawdown halt (manual policy)."""
    account_id = account_id or app.settings.run.account_id
    with app.migrated_engine().begin() as connection:
        halt = resume_halt(connection, account_id, resumed_by, reason, "manual", at=datetime.now(UTC))
    click.echo(f"account {account_id}: lifted the halt of {halt.triggered_on} ({_breach(halt)})")
    click.echo(f"  {_lifted(halt)}; the next run may take new risk")
