"""Reconciliation of a live broker's account with the fund's ledger, before a run trades it.

The fund expects the broker to hold what it held at the last reconciliation that did not stop (the
baseline), changed only by the fills of the fund's own orders since. Every difference from that is
either explained, and recorded, or stops the run before anything is sent:

- a position that differs by a split recorded in the bars since the baseline: explained (the broker
  applied it; a fraction it paid out as cash in lieu is allowed for);
- cash that differs by no more than the tolerance (dividends, interest, fees, a fill's rounding):
  explained;
- a position nobody ordered, a position gone, cash moved beyond the tolerance (a deposit, a
  withdrawal), an open order the fund did not place: unexplained. Only a person can say what it was:
  `fund accounts reconcile ACCOUNT --accept --by NAME --reason TEXT` records the broker's state as the
  new baseline. Open orders the fund did not place are reported, never canceled.

The comparison (`compare`) is pure; `reconcile_account` reads the broker and the database around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from sqlalchemy import Engine

from trading.brokers.base import Broker, call_with_retry
from trading.errors import FundError
from trading.orders import BrokerOrder, OrderSide

logger = logging.getLogger(__name__)

Outcome = Literal["matched", "explained", "stopped", "accepted"]
DifferenceKind = Literal["position", "cash", "unknown_order", "baseline"]
# Quantities closer than this are equal: brokers report up to nine decimals.
QUANTITY_EPSILON = Decimal("0.000001")


class ReconciliationStopped(FundError):
    """The broker's account differs from the ledger in a way nobody can explain: nothing may be sent."""


@dataclass(frozen=True)
class Baseline:
    """The broker's state at the last reconciliation that did not stop."""

    session: date
    checked_at: datetime
    cash: Decimal
    positions: Mapping[str, Decimal]
    # The ledger's orders then: every row up to `last_order_row` was known, and those still working had
    # filled `order_fills` (client order id -> quantity). Row ids, not times: a broker's clock and its
    # timestamps' precision never decide what counts.
    last_order_row: int
    order_fills: Mapping[str, Decimal]
    acknowledged_orders: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LedgerOrder:
    """One of the fund's orders as its ledger records it (trade_executions), sent or not."""

    row_id: int
    client_order_id: str
    ticker: str
    side: OrderSide
    filled_quantity: Decimal
    price: Decimal | None
    commission: Decimal | None
    final: bool


@dataclass(frozen=True)
class BrokerState:
    cash: Decimal
    equity: Decimal
    positions: Mapping[str, Decimal]
    open_orders: Sequence[BrokerOrder]


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    ticker: str | None
    fund: Decimal | None  # what the ledger expects
    broker: Decimal | None  # what the broker holds
    explanation: str | None  # None: nobody can explain it

    @property
    def explained(self) -> bool:
        return self.explanation is not None

    def as_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "ticker": self.ticker,
            "fund": None if self.fund is None else str(self.fund),
            "broker": None if self.broker is None else str(self.broker),
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class Reconciliation:
    account_id: str
    state: BrokerState
    differences: tuple[Difference, ...]
    order_fills: Mapping[str, Decimal]  # of the fund's orders still working: the next baseline's
    last_order_row: int  # the ledger's newest order row at the check: the next baseline's
    acknowledged_orders: frozenset[str] = field(default_factory=frozenset)
    unknown_orders: tuple[str, ...] = ()  # broker ids of open orders the fund did not place

    @property
    def unexplained(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if not d.explained)

    @property
    def outcome(self) -> Outcome:
        if self.unexplained:
            return "stopped"
        return "explained" if self.differences else "matched"

    def table(self) -> str:
        """The differences, unexplained first, one per line, for a person."""
        if not self.differences:
            return f"{self.account_id}: the broker's positions, cash and open orders match the ledger"
        lines = [f"{'kind':<14} {'ticker':<8} {'ledger':>16} {'broker':>16}  explanation"]
        for d in sorted(self.differences, key=lambda d: (d.explained, d.kind, d.ticker or "")):
            fund = "-" if d.fund is None else f"{d.fund.normalize():f}"
            broker = "-" if d.broker is None else f"{d.broker.normalize():f}"
            why = d.explanation or "UNEXPLAINED"
            lines.append(f"{d.kind:<14} {d.ticker or '-':<8} {fund:>16} {broker:>16}  {why}")
        return "\n".join(lines)


def expected_holdings(baseline: Baseline, orders: Sequence[LedgerOrder]) -> tuple[dict[str, Decimal], Decimal]:
    """Positions and cash the broker should hold: the baseline moved by the fund's fills since."""
    positions = dict(baseline.positions)
    cash = baseline.cash
    for order in orders:
        if order.row_id > baseline.last_order_row:
            before = Decimal(0)  # planned after the baseline
        else:
            # Working then: what it filled since; final then: already in the baseline's positions.
            before = baseline.order_fills.get(order.client_order_id, order.filled_quantity)
        change = order.filled_quantity - before
        if not change:
            continue
        sign = 1 if order.side is OrderSide.BUY else -1
        positions[order.ticker] = positions.get(order.ticker, Decimal(0)) + sign * change
        cash -= sign * change * (order.price or Decimal(0))
        if order.commission and before == 0:
            cash -= order.commission
    return {t: q for t, q in positions.items() if abs(q) > QUANTITY_EPSILON}, cash


