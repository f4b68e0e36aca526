"""The synthetic market in a database of either backend, and small in-memory rankers, shared by the
rl_trading database tests (module-scoped, so a file builds its market once per backend)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine

from autonomous.ranking.dataset import RANKER_FEATURES
from autonomous.ranking.xgb import booster_to_bytes
from tests.conftest import BACKENDS, PostgresServer
from tests.factories import import_synthetic_market
from trading.db import migrate
from trading.db.engine import make_engine
from trading.store.models import RANKER, ModelRecord, save_model

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "BACKENDS",
    "FULL_INPUTS",
    "PostgresServer",
    "low_volatility_booster",
    "momentum_booster",
    "pessimist_booster",
    "ranking_booster",
    "store_momentum_ranker",
    "synthetic_market_database",
    "versions_with_agent",
]


def synthetic_market_database(
    request: pytest.FixtureRequest, folder: Path, sqlite_template: Path, postgres_server: PostgresServer
) -> Engine:
    """A new database of the backend `request.param` holding the synthetic market (shared by the
    rl_trading database tests' module-scoped fixtures)."""
    if request.param == "sqlite":
        shutil.copy(sqlite_template, folder / "fund.db")
        engine = make_engine(f"sqlite:///{folder / 'fund.db'}")
    else:
        if postgres_server.url is None:
            pytest.skip(f"PostgreSQL unavailable: {postgres_server.skip_reason}")
        engine = make_engine(request.getfixturevalue("postgres_databases").create())
        migrate.upgrade(engine)
    import_synthetic_market(engine, folder)
    return engine


def fitted_booster(labels_of: Callable[[FloatArray, np.random.Generator], FloatArray]) -> Any:
    """An xgboost ranker on RANKER_FEATURES fitted to labels_of(random inputs, rng)."""
    import xgboost

    rng = np.random.default_rng(3)
    inputs = rng.uniform(size=(600, len(RANKER_FEATURES)))
    matrix = xgboost.DMatrix(inputs, label=labels_of(inputs, rng), feature_names=list(RANKER_FEATURES))
    return xgboost.train({"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 1}, matrix, num_boost_round=12)


def momentum_booster() -> Any:
    """Expects recent winners with a low volatility to beat the benchmark, and the rest not to."""
    momentum, volatility = RANKER_FEATURES.index("mom_21_rank"), RANKER_FEATURES.index("vol_20_rank")
    return fitted_booster(
        lambda x, rng: 0.1 * (x[:, momentum] - x[:, volatility]) - 0.01 + rng.normal(scale=0.01, size=len(x))
    )


def low_volatility_booster() -> Any:
    """Expects the calmer half of the names to beat the benchmark (another ensemble member than momentum's)."""
    volatility = RANKER_FEATURES.index("vol_60_rank")
    return fitted_booster(lambda x, rng: 0.1 * (0.5 - x[:, volatility]) + rng.normal(scale=0.01, size=len(x)))


def pessimist_booster() -> Any:
    """Expects every stock to trail the benchmark."""
    return fitted_booster(lambda x, rng: np.full(len(x), -0.05))


def ranking_booster() -> Any:
    """Orders names as the momentum booster does, by a ranking objective (rank:pairwise over groups of 50),
    with every score below zero: a score that only orders, whose sign means nothing."""
    import xgboost

    momentum, volatility = RANKER_FEATURES.index("mom_21_rank"), RANKER_FEATURES.index("vol_20_rank")
    rng = np.random.default_rng(3)
    inputs = rng.uniform(size=(600, len(RANKER_FEATURES)))
    labels = inputs[:, momentum] - inputs[:, volatility] + rng.normal(scale=0.1, size=len(inputs))
    matrix = xgboost.DMatrix(
        inputs, label=labels, qid=np.repeat(np.arange(12), 50), feature_names=list(RANKER_FEATURES)
    )
    parameters = {
        "objective": "rank:pairwise",
        "base_score": -10.0,
        "max_depth": 3,
        "eta": 0.3,
        "nthread": 1,
        "seed": 1,
    }
    return xgboost.train(parameters, matrix, num_boost_round=12)


# What the hybrid generator records of a ranker reading every input, on the synthetic market (which has both
# optional groups): autonomous/ranking/feature_sets.py.
FULL_INPUTS = "full (17 inputs); the data has volume and dividends"


def versions_with_agent(ranker_label: str, agent: ModelRecord) -> dict[str, str]:
    """The hybrid generator's model_versions when its agent set the weights."""
    trained_on = str(agent.parameters.get("ranker", "unknown"))
    return {
        "ranker": ranker_label,
        "ranker_inputs": FULL_INPUTS,
        "agent": agent.label,
        "agent_trained_on_ranker": trained_on,
    }


def store_momentum_ranker(
    engine: Engine, strategy: str, train_start: date, train_end: date, metrics: dict[str, Any] | None = None
) -> ModelRecord:
    """The momentum booster, stored as the strategy's ranker for a training window it never saw:
    what these tests check is how rankers are used, not how well they rank."""
    return save_model(
        engine,
        kind=RANKER,
        strategy=strategy,
        train_start=train_start,
        train_end=train_end,
        feature_set=RANKER_FEATURES,
        parameters={"horizon": 21},
        metrics=metrics or {},
        artifact=booster_to_bytes(momentum_booster()),
    )
