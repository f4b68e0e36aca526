"""The root `fund` group and its sub-groups.

Sub-groups are imported when they are invoked, not when `fund` starts: cron's `fund rebalance` then
never imports the importers, the synthetic market or Alembic, which cost it about a second.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from autonomous.cli.context import AppContext, database_failure
from trading.errors import FundError

log = logging.getLogger(__name__)

# name -> the module that defines it (the command is the module's attribute of the same name).
COMMANDS = {
    "db": "autonomous.cli.db",
    "data": "autonomous.cli.data",
    "regime": "autonomous.cli.regime",
    "strategy": "autonomous.cli.strategy",
    "risk": "autonomous.cli.risk",
    "accounts": "autonomous.cli.accounts",
    "broker": "autonomous.cli.broker",
    "rebalance": "autonomous.cli.rebalance",
    "approvals": "autonomous.cli.approvals",
    "replay": "autonomous.cli.replay",
    "train": "autonomous.cli.train",
    "models": "autonomous.cli.models",
    "backtest": "autonomous.cli.backtest",
    "sweep": "autonomous.cli.sweep",
    "notify": "autonomous.cli.notify",
    "report": "autonomous.cli.report",
    "dashboard": "autonomous.cli.dashboard",
}


class FundGroup(click.Group):
    """The root group: it loads each sub-command on first use, and it is the last net under every
    command, so an expected failure anywhere (a database that cannot be reached, a project error a
    command did not translate) is one line and exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            command = getattr(importlib.import_module(COMMANDS[cmd_name]), cmd_name)
            assert isinstance(command, click.Command)
            self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            log.debug("database error", exc_info=exc)
            app = ctx.obj if isinstance(ctx.obj, AppContext) else None
            raise database_failure(app.loaded_settings if app else None, exc) from exc
        except FundError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=FundGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML settings file (default: $FUND_CONFIG_FILE, then ~/.config/autofund/fund.toml).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default=None,
    help="Override the settings' log level.",
)
@click.pass_context
def fund(ctx: click.Context, config_file: Path | None, log_level: str | None) -> None:
    """Autofund: a database-centric autonomous fund."""
    ctx.obj = AppContext(config_file=config_file, log_level=log_level)
