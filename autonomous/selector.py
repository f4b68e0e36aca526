"""The meta-strategy selector: the settings' rule table (data, first match wins) maps the regime to
one of the seven strategies or the defensive mode, with a confidence and a reason.

Confidence of a choice = rule confidence x (0.5 + 0.5 x regime confidence): a rule is trusted fully
in a clear regime and at half strength in a regime the detector itself is unsure of.

Ties: the matching rules whose confidence is within `tie_margin` of the first match (with distinct
strategies) are tied. When strategy_performance holds at least `min_evidence_periods` periods for
one or more of them in the current regime, the one with the best mean Sharpe ratio wins (mean
return when no Sharpe was recorded; rule order on equal evidence). Without such evidence the first
match stands. Evidence never overrides a rule that is not tied: it breaks ties, nothing more.

Confirmation (`confirm_sessions` N, 3 by default; 1 turns it off). A regime that flickers across a bucket
boundary for a session or two would replace the universe twice; so the selector leaves the strategy it
held only when the table (ties broken as above) has chosen the same new strategy on each of the last N
sessions, the decision session included. Otherwise it keeps the held strategy, with today's confidence
(confirmation changes what is held, not how much) and a reason saying how often the new one was chosen.
Switching INTO the defensive mode is immediate: a crash does not wait N sessions; leaving it follows the
rule.

"The strategy held" is not read from the account or the journal: it is derived from the regimes of the
`CONFIRM_LOOKBACK_SESSIONS` sessions before the decision, by applying the table and the same rule to each
in turn, starting from the table's choice on the first of them. So the decision reads regimes up to the
decision session only, and a dry run, a paper run and a backtest decide alike. Those earlier sessions are
judged with the strategies available at the decision session and with the evidence recorded before it
(each session with the evidence of its own regime): the whole chain is one function of what is known at
the decision. Any N sessions in a row with one choice, or a defensive session, fix the chain from there on,
so the look-back's start matters only after a quarter of unbroken flicker.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

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
    # The strategy the table chose today when the selector kept the earlier one (not yet confirmed).
    pending: str | None = None


# Sessions before the decision whose regimes the confirmation rule reads (a quarter; at least 3 x 20,
# the largest confirm_sessions). The market views hold the regime's five-year window for each of them.
CONFIRM_LOOKBACK_SESSIONS = 63


def lookback_sessions(settings: StrategySettings) -> int:
    """Earlier sessions' regimes the selector needs: none when confirmation is off."""
    return 0 if settings.confirm_sessions <= 1 else CONFIRM_LOOKBACK_SESSIONS


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
    earlier: Sequence[RegimeSnapshot] = (),
    earlier_evidence: Mapping[str, pd.DataFrame] | None = None,
) -> StrategyChoice:
    """The strategy for the regime.

    `evidence`: indexed by strategy, columns `periods`, `mean_sharpe`, `mean_return` (strategy_performance
    rows of this regime from before the decision date). `available`: strategies whose universe can be
    built today; rules naming another are skipped (the defensive mode is always available).
    `earlier`: the regimes of the sessions before the decision, oldest first (lookback_sessions of them);
    read only when `confirm_sessions` > 1. `earlier_evidence`: evidence by regime label for them (today's
    `evidence` stands for today's label when it is missing).
    """
    today = _table_choice(regime, settings, evidence, available)
    required = settings.confirm_sessions
    if required <= 1 or not earlier or today.strategy == DEFENSIVE:
        return today
    by_label = dict(earlier_evidence or {})
    if evidence is not None:
        by_label.setdefault(regime.label, evidence)
    chosen = [_table_choice(past, settings, by_label.get(past.label), available).strategy for past in earlier] + [
        today.strategy
    ]
    held = confirmed_strategies(chosen, required)
    if held[-1] == today.strategy:
        if held[-2] != today.strategy:
            return replace(today, reason=f"{today.reason}; chosen on each of the last {required} sessions")
        return today
    recent = chosen[-required:]
    count = sum(name == today.strategy for name in recent)
    return StrategyChoice(
        strategy=held[-1],
        confidence=today.confidence,
        reason=(
            f"kept {held[-1]}: {today.strategy} chosen on {count} of the last {required} sessions ({today.reason})"
        ),
        regime_label=regime.label,
        rule_index=None,
        pending=today.strategy,
    )


def confirmed_strategies(chosen: Sequence[str], required: int) -> list[str]:
    """The strategy held after each session, given the table's choice of each (oldest first): the first
    session's choice, then a change only when the last `required` choices all name the new strategy, or
    at once into the defensive mode."""
    held: list[str] = []
    for position, name in enumerate(chosen):
        if not held or name == DEFENSIVE:
            held.append(name)
            continue
        window = chosen[position - required + 1 : position + 1] if position + 1 >= required else ()
        confirmed = len(window) == required and all(other == name for other in window)
        held.append(name if confirmed else held[-1])
    return held


def _table_choice(
    regime: RegimeSnapshot,
    settings: StrategySettings,
    evidence: pd.DataFrame | None,
    available: Collection[str] | None,
) -> StrategyChoice:
    """The rule table's choice for one session's regime, ties broken by evidence."""
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
