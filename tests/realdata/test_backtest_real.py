"""A five-year backtest on the shared S&P 500 data, and its figures recomputed independently: from the
stored equity rows with plain numpy, and the benchmark's from the vendor's file itself. Marked `fullreal`
(it imports the whole data set and replays 1,259 sessions: minutes): `pytest -m fullreal`."""

from __future__ import annotations

import gzip
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from autonomous.cli.app import fund
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.reference_import import import_fundamentals, import_securities
from trading.store.backtests import backtest_equity, get_backtest

pytestmark = pytest.mark.fullreal

START, END = "2016-01-04", "2020-12-31"


@pytest.fixture
def real_database(engine: Engine, database_url: str, real_data_dir: Path) -> Engine:
    import_securities(engine, real_data_dir / "tickers.csv")
    import_bar_files(engine, [real_data_dir / "prices_stocks.csv.gz", real_data_dir / "benchmarks.csv.gz"])
    import_fundamentals(engine, real_data_dir / "fundamentals_snapshot_2018-02-08.csv", date(2018, 2, 8))
    return engine


def test_a_five_year_backtest_reproduces_from_its_stored_equity_and_the_vendor_file(
    real_database: Engine, real_data_dir: Path
) -> None:
    command = ["backtest", "run", "--start", START, "--end", END, "--generator", "mock", "--compare", "benchmark,trend"]
    result = CliRunner().invoke(fund, ["--log-level", "WARNING", *command], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = get_backtest(real_database, 1)
    equity = backtest_equity(real_database, 1)
    assert any("survivorship-biased" in note for note in record.notes)

    for variant in ("mock", "trend", "benchmark"):
        curve = equity[equity["variant"] == variant]["equity"].to_numpy(np.float64)
        returns = curve[1:] / curve[:-1] - 1.0
        wealth = np.cumprod(1.0 + returns)
        stored = record.metrics[variant]
        assert stored["total_return"] == pytest.approx(wealth[-1] - 1.0, rel=1e-9)
        assert stored["cagr"] == pytest.approx(wealth[-1] ** (252 / len(returns)) - 1.0, rel=1e-9)
        assert stored["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(252), rel=1e-9)
        peaks = np.maximum.accumulate(np.concatenate([[1.0], wealth]))
        assert stored["max_drawdown"] == pytest.approx((np.concatenate([[1.0], wealth]) / peaks - 1.0).min())

    # The benchmark's return straight from the vendor's file: SPY's adjusted close, first to last session.
    with gzip.open(real_data_dir / "benchmarks.csv.gz", "rt") as handle:
        bars = pd.read_csv(handle, usecols=["date", "ticker", "adj_close"])
    spy = bars[bars["ticker"] == "SPY"].set_index("date")["adj_close"]
    assert record.sessions == len(spy.loc[START:END])  # every session of the benchmark, none skipped
    assert record.metrics["benchmark"]["total_return"] == pytest.approx(spy[END] / spy[START] - 1.0, abs=1e-6)

    mock = equity[equity["variant"] == "mock"]
    assert (mock["cash"] + mock["positions_value"] - mock["equity"]).abs().max() < 0.01
    assert (mock["cash"] >= -0.01).all()
