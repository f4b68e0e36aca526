"""The risk manager end to end: verdicts, the first deployment of cash, the drift skip, the
drawdown halt, and the JSON the daily run stores."""

from __future__ import annotations

import json

import pytest

from autonomous.risk import HaltEvent, HaltState, Severity, Verdict, evaluate_risk
from tests.autonomous.risk.builders import EQUITY, rules_of, trade_of, weights_input
from trading.settings import RiskLimits

LIMITS = RiskLimits()


def test_the_first_deployment_of_cash_into_an_equal_weight_target_is_approved_and_paced() -> None:
    names = [f"S{i:02d}" for i in range(20)]
    sectors = {t: f"sector-{i % 5}" for i, t in enumerate(names)}
    decision = evaluate_risk(
        weights_input({}, {t: 0.05 for t in names}, sectors=sectors, confidence=0.6, cost_rate=0.001), LIMITS
    )

    assert decision.verdict is Verdict.APPROVE
    assert decision.turnover == pytest.approx(LIMITS.max_daily_turnover)
    assert [trade_of(decision, t) for t in names] == pytest.approx([0.3 / 20] * 20)
    assert decision.approval_shift < LIMITS.approval_weight_shift
    assert not decision.reasons_of(Severity.BREACH)


def test_the_first_deployment_completes_over_sessions_without_a_person() -> None:
    names = [f"S{i:02d}" for i in range(20)]
    sectors = {t: f"sector-{i % 5}" for i, t in enumerate(names)}
    current: dict[str, float] = {}
    for _ in range(4):
        decision = evaluate_risk(weights_input(current, {t: 0.05 for t in names}, sectors=sectors), LIMITS)
        assert decision.verdict is Verdict.APPROVE
        current = {t: w for t, w in decision.adjusted_weights.items() if w > 0}

    assert sum(current.values()) == pytest.approx(1 - LIMITS.min_cash_weight)


def test_an_ordinary_rebalance_is_approved() -> None:
    current = {"A": 0.08, "B": 0.08, "C": 0.08}
    decision = evaluate_risk(weights_input(current, {"A": 0.05, "B": 0.09, "C": 0.09, "D": 0.05}), LIMITS)

    assert decision.verdict is Verdict.APPROVE
    assert not [r for r in decision.reasons if r.rule == "approval"]


def test_a_cap_that_moves_the_portfolio_a_lot_needs_approval_with_the_shift_in_its_reason() -> None:
    target = {t: 0.20 for t in "ABCDE"}
    decision = evaluate_risk(weights_input({}, target), RiskLimits(max_daily_turnover=2.0))

    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert decision.approval_shift == pytest.approx(0.50)
    assert "moved the portfolio by 50.0%" in next(r.message for r in decision.reasons if r.rule == "approval")


def test_turnover_pacing_alone_never_needs_approval() -> None:
    target = {t: 0.09 for t in "ABCDEFGHIJ"}
    decision = evaluate_risk(weights_input({}, target), RiskLimits(max_daily_turnover=0.01))

    assert decision.turnover == pytest.approx(0.01)
    assert decision.verdict is Verdict.APPROVE


def test_low_strategy_confidence_needs_approval() -> None:
    decision = evaluate_risk(weights_input({}, {"A": 0.05, "B": 0.05}, confidence=0.1), LIMITS)

    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert "confidence 0.10 < 0.30" in next(r.message for r in decision.reasons if r.rule == "approval")


def test_a_confidence_that_is_not_a_number_needs_approval() -> None:
    decision = evaluate_risk(weights_input({}, {"A": 0.05}, confidence=float("nan")), LIMITS)

    assert decision.verdict is Verdict.NEEDS_APPROVAL


def test_a_small_drift_skips_the_rebalance_and_keeps_the_holdings() -> None:
    current = {"A": 0.08, "B": 0.08, "C": 0.08}
    decision = evaluate_risk(weights_input(current, {"A": 0.07, "B": 0.08, "C": 0.09}), LIMITS)

    assert decision.skipped
    assert decision.verdict is Verdict.APPROVE
    assert decision.trades == {}
    assert decision.drift == pytest.approx(0.02)
    assert "drift 2.0%" in next(r.message for r in decision.reasons if r.rule == "drift")


