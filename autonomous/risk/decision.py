"""What the risk manager decides: a verdict, the reasons with their numbers, and the raw, current
and adjusted weights, in the plain form the daily run stores as JSON in rebalancing_log."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from autonomous.risk.halt import HaltStatus

NAMES_IN_A_REASON = 5


class Verdict(StrEnum):
    APPROVE = "approve"
    NEEDS_APPROVAL = "needs_approval"  # a person approves with the CLI before anything trades
    REJECT = "reject"  # the input could not be projected: nothing trades


class Severity(StrEnum):
    INFO = "info"  # a fact for the audit trail; nothing changed
    ADJUSTED = "adjusted"  # a limit moved the portfolio and the result obeys it
    BREACH = "breach"  # a limit is still broken after the projection, or the drawdown halt is on
    REJECT = "reject"  # this input cannot be projected


@dataclass(frozen=True)
class Reason:
    rule: str
    severity: Severity
    message: str
    tickers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "tickers": list(self.tickers),
        }


@dataclass(frozen=True, eq=False)
class RiskDecision:
    """The risk manager's answer. Weights are fractions of today's equity before trading; the
    three weight mappings share one ticker index (held names and target names)."""

    verdict: Verdict
    reasons: tuple[Reason, ...]
    raw_weights: Mapping[str, float]  # the target as the strategy gave it
    current_weights: Mapping[str, float]
    adjusted_weights: Mapping[str, float]  # what to trade to today
    cash_weight: float  # cash left after the trades and their costs
    turnover: float  # sum |adjusted - current|
    repair_turnover: float  # the part of it that sells holdings which break a limit (not capped)
    turnover_factor: float  # share of the way from the repaired holdings to the projected target
    drift: float  # turnover the full (projected) target would need; below the threshold: skip
    skipped: bool
    approval_shift: float  # sum |adjusted - raw| caused by limits other than turnover and the halt
    drawdown: float
    equity: float
    halt: HaltStatus | None  # None only when the input was rejected before it could be measured

    @property
    def trades(self) -> dict[str, float]:
        """Weight to buy (positive) or sell (negative) per ticker; names without a trade left out."""
        changes = {t: self.adjusted_weights[t] - self.current_weights.get(t, 0.0) for t in self.adjusted_weights}
        return {t: change for t, change in changes.items() if change != 0.0}

    def reasons_of(self, severity: Severity) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.severity is severity)

    def to_json(self) -> dict[str, Any]:
        """Plain dicts, lists, strings and floats (NaN as None), ready for a JSON column."""
        return {
            "verdict": self.verdict.value,
            "reasons": [r.to_json() for r in self.reasons],
            "raw_weights": _plain(self.raw_weights),
            "current_weights": _plain(self.current_weights),
            "adjusted_weights": _plain(self.adjusted_weights),
            "cash_weight": _number(self.cash_weight),
            "turnover": _number(self.turnover),
            "repair_turnover": _number(self.repair_turnover),
            "turnover_factor": _number(self.turnover_factor),
            "drift": _number(self.drift),
            "skipped": self.skipped,
            "approval_shift": _number(self.approval_shift),
            "drawdown": _number(self.drawdown),
            "equity": _number(self.equity),
            "halt": self.halt.to_json() if self.halt else None,
        }


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _plain(weights: Mapping[str, float]) -> dict[str, float | None]:
    return {ticker: _number(weight) for ticker, weight in weights.items()}


def pct(value: float) -> str:
    """A weight as a percentage, with more digits for the small weights a 500-name book has."""
    return f"{value:.2%}" if abs(value) < 0.01 else f"{value:.1%}"


def listing(tickers: Sequence[str], values: Sequence[str]) -> str:
    """'AAPL 14.0%, MSFT 12.0% and 3 more': the first few names, already in order of importance."""
    shown = ", ".join(f"{t} {v}" for t, v in zip(tickers[:NAMES_IN_A_REASON], values[:NAMES_IN_A_REASON], strict=True))
    hidden = len(tickers) - NAMES_IN_A_REASON
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def pcts(values: Iterable[float]) -> list[str]:
    return [pct(float(v)) for v in values]


def counted(count: int, noun: str) -> str:
    """'1 name', '3 names'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
