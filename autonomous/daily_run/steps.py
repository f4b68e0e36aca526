"""The decision steps of the daily run, each a function of what it needs, returning an immutable result:

    gate -> sync -> (a forced attempt: settle the session's earlier orders) -> regime -> strategy
    -> target -> risk -> plan

Ports come in as arguments (the session's market, the broker, the journal); nothing here opens a
database or knows which broker or generator it was given.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from autonomous.daily_run.journal import Journal
from autonomous.daily_run.request import RunRequest
from autonomous.generators import GeneratorChoice
from autonomous.market_state import MarketState
from autonomous.marketview import PriceQuote, SessionMarket
from autonomous.order_planning import OrderPlan, plan_orders
from autonomous.portfolio import TargetPortfolio
from autonomous.regime import RegimeSnapshot
from autonomous.risk import HaltEvent, HaltState, RiskDecision, RiskInput, Verdict, evaluate_risk
from autonomous.selector import StrategyChoice, select_strategy
from trading.brokers.base import Broker, SyncReport, call_with_retry
from trading.errors import DataGateFailed, FundError
from trading.execution.costs import CostModels, round_money
from trading.marketdata.calendar import TradingCalendar, session_close_utc, session_open_utc
from trading.marketdata.quality import GateResult
from trading.orders import OrderSide
from trading.settings import FundSettings

logger = logging.getLogger(__name__)

# Statuses of the fund's order rows that the broker may still change.
OPEN_ORDER_STATUSES = frozenset({"submitted", "accepted", "partially_filled"})


# --- gate ------------------------------------------------------------------------------------------


def check_gate(market: SessionMarket) -> GateResult:
    """The data gate's verdict; DataGateFailed (nothing is traded) when it fails."""
    gate = market.gate
    if not gate.passed:
        raise DataGateFailed(f"data gate failed for {market.day}: {'; '.join(gate.reasons)}")
    return gate


# --- sync ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountState:
    """The account at the session's close, as the broker reports it after the sync."""

    cash: Decimal
    equity: Decimal
    positions: Mapping[str, Decimal]  # shares held
    sync: SyncReport

    def describe(self) -> str:
        return f"equity {self.equity:,.2f}, cash {self.cash:,.2f}; {self.sync.describe()}"


def sync_account(broker: Broker, journal: Journal, request: RunRequest) -> AccountState:
    """Bring the account to the session's close at the broker, then learn what became of the fund's open
    orders; a run that sends also records them and the day's equity (a dry run records nothing)."""
    report = call_with_retry(partial(broker.sync, request.session), idempotent=True, what="sync")
    if request.mode.sends:
        for order in journal.open_orders(request.account_id, broker.name):
            assert order.order_id is not None
            fresh = call_with_retry(partial(broker.get_order, order.order_id), idempotent=True, what="order status")
            journal.record_broker_order(order.id, fresh)
            if not fresh.status.is_final and order.session_date is not None and order.session_date < request.session:
                # A day order a broker still works after its session (the rest of a partial fill): its fill
                # is recorded; the remainder, priced at a close the market has moved on from, is canceled.
                cancel_stale_order(broker, journal, order.id, fresh.order_id)
    snapshot = call_with_retry(broker.account, idempotent=True, what="account snapshot")
    held = call_with_retry(broker.positions, idempotent=True, what="positions")
    if request.mode.sends:
        journal.record_equity(
            request.account_id, request.session, cash=snapshot.cash, positions_value=snapshot.equity - snapshot.cash
        )
    return AccountState(snapshot.cash, snapshot.equity, {p.ticker: p.quantity for p in held if p.quantity}, report)


def cancel_stale_order(broker: Broker, journal: Journal, row_id: int, order_id: str) -> None:
    logger.warning("order %s outlived its session at %s: canceling what is left of it", order_id, broker.name)
    call_with_retry(partial(broker.cancel, order_id), idempotent=True, what=f"cancel {order_id}")
    journal.record_broker_order(
        row_id, call_with_retry(partial(broker.get_order, order_id), idempotent=True, what="order status")
    )


