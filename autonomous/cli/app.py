"""The root `fund` group and its sub-groups."""

from __future__ import annotations

from pathlib import Path

import click

from autonomous.cli.accounts import accounts
from autonomous.cli.approvals import approvals
from autonomous.cli.context import AppContext
from autonomous.cli.data import data
from autonomous.cli.db import db
from autonomous.cli.models import models
from autonomous.cli.rebalance import rebalance
from autonomous.cli.regime import regime
from autonomous.cli.replay import replay
from autonomous.cli.risk import risk
from autonomous.cli.strategy import strategy
from autonomous.cli.train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


fund.add_command(db)
fund.add_command(data)
fund.add_command(regime)
fund.add_command(strategy)
fund.add_command(risk)
fund.add_command(accounts)
fund.add_command(rebalance)
fund.add_command(approvals)
fund.add_command(replay)
fund.add_command(train)
fund.add_command(models)
