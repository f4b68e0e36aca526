"""The risk manager's entry point: projects a strategy's target onto the hard limits, then gives
a verdict (approve, needs approval, reject) with every reason and its numbers."""

from __future__ import annotations

import logging
import math

import numpy as np

from autonomous.risk.decision import Reason, RiskDecision, Severity, Verdict, counted, listing, pct, pcts
from autonomous.risk.halt import HaltEvent, HaltStatus, evaluate_halt
from autonomous.risk.inputs import Book, PreparedInput, RejectedInput, RiskInput, prepare_input
from autonomous.risk.numeric import REPORTABLE, FloatArray, cash_consumed, turnover
from autonomous.risk.projection import LiquidityCap, TurnoverCap, liquidity_floors, project_caps, reduce_only
from autonomous.risk.rules import Stage
from trading.settings import RiskLimits

logger = logging.getLogger(__name__)

TURNOVER_CAP = TurnoverCap()
LIQUIDITY_CAP = LiquidityCap()


def evaluate_risk(inp: RiskInput, limits: RiskLimits) -> RiskDecision:
    """Adjusted weights that obey every limit the holdings and the market allow, and a verdict.

    Projection first, verdict second: validate (reject only what cannot be projected) -> drawdown
    halt (reduce-only) -> sales that repair holdings breaking a cap, and the target projected onto
    the caps -> skip when the drift is small -> pace by the turnover cap -> liquidity cap -> the
    caps again, cutting only buys, since liquidity may have held sales back -> verdict. A name whose
    data has no volume is not held to the liquidity cap (it cannot be measured); a reason names it.

    Needs approval when limits other than turnover moved the portfolio by more than
    `limits.approval_weight_shift` (sum of |adjusted - raw|), or when the strategy's confidence is
    below `limits.approval_min_confidence`. Turnover pacing and the drawdown halt do not count: a
    first deployment of cash spread over several sessions is ordinary, and a halt has its own
    person in the loop (the resume).
    """
    prepared = prepare_input(inp, limits)
    if isinstance(prepared, RejectedInput):
        logger.warning("risk input rejected: %s", "; ".join(r.message for r in prepared.reasons))
        return _rejection(prepared)
    book = prepared.book
    reasons = list(prepared.reasons)

    halt = evaluate_halt(inp.halt, book.equity, prepared.peak, inp.sessions_since_halt, limits)
    reasons.append(_halt_reason(halt))
    target = prepared.target
    if halt.active:
        halted = reduce_only(target, book)
        target = halted.weights
        reasons += halted.reasons

    nothing = np.zeros_like(book.current)
    repaired = project_caps(book.current, nothing, book, Stage.HOLDINGS)
    goal = project_caps(target, nothing, book, Stage.TARGET)
    reasons += repaired.reasons + goal.reasons
    repair_turnover = turnover(repaired.weights, book.current)
    drift = turnover(goal.weights, book.current)
    small_drift = drift < limits.drift_threshold and not inp.force
    needs_repair = repair_turnover > REPORTABLE
    reasons.append(_drift_reason(drift, limits, forced=inp.force, needs_repair=needs_repair))
    # Limits other than turnover (and the halt) that moved the target away from the raw one. A frozen
    # name is not a limit's doing: it could not trade whatever its target.
    tradable = ~book.frozen
    shift = _distance(prepared.target[tradable], prepared.raw[tradable]) + _distance(goal.weights, target)
    if small_drift and not needs_repair:
        return _decision(
            prepared,
            book.current,
            tuple(reasons),
            Verdict.APPROVE,
            halt,
            shift=shift,
            drift=drift,
            repair_turnover=0.0,
            factor=0.0,
            skipped=True,
        )
    if small_drift:
        # Only the sales that bring the holdings back within the limits: a price move that lifts a
        # capped name a hair above its cap must not set off a whole rebalance.
        goal = repaired

    paced = TURNOVER_CAP.pace(repaired.weights, goal.weights, book)
    liquid = LIQUIDITY_CAP.limit(paced.weights, book)
    final = project_caps(liquid.weights, liquidity_floors(liquid.weights, book), book, Stage.AFTER_LIQUIDITY)
    reasons += paced.reasons + liquid.reasons + _unmeasured_liquidity(final.weights, book) + final.reasons
    shift += _distance(final.weights, paced.weights)
    verdict, approval = _verdict(shift, inp.confidence, limits)
    reasons += approval
    decision = _decision(
        prepared,
        final.weights,
        tuple(reasons),
        verdict,
        halt,
        shift=shift,
        drift=drift,
        repair_turnover=repair_turnover,
        factor=paced.factor,
        skipped=False,
    )
    logger.debug(
        "risk verdict %s: turnover %.4f, drift %.4f, shift %.4f, %d reasons",
        verdict,
        decision.turnover,
        drift,
        shift,
        len(reasons),
    )
    return decision


