"""`fund db`: the schema, through Alembic only."""

from __future__ import annotations

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from trading.db import migrate


@click.group()
def db() -> None:
    """Create and inspect the database schema."""


@db.command()
@click.argument("revision", default="head")
@pass_app
@fails_cleanly
def upgrade(app: AppContext, revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    migrate.upgrade(app.engine, revision)
    click.echo(f"{app.settings.database_url_for_display}: schema at revision {migrate.current_revision(app.engine)}")


@db.command()
@pass_app
@fails_cleanly
def current(app: AppContext) -> None:
    """Print the database's schema revision and whether it is the newest."""
    revision, head = migrate.current_revision(app.engine), migrate.head_revision()
    state = "up to date" if revision == head else f"behind: newest is {head}; run `fund db upgrade`"
    click.echo(f"{app.settings.database_url_for_display}: revision {revision or 'none'} ({state})")
