"""Wide frames (dates x tickers) from the project's synthetic market, for decision-core tests that
need realistic prices without a database."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pandas as pd

from trading.marketdata.synthetic import SyntheticMarket, generate_synthetic_market


@dataclass(frozen=True)
class WidePanel:
    market: SyntheticMarket
    frames: dict[str, pd.DataFrame]

    def __getitem__(self, field: str) -> pd.DataFrame:
        return self.frames[field]

    @property
    def stocks(self) -> list[str]:
        securities = self.market.securities
        return sorted(securities.loc[securities["asset_type"] == "stock", "ticker"])

    @property
    def sectors(self) -> dict[str, str]:
        return dict(zip(self.market.securities["ticker"], self.market.securities["sector"], strict=True))


def wide_frames(bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    long = bars.assign(date=pd.to_datetime(bars["date"]))
    fields = [c for c in long.columns if c not in ("date", "ticker")]
    return {
        field: long.pivot(index="date", columns="ticker", values=field)
        .astype(float)
        .rename_axis(index="date", columns="ticker")
        for field in fields
    }


@cache
def synthetic_panel(years: int = 3, n_stocks: int = 60, seed: int = 7) -> WidePanel:
    market = generate_synthetic_market(seed=seed, years=years, n_stocks=n_stocks)
    return WidePanel(market=market, frames=wide_frames(market.bars))