def _unmeasured_liquidity(weights: FloatArray, book: Book) -> tuple[Reason, ...]:
    """The trades of names without reported volume, which the liquidity cap let through unmeasured."""
    trades = weights - book.current
    skipped = book.unreported_volume & (np.abs(trades) > REPORTABLE)
    if not skipped.any():
        return ()
    names = book.names(skipped)
    message = (
        f"no volume reported for {counted(len(names), 'name')} (adjusted-close-only data): the liquidity limit "
        f"is skipped for their trades: {listing(names, pcts(trades[skipped]))}"
    )
    logger.info("risk: %s", message)
    return (Reason(LIQUIDITY_CAP.name, Severity.INFO, message, names),)


def _distance(a: FloatArray, b: FloatArray) -> float:
    return float(np.abs(a - b).sum())


def _halt_reason(halt: HaltStatus) -> Reason:
    severity = Severity.BREACH if halt.event in (HaltEvent.TRIGGERED, HaltEvent.CONTINUING) else Severity.INFO
    return Reason("drawdown", severity, halt.reason)


def _drift_reason(drift: float, limits: RiskLimits, *, forced: bool, needs_repair: bool) -> Reason:
    measured = f"drift {pct(drift)} (turnover to the projected target)"
    if drift >= limits.drift_threshold:
        return Reason("drift", Severity.INFO, f"{measured} >= {pct(limits.drift_threshold)} threshold: rebalancing")
    below = f"{measured} < {pct(limits.drift_threshold)} threshold"
    if forced:
        return Reason("drift", Severity.INFO, f"{below}, but forced: rebalancing")
    if needs_repair:
        return Reason("drift", Severity.INFO, f"{below}: only the sales that repair a broken limit trade")
    return Reason("drift", Severity.INFO, f"{below}: rebalance skipped")


def _verdict(shift: float, confidence: float, limits: RiskLimits) -> tuple[Verdict, list[Reason]]:
    reasons = []
    if shift > limits.approval_weight_shift:
        reasons.append(
            Reason(
                "approval",
                Severity.INFO,
                f"limits other than turnover moved the portfolio by {pct(shift)} (sum of |adjusted - raw| weights) "
                f"> {pct(limits.approval_weight_shift)}: a person approves",
            )
        )
    if not 0.0 <= confidence <= 1.0:
        reasons.append(
            Reason("approval", Severity.INFO, f"strategy confidence {confidence} is not in [0, 1]: a person approves")
        )
    elif confidence < limits.approval_min_confidence:
        reasons.append(
            Reason(
                "approval",
                Severity.INFO,
                f"strategy confidence {confidence:.2f} < {limits.approval_min_confidence:.2f}: a person approves",
            )
        )
    return (Verdict.NEEDS_APPROVAL if reasons else Verdict.APPROVE), reasons


def _decision(
    prepared: PreparedInput,
    adjusted: FloatArray,
    reasons: tuple[Reason, ...],
    verdict: Verdict,
    halt: HaltStatus,
    *,
    shift: float,
    drift: float,
    repair_turnover: float,
    factor: float,
    skipped: bool,
) -> RiskDecision:
    book: Book = prepared.book
    return RiskDecision(
        verdict=verdict,
        reasons=reasons,
        raw_weights=_by_ticker(book, prepared.raw),
        current_weights=_by_ticker(book, book.current),
        adjusted_weights=_by_ticker(book, adjusted),
        cash_weight=book.cash - cash_consumed(adjusted, book.current, book.cost_rate),
        turnover=turnover(adjusted, book.current),
        repair_turnover=repair_turnover,
        turnover_factor=factor,
        drift=drift,
        skipped=skipped,
        approval_shift=shift,
        drawdown=halt.drawdown,
        equity=book.equity,
        halt=halt,
    )


def _by_ticker(book: Book, weights: FloatArray) -> dict[str, float]:
    return dict(zip(book.tickers, weights.tolist(), strict=True))


def _rejection(rejected: RejectedInput) -> RiskDecision:
    """Nothing trades: the adjusted weights are the current ones."""
    return RiskDecision(
        verdict=Verdict.REJECT,
        reasons=rejected.reasons,
        raw_weights=rejected.raw,
        current_weights=rejected.current,
        adjusted_weights=dict(rejected.current),
        cash_weight=rejected.cash_weight,
        turnover=0.0,
        repair_turnover=0.0,
        turnover_factor=0.0,
        drift=math.nan,
        skipped=False,
        approval_shift=0.0,
        drawdown=math.nan,
        equity=rejected.equity,
        halt=None,
    )