@dataclass(frozen=True)
class EarlierAttempts:
    """What a forced attempt found of the session's earlier attempts: the orders it canceled, and the
    ones the broker still holds (they may fill, so the new plan counts them as done)."""

    canceled: tuple[str, ...] = ()
    pending: Mapping[str, Decimal] = field(default_factory=dict)  # signed shares still open, by ticker

    def describe(self) -> str:
        if not self.canceled and not self.pending:
            return "no open orders from earlier attempts"
        still = f"; still open: {', '.join(f'{t} {q:+f}' for t, q in sorted(self.pending.items()))}"
        return f"canceled {len(self.canceled)} open orders of earlier attempts" + (still if self.pending else "")


def settle_earlier_attempts(broker: Broker, journal: Journal, request: RunRequest) -> EarlierAttempts:
    """Cancel the orders that this session's earlier attempts left open, and record the outcome: a
    forced attempt must not send them again beside a new plan (that doubled every position)."""
    open_orders = [
        o
        for o in journal.session_orders(request.account_id, request.session, request.mode.value)
        if o.order_id is not None and o.status in OPEN_ORDER_STATUSES
    ]
    canceled: list[str] = []
    pending: dict[str, Decimal] = {}
    for order in open_orders:
        assert order.order_id is not None
        if request.mode.sends:
            call_with_retry(partial(broker.cancel, order.order_id), idempotent=True, what=f"cancel {order.order_id}")
        fresh = call_with_retry(partial(broker.get_order, order.order_id), idempotent=True, what="order status")
        if request.mode.sends:
            journal.record_broker_order(order.id, fresh)
        if fresh.status.is_final:
            canceled.append(order.client_order_id)
            continue
        remaining = fresh.quantity - fresh.filled_quantity
        sign = Decimal(1) if fresh.side is OrderSide.BUY else Decimal(-1)
        pending[order.ticker] = pending.get(order.ticker, Decimal(0)) + sign * remaining
    return EarlierAttempts(tuple(canceled), pending)


# --- regime and strategy ------------------------------------------------------------------------------


def read_regime(market: SessionMarket, journal: Journal) -> RegimeSnapshot:
    """The session's regime, written to market_regime (idempotently) for the monitoring queries."""
    journal.record_regimes(market.regime_history)
    return market.regime


StrategyPolicy = Callable[[SessionMarket, RegimeSnapshot, Journal, FundSettings], StrategyChoice]
"""How a run picks its strategy: the selector (choose_strategy) for every fund run; a backtest's
comparison passes others (one strategy held throughout, a random choice, the trend rule)."""


def choose_strategy(
    market: SessionMarket, regime: RegimeSnapshot, journal: Journal, settings: FundSettings
) -> StrategyChoice:
    """The meta-strategy selector over the strategies whose universe can be built today."""
    available = {name for name, universe in market.state.universes.items() if universe.available}
    earlier = market.earlier_regimes
    evidence = {
        label: journal.strategy_evidence(label, before=market.day)
        for label in sorted({regime.label, *(past.label for past in earlier)})
    }
    return select_strategy(
        regime,
        settings.strategy,
        evidence=evidence[regime.label],
        available=available,
        earlier=earlier,
        earlier_evidence=evidence,
    )


# --- target ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Valuation:
    """Prices of every held and targeted name: the last close on or before the session. A held name
    without a bar on the session is frozen: valued at its last close, flagged stale, never traded."""

    quotes: Mapping[str, PriceQuote]
    frozen: Mapping[str, str]  # ticker -> why

    @property
    def prices(self) -> dict[str, Decimal]:
        return {t: Decimal(repr(q.close)) for t, q in self.quotes.items() if q.close > 0}


