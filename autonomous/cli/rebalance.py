"""`fund rebalance`: the daily run. Cron calls it after the close (scripts/run_daily_rebalance.sh)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime

import click
from sqlalchemy import Engine

from autonomous.cli.assembly import assemble_daily_run
from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from autonomous.daily_run.request import RunMode, RunRequest, RunResult
from trading.marketdata.calendar import exchange_today

LIVE_ARMED_VARIABLE = "FUND_LIVE_ARMED"
_MODES = {"dry-run": RunMode.DRY_RUN, "paper": RunMode.PAPER, "live": RunMode.LIVE}


def _mode(mode: str | None, dry_run: bool, paper: bool, live: bool) -> RunMode:
    chosen = {name for name, flag in (("dry-run", dry_run), ("paper", paper), ("live", live)) if flag}
    if mode is not None:
        chosen.add(mode)
    if len(chosen) > 1:
        raise click.UsageError(f"choose one mode, got {', '.join(sorted(chosen))}")
    return _MODES[chosen.pop()] if chosen else RunMode.PAPER


def _arm_live(account_id: str, yes: bool) -> None:
    """Live trading needs the account id typed at a prompt, or --yes with FUND_LIVE_ARMED=1 (for cron)."""
    if yes:
        if os.environ.get(LIVE_ARMED_VARIABLE) != "1":
            raise click.ClickException(f"--live --yes also needs {LIVE_ARMED_VARIABLE}=1 in the environment")
        return
    if not sys.stdin.isatty():
        raise click.ClickException(
            f"live mode is not armed: run it at a terminal and type the account id, or pass --yes with "
            f"{LIVE_ARMED_VARIABLE}=1"
        )
    typed = click.prompt(f"Live trading with real money. Type the account id ({account_id}) to go on")
    if typed != account_id:
        raise click.ClickException("the typed account id does not match: nothing was done")


@click.command()
@click.option("--mode", type=click.Choice(sorted(_MODES)), default=None, help="Run mode (default: paper).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Plan and log (status dry_run); send nothing.")
@click.option(
    "--paper-trading",
    "paper",
    is_flag=True,
    help="Paper mode (the default): the database venue, or Alpaca's paper environment for an Alpaca account.",
)
@click.option("--live", is_flag=True, help="Trade a live broker account (must be armed).")
@click.option("--account-id", default=None, help="The account (default: settings run.account_id).")
@click.option("--use-mock", is_flag=True, help="Target from the rule-based mock generator.")
@click.option("--force", is_flag=True, help="Run again although this session already has a run (recorded).")
@click.option("--date", "day", type=DATE, default=None, help="Session whose close to decide at (default: today).")
@click.option("--resume", is_flag=True, help="Only finish an interrupted or approved run; plan nothing new.")
@click.option("--yes", is_flag=True, help=f"Arm live mode without a prompt (needs {LIVE_ARMED_VARIABLE}=1).")
@pass_app
@click.pass_context
@fails_cleanly
def rebalance(
    ctx: click.Context,
    app: AppContext,
    mode: str | None,
    dry_run: bool,
    paper: bool,
    live: bool,
    account_id: str | None,
    use_mock: bool,
    force: bool,
    day: date | None,
    resume: bool,
    yes: bool,
) -> None:
    """Run the daily rebalance for one account and session.

    Exit status: 0 done (or nothing to do: not a session, already done, awaiting approval), 1 failed
    (nothing was traded on bad data; an interrupted plan is resumed by the next run), 3 the risk
    manager rejected the target.
    """
    run_mode = _mode(mode, dry_run, paper, live)
    account = account_id or app.settings.run.account_id
    if run_mode is RunMode.LIVE:
        _arm_live(account, yes)
    engine = app.migrated_engine()
    # The session a run after today's close decides at: the exchange's date, not the server's.
    request = RunRequest(account, run_mode, day or exchange_today(), force=force, resume_only=resume)
    run = assemble_daily_run(engine, app.settings, run_mode, account, use_mock=use_mock)
    started_at = datetime.now(UTC)
    result = run.run(request)
    click.echo(f"{result.session} {account} {run_mode.value}: {result.outcome.value}: {result.message}")
    for event in result.events:
        click.echo(f"  {event}")
    if app.settings.notify.targets:
        _notify(app, engine, account, run_mode, result, started_at)
    ctx.exit(result.exit_code)


def _notify(
    app: AppContext, engine: Engine, account: str, mode: RunMode, result: RunResult, started_at: datetime
) -> None:
    from autonomous.notifications import notify_run
    from trading.settings import default_data_dir

    report = notify_run(
        engine,
        app.settings,
        account,
        mode,
        result,
        started_at=started_at,
        now=datetime.now(UTC),
        default_dir=default_data_dir(),
    )
    if report is not None and (report.failed or report.timed_out):
        click.echo(f"  notifications: {len(report.delivered)} delivered, {len(report.failed)} not (see the log)")
