"""The two interpreters between the portfolio and a policy: state -> observation and action ->
target weights. Plain functions over arrays, so the daily run can call them on live data too.

Observation layout (float32, version OBSERVATION_LAYOUT): the N x F slot features row by row, then
which slots are filled (1/0), the weight held in each slot's name, the cash weight, the weight held in
names outside today's slots (those are sold at the next rebalance), and the M market features
(rl_trading/market_features.py). Layout 1 had no market features and slots of today's top N only; an
agent stored with it is refused (rl_trading/agent_artifact.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from rl_trading.simulator import PortfolioState

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

# Features are standardised, so |x| > 10 is an outlier the policy learns nothing from; the bound
# also keeps inf and huge values out of the network. Weights stay far inside it.
OBSERVATION_BOUND = 10.0
# Logits outside [-5, 5] add nothing: e^10 already separates the largest from the smallest weight.
ACTION_BOUND = 5.0
# Bumped whenever what the observation holds changes: 2 = held names in the band keep their slots,
# and the market features follow the weights.
OBSERVATION_LAYOUT = 2


def observation_size(slots: int, features_per_slot: int, market_features: int = 0) -> int:
    if slots < 1 or features_per_slot < 0 or market_features < 0:
        raise ValueError(
            f"need at least one slot and no negative feature count, got {slots}, {features_per_slot}, {market_features}"
        )
    return slots * features_per_slot + 2 * slots + 2 + market_features


def encode_observation(
    slot_features: FloatArray,
    slot_filled: BoolArray,
    slot_weights: FloatArray,
    cash_weight: float,
    other_weight: float,
    market_features: FloatArray | None = None,
) -> Float32Array:
    """The policy's view of one session (layout in the module docstring)."""
    features = np.asarray(slot_features, dtype=np.float64)
    filled = np.asarray(slot_filled, dtype=np.bool_)
    weights = np.asarray(slot_weights, dtype=np.float64)
    if features.ndim != 2 or filled.shape != (features.shape[0],) or weights.shape != filled.shape:
        raise ValueError(
            f"slot_features must be (N, F) with slot_filled and slot_weights (N,), got {features.shape}, "
            f"{filled.shape}, {weights.shape}"
        )
    parts = (
        features.ravel(),
        filled.astype(np.float64),
        weights,
        np.array([cash_weight, other_weight], dtype=np.float64),
        np.zeros(0) if market_features is None else np.asarray(market_features, dtype=np.float64).ravel(),
    )
    # nan_to_num first: NaN would survive the clip, and +-inf must land on the bound, not beyond.
    joined = np.nan_to_num(np.concatenate(parts), nan=0.0, posinf=OBSERVATION_BOUND, neginf=-OBSERVATION_BOUND)
    return np.clip(joined, -OBSERVATION_BOUND, OBSERVATION_BOUND).astype(np.float32)


def decode_action(action: npt.ArrayLike, slot_filled: BoolArray) -> FloatArray:
    """Target weights over the N slots and cash (last): a softmax of the clipped action over the
    filled slots and cash. Empty slots get exactly 0 and the weights sum to 1."""
    filled = np.asarray(slot_filled, dtype=np.bool_)
    logits = np.asarray(action, dtype=np.float64)
    if logits.shape != (len(filled) + 1,):
        raise ValueError(
            f"action must have {len(filled) + 1} entries ({len(filled)} slots, then cash), got {logits.shape}"
        )
    if not np.isfinite(logits).all():
        raise ValueError("action must be finite")
    allowed = np.append(filled, True)
    clipped = np.clip(logits, -ACTION_BOUND, ACTION_BOUND)
    # Subtracting the largest allowed logit keeps exp() in range whatever the bound.
    shifted = np.where(allowed, clipped - clipped[allowed].max(), -np.inf)
    weights: FloatArray = np.exp(shifted)
    normalised: FloatArray = weights / weights.sum()
    return normalised


def equal_weights(slot_filled: BoolArray) -> FloatArray:
    """The baseline: equal weight in every filled slot and no cash; all cash when no slot is filled."""
    filled = np.asarray(slot_filled, dtype=np.bool_)
    weights = np.zeros(len(filled) + 1, dtype=np.float64)
    count = int(filled.sum())
    if count == 0:
        weights[-1] = 1.0
    else:
        weights[:-1][filled] = 1.0 / count
    return weights


def slot_weights(holdings: FloatArray, slot_tickers: IntArray) -> tuple[FloatArray, float]:
    """The weight held in each slot's name (0 in an empty slot) and the weight in all other names."""
    tickers = np.asarray(slot_tickers, dtype=np.intp)
    filled = tickers != EMPTY_SLOT
    weights = np.where(filled, holdings[np.where(filled, tickers, 0)], 0.0)
    other = float(holdings.sum() - weights.sum())
    return weights, other


@dataclass(frozen=True, eq=False)
class SessionView:
    """What a policy sees at one session: the slots' features, which are filled, the weights, the market."""

    slot_features: FloatArray
    slot_filled: BoolArray
    slot_weights: FloatArray
    cash_weight: float
    other_weight: float
    market_features: FloatArray

    def observation(self) -> Float32Array:
        return encode_observation(
            self.slot_features,
            self.slot_filled,
            self.slot_weights,
            self.cash_weight,
            self.other_weight,
            self.market_features,
        )


def gather_slot_features(candidate_features: FloatArray, positions: IntArray) -> FloatArray:
    """(N, F): the features of the candidates at `positions` (EMPTY_SLOT = -1: an empty slot, zeros)."""
    filled = positions != EMPTY_SLOT
    gathered: FloatArray = np.where(filled[:, None], candidate_features[np.maximum(positions, 0)], 0.0)
    return gathered


def session_view(data: EpisodeData, state: PortfolioState) -> SessionView:
    """The view of `state` over the slots the simulator assigned it.

    A state past the window's last session (the data ran out) has no session of its own; it is seen
    through the last session's, which is all a value bootstrap at the end of the window needs.
    """
    t = min(state.t, data.sessions - 1)
    weights, other = slot_weights(state.holdings, state.slot_tickers)
    return SessionView(
        slot_features=gather_slot_features(data.ranked_features[t], state.slot_positions),
        slot_filled=state.slot_filled,
        slot_weights=weights,
        cash_weight=state.cash,
        other_weight=other,
        market_features=data.market_features[t],
    )
