"""Fixtures of the decision-core tests: a small synthetic market imported into a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.reference_import import import_fundamentals, import_securities
from trading.marketdata.synthetic import generate_synthetic_market


@pytest.fixture
def market(engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Three years of 60 synthetic stocks; a 300-session volatility window so that the history a
    single date needs is shorter than the data, as in production."""
    monkeypatch.setenv("FUND_REGIME__VOLATILITY_LOOKBACK_SESSIONS", "300")
    synthetic = generate_synthetic_market(seed=11, years=3, n_stocks=60)
    synthetic.securities.to_csv(tmp_path / "securities.csv", index=False)
    import_securities(engine, tmp_path / "securities.csv", strict=True)
    synthetic.bars.to_csv(tmp_path / "bars.csv", index=False)
    import_bar_files(engine, [tmp_path / "bars.csv"], strict=True)
    for as_of, snapshot in synthetic.fundamentals.items():
        path = tmp_path / f"fundamentals_{as_of}.csv"
        snapshot.to_csv(path, index=False)
        import_fundamentals(engine, path, as_of, strict=True)
    return engine
