"""Fixtures of the decision-core tests: a small synthetic market imported into a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.factories import import_synthetic_market


@pytest.fixture
def market(engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Three years of 60 synthetic stocks; a 300-session volatility window so that the history a
    single date needs is shorter than the data, as in production."""
    monkeypatch.setenv("FUND_REGIME__VOLATILITY_LOOKBACK_SESSIONS", "300")
    import_synthetic_market(engine, tmp_path)
    return engine
