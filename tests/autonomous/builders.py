"""Builders of decision-core inputs for tests: feature cross-sections at one date."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
