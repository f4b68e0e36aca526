"""The seven equity strategies as data (size bucket, style, the score that ranks the universe) and the
defensive mode, so the selector, the universes and the generators share one definition of each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from trading.errors import ConfigurationError
from trading.settings import DEFENSIVE, STRATEGIES

SizeBucket = Literal["large", "mid", "small"]
Style = Literal["growth", "value", "dividend"]
# momentum_quality: mean cross-sectional percentile of 12-1 momentum and distance above the SMA200.
# cheapness: mean percentile of book-to-price and earnings yield (a price-based proxy without fundamentals).
# trailing_yield: the last 252 sessions' cash dividends over the raw close.
Score = Literal["momentum_quality", "cheapness", "trailing_yield"]

SIZE_BUCKETS: tuple[SizeBucket, ...] = ("large", "mid", "small")

DEFENSIVE_DESCRIPTION = (
    "Cash plus the safe-haven asset at the per-position limit: nothing for the risk manager to move."
)


@dataclass(frozen=True)
class Strategy:
    """One equity strategy: which stocks it may hold (size bucket and style) and how it ranks them."""

    name: str
    size: SizeBucket | None  # None: the dividend strategy takes payers of every size
    style: Style
    score: Score
    description: str


def _style_strategy(style: Literal["growth", "value"], size: SizeBucket) -> Strategy:
    if style == "growth":
        description = f"{size}-cap stocks priced for growth, ranked by 12-1 momentum and trend (SMA200)"
        return Strategy(f"growth_{size}cap", size, style, "momentum_quality", description)
    description = f"{size}-cap stocks priced cheaply, ranked by book-to-price and earnings yield"
    return Strategy(f"value_{size}cap", size, style, "cheapness", description)


_DIVIDEND = Strategy(
    "dividend",
    None,
    "dividend",
    "trailing_yield",
    "stable payers of any size (no cut, no yield trap), ranked by trailing-year dividend yield",
)

# In the order of settings.STRATEGIES (which configuration validates against); a test keeps them equal.
STRATEGY_BY_NAME: Mapping[str, Strategy] = MappingProxyType(
    {
        strategy.name: strategy
        for strategy in (
            *(_style_strategy("growth", size) for size in SIZE_BUCKETS),
            *(_style_strategy("value", size) for size in SIZE_BUCKETS),
            _DIVIDEND,
        )
    }
)


def strategy_named(name: str) -> Strategy:
    """The strategy called `name`; the defensive mode is not one (it has no universe)."""
    try:
        return STRATEGY_BY_NAME[name]
    except KeyError:
        hint = " (the defensive mode has no universe)" if name == DEFENSIVE else ""
        raise ConfigurationError(f"unknown strategy {name!r}{hint}; expected one of {', '.join(STRATEGIES)}") from None


def describe(name: str) -> str:
    """One line saying what the strategy or the defensive mode holds, for the CLI and the audit log."""
    return DEFENSIVE_DESCRIPTION if name == DEFENSIVE else strategy_named(name).description
