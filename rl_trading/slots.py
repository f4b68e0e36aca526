"""The hybrid generator's two halves meet here: which names the ranker hands to the agent (the top N
with a positive predicted excess return) and what the agent sees of each of them. The episode
builder (training) and the hybrid generator (the daily run) both use these, so the agent is
trained on exactly the view it gets at decision time."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

# The first slot feature is the prediction standardised across the selected names; the rest are
# the ranker's percentile-rank inputs, centred on zero.
RANK_FEATURES: tuple[str, ...] = (
    "mom_21_rank",
    "mom_63_rank",
    "mom_12_1_rank",
    "vol_20_rank",
    "dist_sma50_rank",
    "rsi_14_rank",
    "beta_252_rank",
)
SLOT_FEATURES: tuple[str, ...] = ("prediction_z", *RANK_FEATURES)


def select_top_positive(predictions: pd.Series, top_n: int) -> pd.Series:
    """The (at most) `top_n` names with a positive finite prediction, best first, ties by ticker."""
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    usable = predictions[np.isfinite(predictions.to_numpy(dtype=np.float64)) & (predictions > 0)]
    order = np.lexsort((usable.index.to_numpy(dtype=str), -usable.to_numpy(dtype=np.float64)))
    chosen: pd.Series = usable.iloc[order[:top_n]]
    return chosen


def slot_features(selected: pd.Series, inputs: pd.DataFrame, slots: int) -> npt.NDArray[np.float64]:
    """(slots, len(SLOT_FEATURES)) for the selected names in order; zeros in the empty slots.

    `selected`: predictions of the chosen names, best first; `inputs`: the ranker inputs by ticker.
    """
    if len(selected) > slots:
        raise ValueError(f"{len(selected)} names selected for {slots} slots")
    features = np.zeros((slots, len(SLOT_FEATURES)), dtype=np.float64)
    if selected.empty:
        return features
    values = selected.to_numpy(dtype=np.float64)
    # Equal predictions carry no spread; their float std is ~1e-17, not 0, and would blow up to +-1.
    spread = float(values.std()) if np.ptp(values) > 0 else 0.0
    features[: len(values), 0] = (values - values.mean()) / spread if spread > 0 else 0.0
    ranks = inputs.reindex(selected.index)[list(RANK_FEATURES)].to_numpy(dtype=np.float64) - 0.5
    features[: len(values), 1:] = np.nan_to_num(ranks, nan=0.0)
    return features
