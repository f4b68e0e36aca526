"""The hybrid generator's two halves meet here: which names the ranker hands to the agent and what the
agent sees of each of them. The episode builder and the simulator (training) and the hybrid generator
(the daily run) all use these functions, so the agent is trained on exactly the view it gets at
decision time.

The band. The ranker's top N changes every day, and a name that leaves it would be sold at once,
so even equal weights turned over about 39% a day. The agent's N slots are therefore filled from the
ranking's first B = band x N names (the candidates): names the portfolio holds keep a slot while they
stay among the candidates, whatever the sign of their prediction (near zero the sign flips as often as
the rank does; the agent sees the prediction and may still sell), and the slots left go to the best
names with a positive prediction, as before. A held name that falls out of the band loses its slot
and is sold; on a day without any positive prediction every slot is empty (all cash, as before).
Slots are ordered best first, so one function of (ranking, holdings) decides them: no memory of
yesterday's slots is needed, at training or at decision time.

A ranker fitted with a ranking objective (models.ranker.objective) gives a score with no sign, so
"positive" means nothing: its scores are first turned into each date's percentile ranks among the
universe's names (`scores_as_ranks`, all in (0, 1]), which makes every ranked name eligible: the top N
by score are picked, and the same view is built at training and at decision time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from autonomous.holding_band import HELD_WEIGHT  # dust below it is no holding, for slots as for the band

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

# The first slot feature is the prediction standardised across the candidates; the rest are
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
    ranked = rank_candidates(predictions, len(predictions))
    chosen: pd.Series = ranked[ranked > 0].iloc[:top_n]
    return chosen


def scores_as_ranks(scores: pd.Series) -> pd.Series:
    """A ranking model's scores as percentile ranks in (0, 1] (module doc): within each date of a
    (date, ticker) index, or across the whole series of one date's names; a score that is not finite
    ranks nobody (NaN)."""
    finite = scores.astype(np.float64).where(np.isfinite(scores.to_numpy(dtype=np.float64)))
    if isinstance(finite.index, pd.MultiIndex) and "date" in finite.index.names:
        ranked: pd.Series = finite.groupby(level="date").rank(method="average", pct=True)
    else:
        ranked = finite.rank(method="average", pct=True)
    return ranked.astype(np.float64)


def rank_candidates(predictions: pd.Series, count: int) -> pd.Series:
    """The (at most) `count` names with a finite prediction, best first, ties by ticker: the band the
    slots are filled from."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    values = predictions.to_numpy(dtype=np.float64)
    usable = predictions[np.isfinite(values)]
    order = np.lexsort((usable.index.to_numpy(dtype=str), -usable.to_numpy(dtype=np.float64)))
    ranked: pd.Series = usable.iloc[order[:count]]
    return ranked


def candidate_features(ranked: pd.Series, inputs: pd.DataFrame, rows: int) -> FloatArray:
    """(rows, len(SLOT_FEATURES)) for the ranked candidates in order; zeros in the rows after them.

    `ranked`: predictions of the candidates, best first; `inputs`: the ranker inputs by ticker.
    """
    if len(ranked) > rows:
        raise ValueError(f"{len(ranked)} candidates for {rows} rows")
    features = np.zeros((rows, len(SLOT_FEATURES)), dtype=np.float64)
    if ranked.empty:
        return features
    values = ranked.to_numpy(dtype=np.float64)
    # Equal predictions carry no spread; their float std is ~1e-17, not 0, and would blow up to +-1.
    spread = float(values.std()) if np.ptp(values) > 0 else 0.0
    features[: len(values), 0] = (values - values.mean()) / spread if spread > 0 else 0.0
    ranks = inputs.reindex(ranked.index)[list(RANK_FEATURES)].to_numpy(dtype=np.float64) - 0.5
    features[: len(values), 1:] = np.nan_to_num(ranks, nan=0.0)
    return features


def assign_slots(predictions: FloatArray, held: BoolArray, slots: int) -> IntArray:
    """The candidates (positions in the ranking, best first) that take the `slots` slots (module doc).

    `predictions`: the candidates' predictions, best first, NaN after the last one; `held`: whether the
    portfolio holds each candidate. Held candidates come first (the best `slots` of them), then the best
    positive ones not held; the result is in ranking order. When no candidate has a positive prediction
    there are no slots at all: the ranker expects every name to trail the benchmark, and the hybrid
    generator's rule for that day is all cash.
    """
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}")
    # Masks and running counts rather than index lists: the simulator calls this at every step.
    ranked = np.isfinite(predictions)
    positive = predictions > 0.0  # False for NaN
    if not positive.any():
        return np.zeros(0, dtype=np.intp)
    kept = held & ranked
    kept &= np.cumsum(kept) <= slots
    entering = positive & ~held
    entering &= np.cumsum(entering) <= slots - int(kept.sum())
    chosen: IntArray = np.flatnonzero(kept | entering).astype(np.intp)
    return chosen


def held_candidates(ranked_tickers: IntArray, holdings: FloatArray) -> BoolArray:
    """Which candidates (ticker indices, EMPTY_SLOT = -1 in an empty place) the portfolio holds."""
    listed = ranked_tickers >= 0
    held: BoolArray = listed & (holdings[np.where(listed, ranked_tickers, 0)] > HELD_WEIGHT)
    return held