def value_book(market: SessionMarket, account: AccountState) -> Valuation:
    """Quotes for the held names; one without a bar on the session is frozen at its last close."""
    quotes = market.quotes(account.positions)
    frozen = {
        t: f"no bar on {market.day}; valued at its last close {q.close:g} of {q.as_of} ({q.age} sessions stale)"
        for t, q in quotes.items()
        if q.stale
    }
    for ticker, why in frozen.items():
        logger.info("%s: %s", ticker, why)
    return Valuation(quotes, frozen)


def with_targets(valuation: Valuation, market: SessionMarket, tickers: Sequence[str]) -> Valuation:
    """The valuation with quotes for the target's names not held. A name that is not held gets no stale
    price (it cannot be bought on a price the market has not confirmed today), so the risk manager
    drops it."""
    new = market.quotes(set(tickers) - set(valuation.quotes))
    fresh = {t: q for t, q in new.items() if not q.stale}
    return Valuation({**valuation.quotes, **fresh}, valuation.frozen)


def holding_weights(account: AccountState, valuation: Valuation) -> dict[str, float]:
    """The account's current weights (value at the last close over equity), for the generator."""
    if account.equity <= 0:
        return {}
    weights = {}
    for ticker, quantity in account.positions.items():
        quote = valuation.quotes.get(ticker)
        if quote is not None and math.isfinite(quote.close) and quote.close > 0:
            weights[ticker] = float(quantity) * quote.close / float(account.equity)
    return weights


@dataclass(frozen=True)
class Target:
    portfolio: TargetPortfolio
    generator: str  # the generator's name
    note: str  # which generator, and why that one

    @property
    def model_versions(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "portfolio": self.portfolio.generator,
            "models": dict(self.portfolio.model_versions),
        }

    def describe(self) -> str:
        return f"{self.note}: {self.portfolio.reason}"


def build_target(
    chosen: GeneratorChoice, state: MarketState, choice: StrategyChoice, holdings: Mapping[str, float]
) -> Target:
    generator = chosen.generator
    return Target(generator.generate(state, choice, holdings), generator.name, chosen.note)


# --- risk ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskContext:
    """What the risk step reads besides the target: the halt in force, the drawdown peak, and how much
    of the session's turnover earlier attempts already used."""

    halt: HaltState | None
    sessions_since_halt: int
    peak: Decimal
    earlier_turnover: float


def risk_context(
    journal: Journal,
    calendar: TradingCalendar,
    request: RunRequest,
    account: AccountState,
    earlier: EarlierAttempts,
    valuation: Valuation,
) -> RiskContext:
    halt = journal.active_halt(request.account_id)
    since_halt = 0 if halt is None else calendar.sessions_between(halt.triggered_on, request.session)
    resumed = journal.last_resume(request.account_id)
    # A resume starts a new baseline, whether or not a later halt is active now.
    recorded = journal.peak_equity(request.account_id, resumed.date() if resumed else None, request.session)
    peak = max(recorded, account.equity) if recorded is not None else account.equity
    pending_value = sum(
        (
            abs(q) * Decimal(repr(valuation.quotes[t].close))
            for t, q in earlier.pending.items()
            if t in valuation.quotes
        ),
        Decimal(0),
    )
    earlier_turnover = float(pending_value / account.equity) if account.equity > 0 else 0.0
    return RiskContext(
        None if halt is None else HaltState(drawdown_at_trigger=halt.drawdown), since_halt, peak, earlier_turnover
    )


