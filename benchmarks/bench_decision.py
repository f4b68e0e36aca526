"""Benchmark of the decision core on the shared real data set: every feature over all stocks and all
sessions (time, peak memory), and the regime backfill of the whole history through the database
(what `fund regime backfill` does), against targets."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autonomous.features import compute_features
from autonomous.market_state import regimes_between
from benchmarks.common import (
    DEFAULT_DATA_DIR,
    DEFAULT_PG_URL,
    Measure,
    exit_status,
    peak_rss_kib,
    postgres_database,
    print_table,
    sqlite_database,
    timed,
)
from trading.db import migrate
from trading.db.engine import make_engine
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.reference_import import import_securities
from trading.settings import FundSettings
from trading.store.regimes import upsert_regimes

FEATURE_SECONDS_TARGET = 20.0
FEATURE_RSS_TARGET_KIB = 3 * 1024 * 1024  # 3 GiB
BACKFILL_SECONDS_TARGET = 10.0
BACKFILL_START = date(1999, 11, 1)
BACKFILL_END = date(2021, 4, 21)


def _wide_stock_frames(folder: Path) -> dict[str, pd.DataFrame]:
    fields = ["adj_close", "close", "volume", "dividend", "split_coef"]
    dtypes: dict[str, Any] = {"ticker": "category", **dict.fromkeys(fields, np.float64)}
    long = pd.read_csv(
        folder / "prices_stocks.csv.gz",
        usecols=["date", "ticker", *fields],
        dtype=dtypes,
        parse_dates=["date"],
    )
    return {field: long.pivot(index="date", columns="ticker", values=field) for field in fields}


def _spy(folder: Path, index: pd.DatetimeIndex) -> pd.Series:
    etfs = pd.read_csv(folder / "benchmarks.csv.gz", usecols=["date", "ticker", "adj_close"], parse_dates=["date"])
    return etfs.loc[etfs["ticker"] == "SPY"].set_index("date")["adj_close"].reindex(index)


def feature_measures(folder: Path) -> list[Measure]:
    frames = _wide_stock_frames(folder)
    benchmark = _spy(folder, pd.DatetimeIndex(frames["adj_close"].index))
    rss_before = peak_rss_kib()
    features, seconds = timed(
        lambda: compute_features(
            frames["adj_close"],
            benchmark=benchmark,
            close=frames["close"],
            volume=frames["volume"],
            dividend=frames["dividend"],
            split_coef=frames["split_coef"],
        )
    )
    peak = peak_rss_kib()
    sessions, tickers = frames["adj_close"].shape
    return [
        Measure("features: panel (sessions x stocks)", f"{sessions:,} x {tickers}", "", None),
        Measure("features: feature count", f"{len(list(features))}", "", None),
        Measure(
            "features: wall time",
            f"{seconds:.1f} s",
            f"<= {FEATURE_SECONDS_TARGET:.0f} s",
            seconds <= FEATURE_SECONDS_TARGET,
        ),
        Measure("features: peak RSS before computing", f"{rss_before / 1024:,.0f} MiB", "", None),
        Measure("features: peak RSS", f"{peak / 1024:,.0f} MiB", "<= 3 GiB", peak <= FEATURE_RSS_TARGET_KIB),
    ]


def backfill_measures(url: str, folder: Path) -> list[Measure]:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        import_securities(engine, folder / "tickers.csv")
        import_bar_files(engine, [folder / "prices_stocks.csv.gz", folder / "benchmarks.csv.gz"])
        settings = FundSettings()

        def backfill() -> int:
            history = regimes_between(engine, settings, BACKFILL_START, BACKFILL_END)
            return upsert_regimes(engine, history.table_rows())

        written, seconds = timed(backfill)
        again, seconds_again = timed(backfill)
    finally:
        engine.dispose()
    return [
        Measure("regime backfill: rows written", f"{written:,}", "", None),
        Measure(
            "regime backfill: wall time",
            f"{seconds:.1f} s",
            f"<= {BACKFILL_SECONDS_TARGET:.0f} s",
            seconds <= BACKFILL_SECONDS_TARGET,
        ),
        Measure("regime backfill again (updates): wall time", f"{seconds_again:.1f} s", "", again == written),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="the data folder (default: %(default)s)")
    parser.add_argument("--skip-backfill", action="store_true", help="measure the features only")
    args = parser.parse_args(argv)
    if not (args.data / "prices_stocks.csv.gz").is_file():
        print(f"no prices_stocks.csv.gz in {args.data}", file=sys.stderr)
        return 2

    # Features first, so their peak memory is not the import's.
    measures = feature_measures(args.data)
    if not args.skip_backfill:
        if args.backend == "postgresql":
            with postgres_database(args.pg_url) as server_url:
                measures += backfill_measures(server_url.render_as_string(False), args.data)
        else:
            with sqlite_database() as sqlite_url:
                measures += backfill_measures(sqlite_url, args.data)
    print_table(f"bench_decision on {args.backend}", measures)
    return exit_status(measures)


if __name__ == "__main__":
    sys.exit(main())
