"""Fixtures shared by the suite: migrated databases on SQLite and on PostgreSQL, and the shared
real data set.

PostgreSQL comes from FUND_TEST_POSTGRES_URL (a server URL; the session creates its own database
there and drops it afterwards), else from testcontainers when a Docker engine answers, else the
PostgreSQL cases skip and say why.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from trading.db import migrate
from trading.db.engine import make_engine, normalise_url
from trading.db.schema import Base

# CI replays the same examples every run (HYPOTHESIS_PROFILE=ci in .ci/run): a CI result changes
# only when the code does. Local runs stay random, so new examples keep being explored.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BACKENDS = ("sqlite", "postgresql")
REAL_DATA_DIR = Path(
    os.environ.get("FUND_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_av_1999_2021")
)


@dataclass(frozen=True)
class PostgresServer:
    url: URL | None
    skip_reason: str = ""


def _testcontainers_server() -> Iterator[PostgresServer]:
    try:
        import docker
        from testcontainers.postgres import PostgresContainer

        docker.from_env().ping()
    except Exception as exc:  # no Docker engine: the usual case on CI machines without one
        yield PostgresServer(None, f"FUND_TEST_POSTGRES_URL is not set and no Docker engine answers ({exc})")
        return
    with PostgresContainer("postgres:16", driver="psycopg") as container:
        yield PostgresServer(make_url(container.get_connection_url()))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    configured = os.environ.get("FUND_TEST_POSTGRES_URL")
    if configured:
        yield PostgresServer(normalise_url(configured))
        return
    yield from _testcontainers_server()


class _PostgresDatabases:
    """Creates throw-away databases on the server and drops them at the end of the session."""

    def __init__(self, server_url: URL) -> None:
        self._admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self._server_url = server_url
        self._created: list[str] = []

    def create(self) -> URL:
        name = f"autofund_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return self._server_url.set(database=name)

    def drop_all(self) -> None:
        with self._admin.connect() as connection:
            for name in self._created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: PostgresServer) -> Iterator[_PostgresDatabases | None]:
    if postgres_server.url is None:
        yield None
        return
    databases = _PostgresDatabases(postgres_server.url)
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_databases: _PostgresDatabases | None) -> URL | None:
    if postgres_databases is None:
        return None
    url = postgres_databases.create()
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


def _skip_without_postgres(postgres_server: PostgresServer) -> None:
    if postgres_server.url is None:
        pytest.skip(f"PostgreSQL unavailable: {postgres_server.skip_reason}")


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def engine(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_sqlite_template: Path,
    postgres_server: PostgresServer,
) -> Iterator[Engine]:
    """An empty database at the newest schema, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "fund.db"
        # Copying a migrated file is much faster than migrating per test.
        shutil.copy(migrated_sqlite_template, path)
        new_engine = make_engine(f"sqlite:///{path}")
    else:
        _skip_without_postgres(postgres_server)
        url = request.getfixturevalue("migrated_postgres_url")
        new_engine = make_engine(url)
        _truncate_all(new_engine)
    yield new_engine
    new_engine.dispose()


@pytest.fixture(params=BACKENDS)
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Engine]:
    """A brand-new empty database with no schema at all, on each backend."""
    if request.param == "sqlite":
        new_engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    else:
        _skip_without_postgres(postgres_server)
        databases: _PostgresDatabases = request.getfixturevalue("postgres_databases")
        new_engine = make_engine(databases.create())
    yield new_engine
    new_engine.dispose()


@pytest.fixture
def database_url(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    """The engine's URL, exported as FUND_DATABASE_URL for commands run in-process."""
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("FUND_DATABASE_URL", url)
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    return url


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if not (REAL_DATA_DIR / "prices_stocks.csv.gz").is_file():
        pytest.skip(f"the shared real data set is absent ({REAL_DATA_DIR})")
    return REAL_DATA_DIR
