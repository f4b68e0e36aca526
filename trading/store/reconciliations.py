"""The reconciliations of live brokers' accounts with the ledger: the baseline a check starts from, the
fund's orders it expects fills from, the splits that explain a position, and the record of each check."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from trading.db.schema import BrokerReconciliation, PriceBar, RebalancingLog, TradeExecution
from trading.orders import OrderSide
from trading.reconciliation import Baseline, LedgerOrder, Reconciliation
from trading.store import Bind, connection_for

FINAL = frozenset({"filled", "canceled", "rejected", "expired"})


def latest_baseline(bind: Bind, account_id: str, mode: str) -> Baseline | None:
    """The account's last reconciliation in `mode` that did not stop, or None before the first."""
    query = (
        select(BrokerReconciliation)
        .where(
            BrokerReconciliation.account_id == account_id,
            BrokerReconciliation.mode == mode,
            BrokerReconciliation.outcome != "stopped",
        )
        .order_by(BrokerReconciliation.checked_at.desc(), BrokerReconciliation.id.desc())
        .limit(1)
    )
    with connection_for(bind) as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        return None
    return Baseline(
        session=row["session"],
        checked_at=row["checked_at"],
        last_order_row=row["last_order_row"],
        cash=Decimal(row["cash"]),
        positions={t: Decimal(q) for t, q in row["positions"].items()},
        order_fills={c: Decimal(q) for c, q in row["order_fills"].items()},
        acknowledged_orders=frozenset(row["acknowledged_orders"]),
    )


def ledger_orders(bind: Bind, account_id: str, mode: str, broker: str) -> list[LedgerOrder]:
    """The fund's orders of this account, mode and broker, sent or not, oldest first."""
    query = (
        select(
            TradeExecution.id,
            TradeExecution.client_order_id,
            TradeExecution.ticker,
            TradeExecution.side,
            TradeExecution.filled_quantity,
            TradeExecution.price,
            TradeExecution.commission,
            TradeExecution.status,
        )
        .join(RebalancingLog, RebalancingLog.id == TradeExecution.rebalance_id)
        .where(
            TradeExecution.account_id == account_id,
            TradeExecution.broker == broker,
            RebalancingLog.mode == mode,
        )
        .order_by(TradeExecution.id)
    )
    with connection_for(bind) as connection:
        rows = connection.execute(query).all()
    return [
        LedgerOrder(
            row_id=row_id,
            client_order_id=cid,
            ticker=ticker,
            side=OrderSide(side),
            filled_quantity=Decimal(filled or 0),
            price=None if price is None else Decimal(price),
            commission=None if commission is None else Decimal(commission),
            final=status in FINAL,
        )
        for row_id, cid, ticker, side, filled, price, commission, status in rows
    ]


def split_factors(bind: Bind, tickers: Iterable[str], *, after: date, through: date) -> dict[str, tuple[Decimal, str]]:
    """Each ticker's product of split coefficients on sessions in (after, through], and a description."""
    names = sorted(set(tickers))
    if not names:
        return {}
    query = (
        select(PriceBar.ticker, PriceBar.date, PriceBar.split_coef)
        .where(PriceBar.ticker.in_(names), PriceBar.date > after, PriceBar.date <= through, PriceBar.split_coef != 1)
        .order_by(PriceBar.ticker, PriceBar.date)
    )
    factors: dict[str, tuple[Decimal, str]] = {}
    with connection_for(bind) as connection:
        for ticker, day, coefficient in connection.execute(query):
            factor, described = factors.get(ticker, (Decimal(1), ""))
            step = f"{Decimal(coefficient).normalize():f}:1 on {day}"
            factors[ticker] = (factor * Decimal(coefficient), f"{described}, {step}" if described else step)
    return factors


def record_reconciliation(
    bind: Bind,
    result: Reconciliation,
    *,
    broker: str,
    mode: str,
    session: date,
    checked_at: datetime,
    accepted_by: str | None = None,
    reason: str | None = None,
    acknowledge_unknown_orders: bool = False,
) -> int:
    """Write one check (or, with `accepted_by` and `reason`, a person's acceptance of the broker's state)."""
    acknowledged = set(result.acknowledged_orders)
    if acknowledge_unknown_orders:
        acknowledged |= set(result.unknown_orders)
    values: dict[str, Any] = {
        "account_id": result.account_id,
        "broker": broker,
        "mode": mode,
        "session": session,
        "checked_at": checked_at,
        "outcome": "accepted" if accepted_by else result.outcome,
        "cash": result.state.cash,
        "equity": result.state.equity,
        "positions": {t: str(q) for t, q in sorted(result.state.positions.items())},
        "order_fills": {c: str(q) for c, q in sorted(result.order_fills.items())},
        "last_order_row": result.last_order_row,
        "acknowledged_orders": sorted(acknowledged),
        "differences": [d.as_json() for d in result.differences],
        "accepted_by": accepted_by,
        "reason": reason,
    }
    with connection_for(bind) as connection:
        inserted = connection.execute(insert(BrokerReconciliation).values(values).returning(BrokerReconciliation.id))
        return int(inserted.scalar_one())


def recent_reconciliations(bind: Bind, account_id: str, limit: int = 5) -> list[dict[str, Any]]:
    query = (
        select(
            BrokerReconciliation.id,
            BrokerReconciliation.mode,
            BrokerReconciliation.checked_at,
            BrokerReconciliation.outcome,
            BrokerReconciliation.accepted_by,
            BrokerReconciliation.reason,
        )
        .where(BrokerReconciliation.account_id == account_id)
        .order_by(BrokerReconciliation.checked_at.desc(), BrokerReconciliation.id.desc())
        .limit(limit)
    )
    with connection_for(bind) as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
