"""`fund approvals`: the plans the risk manager sent to a person, and that person's decision."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from autonomous.daily_run import approvals as use_cases
from trading.store.rebalances import list_approvals


def _not_blank(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty", param=param)
    return value


@click.group()
def approvals() -> None:
    """Plans waiting for a person: list, approve, reject."""


@approvals.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include decided and expired approvals.")
@pass_app
@fails_cleanly
def list_(app: AppContext, show_all: bool) -> None:
    """Pending approvals (newest first), with the run they belong to."""
    records = list_approvals(app.migrated_engine(), pending_only=not show_all)
    if not records:
        click.echo("no pending approvals" if not show_all else "no approvals")
    for record in records:
        expires = f"expires {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else "no expiry"
        decided = f" by {record.decided_by}: {record.reason or ''}" if record.decided_by else ""
        click.echo(
            f"{record.id:>5}  run {record.rebalance_id} {record.account_id} {record.rebalance_date} {record.mode}  "
            f"{record.decision}{decided}  {expires}"
        )


@approvals.command()
@click.argument("approval_id", type=int)
@click.option("--by", "decided_by", default=lambda: _default_user(), callback=_not_blank, help="Who approves.")
@click.option("--reason", default=None, callback=_not_blank, help="Why (recorded).")
@pass_app
@fails_cleanly
def approve(app: AppContext, approval_id: int, decided_by: str, reason: str | None) -> None:
    """Approve a pending plan; the next run (or `fund rebalance --resume`) sends it."""
    record = use_cases.approve(app.migrated_engine(), approval_id, decided_by, datetime.now(UTC), reason)
    click.echo(f"approval {record.id} approved by {decided_by}: run {record.rebalance_id} will be sent by the next run")
    click.echo("  send it now with: fund rebalance --resume")


@approvals.command()
@click.argument("approval_id", type=int)
@click.option("--reason", required=True, callback=_not_blank, help="Why the plan must not trade (recorded).")
@click.option("--by", "decided_by", default=lambda: _default_user(), callback=_not_blank, help="Who rejects.")
@pass_app
@fails_cleanly
def reject(app: AppContext, approval_id: int, reason: str, decided_by: str) -> None:
    """Reject a pending plan: its run is closed and nothing is sent."""
    record = use_cases.reject(app.migrated_engine(), approval_id, decided_by, reason, datetime.now(UTC))
    click.echo(f"approval {record.id} rejected by {decided_by}: run {record.rebalance_id} closed, nothing sent")


def _default_user() -> str:
    import getpass

    return getpass.getuser()
