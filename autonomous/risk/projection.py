"""The projection of a target onto the limits, as a sequence of pure steps: the cap rules, the
reduce-only halt, the turnover cap (which paces a rebalance over sessions) and the liquidity cap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autonomous.risk.decision import Reason, Severity, counted, listing, pct, pcts
from autonomous.risk.inputs import Book
from autonomous.risk.numeric import REPORTABLE, TOLERANCE, FloatArray, largest_feasible, turnover
from autonomous.risk.rules import CapRule, CashFloor, PositionCap, SectorCap, Stage, Step, TopHoldingsCap

# Cash floor last: it scales every reducible weight, so it must see the others' cuts first.
CAP_RULES: tuple[CapRule, ...] = (PositionCap(), SectorCap(), TopHoldingsCap(), CashFloor())


def project_caps(
    weights: FloatArray, floors: FloatArray, book: Book, stage: Stage, rules: tuple[CapRule, ...] = CAP_RULES
) -> Step:
    """Cut `weights` onto every cap, never below `floors`; the excess goes to cash."""
    reasons: list[Reason] = []
    for rule in rules:
        step = rule.project(weights, floors, book, stage)
        weights = step.weights
        reasons += step.reasons
    return Step(weights, tuple(reasons))


def reduce_only(target: FloatArray, book: Book) -> Step:
    """Under a drawdown halt no name may grow: the target keeps only its sales."""
    reduced = np.minimum(target, book.current)
    removed = target - reduced
    if not (removed > REPORTABLE).any():
        return Step(reduced)
    names = book.names(removed > REPORTABLE)
    message = f"reduce-only halt: {counted(len(names), 'buy')} removed from the target, {pct(float(removed.sum()))}"
    return Step(reduced, (Reason("drawdown", Severity.ADJUSTED, f"{message} of equity", names),))


@dataclass(frozen=True, eq=False)
class PacedStep(Step):
    factor: float = 1.0


@dataclass(frozen=True)
class TurnoverCap:
    """Moves from the repaired holdings toward the projected target by the largest share of the
    way that keeps daily turnover within the cap, so every discretionary trade shrinks by the same
    factor and the rest follows on later sessions. Both ends obey every cap, and so does any point
    between them. Sales that repair a broken limit are not capped: de-risking must not wait for a
    churn limit."""

    name: str = "turnover"

    def pace(self, repaired: FloatArray, goal: FloatArray, book: Book) -> PacedStep:
        cap = book.limits.max_daily_turnover
        full = turnover(goal, book.current)
        if full <= cap + TOLERANCE:
            return PacedStep(goal)
        repair = turnover(repaired, book.current)
        if repair >= cap:
            return PacedStep(
                repaired,
                (
                    Reason(
                        self.name,
                        Severity.ADJUSTED,
                        f"risk-reducing sales alone trade {pct(repair)} >= the {pct(cap)} daily turnover cap "
                        f"(they are exempt): no other trade today (the target needs {pct(full)})",
                    ),
                ),
                factor=0.0,
            )
        step = goal - repaired
        if repair <= TOLERANCE:
            factor = cap / full  # turnover is exactly linear in the factor here
        else:
            # The triangle inequality makes this share safe; bisection finds the rest of the room.
            safe = min(1.0, (cap - repair) / float(np.abs(step).sum()))
            factor = largest_feasible(lambda f: turnover(repaired + f * step, book.current) <= cap, safe, 1.0)
        weights = repaired + factor * step
        repair_note = f" after {pct(repair)} of exempt risk-reducing sales" if repair > TOLERANCE else ""
        return PacedStep(
            weights,
            (
                Reason(
                    self.name,
                    Severity.ADJUSTED,
                    f"turnover {pct(full)} > {pct(cap)} daily cap: every trade scaled by {factor:.4f} toward the "
                    f"target{repair_note}, turnover {pct(turnover(weights, book.current))}; "
                    "the rest follows on later sessions",
                ),
            ),
            factor=factor,
        )


@dataclass(frozen=True)
class LiquidityCap:
    """No order above `max_adv_fraction` of the average daily volume; a name without a usable
    volume is not traded at all (an order of unknown market impact)."""

    name: str = "liquidity"

    def limit(self, weights: FloatArray, book: Book) -> Step:
        trades = weights - book.current
        allowed = np.clip(trades, -book.liquidity, book.liquidity)
        cut = np.abs(trades - allowed) > TOLERANCE
        if not cut.any():
            return Step(weights)
        limited = np.where(cut, book.current + allowed, weights)
        reasons = []
        stuck = cut & book.frozen
        if stuck.any():
            names = book.names(stuck)
            reasons.append(
                Reason(
                    self.name, Severity.ADJUSTED, f"cannot trade today: {listing(names, pcts(trades[stuck]))}", names
                )
            )
        blind = cut & book.no_volume
        if blind.any():
            names = book.names(blind)
            reasons.append(
                Reason(
                    self.name,
                    Severity.ADJUSTED,
                    f"no usable average daily volume, so no trade: {listing(names, pcts(trades[blind]))}",
                    names,
                )
            )
        capped = cut & ~book.no_volume & ~book.frozen & (np.abs(trades - allowed) > REPORTABLE)
        if capped.any():
            order = np.flatnonzero(capped)
            order = order[np.argsort(-np.abs(trades[order]), kind="stable")]
            names = book.names(order)
            changes = [
                f"{pct(float(t))} -> {pct(float(a))}" for t, a in zip(trades[order], allowed[order], strict=True)
            ]
            limits = book.limits
            reasons.append(
                Reason(
                    self.name,
                    Severity.ADJUSTED,
                    f"{counted(len(names), 'order')} cut to {limits.max_adv_fraction:.1%} of the "
                    f"{limits.adv_window_sessions}-session average daily volume (weight traded): "
                    f"{listing(names, changes)}",
                    names,
                )
            )
        return Step(limited, tuple(reasons))


def liquidity_floors(limited: FloatArray, book: Book) -> FloatArray:
    """How far the caps may cut weights after the liquidity cap: a buy back to no trade, a sale not
    at all (it already sells all the volume allows)."""
    return np.where(limited > book.current, book.current, limited)
