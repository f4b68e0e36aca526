"""Engines and session factories. No module-level engine: callers build one from settings
and pass the session factory down, committing at the use-case boundary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from trading.errors import ConfigurationError

log = logging.getLogger(__name__)


def normalise_url(url: str | URL) -> URL:
    """Map plain `postgresql://` URLs onto psycopg 3 (the only PostgreSQL driver we install)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported database {parsed.render_as_string(hide_password=True)!r}: use sqlite:/// or postgresql://"
        )
    return parsed


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets a reader (psql-like inspection,
    # `fund data status`) run while the daily job writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _make_sqlite_folder(parsed)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _make_sqlite_folder(url: URL) -> None:
    assert url.database is not None
    folder = Path(url.database).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the folder {folder} for the database {url.render_as_string(hide_password=True)}: "
            f"{exc.strerror or exc}"
        ) from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def stored_revision(engine: Engine) -> str | None:
    """The schema revision Alembic recorded in the database (None before the first migration), read
    without importing Alembic."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
