"""Random ranker rows whose label rises with 1-month momentum, shared by the booster tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from autonomous.ranking.dataset import RANKER_FEATURES


def rows(dates: int = 12, names: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """(date, ticker) x RANKER_FEATURES uniform inputs and a label of 0.05 x mom_21_rank plus noise."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product(
        [pd.bdate_range("2020-01-01", periods=dates), [f"T{i:02d}" for i in range(names)]], names=["date", "ticker"]
    )
    inputs = pd.DataFrame(rng.uniform(size=(len(index), len(RANKER_FEATURES))), index=index, columns=RANKER_FEATURES)
    labels = pd.Series(0.05 * inputs["mom_21_rank"] + rng.normal(scale=0.02, size=len(index)), index=index)
    return inputs, labels
