"""`fund report daily`: the session's sentinel report, written to a folder and sent to the notification targets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app


@click.group()
def report() -> None:
    """Reports on the fund, from what its runs recorded."""


@report.command("daily")
@click.option("--account-id", default=None, help="The account (default: settings run.account_id).")
@click.option("--date", "day", type=DATE, default=None, help="The session (default: the account's latest run).")
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports"),
    show_default=True,
    help="Folder the text and the PNG chart are written to.",
)
@click.option("--send/--no-send", default=True, show_default=True, help="Also send it to the [notify] targets.")
@pass_app
@fails_cleanly
def daily(app: AppContext, account_id: str | None, day: date | None, output: Path, send: bool) -> None:
    """The session's regime, strategy, trades, equity and drawdown, what changed and why, and a chart."""
    from autonomous.daily_report import build_daily_report
    from trading.notify import EventKind, Notice, Notifier

    account = account_id or app.settings.run.account_id
    built = build_daily_report(app.migrated_engine(), app.settings, account, day)
    written = built.write(output)
    click.echo(built.title)
    click.echo(built.text)
    for path in written:
        click.echo(f"written: {path}")
    if not send or not app.settings.notify.targets:
        return
    charts = tuple(path for path in written if path.suffix == ".png")
    notice = Notice(EventKind.DAILY_REPORT, built.title, built.text, attachments=charts)
    delivery = Notifier(app.settings.notify).send([notice])
    click.echo(
        f"sent to {len(delivery.delivered)} target(s)" + (f", {len(delivery.failed)} failed" if delivery.failed else "")
    )
    if not delivery.ok:
        raise click.exceptions.Exit(1)
