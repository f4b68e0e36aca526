"""`fund notify`: check the notification targets of `[notify]` (test) and list them, redacted (targets)."""

from __future__ import annotations

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from trading.errors import ConfigurationError


@click.group()
def notify() -> None:
    """The fund's notifications: where they go, and a test message."""


@notify.command("targets")
@pass_app
@fails_cleanly
def targets(app: AppContext) -> None:
    """The configured targets as apprise shows them (secrets masked), and the events switched on."""
    from trading.notify import EventKind, Notifier

    notifier = Notifier(app.settings.notify)
    for problem in notifier.problems:
        click.echo(problem)
    if not notifier.configured:
        click.echo('no notification target configured: add [notify] targets = ["discord://..."] to the settings')
        return
    for shown in notifier.targets:
        click.echo(f"target: {shown}")
    switches = sorted({kind.switch for kind in EventKind if kind.switch is not None})
    on = [name for name in switches if getattr(app.settings.notify, name)]
    off = [name for name in switches if name not in on]
    click.echo(f"events on: {', '.join(on) or 'none'}; off: {', '.join(off) or 'none'}")


@notify.command("test")
@click.option("--message", default="A test message from the fund: notifications reach this target.")
@pass_app
@fails_cleanly
def test(app: AppContext, message: str) -> None:
    """Send a test message to every target; exit 1 when one did not take it."""
    from trading.notify import EventKind, Notice, Notifier

    notifier = Notifier(app.settings.notify)
    for problem in notifier.problems:
        click.echo(problem)
    if not notifier.configured:
        raise ConfigurationError("no notification target configured: add [notify] targets to the settings")
    report = notifier.send([Notice(EventKind.TEST, "Autofund test", message)])
    for _, shown in report.delivered:
        click.echo(f"delivered: {shown}")
    for _, shown, why in report.failed:
        click.echo(f"NOT delivered: {shown}: {why}")
    if report.timed_out:
        click.echo(f"gave up after {app.settings.notify.deadline_seconds:.0f} s (notify.deadline_seconds)")
    if not report.ok or notifier.problems:
        raise click.exceptions.Exit(1)
