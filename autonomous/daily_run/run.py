"""The daily run: one account, one session, one mode.

    lock -> finish earlier unfinished runs -> data gate -> sync the ledger with the broker -> regime
    (written) -> strategy -> target portfolio -> risk -> order plan -> persist the plan -> submit
    -> record -> completed

Crash safety comes from the order of writes. The plan (rebalancing_log status `planned` and a
trade_executions row per order, each with its deterministic client order id) is committed before
anything is sent. Every send is preceded by asking the broker whether that client id already
reached it, and followed at once by recording the broker's answer. So a run that dies anywhere
is finished by the next one: same session, it sends what was never sent and records the rest;
a later session, it records what was sent and cancels the stale remainder. Nothing is sent twice.

A Python error before the plan is persisted writes a `failed` row with the error; after it, the
row keeps its status (the plan stays resumable) and the error is recorded beside it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from autonomous.daily_run.approvals import expire, supersede
from autonomous.daily_run.lock import run_lock
from autonomous.generators import generator_for
from autonomous.market_state import MarketState, market_state_on, regimes_between, snapshot_of
from autonomous.order_planning import OrderPlan, PlannedOrder, plan_orders
from autonomous.portfolio import TargetPortfolio
from autonomous.regime import RegimeSnapshot
from autonomous.risk import HaltEvent, HaltState, RiskDecision, RiskInput, Verdict, evaluate_risk
from autonomous.selector import StrategyChoice, select_strategy
from trading.brokers.base import (
    AccountSnapshot,
    Broker,
    BrokerOrder,
    OrderRequest,
    OrderSide,
    call_with_retry,
    deterministic_client_order_id,
    submit_with_retry,
)
from trading.brokers.paper import EXCHANGE_TIME_ZONE, PaperBroker, session_open_utc
from trading.db.schema import utcnow
from trading.errors import DataGateFailed, OrderRejected
from trading.execution.costs import CostModels, round_money
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.quality import check_data_gate
from trading.settings import FundSettings
from trading.store import connection_for
from trading.store.accounts import peak_equity_between, record_equity
from trading.store.performance import performance_by_strategy
from trading.store.rebalances import (
    OrderRecord,
    RunRecord,
    active_run,
    approval_for_run,
    close_orders,
    insert_orders,
    insert_run,
    next_attempt,
    open_ledger_orders,
    pending_runs,
    record_broker_order,
    request_approval,
    run_orders,
    run_steps,
    update_run,
)
from trading.store.regimes import upsert_regimes
from trading.store.risk_halts import active_halt, open_halt, recent_halts, resume_halt

logger = logging.getLogger(__name__)

# Orders the broker will never change again; anything else is refreshed when a run records.
FINAL_ORDER_STATUSES = frozenset({"filled", "canceled", "rejected", "expired"})


class RunMode(StrEnum):
    DRY_RUN = "dry_run"
    PAPER = "paper"
    LIVE = "live"


class Step(StrEnum):
    """The steps of a run, in order; `after_step` hooks fire after each (SUBMIT_ORDER after every send)."""

    GATE = "gate"
    SYNC = "sync"
    REGIME = "regime"
    STRATEGY = "strategy"
    TARGET = "target"
    RISK = "risk"
    PLAN = "plan"
    PERSIST = "persist"
    SUBMIT_ORDER = "submit_order"
    SUBMIT = "submit"
    RECORD = "record"


class Outcome(StrEnum):
    NOT_A_SESSION = "not_a_session"
    ALREADY_DONE = "already_done"
    NOTHING_TO_RESUME = "nothing_to_resume"
    COMPLETED = "completed"
    DRY_RUN = "dry_run"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def exit_code(self) -> int:
        """0 for every outcome cron should not alarm about; 3 for a risk rejection; 1 for a failure."""
        if self is Outcome.FAILED:
            return 1
        if self is Outcome.REJECTED:
            return 3
        return 0


@dataclass(frozen=True)
class RunRequest:
    account_id: str
    mode: RunMode
    session: date
    use_mock: bool = False
    force: bool = False
    # Only finish unfinished or approved runs; never plan a new one.
    resume_only: bool = False


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    session: date
    message: str
    run_id: int | None = None
    orders_sent: int = 0

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code


BrokerFactory = Callable[[date], Broker]
StepHook = Callable[[Step], None]


def _no_hook(_step: Step) -> None:
    return None


@dataclass
class _Decision:
    """What the decision steps produced, before anything is persisted."""

    equity: Decimal = Decimal(0)
    cash: Decimal = Decimal(0)
    positions: dict[str, Decimal] = field(default_factory=dict)  # shares held after the sync
    regime: RegimeSnapshot | None = None
    choice: StrategyChoice | None = None
    portfolio: TargetPortfolio | None = None
    generator_note: str = ""
    model_versions: dict[str, Any] = field(default_factory=dict)
    risk: RiskDecision | None = None
    plan: OrderPlan | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)


class DailyRun:
    """Runs the daily rebalance; `broker_for(session)` gives the broker that trades after that session's close."""

    def __init__(
        self,
        engine: Engine,
        settings: FundSettings,
        broker_for: BrokerFactory,
        *,
        clock: Callable[[], datetime] = utcnow,
        after_step: StepHook = _no_hook,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._broker_for = broker_for
        self._clock = clock
        self._after_step = after_step
        self._costs = CostModels.from_settings(settings.execution)
        self._calendar: TradingCalendar | None = None

    # --- entry point ------------------------------------------------------------------------------

    def run(self, request: RunRequest) -> RunResult:
        calendar = self._fresh_calendar()
        if not calendar.is_session(request.session):
            message = (
                f"{request.session} is not a trading session ({self._settings.data.exchange_calendar}): nothing to do"
            )
            logger.info("%s", message)
            return RunResult(Outcome.NOT_A_SESSION, request.session, message)
        mode = request.mode.value
        with run_lock(self._engine, request.account_id, mode, wait_seconds=self._settings.run.lock_wait_seconds):
            finished = self._finish_pending(request)
            same_session = [r for r in finished if r.session == request.session]
            if same_session:
                return same_session[-1]
            if request.resume_only:
                message = (
                    f"resumed {len(finished)} earlier run(s)"
                    if finished
                    else f"nothing to resume for {request.account_id} ({mode})"
                )
                return RunResult(Outcome.NOTHING_TO_RESUME, request.session, message)
            existing = active_run(self._engine, request.account_id, request.session, mode)
            if existing is not None and not request.force:
                return self._already_done(existing)
            if existing is not None and existing.status == "awaiting_approval":
                supersede(self._engine, existing.id, self._clock())
            return self._new_run(request)

    def _fresh_calendar(self) -> TradingCalendar:
        data = self._settings.data
        self._calendar = TradingCalendar.from_database(self._engine, data.benchmark_ticker, data.exchange_calendar)
        return self._calendar

    @property
    def calendar(self) -> TradingCalendar:
        return self._calendar if self._calendar is not None else self._fresh_calendar()

    def _already_done(self, run: RunRecord) -> RunResult:
        if run.status == "awaiting_approval":
            approval = approval_for_run(self._engine, run.id)
            detail = f"awaiting approval {approval.id}" if approval else "awaiting approval"
        else:
            detail = run.status
        message = (
            f"{run.account_id} {run.mode} run for {run.rebalance_date} already exists (id {run.id}, {detail}); "
            "nothing to do (--force runs it again)"
        )
        logger.info("%s", message)
        return RunResult(Outcome.ALREADY_DONE, run.rebalance_date, message, run_id=run.id)

    # --- a new run --------------------------------------------------------------------------------

    def _new_run(self, request: RunRequest) -> RunResult:
        session = request.session
        broker = self._broker_for(session)  # unknown account, ledger ahead: refused before anything is written
        attempt = next_attempt(self._engine, request.account_id, session, request.mode.value)
        decision = _Decision()
        try:
            self._decide(request, broker, decision)
        except Exception as exc:
            run_id = self._record_failure(request, attempt, decision, exc)
            logger.error("run for %s failed before anything was sent: %s", session, exc)
            return RunResult(Outcome.FAILED, session, f"failed, nothing sent: {exc}", run_id=run_id)
        run_id, outcome = self._persist(request, attempt, decision, broker)
        self._append_step(run_id, Step.PERSIST, f"rebalancing_log {run_id} written")
        if outcome is not Outcome.COMPLETED or decision.plan is None or not decision.plan.orders:
            return RunResult(outcome, session, self._summary(outcome, decision, run_id), run_id=run_id)
        return self._execute(run_id, session, broker, request.account_id)

    def _note(self, decision: _Decision, step: Step, message: str) -> None:
        logger.info("step %s: %s", step.value, message)
        decision.steps.append({"step": step.value, "at": self._clock().isoformat(), "message": message})
        self._after_step(step)

    def _decide(self, request: RunRequest, broker: Broker, decision: _Decision) -> None:
        session = request.session
        gate = check_data_gate(self._engine, session, self._settings.data)
        if not gate.passed:
            raise DataGateFailed(f"data gate failed for {session}: {'; '.join(gate.reasons)}")
        self._note(decision, Step.GATE, f"{gate.covered} of {gate.universe_size} names have a bar on {session}")

        snapshot = self._sync(broker, request.account_id, session)
        decision.equity, decision.cash = snapshot.equity, snapshot.cash
        held = call_with_retry(broker.positions, idempotent=True, what="positions")
        decision.positions = {p.ticker: p.quantity for p in held}
        self._note(decision, Step.SYNC, f"equity {snapshot.equity:,.2f}, cash {snapshot.cash:,.2f}")

        history = regimes_between(self._engine, self._settings, session, session)
        decision.regime = snapshot_of(history, session, self._settings)
        upsert_regimes(self._engine, history.table_rows())
        self._note(decision, Step.REGIME, decision.regime.describe())

        state = market_state_on(self._engine, self._settings, session)
        available = {name for name, universe in state.universes.items() if universe.available}
        evidence = performance_by_strategy(self._engine, decision.regime.label, before=session)
        decision.choice = select_strategy(
            decision.regime, self._settings.strategy, evidence=evidence, available=available
        )
        self._note(
            decision,
            Step.STRATEGY,
            f"{decision.choice.strategy} ({decision.choice.confidence:.2f}): {decision.choice.reason}",
        )

        chosen = generator_for(self._engine, self._settings, use_mock=request.use_mock)
        decision.generator_note = chosen.note
        decision.portfolio = chosen.generator.generate(state, decision.choice, _holdings(decision, state))
        decision.model_versions = {
            "generator": chosen.generator.name,
            "portfolio": decision.portfolio.generator,
            "models": dict(decision.portfolio.model_versions),
        }
        self._note(decision, Step.TARGET, f"{chosen.note}: {decision.portfolio.reason}")

        decision.risk = self._risk(request, broker, state, decision)
        self._note(decision, Step.RISK, f"{decision.risk.verdict}: {_reason_summary(decision.risk)}")

        if decision.risk.verdict is not Verdict.REJECT and not decision.risk.skipped:
            decision.plan = self._plan(broker, state, decision.risk, decision)
            self._note(
                decision,
                Step.PLAN,
                f"{len(decision.plan.sells)} sells, {len(decision.plan.buys)} buys, "
                f"{len(decision.plan.skipped)} skipped",
            )

    def _sync(self, broker: Broker, account_id: str, session: date) -> AccountSnapshot:
        """Bring the ledger up to the session's close and record the day's equity."""
        if isinstance(broker, PaperBroker):
            broker.settle()
        # Fills happen at the broker; the ledger learns them here, so none is lost between runs.
        for order in open_ledger_orders(self._engine, account_id, broker.name):
            assert order.order_id is not None
            fresh = call_with_retry(partial(broker.get_order, order.order_id), idempotent=True, what="order status")
            record_broker_order(self._engine, order.id, fresh)
        snapshot = call_with_retry(broker.account, idempotent=True, what="account snapshot")
        record_equity(
            self._engine, account_id, session, cash=snapshot.cash, positions_value=snapshot.equity - snapshot.cash
        )
        return snapshot

    def _risk(self, request: RunRequest, broker: Broker, state: MarketState, decision: _Decision) -> RiskDecision:
        assert decision.portfolio is not None
        assert decision.choice is not None
        session, account_id = request.session, request.account_id
        positions = decision.positions
        tickers = sorted(set(positions) | set(decision.portfolio.weights))
        known = [t for t in tickers if t in state.market.panel.tickers]
        window = self._settings.risk.adv_window_sessions
        volume = state.market.frame("volume", known).loc[: pd.Timestamp(session)].tail(window).mean()
        halt = active_halt(self._engine, account_id)
        halt_state = None if halt is None else HaltState(drawdown_at_trigger=halt.drawdown)
        since_halt = 0 if halt is None else self.calendar.sessions_between(halt.triggered_on, session)
        recorded_peak = peak_equity_between(self._engine, account_id, self._baseline_start(account_id), session)
        peak = max(recorded_peak, decision.equity) if recorded_peak is not None else decision.equity
        close = state.close
        risk = evaluate_risk(
            RiskInput(
                target=decision.portfolio.weights,
                quantities=positions,
                cash=decision.cash,
                prices={t: float(close[t]) for t in known},
                peak_equity=peak,
                sectors={t: s for t, s in state.market.sectors.items() if t in tickers},
                average_daily_volume={str(t): float(v) for t, v in volume.items()},
                confidence=decision.choice.confidence,
                halt=halt_state,
                sessions_since_halt=since_halt,
                force=request.force,
                cost_rate=float(self._costs.slippage.bps) / 10_000,
            ),
            self._settings.risk,
        )
        self._persist_halt(account_id, session, risk, decision.equity, peak)
        return risk

    def _baseline_start(self, account_id: str) -> date | None:
        """The drawdown peak is measured from the last lifted halt (a resume starts a new baseline)."""
        lifted = [h for h in recent_halts(self._engine, account_id, limit=1) if h.resumed_at is not None]
        return lifted[0].resumed_at.date() if lifted and lifted[0].resumed_at else None

    def _persist_halt(self, account_id: str, session: date, risk: RiskDecision, equity: Decimal, peak: Decimal) -> None:
        halt = risk.halt
        if halt is None:
            return
        if halt.event is HaltEvent.TRIGGERED:
            open_halt(
                self._engine, account_id, session, halt.drawdown, round_money(equity), round_money(peak), halt.reason
            )
        elif halt.event is HaltEvent.RESUMED:
            close = datetime.combine(session, time(16, 0), EXCHANGE_TIME_ZONE).astimezone(UTC)
            resume_halt(
                self._engine, account_id, "daily run", halt.reason, self._settings.risk.drawdown_resume, at=close
            )

    def _plan(self, broker: Broker, state: MarketState, risk: RiskDecision, decision: _Decision) -> OrderPlan:
        positions = decision.positions
        close = state.close
        tickers = set(positions) | {t for t, w in risk.adjusted_weights.items() if w > 0}
        prices = {t: Decimal(str(close[t])) for t in tickers if t in close.index and pd.notna(close[t])}
        execution = self._settings.execution
        return plan_orders(
            {t: w for t, w in risk.adjusted_weights.items() if w > 0},
            positions,
            decision.cash,
            prices,
            fractional=broker.capabilities.fractional_shares,
            min_order_value=execution.min_order_value,
            cash_buffer=float(execution.cash_buffer),
        )

    # --- persisting -------------------------------------------------------------------------------

    def _status_for(self, request: RunRequest, decision: _Decision) -> tuple[str, Outcome]:
        risk = decision.risk
        assert risk is not None
        if risk.verdict is Verdict.REJECT:
            return "rejected", Outcome.REJECTED
        if request.mode is RunMode.DRY_RUN:
            return "dry_run", Outcome.DRY_RUN
        if risk.verdict is Verdict.NEEDS_APPROVAL:
            return "awaiting_approval", Outcome.AWAITING_APPROVAL
        if decision.plan is None or not decision.plan.orders:
            return "completed", Outcome.COMPLETED
        return "planned", Outcome.COMPLETED

    def _persist(self, request: RunRequest, attempt: int, decision: _Decision, broker: Broker) -> tuple[int, Outcome]:
        """The run's row, its orders and (when needed) its approval request, in one transaction."""
        status, outcome = self._status_for(request, decision)
        risk, plan, choice = decision.risk, decision.plan, decision.choice
        assert risk is not None
        assert choice is not None
        assert decision.portfolio is not None
        orders = plan.orders if plan is not None else ()
        values = self._run_values(request, attempt, decision, status)
        with self._engine.begin() as connection:
            run_id = insert_run(connection, values)
            if request.mode is not RunMode.DRY_RUN and status != "rejected":
                insert_orders(connection, self._order_rows(request, attempt, run_id, broker, orders))
            if status == "awaiting_approval":
                request_approval(connection, run_id, self._approval_expiry(request.session))
        if status == "awaiting_approval":
            logger.warning("run %d needs approval: %s", run_id, _reason_summary(risk))
        return run_id, outcome

    def _run_values(self, request: RunRequest, attempt: int, decision: _Decision, status: str) -> dict[str, Any]:
        risk, plan, choice, portfolio = decision.risk, decision.plan, decision.choice, decision.portfolio
        assert risk is not None
        assert choice is not None
        assert portfolio is not None
        assert decision.regime is not None
        orders = plan.orders if plan is not None else ()
        costs = sum((self._estimated_cost(o.quantity, o.estimated_value) for o in orders), Decimal(0))
        risk_json = risk.to_json()
        return {
            "rebalance_date": request.session,
            "account_id": request.account_id,
            "mode": request.mode.value,
            "attempt": attempt,
            "forced": request.force,
            "strategy_selected": choice.strategy,
            "meta_model_confidence": choice.confidence,
            "market_regime": decision.regime.label,
            "pre_rebalance_value": round_money(decision.equity),
            # An estimate until the orders fill: today's equity less the modelled costs of the plan.
            "post_rebalance_value": round_money(decision.equity - costs),
            "num_buys": sum(1 for o in orders if o.side is OrderSide.BUY),
            "num_sells": sum(1 for o in orders if o.side is OrderSide.SELL),
            "total_turnover": risk.turnover,
            "trades": plan.to_json() if plan is not None else None,
            "raw_weights": risk_json["raw_weights"],
            "adjusted_weights": risk_json["adjusted_weights"],
            "risk_verdict": risk.verdict.value,
            "risk_reasons": risk_json,
            "model_versions": decision.model_versions,
            "strategy_reason": f"{choice.reason}; {decision.generator_note}: {portfolio.reason}",
            "steps": decision.steps,
            "status": status,
        }

    def _estimated_cost(self, quantity: Decimal, value: Decimal) -> Decimal:
        return value * self._costs.slippage.bps / Decimal(10_000) + self._costs.commission.commission(quantity)

    def _order_rows(
        self, request: RunRequest, attempt: int, run_id: int, broker: Broker, orders: Sequence[PlannedOrder]
    ) -> list[dict[str, Any]]:
        return [
            {
                "client_order_id": deterministic_client_order_id(
                    request.account_id, request.session, order.ticker, order.side, attempt - 1
                ),
                "broker": broker.name,
                "account_id": request.account_id,
                "session_date": request.session,
                "rebalance_id": run_id,
                "ticker": order.ticker,
                "side": order.side.value,
                "quantity": order.quantity,
                "order_type": "market",
                "status": "planned",
            }
            for order in orders
        ]

    def _approval_expiry(self, session: date) -> datetime:
        upcoming = self.calendar.sessions_in(session + timedelta(days=1), session + timedelta(days=14))
        return session_open_utc(upcoming[0].date())

    def _record_failure(self, request: RunRequest, attempt: int, decision: _Decision, exc: Exception) -> int | None:
        values = {
            "rebalance_date": request.session,
            "account_id": request.account_id,
            "mode": request.mode.value,
            "attempt": attempt,
            "forced": request.force,
            "market_regime": decision.regime.label if decision.regime else None,
            "strategy_selected": decision.choice.strategy if decision.choice else None,
            "pre_rebalance_value": round_money(decision.equity) if decision.steps else None,
            "steps": decision.steps,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
        }
        try:
            return insert_run(self._engine, values)
        except Exception:  # the database itself may be what failed; the log line is then all we have
            logger.exception("could not record the failed run")
            return None

    def _summary(self, outcome: Outcome, decision: _Decision, run_id: int) -> str:
        risk, plan = decision.risk, decision.plan
        assert risk is not None
        if outcome is Outcome.REJECTED:
            return f"run {run_id}: risk rejected the target, nothing traded: {_reason_summary(risk)}"
        if outcome is Outcome.AWAITING_APPROVAL:
            return f"run {run_id}: needs approval (`fund approvals list`): {_reason_summary(risk)}"
        orders = len(plan.orders) if plan else 0
        if outcome is Outcome.DRY_RUN:
            return f"run {run_id}: dry run, {orders} orders planned, nothing sent"
        if risk.skipped:
            return f"run {run_id}: drift {risk.drift:.1%} below the threshold, no trades"
        return f"run {run_id}: completed, no orders needed"

    # --- sending and recording --------------------------------------------------------------------

    def _execute(self, run_id: int, session: date, broker: Broker, account_id: str) -> RunResult:
        """Send the run's unsent orders (asking the broker first), record every answer, complete the run."""
        try:
            update_run(self._engine, run_id, status="submitting")
            sent = self._submit_all(run_id, broker)
            update_run(self._engine, run_id, status="submitted")
            self._append_step(run_id, Step.SUBMIT, f"{sent} orders sent")
            recorded = self._record_all(run_id, broker)
            orders = run_orders(self._engine, run_id)
            update_run(
                self._engine,
                run_id,
                status="completed",
                num_buys=sum(1 for o in orders if o.side == OrderSide.BUY.value),
                num_sells=sum(1 for o in orders if o.side == OrderSide.SELL.value),
            )
            self._append_step(run_id, Step.RECORD, recorded)
        except Exception as exc:
            update_run(self._engine, run_id, error=f"{type(exc).__name__}: {exc}")
            logger.error("run %d stopped while sending; the next run resumes it: %s", run_id, exc)
            return RunResult(
                Outcome.FAILED, session, f"run {run_id} interrupted ({exc}); rerun to resume", run_id=run_id
            )
        return RunResult(
            Outcome.COMPLETED, session, f"run {run_id}: completed, {recorded}", run_id=run_id, orders_sent=sent
        )

    def _append_step(self, run_id: int, step: Step, message: str) -> None:
        logger.info("step %s: %s", step.value, message)
        with connection_for(self._engine) as connection:
            steps = run_steps(connection, run_id)
            steps.append({"step": step.value, "at": self._clock().isoformat(), "message": message})
            update_run(connection, run_id, steps=steps)
        self._after_step(step)

    def _submit_all(self, run_id: int, broker: Broker) -> int:
        sent = 0
        for order in run_orders(self._engine, run_id):
            if order.status != "planned":
                continue
            answer = self._send_once(order, broker)
            if answer is None:
                continue
            self._after_step(Step.SUBMIT_ORDER)
            record_broker_order(self._engine, order.id, answer)
            sent += 1
        return sent

    def _send_once(self, order: OrderRecord, broker: Broker) -> BrokerOrder | None:
        """The broker's order for this row: the one it already has under the client id, or a new one."""
        known = call_with_retry(
            partial(broker.find_by_client_order_id, order.client_order_id),
            idempotent=True,
            what=f"look up {order.client_order_id}",
        )
        if known is not None:
            logger.info(
                "order %s already reached the broker as %s; not sending it again", order.client_order_id, known.order_id
            )
            return known
        request = OrderRequest(order.client_order_id, order.ticker, OrderSide(order.side), order.quantity)
        try:
            return submit_with_retry(broker, request)
        except OrderRejected as exc:
            close_orders(self._engine, [order.id], "rejected", str(exc))
            logger.warning("order %s rejected: %s", order.client_order_id, exc)
            return None

    def _record_all(self, run_id: int, broker: Broker) -> str:
        """Refresh every sent, unfinished order from the broker; a count of the run's orders by status."""
        counts: dict[str, int] = {}
        for order in run_orders(self._engine, run_id):
            status = order.status
            if order.order_id is not None and status not in FINAL_ORDER_STATUSES:
                fresh = call_with_retry(
                    partial(broker.get_order, order.order_id), idempotent=True, what=f"order {order.order_id}"
                )
                record_broker_order(self._engine, order.id, fresh)
                status = fresh.status.value
            counts[status] = counts.get(status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no orders"

    # --- finishing earlier runs -----------------------------------------------------------------------

    def _finish_pending(self, request: RunRequest) -> list[RunResult]:
        results = []
        for run in pending_runs(self._engine, request.account_id, request.mode.value, request.session):
            if run.status == "awaiting_approval":
                result = self._settle_approval(run)
            elif run.rebalance_date == request.session:
                logger.warning("resuming run %d of %s (status %s)", run.id, run.rebalance_date, run.status)
                result = self._execute(run.id, run.rebalance_date, self._broker_for(run.rebalance_date), run.account_id)
            else:
                result = self._close_stale(run, request.session)
            if result is not None:
                results.append(result)
        return results

    def _settle_approval(self, run: RunRecord) -> RunResult | None:
        approval = approval_for_run(self._engine, run.id)
        now = self._clock()
        if approval is None:
            return None
        expired = approval.expires_at is not None and now >= approval.expires_at
        if approval.decision == "approved" and not expired:
            logger.info("executing run %d, approved by %s", run.id, approval.decided_by)
            return self._execute(run.id, run.rebalance_date, self._broker_for(run.rebalance_date), run.account_id)
        if approval.decision in ("pending", "approved") and expired:
            reason = expire(self._engine, approval, now)
            logger.warning("run %d: %s", run.id, reason)
            return RunResult(Outcome.REJECTED, run.rebalance_date, f"run {run.id}: {reason}", run_id=run.id)
        return None

    def _close_stale(self, run: RunRecord, session: date) -> RunResult:
        """A run of an earlier session that never finished: record what reached the broker, cancel the rest."""
        broker = self._broker_for(session)
        orders = run_orders(self._engine, run.id)
        sent = canceled = 0
        for order in orders:
            if order.status != "planned":
                sent += 1
                continue
            known = call_with_retry(
                partial(broker.find_by_client_order_id, order.client_order_id), idempotent=True, what="look up"
            )
            if known is not None:
                record_broker_order(self._engine, order.id, known)
                sent += 1
            else:
                close_orders(
                    self._engine,
                    [order.id],
                    "canceled",
                    f"never sent: the plan of {run.rebalance_date} is stale on {session}",
                )
                canceled += 1
        self._record_all(run.id, broker)
        note = (
            f"interrupted run finished on {session}: {sent} orders had reached the broker, {canceled} unsent canceled"
        )
        status = "completed" if sent else "failed"
        update_run(self._engine, run.id, status=status, error=note)
        logger.warning("run %d of %s: %s", run.id, run.rebalance_date, note)
        outcome = Outcome.COMPLETED if sent else Outcome.FAILED
        return RunResult(outcome, run.rebalance_date, f"run {run.id}: {note}", run_id=run.id, orders_sent=0)


def _reason_summary(risk: RiskDecision) -> str:
    notable = [
        r.message for r in risk.reasons if r.severity.value in ("breach", "reject", "adjusted") or r.rule == "approval"
    ]
    return "; ".join(notable[:4]) or "within every limit"


def _holdings(decision: _Decision, state: MarketState) -> dict[str, float]:
    """The account's current weights (value at today's close over equity), for the generator."""
    if decision.equity <= 0:
        return {}
    close = state.close
    weights = {}
    for ticker, quantity in decision.positions.items():
        price = float(close.get(ticker, float("nan")))
        if math.isfinite(price) and price > 0:
            weights[ticker] = float(quantity) * price / float(decision.equity)
    return weights
