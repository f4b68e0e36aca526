"""Builders for risk inputs stated in weights, the way a reader thinks about a portfolio."""

from __future__ import annotations

from collections.abc import Mapping

from autonomous.risk import HaltState, RiskDecision, RiskInput

EQUITY = 1_000_000.0
PRICE = 100.0
AMPLE_VOLUME = 1e12  # shares: no order comes near 5% of it


def weights_input(
    current: Mapping[str, float],
    target: Mapping[str, float],
    *,
    equity: float = EQUITY,
    prices: Mapping[str, float] | None = None,
    sectors: Mapping[str, str] | None = None,
    volumes: Mapping[str, float] | None = None,
    confidence: float = 0.8,
    peak_equity: float | None = None,
    halt: HaltState | None = None,
    sessions_since_halt: int = 0,
    force: bool = False,
    cost_rate: float = 0.0,
) -> RiskInput:
    """Holdings worth `current` weights of `equity` (the rest in cash), each name in its own
    sector unless `sectors` says otherwise, with ample volume unless `volumes` says otherwise."""
    names = sorted(set(current) | set(target))
    price = {t: PRICE for t in names} | dict(prices or {})
    return RiskInput(
        target=dict(target),
        quantities={t: w * equity / price[t] for t, w in current.items()},
        cash=equity * (1.0 - sum(current.values())),
        prices=price,
        peak_equity=equity if peak_equity is None else peak_equity,
        sectors={t: f"sector-{t}" for t in names} if sectors is None else dict(sectors),
        average_daily_volume={t: AMPLE_VOLUME for t in names} if volumes is None else dict(volumes),
        confidence=confidence,
        halt=halt,
        sessions_since_halt=sessions_since_halt,
        force=force,
        cost_rate=cost_rate,
    )


def trade_of(decision: RiskDecision, ticker: str) -> float:
    return decision.adjusted_weights[ticker] - decision.current_weights[ticker]


def rules_of(decision: RiskDecision) -> set[str]:
    return {r.rule for r in decision.reasons}
