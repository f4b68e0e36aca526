"""What a run writes about itself: the decision the steps produced, the rebalancing_log row that holds it,
the trade_executions rows of its orders, and the one-line summary its caller prints. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from autonomous.daily_run.request import Outcome, RunMode, RunRequest, StepLog
from autonomous.daily_run.steps import AccountState, EarlierAttempts, Target, reason_summary
from autonomous.order_planning import OrderPlan, PlannedOrder
from autonomous.regime import RegimeSnapshot
from autonomous.risk import RiskDecision, Verdict
from autonomous.selector import StrategyChoice
from trading.execution.costs import CostModels, round_money
from trading.orders import OrderSide, deterministic_client_order_id


@dataclass(frozen=True)
class Decision:
    """Everything the decision steps produced, before anything is persisted."""

    account: AccountState
    earlier: EarlierAttempts
    regime: RegimeSnapshot
    choice: StrategyChoice
    target: Target
    risk: RiskDecision
    plan: OrderPlan | None

    @property
    def orders(self) -> tuple[PlannedOrder, ...]:
        return self.plan.orders if self.plan is not None else ()


def status_of(request: RunRequest, decision: Decision) -> tuple[str, Outcome]:
    """The run's status as persisted, and the outcome its caller sees."""
    if decision.risk.verdict is Verdict.REJECT:
        return "rejected", Outcome.REJECTED
    if request.mode is RunMode.DRY_RUN:
        return "dry_run", Outcome.DRY_RUN
    if decision.risk.verdict is Verdict.NEEDS_APPROVAL:
        return "awaiting_approval", Outcome.AWAITING_APPROVAL
    if not decision.orders:
        return "completed", Outcome.COMPLETED
    return "planned", Outcome.COMPLETED


def run_row(
    request: RunRequest, attempt: int, decision: Decision, log: StepLog, status: str, costs: CostModels
) -> dict[str, Any]:
    """The rebalancing_log row of a run that decided: the whole decision, in the columns' terms."""
    risk, plan, choice, target = decision.risk, decision.plan, decision.choice, decision.target
    orders = decision.orders
    estimated = sum((_estimated_cost(o.quantity, o.estimated_value, costs) for o in orders), Decimal(0))
    risk_json = risk.to_json()
    equity = decision.account.equity
    return _run_key(request, attempt) | {
        "strategy_selected": choice.strategy,
        "meta_model_confidence": choice.confidence,
        "market_regime": decision.regime.label,
        "pre_rebalance_value": round_money(equity),
        # An estimate until the orders fill: today's equity less the modelled costs of the plan.
        "post_rebalance_value": round_money(equity - estimated),
        "num_buys": sum(1 for o in orders if o.side is OrderSide.BUY),
        "num_sells": sum(1 for o in orders if o.side is OrderSide.SELL),
        "total_turnover": risk.turnover,
        "trades": plan.to_json() if plan is not None else None,
        "raw_weights": risk_json["raw_weights"],
        "adjusted_weights": risk_json["adjusted_weights"],
        "risk_verdict": risk.verdict.value,
        "risk_reasons": risk_json,
        "model_versions": target.model_versions,
        "strategy_reason": f"{choice.reason}; {target.describe()}",
        "steps": log.entries,
        "status": status,
    }


def _run_key(request: RunRequest, attempt: int) -> dict[str, Any]:
    """The columns that say which run a row is: account, session, mode, and the attempt at it."""
    return {
        "rebalance_date": request.session,
        "account_id": request.account_id,
        "mode": request.mode.value,
        "attempt": attempt,
        "forced": request.force,
    }


def _estimated_cost(quantity: Decimal, value: Decimal, costs: CostModels) -> Decimal:
    return value * costs.slippage.bps / Decimal(10_000) + costs.commission.commission(quantity)


def order_rows(request: RunRequest, attempt: int, decision: Decision, broker: str) -> list[dict[str, Any]]:
    """One trade_executions row per planned order, each with its deterministic client order id."""
    return [
        {
            "client_order_id": deterministic_client_order_id(
                request.account_id,
                request.session,
                order.ticker,
                order.side,
                attempt - 1,
                broker=broker,
                mode=request.mode.value,
            ),
            "broker": broker,
            "account_id": request.account_id,
            "session_date": request.session,
            "ticker": order.ticker,
            "side": order.side.value,
            "quantity": order.quantity,
            "order_type": "market",
            "status": "planned",
        }
        for order in decision.orders
    ]


def failure_row(request: RunRequest, attempt: int, log: StepLog, exc: Exception) -> dict[str, Any]:
    """The row of a run that failed before it persisted a plan: what it reached, and the error."""
    equity = log.facts.get("equity")
    return _run_key(request, attempt) | {
        "market_regime": log.facts.get("regime"),
        "strategy_selected": log.facts.get("strategy"),
        "pre_rebalance_value": round_money(equity) if equity is not None else None,
        "steps": log.entries,
        "status": "failed",
        "error": f"{type(exc).__name__}: {exc}",
    }


def summary(outcome: Outcome, decision: Decision, run_id: int) -> str:
    risk = decision.risk
    if outcome is Outcome.REJECTED:
        return f"run {run_id}: risk rejected the target, nothing traded: {reason_summary(risk)}"
    if outcome is Outcome.AWAITING_APPROVAL:
        return f"run {run_id}: needs approval (`fund approvals list`): {reason_summary(risk)}"
    if outcome is Outcome.DRY_RUN:
        return f"run {run_id}: dry run, {len(decision.orders)} orders planned, nothing sent"
    if risk.skipped:
        return f"run {run_id}: drift {risk.drift:.1%} below the threshold, no trades"
    return f"run {run_id}: completed, no orders needed"
