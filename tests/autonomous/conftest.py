"""Fixtures of the decision-core tests: a small synthetic market imported into a real database.

The market is imported once per test session per backend (through the real importers) and then
restored for each test: a copy of the SQLite file, or the rows copied back from a template schema on
PostgreSQL. Importing it afresh took about 3 s a test, more than most of the tests themselves.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL

from tests.factories import import_synthetic_market
from trading.db.engine import make_engine
from trading.db.schema import Base

TEMPLATE_SCHEMA = "market_template"


@pytest.fixture(scope="session")
def sqlite_market_template(migrated_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("market-template")
    path = folder / "market.db"
    shutil.copy(migrated_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    import_synthetic_market(engine, folder)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_market_tables(migrated_postgres_url: URL | None, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The tables the import fills, copied into a template schema of the session's PostgreSQL database."""
    assert migrated_postgres_url is not None
    engine = make_engine(migrated_postgres_url)
    try:
        import_synthetic_market(engine, tmp_path_factory.mktemp("market-template-pg"))
        filled = []
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {TEMPLATE_SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {TEMPLATE_SCHEMA}"))
            for table in Base.metadata.sorted_tables:
                if connection.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{table.name}")')).scalar_one():
                    connection.execute(text(f'CREATE TABLE {TEMPLATE_SCHEMA}."{table.name}" AS TABLE "{table.name}"'))
                    filled.append(table.name)
            # The test that built the template restores it like every other test.
            names = ", ".join(f'"{name}"' for name in filled)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return filled


def _restore_postgres_market(engine: Engine, tables: list[str]) -> None:
    with engine.begin() as connection:
        for name in tables:
            connection.execute(text(f'INSERT INTO "{name}" SELECT * FROM {TEMPLATE_SCHEMA}."{name}"'))
            if "id" in {column["name"] for column in inspect(connection).get_columns(name)}:
                # The copied ids must not be handed out again by the next insert.
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), MAX(id)) FROM \"{name}\"")
                )


@pytest.fixture
def market(
    engine: Engine, database_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Engine:
    """Three years of 60 synthetic stocks; a 300-session volatility window so that the history a
    single date needs is shorter than the data, as in production."""
    monkeypatch.setenv("FUND_REGIME__VOLATILITY_LOOKBACK_SESSIONS", "300")
    if engine.dialect.name == "sqlite":
        assert engine.url.database is not None
        engine.dispose()
        for leftover in (Path(f"{engine.url.database}-wal"), Path(f"{engine.url.database}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copy(request.getfixturevalue("sqlite_market_template"), engine.url.database)
    else:
        _restore_postgres_market(engine, request.getfixturevalue("postgres_market_tables"))
    return engine
