"""What the rankers' database tests share: tiny models on the synthetic market, and the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from autonomous.cli import app
from trading.settings import FundSettings, load_settings


@pytest.fixture
def tiny(market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    """Settings for rankers of 5 trees and 2 folds: the tests check the code around the model, not the model."""
    monkeypatch.setenv("FUND_MODELS__RANKER__N_ESTIMATORS", "5")
    monkeypatch.setenv("FUND_MODELS__RANKER__FOLDS", "2")
    return load_settings(None)


def run_fund(*args: str) -> Result:
    """`fund ARGS` in this process, on the database the fixtures set in the environment."""
    return CliRunner().invoke(app.fund, list(args))
