"""Fixtures of the rl_trading database tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.rl_trading.market import BACKENDS, PostgresServer, synthetic_market_database


@pytest.fixture(scope="module", params=BACKENDS)
def shared_market(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_sqlite_template: Path,
    postgres_server: PostgresServer,
) -> Iterator[Engine]:
    """The synthetic market once per backend and test module, for tests that add models but never bars."""
    engine = synthetic_market_database(
        request, tmp_path_factory.mktemp("rl-market"), migrated_sqlite_template, postgres_server
    )
    yield engine
    engine.dispose()
