"""The drawdown halt policy: when it triggers, and how each resume policy lifts it."""

from __future__ import annotations

import pytest

from autonomous.risk import HaltEvent, HaltState, drawdown_from_peak, evaluate_halt
from trading.settings import RiskLimits

PEAK = 1_000_000.0
HALTED = HaltState(drawdown_at_trigger=0.16)


def test_a_drawdown_below_the_limit_does_not_halt() -> None:
    status = evaluate_halt(None, 860_000.0, PEAK, 0, RiskLimits())

    assert status.event is HaltEvent.NONE
    assert not status.active
    assert status.drawdown == pytest.approx(0.14)


def test_a_drawdown_at_the_limit_triggers_a_halt_with_the_numbers_in_its_reason() -> None:
    status = evaluate_halt(None, 850_000.0, PEAK, 0, RiskLimits())

    assert status.event is HaltEvent.TRIGGERED
    assert status.state is not None
    assert status.state.drawdown_at_trigger == pytest.approx(0.15)
    assert "drawdown 15.0%" in status.reason
    assert "equity 850,000.00, peak 1,000,000.00" in status.reason
    assert "until a person resumes it" in status.reason


def test_a_manual_halt_stays_in_force_after_the_equity_recovers() -> None:
    status = evaluate_halt(HALTED, PEAK, PEAK, 500, RiskLimits(drawdown_resume="manual"))

    assert status.event is HaltEvent.CONTINUING
    assert status.state is HALTED


def test_an_after_sessions_halt_resumes_after_the_configured_number_of_sessions() -> None:
    limits = RiskLimits(drawdown_resume="after_sessions", resume_after_sessions=10)

    assert evaluate_halt(HALTED, 800_000.0, PEAK, 9, limits).event is HaltEvent.CONTINUING
    resumed = evaluate_halt(HALTED, 800_000.0, PEAK, 10, limits)
    assert resumed.event is HaltEvent.RESUMED
    assert not resumed.active
    assert "after 10 sessions" in resumed.reason


def test_an_on_recovery_halt_resumes_only_below_the_resume_level() -> None:
    limits = RiskLimits(drawdown_resume="on_recovery", resume_below_drawdown=0.05)

    assert evaluate_halt(HALTED, 950_000.0, PEAK, 3, limits).event is HaltEvent.CONTINUING
    resumed = evaluate_halt(HALTED, 960_000.0, PEAK, 3, limits)
    assert resumed.event is HaltEvent.RESUMED
    assert "drawdown 4.0%" in resumed.reason


def test_a_peak_below_todays_equity_or_no_history_means_no_drawdown() -> None:
    assert drawdown_from_peak(1_100_000.0, PEAK) == 0.0
    assert drawdown_from_peak(1_100_000.0, 0.0) == 0.0


def test_a_negative_session_count_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="sessions_since_halt must be >= 0, got -1"):
        evaluate_halt(HALTED, PEAK, PEAK, -1, RiskLimits())
