"""The holding band of the rule-based generators: which names a top-N portfolio holds, given what it
holds already, so that a name at rank N+1 today and N-1 tomorrow is not sold and bought back.

A held name stays while it ranks within the first band x N names of the day's order; the places
left go to the best names not held. Band 1 is today's top N, whatever is held. The rule reads only
today's order and today's holdings (no memory of earlier days), so a replay decides as the daily run
does. Used by mock, factor-* and best-factor (autonomous/generators.py) and ranker-equal (over the names
with a positive prediction); the PPO agent's slots follow the same rule in rl_trading/slots.py.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

# A weight below this is float dust left by drift, not a holding (as in rl_trading/slots.py).
HELD_WEIGHT = 1e-9


@dataclass(frozen=True)
class BandedPicks:
    """The names to hold, best first, and how many of them the band kept (held, ranked below top N)."""

    tickers: tuple[str, ...]
    kept_by_band: int
    top_n: int
    band: int

    @property
    def width(self) -> int:
        return self.band * self.top_n

    @property
    def selection(self) -> str:
        """'the top 20' when the picks are today's top N, '20' when the band kept some of them."""
        return f"{len(self.tickers)}" if self.kept_by_band else f"the top {len(self.tickers)}"

    @property
    def band_note(self) -> str:
        """'' when the picks are today's top N; else what the band kept, for the portfolio's reason."""
        if not self.kept_by_band:
            return ""
        names = "name" if self.kept_by_band == 1 else "names"
        return (
            f": {len(self.tickers) - self.kept_by_band} of the top {self.top_n}, and {self.kept_by_band} held "
            f"{names} ranked within the first {self.width} that the holding band kept"
        )


def held_names(holdings: Mapping[str, float]) -> frozenset[str]:
    """The names of `holdings` (weights by ticker) that are held, not dust."""
    return frozenset(ticker for ticker, weight in holdings.items() if weight > HELD_WEIGHT)


def pick_with_band(ranked: Sequence[str], held: Collection[str], top_n: int, band: int) -> BandedPicks:
    """The at most `top_n` names to hold, in the order of `ranked` (distinct names, best first).

    Held names among the first `band` x `top_n` of `ranked` are kept (the best `top_n` of them when
    there are more); the rest of the `top_n` places go to the best names not held. Those all rank
    within today's top N, since every held name of the top N is kept and leaves one place fewer. So
    the result has min(top_n, len(ranked)) names, and band 1 gives `ranked[:top_n]` exactly.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    if band < 1:
        raise ValueError(f"band must be at least 1, got {band}")
    held_set = frozenset(held)
    kept = [position for position, ticker in enumerate(ranked[: band * top_n]) if ticker in held_set][:top_n]
    not_held = (position for position, ticker in enumerate(ranked) if ticker not in held_set)
    entering = list(islice(not_held, top_n - len(kept)))
    chosen = sorted(kept + entering)
    return BandedPicks(
        tickers=tuple(ranked[position] for position in chosen),
        kept_by_band=sum(1 for position in kept if position >= top_n),
        top_n=top_n,
        band=band,
    )
