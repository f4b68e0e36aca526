"""What the portfolio environment replays: for each session of a window, the head of the ranker's
ranking (the band the agent's slots are filled from, best first) with each candidate's observation
features, the market state, and what each name returned until the next session. Built once per
window from the database (rl_trading/episode_builder.py), then replayed many times by the
simulator without touching pandas or the database.

Which candidates take the agent's slots depends on what the portfolio holds, so the simulator
assigns them at every step (`rl_trading.slots.assign_slots`, the hybrid generator's function).

Timing: the weights chosen at session t's close are traded at t + 1's open (the fill price, through
the execution engine) and held to t + 1's close. Returns are adjusted (dividends and splits are in
them): `gap_returns` runs from t's close to the fill, `next_returns` from t's close to t + 1's close,
so the held names earn the rest of the day, (1 + next) / (1 + gap) - 1, after the fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

EMPTY_SLOT = -1


@dataclass(frozen=True, eq=False)
class EpisodeData:
    """Aligned arrays over T sessions, K tickers, B ranked candidates, N slots and F features a slot.

    - `dates`: the T sessions, ascending.
    - `tickers`: the K tickers that are ever a candidate in the window.
    - `slots`: N, the number of names the agent weights (N <= B).
    - `ranked_tickers` (T, B) int: the index into `tickers` of the ranking's first B names, best first;
      EMPTY_SLOT (-1) after the last ranked name when fewer than B were ranked that day.
    - `ranked_predictions` (T, B) float64: their predictions (NaN in an empty place): only a positive one
      may enter a slot it does not hold already.
    - `ranked_features` (T, B, F) float64: each candidate's observation features (finite; 0 in an empty
      place). The first feature is the ranker's prediction, standardised across the candidates.
    - `next_returns` (T, K) float64: each ticker's return from t's close to t + 1's close (finite; 0
      where unknown, i.e. a position without a next bar is held flat). The last row is the return to
      the session after the window, so a window of T sessions replays T steps.
    - `gap_returns` (T, K) float64: the return from t's close to the fill at t + 1 (the open; the
      whole session where the fill falls back to a close); finite, 0 where unknown.
    - `fill_price` (T, K) float64: the raw price the fill at t + 1 starts from before slippage (the
      open, else the close, else the adjusted close, as `trading.execution.fills`), to count shares
      for per-share commissions; NaN where unknown.
    - `market_features` (T, M) float64: the market state at t's close (rl_trading/market_features.py),
      named by `market_names`; finite.
    - `market_volatility` (T,) float64: the benchmark's daily realised volatility at t (>= 0), the
      unit of risk a reward may scale its penalties by.
    """

    dates: tuple[date, ...]
    tickers: tuple[str, ...]
    feature_names: tuple[str, ...]
    slots: int
    ranked_tickers: np.ndarray
    ranked_predictions: np.ndarray
    ranked_features: np.ndarray
    next_returns: np.ndarray
    gap_returns: np.ndarray
    fill_price: np.ndarray
    market_volatility: np.ndarray
    market_names: tuple[str, ...] = ()
    market_features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        sessions = len(self.dates)
        if sessions < 2:
            raise ValueError(f"an episode window needs at least 2 sessions, got {sessions}")
        if list(self.dates) != sorted(set(self.dates)):
            raise ValueError("episode dates must be unique and ascending")
        if self.market_features.size == 0 and not self.market_names:
            # No market state: an empty (T, 0) block, so that every window slices alike.
            object.__setattr__(self, "market_features", np.zeros((sessions, 0), dtype=np.float64))
        self._check_shapes()
        self._check_ranking()
        self._check_values()

    def _check_shapes(self) -> None:
        sessions, tickers = len(self.dates), len(self.tickers)
        if self.ranked_tickers.ndim != 2 or self.ranked_tickers.shape[0] != sessions:
            raise ValueError(
                f"ranked_tickers must be (sessions={sessions}, candidates), got {self.ranked_tickers.shape}"
            )
        candidates = self.ranked_tickers.shape[1]
        if not 1 <= self.slots <= candidates:
            raise ValueError(f"slots must be between 1 and the {candidates} ranked candidates, got {self.slots}")
        expected = {
            "ranked_predictions": (sessions, candidates),
            "ranked_features": (sessions, candidates, len(self.feature_names)),
            "next_returns": (sessions, tickers),
            "gap_returns": (sessions, tickers),
            "fill_price": (sessions, tickers),
            "market_features": (sessions, len(self.market_names)),
            "market_volatility": (sessions,),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must be {shape}, got {getattr(self, name).shape}")

    def _check_ranking(self) -> None:
        if not np.issubdtype(self.ranked_tickers.dtype, np.integer):
            raise ValueError("ranked_tickers must hold integer indices into tickers")
        if ((self.ranked_tickers < EMPTY_SLOT) | (self.ranked_tickers >= len(self.tickers))).any():
            raise ValueError("ranked_tickers holds an index outside the tickers")
        ranked = self.ranked_tickers != EMPTY_SLOT
        # Empty places come last: a name after an empty place would mean a gap in the ranking.
        if (np.diff(ranked.astype(np.int8), axis=1) > 0).any():
            raise ValueError("empty places must follow the ranked names in every session")
        ordered = np.sort(np.where(ranked, self.ranked_tickers, EMPTY_SLOT), axis=1)
        if ((np.diff(ordered, axis=1) == 0) & (ordered[:, 1:] != EMPTY_SLOT)).any():
            # Two places of one name would let one slot's weight silently overwrite another's.
            raise ValueError("a session ranks a ticker more than once")
        if not np.isfinite(self.ranked_predictions[ranked]).all():
            raise ValueError("every ranked name needs a finite prediction")

    def _check_values(self) -> None:
        finite = ("ranked_features", "next_returns", "gap_returns", "market_features", "market_volatility")
        for name in finite:
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} must be finite (fill unknowns before building)")
        if (self.next_returns <= -1.0).any() or (self.gap_returns <= -1.0).any():
            raise ValueError("a return of -100% or worse cannot be held (next_returns or gap_returns <= -1)")
        if (self.fill_price <= 0.0).any():
            raise ValueError("fill prices must be positive where known")
        if (self.market_volatility < 0.0).any():
            raise ValueError("market volatility cannot be negative")

    @property
    def sessions(self) -> int:
        return len(self.dates)

    @property
    def candidates(self) -> int:
        return int(self.ranked_tickers.shape[1])

    @property
    def features_per_slot(self) -> int:
        return len(self.feature_names)

    @property
    def market_size(self) -> int:
        return len(self.market_names)

    def window(self, first: int, stop: int) -> EpisodeData:
        """Sessions [first, stop) as their own data, e.g. to hold out a later evaluation window."""
        if not 0 <= first < stop <= self.sessions:
            raise ValueError(f"window [{first}, {stop}) is outside 0..{self.sessions}")
        rows = slice(first, stop)
        return EpisodeData(
            dates=self.dates[rows],
            tickers=self.tickers,
            feature_names=self.feature_names,
            slots=self.slots,
            ranked_tickers=self.ranked_tickers[rows],
            ranked_predictions=self.ranked_predictions[rows],
            ranked_features=self.ranked_features[rows],
            next_returns=self.next_returns[rows],
            gap_returns=self.gap_returns[rows],
            fill_price=self.fill_price[rows],
            market_volatility=self.market_volatility[rows],
            market_names=self.market_names,
            market_features=self.market_features[rows],
        )
