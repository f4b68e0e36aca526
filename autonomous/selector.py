"""The meta-strategy selector: the settings' rule table (data, first match wins) maps the regime to
one of the seven strategies or the defensive mode, with a confidence and a reason.

Confidence of a choice = rule confidence x (0.5 + 0.5 x regime confidence): a rule is trusted fully
in a clear regime and at half strength in a regime the detector itself is unsure of.

Ties: the matching rules whose confidence is within `tie_margin` of the first match (with distinct
strategies) are tied. When strategy_performance holds at least `min_evidence_periods` periods for
one or more of them in the current regime, the one with the best mean Sharpe ratio wins (mean
return when no Sharpe was recorded; rule order on equal evidence). Without such evidence the first
match stands. Evidence never overrides a rule that is not tied: it breaks ties, nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from autonomous.regime import RegimeSnapshot
from trading.settings import DEFENSIVE, RegimeRule, StrategySettings


@dataclass(frozen=True)
class StrategyChoice:
    strategy: str
    confidence: float
    reason: str
    regime_label: str
    # Position of the deciding rule in the table; None when the fallback decided.
    rule_index: int | None
    tied_with: tuple[str, ...] = ()
    decided_by_evidence: bool = False


def rule_matches(rule: RegimeRule, regime: RegimeSnapshot) -> bool:
    return (
        (rule.trend is None or rule.trend == regime.trend)
        and (rule.volatility is None or regime.volatility in rule.volatility)
        and (rule.benchmark_below_sma200 is None or rule.benchmark_below_sma200 == regime.benchmark_below_sma200)
    )


def select_strategy(
    regime: RegimeSnapshot,
    settings: StrategySettings,
    *,
    evidence: pd.DataFrame | None = None,
    available: Collection[str] | None = None,
) -> StrategyChoice:
    """The strategy for the regime.

    `evidence`: indexed by strategy, columns `periods`, `mean_sharpe`, `mean_return` (strategy_performance
    rows of this regime from before the decision date). `available`: strategies whose universe can be
    built today; rules naming another are skipped (the defensive mode is always available).
    """
    discount = 0.5 + 0.5 * regime.confidence
    skipped: list[str] = []
    matches: list[tuple[int, RegimeRule]] = []
    for index, rule in enumerate(settings.rules):
        if not rule_matches(rule, regime):
            continue
        if available is not None and rule.strategy != DEFENSIVE and rule.strategy not in available:
            skipped.append(rule.strategy)
            continue
        matches.append((index, rule))
    skipped_note = f"; skipped {', '.join(skipped)} (universe unavailable)" if skipped else ""

    if not matches:
        return StrategyChoice(
            strategy=settings.fallback_strategy,
            confidence=_rounded(settings.fallback_confidence * discount),
            reason=f"no rule matches {regime.label}: fallback {settings.fallback_strategy}{skipped_note}",
            regime_label=regime.label,
            rule_index=None,
        )

    first_index, first = matches[0]
    tied = _tied(matches, settings.tie_margin)
    winner_index, winner, evidence_note = first_index, first, ""
    if len(tied) > 1 and evidence is not None:
        better = _best_by_evidence(tied, evidence, settings.min_evidence_periods)
        if better is not None:
            (winner_index, winner), evidence_note = better
    return StrategyChoice(
        strategy=winner.strategy,
        confidence=_rounded(winner.confidence * discount),
        reason=f"{regime.label}: {winner.reason} (rule {winner_index + 1}){evidence_note}{skipped_note}",
        regime_label=regime.label,
        rule_index=winner_index,
        tied_with=tuple(rule.strategy for _, rule in tied if rule.strategy != winner.strategy),
        decided_by_evidence=bool(evidence_note),
    )


def _tied(matches: list[tuple[int, RegimeRule]], margin: float) -> list[tuple[int, RegimeRule]]:
    top = matches[0][1].confidence
    seen: set[str] = set()
    tied = []
    for index, rule in matches:
        if rule.confidence >= top - margin - 1e-12 and rule.strategy not in seen:
            seen.add(rule.strategy)
            tied.append((index, rule))
    return tied


def _best_by_evidence(
    tied: list[tuple[int, RegimeRule]], evidence: pd.DataFrame, min_periods: int
) -> tuple[tuple[int, RegimeRule], str] | None:
    records = evidence.to_dict(orient="index")
    scored = []
    for order, (index, rule) in enumerate(tied):
        record = records.get(rule.strategy)
        if record is None or int(record["periods"]) < min_periods:
            continue
        periods = int(record["periods"])
        sharpe = float(record["mean_sharpe"])
        score = sharpe if math.isfinite(sharpe) else float(record["mean_return"])
        if math.isfinite(score):
            scored.append((score, -order, index, rule, periods))
    if not scored:
        return None
    score, _, index, rule, periods = max(scored)
    others = ", ".join(r.strategy for _, r in tied if r.strategy != rule.strategy)
    note = f"; tie with {others} broken by recorded performance: score {score:.2f} over {periods} periods"
    return (index, rule), note


def _rounded(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)
