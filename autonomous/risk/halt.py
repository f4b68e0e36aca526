"""The drawdown halt: when equity falls far enough below its peak the fund may only reduce risk,
until a person resumes it (or, in paper runs and backtests, an automatic resume policy does)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from autonomous.risk.numeric import TOLERANCE
from trading.settings import RiskLimits


class HaltEvent(StrEnum):
    NONE = "none"  # no halt before, none now
    TRIGGERED = "triggered"  # the drawdown reached the limit today
    CONTINUING = "continuing"  # an earlier halt is still in force
    RESUMED = "resumed"  # an automatic policy lifted an earlier halt today


@dataclass(frozen=True)
class HaltState:
    """A halt in force, as the daily run persists it (the record also keeps its date and who
    resumed it; the pure policy only needs what triggered it)."""

    drawdown_at_trigger: float


@dataclass(frozen=True)
class HaltStatus:
    """The halt after today's evaluation. `state` is the halt in force (persist it), or None when
    the fund may add risk. After RESUMED the caller must restart the drawdown baseline (see
    `evaluate_halt`)."""

    event: HaltEvent
    drawdown: float
    reason: str
    state: HaltState | None

    @property
    def active(self) -> bool:
        return self.state is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event.value,
            "active": self.active,
            "drawdown": self.drawdown,
            "drawdown_at_trigger": self.state.drawdown_at_trigger if self.state else None,
            "reason": self.reason,
        }


def drawdown_from_peak(equity: float, peak: float) -> float:
    """1 - equity / peak, never negative: a peak below today's equity (not yet updated, or no
    history at all) means the fund is at its high."""
    if peak <= 0 or equity >= peak:
        return 0.0
    return 1.0 - equity / peak


def evaluate_halt(
    previous: HaltState | None,
    equity: float,
    peak: float,
    sessions_since_halt: int,
    limits: RiskLimits,
) -> HaltStatus:
    """Whether a reduce-only halt is in force today, under `limits.drawdown_resume`.

    `peak` is the highest equity since the last halt was lifted (all history when there was
    none): a resume starts a new drawdown baseline, otherwise a fund resumed at a 16% drawdown
    would be halted again the next session and a resume would mean nothing.
    `sessions_since_halt` counts sessions since `previous` was triggered (ignored without one).
    """
    if not (math.isfinite(equity) and math.isfinite(peak)):
        raise ValueError(f"equity ({equity}) and peak ({peak}) must be finite numbers")
    if sessions_since_halt < 0:
        raise ValueError(f"sessions_since_halt must be >= 0, got {sessions_since_halt}")
    drawdown = drawdown_from_peak(equity, peak)
    measured = f"drawdown {drawdown:.1%} (equity {equity:,.2f}, peak {max(peak, equity):,.2f})"
    if previous is None:
        # The tolerance keeps a drawdown of exactly the limit from depending on float rounding.
        if drawdown >= limits.max_drawdown - TOLERANCE:
            return HaltStatus(
                HaltEvent.TRIGGERED,
                drawdown,
                f"{measured} >= {limits.max_drawdown:.1%} limit: reduce-only halt, {_resume_rule(limits)}",
                HaltState(drawdown_at_trigger=drawdown),
            )
        return HaltStatus(HaltEvent.NONE, drawdown, f"{measured} < {limits.max_drawdown:.1%} limit", None)

    since = f"halted since a {previous.drawdown_at_trigger:.1%} drawdown {sessions_since_halt} sessions ago"
    policy = limits.drawdown_resume
    if policy == "after_sessions" and sessions_since_halt >= limits.resume_after_sessions:
        return HaltStatus(
            HaltEvent.RESUMED,
            drawdown,
            f"{since}: resumed after {limits.resume_after_sessions} sessions ({measured}; new drawdown baseline)",
            None,
        )
    if policy == "on_recovery" and drawdown < limits.resume_below_drawdown:
        return HaltStatus(
            HaltEvent.RESUMED,
            drawdown,
            f"{since}: resumed, {measured} < {limits.resume_below_drawdown:.1%} (new drawdown baseline)",
            None,
        )
    return HaltStatus(
        HaltEvent.CONTINUING, drawdown, f"{since}; {measured}: reduce-only, {_resume_rule(limits)}", previous
    )


def _resume_rule(limits: RiskLimits) -> str:
    if limits.drawdown_resume == "after_sessions":
        return f"resumes automatically after {limits.resume_after_sessions} sessions"
    if limits.drawdown_resume == "on_recovery":
        return f"resumes automatically when the drawdown is below {limits.resume_below_drawdown:.1%}"
    return "until a person resumes it (fund risk resume)"