def compare(
    account_id: str,
    baseline: Baseline | None,
    orders: Sequence[LedgerOrder],
    state: BrokerState,
    *,
    split_factor: Callable[[str], tuple[Decimal, str]],
    cash_tolerance: Decimal,
) -> Reconciliation:
    """The differences between the broker's state and what the ledger expects of it.

    `split_factor(ticker)` gives the product of the ticker's split coefficients since the baseline and
    a description ('2:1 on 2024-06-10'); `cash_tolerance` is the largest cash difference explained as
    dividends, interest, fees and rounding.
    """
    known = {o.client_order_id for o in orders}
    working = {o.client_order_id: o.filled_quantity for o in orders if not o.final}
    last_row = max((o.row_id for o in orders), default=baseline.last_order_row if baseline else 0)
    differences: list[Difference] = []
    acknowledged = baseline.acknowledged_orders if baseline else frozenset()
    unknown: list[str] = []
    for order in state.open_orders:
        if order.client_order_id in known or order.order_id in acknowledged:
            continue
        unknown.append(order.order_id)
        differences.append(
            Difference(
                "unknown_order",
                order.ticker,
                None,
                order.quantity if order.side is OrderSide.BUY else -order.quantity,
                None,
            )
        )
    if baseline is None:
        differences.extend(_first_check(state))
        return Reconciliation(account_id, state, tuple(differences), working, last_row, acknowledged, tuple(unknown))
    expected, cash = expected_holdings(baseline, orders)
    for ticker in sorted(set(expected) | set(state.positions)):
        fund, broker = expected.get(ticker, Decimal(0)), state.positions.get(ticker, Decimal(0))
        if abs(fund - broker) <= QUANTITY_EPSILON:
            continue
        factor, described = split_factor(ticker)
        split = fund * factor
        explained = factor != 1 and (
            abs(split - broker) <= QUANTITY_EPSILON or split.to_integral_value(rounding=ROUND_DOWN) == broker
        )
        why = f"split {described} since the last reconciliation" if explained else None
        differences.append(Difference("position", ticker, fund, broker, why))
    if abs(state.cash - cash) > QUANTITY_EPSILON:
        gap = state.cash - cash
        why = (
            f"{gap:+,.2f} within the tolerance of {cash_tolerance:,.2f} (dividends, interest, fees, rounding)"
            if abs(gap) <= cash_tolerance
            else None
        )
        differences.append(Difference("cash", None, cash.quantize(Decimal("0.01")), state.cash, why))
    return Reconciliation(account_id, state, tuple(differences), working, last_row, acknowledged, tuple(unknown))


def _first_check(state: BrokerState) -> list[Difference]:
    """No baseline yet: an account holding only cash becomes it; positions need a person's word."""
    held = {t: q for t, q in state.positions.items() if q}
    if not held:
        return [Difference("baseline", None, None, state.cash, "first reconciliation: the account holds only cash")]
    return [Difference("position", t, Decimal(0), q, None) for t, q in sorted(held.items())]


def broker_state(broker: Broker) -> BrokerState:
    """The broker's account, positions and open orders, read through the fund's retry path."""
    snapshot = call_with_retry(broker.account, idempotent=True, what="account snapshot")
    positions = call_with_retry(broker.positions, idempotent=True, what="positions")
    open_orders = call_with_retry(broker.open_orders, idempotent=True, what="open orders")
    return BrokerState(
        snapshot.cash,
        snapshot.equity,
        {p.ticker: p.quantity for p in positions if p.quantity},
        tuple(open_orders),
    )


def reconcile_account(
    engine: Engine,
    broker: Broker,
    account_id: str,
    mode: str,
    session: date,
    *,
    cash_tolerance: Decimal,
    now: datetime,
    record: bool = True,
) -> Reconciliation:
    """Compare the broker's account with the ledger for `mode`, record the outcome (unless `record` is
    false) and return it. The caller decides what a stop means (the run raises ReconciliationStopped).

    `cash_tolerance` is a fraction of the account's equity (never less than 1.00)."""
    from trading.store import reconciliations as store

    baseline = store.latest_baseline(engine, account_id, mode)
    orders = store.ledger_orders(engine, account_id, mode, broker.name)
    state = broker_state(broker)
    since = baseline.session if baseline else session
    tickers = set(state.positions) | {o.ticker for o in orders} | set(baseline.positions if baseline else ())
    splits = store.split_factors(engine, tickers, after=since, through=session)
    result = compare(
        account_id,
        baseline,
        orders,
        state,
        split_factor=lambda ticker: splits.get(ticker, (Decimal(1), "")),
        cash_tolerance=max(Decimal(1), cash_tolerance * state.equity),
    )
    if record:
        store.record_reconciliation(engine, result, broker=broker.name, mode=mode, session=session, checked_at=now)
    log = logger.warning if result.outcome == "stopped" else logger.info
    log("reconciliation of %s (%s, %s): %s", account_id, broker.name, mode, result.outcome)
    return result
