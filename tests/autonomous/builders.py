"""Builders of decision-core inputs for tests: feature cross-sections at one date, regime snapshots."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from autonomous.regime import RegimeSnapshot


def tickers(n: int) -> list[str]:
    return [f"S{i:03d}" for i in range(n)]


def cross_section(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Features at one date; S000 has the highest dollar volume and each next name a little less."""
    rng = np.random.default_rng(seed)
    pays = rng.uniform(size=n) < 0.7
    return pd.DataFrame(
        {
            "size": np.linspace(22.0, 15.0, n),
            "mom_63": rng.normal(0.02, 0.1, n),
            "mom_252": rng.normal(0.1, 0.3, n),
            "mom_12_1": rng.normal(0.1, 0.3, n),
            "dist_sma200": rng.normal(0.03, 0.1, n),
            "vol_60": rng.uniform(0.12, 0.45, n),
            "div_yield_ttm": np.where(pays, rng.uniform(0.005, 0.06, n), 0.0),
            "div_stability": np.where(pays, rng.uniform(0.9, 1.2, n), np.nan),
        },
        index=tickers(n),
    )


def regime_snapshot(
    trend: str,
    volatility: str,
    *,
    below_sma200: bool = False,
    confidence: float = 1.0,
    day: date = date(2020, 3, 16),
) -> RegimeSnapshot:
    """A regime of this trend and volatility bucket on `day`; the other readings are neutral."""
    return RegimeSnapshot(
        date=day,
        trend=trend,
        volatility=volatility,
        label=f"{trend}_{volatility}_vol",
        confidence=confidence,
        benchmark_below_sma200=below_sma200,
        realized_volatility_20d=0.2,
        volatility_score=0.5,
        vix=None,
        sma_50=100.0,
        sma_200=100.0,
        advance_decline_ratio=None,
        new_highs_lows_ratio=None,
        sector_momentum={},
    )
