"""The cap rules: position, sector, top-3 and cash floor. Each is a small object whose one method
cuts weights down to its limit (never below the given floors) and says what it changed, with numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from autonomous.risk.decision import Reason, Severity, counted, listing, pct, pcts
from autonomous.risk.inputs import Book
from autonomous.risk.numeric import (
    REPORTABLE,
    TOLERANCE,
    TOP_COUNT,
    BoolArray,
    FloatArray,
    IntArray,
    cash_consumed,
    largest_feasible,
    top_sum,
)


class Stage(StrEnum):
    """Which portfolio a rule is cutting: the wording of its reasons depends on it."""

    HOLDINGS = "current holdings"  # sales forced by holdings that already break a limit
    TARGET = "target"
    AFTER_LIQUIDITY = "after liquidity limits"  # only buys may be cut; sales are as liquid as they get

    @property
    def cut(self) -> str:
        return {Stage.HOLDINGS: "holdings", Stage.TARGET: "target weights", Stage.AFTER_LIQUIDITY: "buys"}[self]

    @property
    def note(self) -> str:
        return "; risk-reducing sales, exempt from the turnover cap" if self is Stage.HOLDINGS else ""

    @property
    def stuck(self) -> str:
        if self is Stage.AFTER_LIQUIDITY:
            return "liquidity limits allow no further sales today"
        return "it cannot be reduced further"


@dataclass(frozen=True, eq=False)
class Step:
    """Weights after a rule (or a sequence of rules), and what it changed."""

    weights: FloatArray
    reasons: tuple[Reason, ...] = field(default=())


# All four limits are upper bounds on weights (the cash floor too, see `cash_consumed`), so cutting
# any weight never breaks another one: the rules can run one after the other, and any mix of two
# portfolios that obey them obeys them too (which is what lets the turnover cap interpolate).
class CapRule(Protocol):
    @property
    def name(self) -> str: ...

    def project(self, weights: FloatArray, floors: FloatArray, book: Book, stage: Stage) -> Step:
        """Cut `weights` until the limit holds, never below `floors` (floors <= weights)."""
        ...


@dataclass(frozen=True)
class PositionCap:
    name: str = "position"

    def project(self, weights: FloatArray, floors: FloatArray, book: Book, stage: Stage) -> Step:
        cap = book.limits.max_position_weight
        over = weights > cap + TOLERANCE
        if not over.any():
            return Step(weights)
        projected = np.where(over, np.maximum(floors, cap), weights)
        stuck = over & (projected > cap + TOLERANCE)
        clipped = over & ~stuck & (weights - projected > REPORTABLE)
        reasons = []
        if clipped.any():
            order = _largest_first(clipped, weights)
            reasons.append(
                Reason(
                    self.name,
                    Severity.ADJUSTED,
                    f"{stage}: {counted(len(order), 'name')} above the {pct(cap)} position cap clipped to it: "
                    f"{listing(book.names(order), pcts(weights[order]))}{stage.note}",
                    book.names(order),
                )
            )
        if stuck.any():
            order = _largest_first(stuck, projected)
            reasons.append(
                Reason(
                    self.name,
                    Severity.BREACH,
                    f"{stage}: still above the {pct(cap)} position cap, {stage.stuck}: "
                    f"{listing(book.names(order), pcts(projected[order]))}",
                    book.names(order),
                )
            )
        return Step(projected, tuple(reasons))


@dataclass(frozen=True)
class SectorCap:
    """Scales the reducible part of every name in a sector over the cap by one factor, so the
    sector keeps its composition. Names without a sector form one bucket (see UNKNOWN_SECTOR)."""

    name: str = "sector"

    def project(self, weights: FloatArray, floors: FloatArray, book: Book, stage: Stage) -> Step:
        limit = book.limits.max_sector_weight
        codes, count = book.sector_codes, len(book.sector_names)
        totals = np.bincount(codes, weights=weights, minlength=count)
        over = totals > limit + TOLERANCE
        if not over.any():
            return Step(weights)
        room = weights - floors
        reducible = np.bincount(codes, weights=room, minlength=count)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            factor = np.nan_to_num(np.clip(1.0 - (totals - limit) / reducible, 0.0, 1.0), nan=0.0)
        projected = np.where(over[codes], floors + factor[codes] * room, weights)
        after = np.bincount(codes, weights=projected, minlength=count)
        reasons = [self._reason(int(s), totals[s], after[s], factor[s], book, stage) for s in np.flatnonzero(over)]
        return Step(projected, tuple(reasons))

    def _reason(self, sector: int, before: float, after: float, factor: float, book: Book, stage: Stage) -> Reason:
        limit = book.limits.max_sector_weight
        members = book.names(book.sector_codes == sector)
        label = f"{stage}: sector {book.sector_names[sector]} {pct(before)} > {pct(limit)} cap"
        if after > limit + TOLERANCE:
            return Reason(self.name, Severity.BREACH, f"{label}: stays at {pct(after)}, {stage.stuck}", members)
        scaled = f"{stage.cut} of its {counted(len(members), 'name')} scaled by {factor:.4f}"
        return Reason(self.name, Severity.ADJUSTED, f"{label}: {scaled} to {pct(after)}{stage.note}", members)


@dataclass(frozen=True)
class TopHoldingsCap:
    """Clips the largest names to one common level, the lowest cut that brings the top three
    within the cap."""

    name: str = "top3"

    def project(self, weights: FloatArray, floors: FloatArray, book: Book, stage: Stage) -> Step:
        limit = book.limits.max_top3_weight
        before = top_sum(weights, TOP_COUNT)
        if before <= limit + TOLERANCE:
            return Step(weights)
        # When the floors alone break the cap, cut as far as they allow and report a breach.
        goal = max(limit, top_sum(floors, TOP_COUNT))

        def clipped_at(level: float) -> FloatArray:
            return np.maximum(floors, np.minimum(weights, level))

        level = largest_feasible(lambda lv: top_sum(clipped_at(lv), TOP_COUNT) <= goal, 0.0, float(weights.max()))
        projected = clipped_at(level)
        after = top_sum(projected, TOP_COUNT)
        order = _largest_first(weights - projected > REPORTABLE, weights)
        label = f"{stage}: top {TOP_COUNT} names {pct(before)} > {pct(limit)} cap"
        if after > limit + TOLERANCE:
            reason = Reason(
                self.name, Severity.BREACH, f"{label}: stay at {pct(after)}, {stage.stuck}", book.names(order)
            )
        else:
            reason = Reason(
                self.name,
                Severity.ADJUSTED,
                f"{label}: {counted(len(order), 'name')} above {pct(level)} clipped to it: "
                f"{listing(book.names(order), pcts(weights[order]))}{stage.note}",
                book.names(order),
            )
        return Step(projected, (reason,))


@dataclass(frozen=True)
class CashFloor:
    """Cash after the trades and their costs stays at or above the floor, which also rules out
    leverage. Scales the reducible part of every weight by one factor; the rest stays in cash."""

    name: str = "cash"

    def project(self, weights: FloatArray, floors: FloatArray, book: Book, stage: Stage) -> Step:
        floor = book.limits.min_cash_weight
        available = book.cash - floor  # net buying the floor allows (negative: sales are needed)
        needed = cash_consumed(weights, book.current, book.cost_rate)
        if needed <= available + TOLERANCE:
            return Step(weights)
        room = weights - floors

        def fits(share: float) -> bool:
            return cash_consumed(floors + share * room, book.current, book.cost_rate) <= available

        share = largest_feasible(fits, 0.0, 1.0) if fits(0.0) else 0.0
        projected = floors + share * room
        cash_after = book.cash - cash_consumed(projected, book.current, book.cost_rate)
        label = (
            f"{stage}: cash would be {pct(book.cash - needed)} < the {pct(floor)} floor "
            f"(trading costs of {book.cost_rate:.2%} included)"
        )
        if cash_after < floor - TOLERANCE:
            reason = Reason(self.name, Severity.BREACH, f"{label}: cash {pct(cash_after)}, {stage.stuck}")
        else:
            reason = Reason(
                self.name,
                Severity.ADJUSTED,
                f"{label}: {stage.cut} scaled by {share:.4f}, leaving {pct(cash_after)} cash{stage.note}",
            )
        return Step(projected, (reason,))


def _largest_first(mask: BoolArray, key: FloatArray) -> IntArray:
    indices = np.flatnonzero(mask)
    return indices[np.argsort(-key[indices], kind="stable")]
