"""What the portfolio environment replays: for each session of a window, the top-N names the ranker
selected (best first), their observation features, and what each name returned until the next
session. Built once per window from the database (rl_trading/episode_builder.py), then replayed
many times by the simulator without touching pandas or the database.

Timing: the weights chosen at session t's close earn the close-to-close return from t to t + 1
(adjusted, so dividends and splits are in it). The paper broker fills at t + 1's open; the
simulator ignores the overnight gap, and charges the same slippage and commission on the traded
value at t's close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

EMPTY_SLOT = -1


@dataclass(frozen=True, eq=False)
class EpisodeData:
    """Aligned arrays over T sessions, K tickers, N slots and F features per slot.

    - `dates`: the T sessions, ascending.
    - `tickers`: the K tickers that are ever selected in the window.
    - `slot_tickers` (T, N) int: the index into `tickers` of the slot's name, best first; EMPTY_SLOT
      (-1) where fewer than N names were selected that day (empty slots are always the last ones).
    - `slot_features` (T, N, F) float64: observation features of each slot's name (finite; 0 in an
      empty slot). The first feature is the ranker's prediction, standardised across the slots.
    - `next_returns` (T, K) float64: each ticker's return from session t to t + 1 (finite; 0 where
      unknown, i.e. a position without a next bar is held flat). The last row is the return to the
      session after the window, so a window of T sessions replays T steps.
    - `close` (T, K) float64: the raw close at t (for per-share commissions); NaN where unknown.
    """

    dates: tuple[date, ...]
    tickers: tuple[str, ...]
    feature_names: tuple[str, ...]
    slot_tickers: np.ndarray
    slot_features: np.ndarray
    next_returns: np.ndarray
    close: np.ndarray

    def __post_init__(self) -> None:
        sessions, tickers = len(self.dates), len(self.tickers)
        if sessions < 2:
            raise ValueError(f"an episode window needs at least 2 sessions, got {sessions}")
        if list(self.dates) != sorted(set(self.dates)):
            raise ValueError("episode dates must be unique and ascending")
        if self.slot_tickers.ndim != 2 or self.slot_tickers.shape[0] != sessions:
            raise ValueError(f"slot_tickers must be (sessions={sessions}, slots), got {self.slot_tickers.shape}")
        slots = self.slot_tickers.shape[1]
        expected = (sessions, slots, len(self.feature_names))
        if self.slot_features.shape != expected:
            raise ValueError(f"slot_features must be {expected}, got {self.slot_features.shape}")
        for name in ("next_returns", "close"):
            if getattr(self, name).shape != (sessions, tickers):
                raise ValueError(f"{name} must be (sessions={sessions}, tickers={tickers})")
        if not np.issubdtype(self.slot_tickers.dtype, np.integer):
            raise ValueError("slot_tickers must hold integer indices into tickers")
        if ((self.slot_tickers < EMPTY_SLOT) | (self.slot_tickers >= tickers)).any():
            raise ValueError("slot_tickers holds an index outside the tickers")
        filled = self.slot_tickers != EMPTY_SLOT
        # Empty slots come last: a filled slot after an empty one would mean a gap in the ranking.
        if (np.diff(filled.astype(np.int8), axis=1) > 0).any():
            raise ValueError("empty slots must follow the filled ones in every session")
        if not np.isfinite(self.slot_features).all() or not np.isfinite(self.next_returns).all():
            raise ValueError("slot_features and next_returns must be finite (fill unknowns before building)")
        if (self.next_returns <= -1.0).any():
            raise ValueError("a return of -100% or worse cannot be held (next_returns <= -1)")

    @property
    def sessions(self) -> int:
        return len(self.dates)

    @property
    def slots(self) -> int:
        return int(self.slot_tickers.shape[1])

    @property
    def features_per_slot(self) -> int:
        return len(self.feature_names)

    def window(self, first: int, stop: int) -> EpisodeData:
        """Sessions [first, stop) as their own data, e.g. to hold out a later evaluation window."""
        if not 0 <= first < stop <= self.sessions:
            raise ValueError(f"window [{first}, {stop}) is outside 0..{self.sessions}")
        return EpisodeData(
            dates=self.dates[first:stop],
            tickers=self.tickers,
            feature_names=self.feature_names,
            slot_tickers=self.slot_tickers[first:stop],
            slot_features=self.slot_features[first:stop],
            next_returns=self.next_returns[first:stop],
            close=self.close[first:stop],
        )
