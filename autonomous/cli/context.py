"""What every command shares: settings, a lazily built engine, and the error-to-exit mapping."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import OperationalError

from trading.db.engine import make_engine, stored_revision
from trading.db.schema import SCHEMA_REVISION
from trading.errors import FundError
from trading.settings import FundSettings, load_settings

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class AppContext:
    config_file: Path | None
    log_level: str | None
    _settings: FundSettings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def loaded_settings(self) -> FundSettings | None:
        """The settings if a command has loaded them (without loading them here)."""
        return self._settings

    @property
    def settings(self) -> FundSettings:
        if self._settings is None:
            self._settings = load_settings(self.config_file)
            logging.basicConfig(
                level=self.log_level or self._settings.log_level,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
            # Alembic narrates every connection at INFO; `fund db` prints what matters itself.
            logging.getLogger("alembic").setLevel(logging.WARNING)
            # httpx (under schwab-py) logs every request at INFO: the adapters log what matters.
            logging.getLogger("httpx").setLevel(logging.WARNING)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url.get_secret_value())
            context = click.get_current_context(silent=True)
            if context is not None:
                # Connections are closed as the command ends, not left to the interpreter's teardown.
                context.find_root().call_on_close(self._engine.dispose)
        return self._engine

    def migrated_engine(self) -> Engine:
        """The engine, after checking the schema is at the newest migration."""
        # One query against the revision this code was written for: importing Alembic to ask it
        # costs half a second, most of a daily run's start.
        current, head = stored_revision(self.engine), SCHEMA_REVISION
        if current != head:
            raise FundError(
                f"the database {self.settings.database_url_for_display} is at schema revision {current or 'none'}, "
                f"not {head}: run `fund db upgrade` first"
            )
        return self.engine


pass_app = click.make_pass_decorator(AppContext)


def fails_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's errors into a one-line message and exit status 1, not a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FundError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def database_failure(settings: FundSettings | None, exc: OperationalError) -> click.ClickException:
    """One line for a database that cannot be reached, opened or used: its URL (password masked)
    and the driver's first line of explanation, never a traceback."""
    driver_message = str(exc.orig if exc.orig is not None else exc).strip()
    reason = (driver_message.splitlines() or [type(exc).__name__])[0]
    if settings is None:
        return click.ClickException(f"cannot use the database: {reason}")
    password = make_url(settings.database_url.get_secret_value()).password
    if password:
        reason = reason.replace(str(password), "***")
    return click.ClickException(f"cannot use the database {settings.database_url_for_display}: {reason}")


class DateParam(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date in YYYY-MM-DD form", param, ctx)


DATE = DateParam()
