"""The daily run: one account, one session, one mode.

    lock -> finish earlier unfinished runs -> gate -> sync -> regime -> strategy -> target -> risk
    -> plan -> persist the plan -> submit -> record -> completed

The steps are functions (steps.py, execution.py); the run reads them top to bottom over the ports it
was given: the market view, the broker, the journal, the clock, the generator and the
strategy policy (the selector, but for a backtest's comparison variants). The command that
builds the run (autonomous/cli/assembly.py) chooses them: a database market and journal with the
paper venue for cron, a preloaded market with the venue's engine in memory for a backtest.

Crash safety comes from the order of writes. The plan (the run's row with status `planned`, and an
order row per order, each with its deterministic client order id) is persisted before anything is
sent. Every send is preceded by asking the broker whether that client id already reached it, and
followed at once by recording the broker's answer. So a run that dies anywhere is finished by the
next one: same session, it sends what was never sent and records the rest; a later session, it
records what was sent and cancels the stale remainder. Nothing is sent twice.

A Python error before the plan is persisted writes a `failed` row with the error; after it, the
row keeps its status (the plan stays resumable) and the error is recorded beside it. A dry run
reads the account as the venue would settle it, decides, and logs its plan; it writes no ledger
table (no order, fill, equity or halt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from autonomous.daily_run.execution import close_stale_plan, record_all, submit_all
from autonomous.daily_run.journal import Journal
from autonomous.daily_run.records import Decision, failure_row, order_rows, run_row, status_of, summary
from autonomous.daily_run.request import (
    Outcome,
    Reconciler,
    RunMode,
    RunRequest,
    RunResult,
    Step,
    StepHook,
    StepLog,
    no_hook,
)
from autonomous.daily_run.steps import (
    EarlierAttempts,
    StrategyPolicy,
    approval_expiry,
    assess_risk,
    build_target,
    check_gate,
    choose_strategy,
    holding_weights,
    plan_trades,
    read_regime,
    reason_summary,
    record_halt,
    risk_context,
    settle_earlier_attempts,
    sync_account,
    value_book,
    with_targets,
)
from autonomous.generators import GeneratorChoice
from autonomous.marketview import MarketView
from trading.brokers.base import Broker, VenueEventKind, call_with_retry
from trading.db.schema import utcnow
from trading.execution.costs import CostModels
from trading.marketdata.calendar import TradingCalendar
from trading.orders import OrderSide
from trading.settings import FundSettings
from trading.store.rebalances import RunRecord

logger = logging.getLogger(__name__)

__all__ = ["DailyRun", "Outcome", "RunMode", "RunRequest", "RunResult", "Step"]

# Venue events a run's result repeats to its caller (the rest stay in the log and the venue's books).
REPORTED_EVENTS = (
    VenueEventKind.DELISTING,
    VenueEventKind.CASH_IN_LIEU,
    VenueEventKind.EXPIRED,
    VenueEventKind.REJECTED,
)


class DailyRun:
    """Runs the daily rebalance of one account over the ports it is given."""

    def __init__(
        self,
        settings: FundSettings,
        *,
        market: MarketView,
        broker: Broker,
        journal: Journal,
        generator: GeneratorChoice,
        clock: Callable[[], datetime] = utcnow,
        after_step: StepHook = no_hook,
        strategy_policy: StrategyPolicy = choose_strategy,
        reconciler: Reconciler | None = None,
    ) -> None:
        self._settings = settings
        self._market = market
        self._broker = broker
        self._journal = journal
        self._generator = generator
        self._clock = clock
        self._after_step = after_step
        self._strategy_policy = strategy_policy
        self._reconciler = reconciler
        self._costs = CostModels.from_settings(settings.execution)

    # --- entry point ------------------------------------------------------------------------------

    def run(self, request: RunRequest) -> RunResult:
        calendar = self._market.calendar()
        if not calendar.is_session(request.session):
            message = f"{request.session} is not a trading session ({calendar.exchange}): nothing to do"
            logger.info("%s", message)
            return RunResult(Outcome.NOT_A_SESSION, request.session, message)
        mode = request.mode.value
        with self._journal.lock(request.account_id, mode):
            finished = self._finish_earlier_runs(request)
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
            existing = self._journal.active_run(request.account_id, request.session, mode)
            if existing is not None and not request.force:
                return self._already_done(existing)
            if existing is not None and existing.status == "awaiting_approval":
                self._journal.supersede(existing.id, self._clock())
            return self._new_run(request, calendar)

    def _already_done(self, run: RunRecord) -> RunResult:
        if run.status == "awaiting_approval":
            approval = self._journal.approval_for_run(run.id)
            detail = f"awaiting approval {approval.id}" if approval else "awaiting approval"
        else:
            detail = run.status
        message = (
            f"{run.account_id} {run.mode} run for {run.rebalance_date} already exists (id {run.id}, {detail}); "
            "nothing to do (--force runs it again)"
        )
        logger.info("%s", message)
        return RunResult(Outcome.ALREADY_DONE, run.rebalance_date, message, run_id=run.id)

    # --- a new run ------------------------------------------------------------------------------------

    def _new_run(self, request: RunRequest, calendar: TradingCalendar) -> RunResult:
        attempt = self._journal.next_attempt(request.account_id, request.session, request.mode.value)
        log = StepLog(self._clock, self._after_step)
        try:
            decision = self._decide(request, calendar, log)
        except Exception as exc:
            run_id = self._record_failure(failure_row(request, attempt, log, exc))
            logger.error("run for %s failed before anything was sent: %s", request.session, exc)
            return RunResult(Outcome.FAILED, request.session, f"failed, nothing sent: {exc}", run_id=run_id)
        events = tuple(e.detail for kind in REPORTED_EVENTS for e in decision.account.sync.of(kind))
        run_id, outcome = self._persist(request, attempt, decision, log, calendar)
        if outcome is not Outcome.COMPLETED or not decision.orders:
            message = summary(outcome, decision, run_id)
            return RunResult(outcome, request.session, message, run_id=run_id, events=events)
        result = self._execute(run_id, request)
        return RunResult(result.outcome, result.session, result.message, result.run_id, result.orders_sent, events)

    def _decide(self, request: RunRequest, calendar: TradingCalendar, log: StepLog) -> Decision:
        """The decision steps, in order (steps.py); each note lands in the run's step log."""
        session, journal, settings = request.session, self._journal, self._settings
        market = self._market.session(session)
        gate = check_gate(market)
        log.note(Step.GATE, f"{gate.covered} of {gate.universe_size} names have a bar on {session}")

        account = sync_account(self._broker, journal, request)
        # A live broker's account is compared with the ledger before anything is planned on it; an
        # unexplained difference raises, so the run fails with nothing sent.
        reconciled = f"; {self._reconciler(request)}" if self._reconciler and request.mode.sends else ""
        earlier = settle_earlier_attempts(self._broker, journal, request) if request.force else EarlierAttempts()
        forced = f"; {earlier.describe()}" if request.force else ""
        log.note(Step.SYNC, f"{account.describe()}{reconciled}{forced}", equity=account.equity)

        regime = read_regime(market, journal)
        log.note(Step.REGIME, regime.describe(), regime=regime.label)

        choice = self._strategy_policy(market, regime, journal, settings)
        log.note(
            Step.STRATEGY, f"{choice.strategy} ({choice.confidence:.2f}): {choice.reason}", strategy=choice.strategy
        )

        held = value_book(market, account)
        target = build_target(self._generator, market.state, choice, holding_weights(account, held))
        log.note(Step.TARGET, target.describe())

        valuation = with_targets(held, market, list(target.portfolio.weights))
        context = risk_context(journal, calendar, request, account, earlier, valuation)
        risk = assess_risk(request, account, earlier, target, choice, valuation, context, market, settings)
        record_halt(journal, request, risk, account.equity, context.peak, settings)
        log.note(Step.RISK, f"{risk.verdict}: {reason_summary(risk)}")

        plan = plan_trades(
            risk, account, earlier, valuation, fractional=self._broker.capabilities.fractional_shares, settings=settings
        )
        if plan is not None:
            log.note(Step.PLAN, f"{len(plan.sells)} sells, {len(plan.buys)} buys, {len(plan.skipped)} skipped")
        return Decision(account, earlier, regime, choice, target, risk, plan)

    # --- persisting ---------------------------------------------------------------------------------

    def _persist(
        self, request: RunRequest, attempt: int, decision: Decision, log: StepLog, calendar: TradingCalendar
    ) -> tuple[int, Outcome]:
        """The run's row, its orders and (when needed) its approval request, in one transaction."""
        status, outcome = status_of(request, decision)
        sends = request.mode.sends and status != "rejected"
        orders = order_rows(request, attempt, decision, self._broker.name) if sends else []
        expires = approval_expiry(calendar, request.session) if status == "awaiting_approval" else None
        row = run_row(request, attempt, decision, log, status, self._costs)
        run_id = self._journal.persist_plan(row, orders, expires)
        if status == "awaiting_approval":
            logger.info("run %d needs approval: %s", run_id, reason_summary(decision.risk))
        self._append_step(run_id, Step.PERSIST, f"rebalancing_log {run_id} written")
        return run_id, outcome

    def _record_failure(self, row: dict[str, Any]) -> int | None:
        try:
            return self._journal.record_failure(row)
        except Exception:  # the database itself may be what failed; the log line is then all we have
            logger.exception("could not record the failed run")
            return None

    # --- sending and recording ---------------------------------------------------------------------

    def _execute(self, run_id: int, request: RunRequest) -> RunResult:
        """Send the run's unsent orders (asking the broker first), record every answer, complete the run."""
        journal = self._journal
        try:
            journal.update_run(run_id, status="submitting")
            sent = submit_all(run_id, self._broker, journal, self._after_step)
            journal.update_run(run_id, status="submitted")
            self._append_step(run_id, Step.SUBMIT, f"{sent} orders sent")
            recorded = record_all(run_id, self._broker, journal)
            orders = journal.run_orders(run_id)
            journal.update_run(
                run_id,
                status="completed",
                num_buys=sum(1 for o in orders if o.side == OrderSide.BUY.value),
                num_sells=sum(1 for o in orders if o.side == OrderSide.SELL.value),
            )
            self._append_step(run_id, Step.RECORD, recorded)
        except Exception as exc:
            journal.update_run(run_id, error=f"{type(exc).__name__}: {exc}")
            logger.error("run %d stopped while sending; the next run resumes it: %s", run_id, exc)
            return RunResult(
                Outcome.FAILED, request.session, f"run {run_id} interrupted ({exc}); rerun to resume", run_id=run_id
            )
        return RunResult(
            Outcome.COMPLETED, request.session, f"run {run_id}: completed, {recorded}", run_id=run_id, orders_sent=sent
        )

    def _append_step(self, run_id: int, step: Step, message: str) -> None:
        logger.info("step %s: %s", step.value, message)
        self._journal.append_step(run_id, StepLog(self._clock).entry(step, message))
        self._after_step(step)

    # --- finishing earlier runs -----------------------------------------------------------------------

    def _finish_earlier_runs(self, request: RunRequest) -> list[RunResult]:
        results = []
        for run in self._journal.pending_runs(request.account_id, request.mode.value, request.session):
            if run.status == "awaiting_approval":
                result = self._settle_approval(run)
            elif run.rebalance_date == request.session:
                logger.warning("resuming run %d of %s (status %s)", run.id, run.rebalance_date, run.status)
                result = self._resume(run)
            else:
                result = self._close_stale(run, request)
            if result is not None:
                results.append(result)
        return results

    def _resume(self, run: RunRecord) -> RunResult:
        """Send a persisted plan of `run`'s session: the broker is brought to that close first."""
        call_with_retry(partial(self._broker.sync, run.rebalance_date), idempotent=True, what="sync")
        request = RunRequest(run.account_id, RunMode(run.mode), run.rebalance_date)
        return self._execute(run.id, request)

    def _settle_approval(self, run: RunRecord) -> RunResult | None:
        approval = self._journal.approval_for_run(run.id)
        now = self._clock()
        if approval is None:
            return None
        expired = approval.expires_at is not None and now >= approval.expires_at
        if approval.decision == "approved" and not expired:
            logger.info("executing run %d, approved by %s", run.id, approval.decided_by)
            return self._resume(run)
        if approval.decision in ("pending", "approved") and expired:
            reason = self._journal.expire_approval(approval, now)
            logger.info("run %d: %s", run.id, reason)
            return RunResult(Outcome.REJECTED, run.rebalance_date, f"run {run.id}: {reason}", run_id=run.id)
        return None

    def _close_stale(self, run: RunRecord, request: RunRequest) -> RunResult:
        """A run of an earlier session that never finished: record what reached the broker, cancel the rest."""
        reason = f"never sent: the plan of {run.rebalance_date} is stale on {request.session}"
        sent, canceled = close_stale_plan(run.id, self._broker, self._journal, reason)
        note = (
            f"interrupted run finished on {request.session}: {sent} orders had reached the broker, "
            f"{canceled} unsent canceled"
        )
        status = "completed" if sent else "failed"
        self._journal.update_run(run.id, status=status, error=note)
        logger.warning("run %d of %s: %s", run.id, run.rebalance_date, note)
        outcome = Outcome.COMPLETED if sent else Outcome.FAILED
        return RunResult(outcome, run.rebalance_date, f"run {run.id}: {note}", run_id=run.id)
