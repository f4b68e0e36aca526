"""The risk manager: projects a target portfolio onto the fund's hard limits and says, with
numbers, what it changed and whether the result may trade without a person."""

from autonomous.risk.decision import Reason, RiskDecision, Severity, Verdict
from autonomous.risk.halt import HaltEvent, HaltState, HaltStatus, drawdown_from_peak, evaluate_halt
from autonomous.risk.inputs import DEFAULT_COST_RATE, UNKNOWN_SECTOR, RiskInput
from autonomous.risk.manager import evaluate_risk

__all__ = [
    "DEFAULT_COST_RATE",
    "UNKNOWN_SECTOR",
    "HaltEvent",
    "HaltState",
    "HaltStatus",
    "Reason",
    "RiskDecision",
    "RiskInput",
    "Severity",
    "Verdict",
    "drawdown_from_peak",
    "evaluate_halt",
    "evaluate_risk",
]