def assess_risk(
    request: RunRequest,
    account: AccountState,
    earlier: EarlierAttempts,
    target: Target,
    choice: StrategyChoice,
    valuation: Valuation,
    context: RiskContext,
    market: SessionMarket,
    settings: FundSettings,
) -> RiskDecision:
    """The target projected onto the hard limits, for the session as a whole: orders of earlier attempts
    still open count as held, and the turnover they used is taken off today's cap."""
    positions = _after_pending(account.positions, earlier.pending)
    tickers = sorted(set(positions) | set(target.portfolio.weights))
    limits = settings.risk
    if context.earlier_turnover > 0:
        left = max(limits.max_daily_turnover - context.earlier_turnover, 1e-9)
        limits = limits.model_copy(update={"max_daily_turnover": left})
    costs = CostModels.from_settings(settings.execution)
    return evaluate_risk(
        RiskInput(
            target=target.portfolio.weights,
            quantities=positions,
            cash=account.cash,
            prices={t: q.close for t, q in valuation.quotes.items()},
            peak_equity=context.peak,
            sectors={t: s for t, s in market.sectors.items() if t in tickers},
            average_daily_volume=market.average_volume(tickers),
            confidence=choice.confidence,
            halt=context.halt,
            sessions_since_halt=context.sessions_since_halt,
            force=request.force,
            cost_rate=float(costs.slippage.bps) / 10_000,
            frozen=valuation.frozen,
        ),
        limits,
    )


def _after_pending(positions: Mapping[str, Decimal], pending: Mapping[str, Decimal]) -> dict[str, Decimal]:
    held = dict(positions)
    for ticker, change in pending.items():
        held[ticker] = max(held.get(ticker, Decimal(0)) + change, Decimal(0))
    return {t: q for t, q in held.items() if q > 0}


def record_halt(
    journal: Journal, request: RunRequest, risk: RiskDecision, equity: Decimal, peak: Decimal, settings: FundSettings
) -> None:
    """Persist a halt the risk step triggered or lifted (a dry run reports it and records nothing)."""
    halt = risk.halt
    if halt is None or not request.mode.sends:
        return
    if halt.event is HaltEvent.TRIGGERED:
        journal.open_halt(
            request.account_id, request.session, halt.drawdown, round_money(equity), round_money(peak), halt.reason
        )
    elif halt.event is HaltEvent.RESUMED:
        journal.resume_halt(
            request.account_id, halt.reason, settings.risk.drawdown_resume, session_close_utc(request.session)
        )


def reason_summary(risk: RiskDecision) -> str:
    notable = [
        r.message for r in risk.reasons if r.severity.value in ("breach", "reject", "adjusted") or r.rule == "approval"
    ]
    return "; ".join(notable[:4]) or "within every limit"


# --- plan ------------------------------------------------------------------------------------------------


def plan_trades(
    risk: RiskDecision,
    account: AccountState,
    earlier: EarlierAttempts,
    valuation: Valuation,
    *,
    fractional: bool,
    settings: FundSettings,
) -> OrderPlan | None:
    """Orders for the adjusted weights (None when the risk step rejected or skipped the rebalance).

    A held name the strategy wants none of is an exit: the planner rounds its paced sale up, so no
    remainder is stranded; frozen names are never traded."""
    if risk.verdict is Verdict.REJECT or risk.skipped:
        return None
    positions = _after_pending(account.positions, earlier.pending)
    weights = {t: w for t, w in risk.adjusted_weights.items() if w > 0}
    exits = {t for t in positions if risk.raw_weights.get(t, 0.0) <= 0}
    prices = valuation.prices
    # With orders of an earlier attempt still open, the cash they will use is not free.
    cash = account.cash - sum((q * prices[t] for t, q in earlier.pending.items() if q > 0 and t in prices), Decimal(0))
    execution = settings.execution
    return plan_orders(
        weights,
        positions,
        max(cash, Decimal(0)),
        {t: p for t, p in prices.items() if t in positions or t in weights},
        fractional=fractional,
        min_order_value=execution.min_order_value,
        cash_buffer=float(execution.cash_buffer),
        exits=exits,
        frozen=valuation.frozen,
    )


def approval_expiry(calendar: TradingCalendar, session: date) -> datetime:
    """The next session's open: a plan priced at one close must not trade after the market moved on."""
    following = calendar.next_session(session)
    if following is None:
        raise FundError(f"the {calendar.exchange} calendar has no session after {session}")
    return session_open_utc(following)