def test_force_rebalances_despite_a_small_drift() -> None:
    current = {"A": 0.08, "B": 0.08, "C": 0.08}
    decision = evaluate_risk(weights_input(current, {"A": 0.07, "B": 0.08, "C": 0.09}, force=True), LIMITS)

    assert not decision.skipped
    assert trade_of(decision, "A") == pytest.approx(-0.01)
    assert trade_of(decision, "C") == pytest.approx(0.01)


def test_a_small_drift_still_repairs_holdings_that_break_a_cap_but_trades_nothing_else() -> None:
    current = {"A": 0.11, "B": 0.08}
    decision = evaluate_risk(weights_input(current, {"A": 0.11, "B": 0.09}), LIMITS)

    assert not decision.skipped
    assert decision.trades == {"A": pytest.approx(-0.01)}
    assert decision.repair_turnover == pytest.approx(0.01)
    assert "only the sales that repair" in next(r.message for r in decision.reasons if r.rule == "drift")


def test_a_drawdown_beyond_the_limit_halts_new_risk_but_keeps_the_sales() -> None:
    current = {"A": 0.10, "B": 0.10}
    decision = evaluate_risk(
        weights_input(current, {"A": 0.0, "B": 0.10, "C": 0.10}, peak_equity=EQUITY / 0.8), RiskLimits()
    )

    assert decision.halt is not None
    assert decision.halt.event is HaltEvent.TRIGGERED
    assert decision.drawdown == pytest.approx(0.20)
    assert decision.adjusted_weights == pytest.approx({"A": 0.0, "B": 0.10, "C": 0.0})
    assert any(r.rule == "drawdown" and r.severity is Severity.BREACH for r in decision.reasons)
    # The halt has its own person in the loop (the resume), so it does not ask for approval too.
    assert decision.verdict is Verdict.APPROVE


def test_a_manual_halt_still_blocks_buys_after_the_equity_recovers() -> None:
    decision = evaluate_risk(
        weights_input({"A": 0.10}, {"A": 0.10, "B": 0.10}, halt=HaltState(0.16), sessions_since_halt=40), LIMITS
    )

    assert decision.halt is not None
    assert decision.halt.event is HaltEvent.CONTINUING
    assert trade_of(decision, "B") == 0.0
    assert "reduce-only halt: 1 buy removed" in next(
        r.message for r in decision.reasons if r.rule == "drawdown" and r.tickers
    )


def test_an_automatically_resumed_halt_trades_normally_again() -> None:
    limits = RiskLimits(drawdown_resume="after_sessions", resume_after_sessions=5)
    decision = evaluate_risk(
        weights_input({"A": 0.10}, {"A": 0.10, "B": 0.10}, halt=HaltState(0.16), sessions_since_halt=5), limits
    )

    assert decision.halt is not None
    assert decision.halt.event is HaltEvent.RESUMED
    assert trade_of(decision, "B") == pytest.approx(0.10)


def test_the_decision_is_plain_json_with_raw_and_adjusted_weights_and_reasons() -> None:
    decision = evaluate_risk(weights_input({"A": 0.05}, {"A": 0.14, "B": 0.05}), LIMITS)
    stored = json.loads(json.dumps(decision.to_json(), allow_nan=False))

    assert stored["verdict"] == "approve"
    assert stored["raw_weights"] == {"A": 0.14, "B": 0.05}
    assert stored["adjusted_weights"]["A"] == pytest.approx(0.10)
    [position] = [r for r in stored["reasons"] if r["rule"] == "position"]
    assert position["severity"] == "adjusted"
    assert position["tickers"] == ["A"]
    assert stored["halt"]["event"] == "none"
    assert rules_of(decision) >= {"position", "drift", "drawdown"}
