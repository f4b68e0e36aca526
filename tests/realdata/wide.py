"""The shared real data set read straight from its CSV files into wide frames (dates x tickers),
for decision-core tests that need real history but not the database (the imports have their own
real-data tests). Cached per process: the stock file takes a few seconds to read."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class RealMarket:
    stocks: dict[str, pd.DataFrame]  # field -> dates x stock tickers
    benchmark: pd.Series  # SPY adjusted close
    volatility_index: pd.Series  # ^VIX close
    sectors: dict[str, str]


@cache
def real_market(folder: Path, fields: tuple[str, ...] = ("adj_close",)) -> RealMarket:
    stocks = pd.read_csv(
        folder / "prices_stocks.csv.gz",
        usecols=["date", "ticker", *fields],
        dtype={"ticker": "category"},
        parse_dates=["date"],
    )
    wide = {field: stocks.pivot(index="date", columns="ticker", values=field) for field in fields}
    for frame in wide.values():
        frame.columns = frame.columns.astype(str)
    etfs = pd.read_csv(
        folder / "benchmarks.csv.gz", usecols=["date", "ticker", "adj_close", "close"], parse_dates=["date"]
    )
    sessions = wide[fields[0]].index
    benchmark = etfs.loc[etfs["ticker"] == "SPY"].set_index("date")["adj_close"].reindex(sessions)
    vix = etfs.loc[etfs["ticker"] == "^VIX"].set_index("date")["close"]
    tickers = pd.read_csv(folder / "tickers.csv")
    return RealMarket(
        stocks=wide,
        benchmark=benchmark,
        volatility_index=vix,
        sectors=dict(zip(tickers["ticker"], tickers["gics_sector"], strict=True)),
    )
