"""The target portfolio: the one output type of every generator (mock, equal weight, XGBoost + PPO,
defensive), validated once here so the risk manager can rely on its shape."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from trading.errors import FundError
from trading.settings import DEFENSIVE, STRATEGIES, TREND_RULE

# Weights come out of float arithmetic (1/N summed N times); a hair above one is not leverage.
WEIGHT_SUM_TOLERANCE = 1e-9


class InvalidPortfolio(FundError, ValueError):
    """A generator produced weights no portfolio can hold (negative, not finite, or leveraged)."""


@dataclass(frozen=True)
class TargetPortfolio:
    """Weights by ticker as fractions of equity; whatever they leave is cash (no leverage, no shorts).

    `generator` names what built it ("mock", "defensive", "hybrid", "hybrid/equal_weight") and
    `reason` says why it looks the way it does, for the audit log; `model_versions` names the stored
    models it used (role -> kind/strategy/version), also for the log. The weights are copied into a
    read-only mapping, so a portfolio cannot change after it was validated.
    """

    strategy: str
    weights: Mapping[str, float]
    generator: str
    reason: str
    model_versions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.strategy not in (*STRATEGIES, DEFENSIVE, TREND_RULE):
            raise InvalidPortfolio(f"unknown strategy {self.strategy!r}; expected one of {(*STRATEGIES, DEFENSIVE)}")
        if not self.generator:
            raise InvalidPortfolio(f"{self.strategy}: a target portfolio needs the name of its generator")
        weights = {str(ticker): float(weight) for ticker, weight in self.weights.items()}
        for ticker, weight in weights.items():
            if not ticker.strip():
                raise InvalidPortfolio(f"{self.strategy} ({self.generator}): an empty ticker has weight {weight}")
            if not math.isfinite(weight) or weight < 0:
                raise InvalidPortfolio(
                    f"{self.strategy} ({self.generator}): weight of {ticker} is {weight}; "
                    "weights must be finite and non-negative"
                )
        total = math.fsum(weights.values())
        if total > 1.0 + WEIGHT_SUM_TOLERANCE:
            largest = max(weights, key=lambda ticker: weights[ticker])
            raise InvalidPortfolio(
                f"{self.strategy} ({self.generator}): weights sum to {total:.6f} > 1 (no leverage); "
                f"the largest is {largest} at {weights[largest]:.4f}"
            )
        object.__setattr__(self, "weights", MappingProxyType(weights))
        object.__setattr__(self, "model_versions", MappingProxyType(dict(self.model_versions)))

    @property
    def invested_weight(self) -> float:
        return math.fsum(self.weights.values())

    @property
    def cash_weight(self) -> float:
        # Clamped: a sum within the tolerance above one means no cash, not a tiny negative balance.
        return max(0.0, 1.0 - self.invested_weight)

    @property
    def is_all_cash(self) -> bool:
        return not any(weight > 0 for weight in self.weights.values())
