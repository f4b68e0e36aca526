"""The paper venue's own tables: reading an account's book (open orders, holdings, bars) and writing what a
settlement recorded (fills, the cash journal, position changes, order updates, the marked positions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from trading.brokers.paper.settlement import DayBar, Holding, Ledger
from trading.db.schema import (
    PaperAccount,
    PaperCashEntry,
    PaperFill,
    PaperOrder,
    PaperPosition,
    PaperPositionChange,
    PriceBar,
)
from trading.execution.costs import round_money
from trading.marketdata.calendar import session_open_utc
from trading.marketdata.view import latest_closes
from trading.orders import BrokerOrder, OrderSide, OrderStatus

OPEN_STATUSES = (OrderStatus.SUBMITTED.value, OrderStatus.PARTIALLY_FILLED.value)


@dataclass(frozen=True)
class Marked:
    """A position marked at its ticker's last close on or before a session (the adjusted close for
    an adjusted-only series, `DayBar.mark`)."""

    ticker: str
    quantity: Decimal
    average_price: Decimal
    close: Decimal
    close_date: date
    market_value: Decimal


def open_order_rows(connection: Connection, account_id: str) -> list[Row[Any]]:
    query = (
        select(PaperOrder.__table__)
        .where(PaperOrder.account_id == account_id, PaperOrder.status.in_(OPEN_STATUSES))
        .order_by(PaperOrder.id)
    )
    return list(connection.execute(query).all())


def order_row(
    connection: Connection, account_id: str, *, order_id: str | None = None, client_id: str | None = None
) -> Row[Any] | None:
    query = select(PaperOrder.__table__).where(PaperOrder.account_id == account_id)
    query = query.where(PaperOrder.order_id == order_id) if order_id is not None else query
    query = query.where(PaperOrder.client_order_id == client_id) if client_id is not None else query
    return connection.execute(query).one_or_none()


def broker_order(row: Row[Any]) -> BrokerOrder:
    filled = Decimal(row.filled_quantity)
    return BrokerOrder(
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        ticker=row.ticker,
        side=OrderSide(row.side),
        quantity=Decimal(row.quantity),
        filled_quantity=filled,
        average_fill_price=Decimal(row.average_price) if row.average_price is not None and filled > 0 else None,
        status=OrderStatus(row.status),
        submitted_at=row.submitted_at,
        filled_at=row.filled_at,
        reason=row.reason,
        commission=Decimal(row.commission),
    )


def holdings(connection: Connection, account_id: str, as_of: date) -> dict[str, Holding]:
    """The account's positions, each with its ticker's newest mark on or before `as_of`."""
    query = select(PaperPosition.ticker, PaperPosition.quantity, PaperPosition.avg_price).where(
        PaperPosition.account_id == account_id, PaperPosition.quantity > 0
    )
    held = {ticker: (Decimal(quantity), Decimal(price)) for ticker, quantity, price in connection.execute(query)}
    closes = latest_marks(connection, sorted(held), as_of)
    return {
        ticker: Holding(quantity, price, *closes.get(ticker, (None, None)))
        for ticker, (quantity, price) in held.items()
    }


def day_bars(connection: Connection, tickers: set[str], first: date, last: date) -> dict[tuple[str, date], DayBar]:
    if not tickers:
        return {}
    query = select(
        PriceBar.ticker,
        PriceBar.date,
        PriceBar.open,
        PriceBar.close,
        PriceBar.dividend,
        PriceBar.split_coef,
        PriceBar.adj_close,
    ).where(PriceBar.ticker.in_(sorted(tickers)), PriceBar.date >= first, PriceBar.date <= last)
    return {
        (row.ticker, row.date): DayBar(
            None if row.open is None else Decimal(row.open),
            None if row.close is None else Decimal(row.close),
            Decimal(row.dividend),
            Decimal(row.split_coef),
            None if row.adj_close is None else Decimal(row.adj_close),
        )
        for row in connection.execute(query)
    }


def latest_marks(connection: Connection, tickers: list[str], as_of: date) -> dict[str, tuple[date, Decimal]]:
    """Each ticker's newest (date, mark) on or before `as_of`: the raw close, or the adjusted close of an
    adjusted-only bar (no raw open or close; `DayBar.mark`)."""
    return latest_closes(connection, tickers, as_of, marks=True)


def bar_dates(connection: Connection, ticker: str, first: date, last: date) -> set[date]:
    query = select(PriceBar.date).where(PriceBar.ticker == ticker, PriceBar.date >= first, PriceBar.date <= last)
    return set(connection.execute(query).scalars())


def has_bar(connection: Connection, ticker: str, day: date) -> bool:
    found = connection.execute(select(PriceBar.date).where(PriceBar.ticker == ticker, PriceBar.date == day)).first()
    return found is not None


def has_price_by(connection: Connection, ticker: str, day: date) -> bool:
    found = connection.execute(select(PriceBar.date).where(PriceBar.ticker == ticker, PriceBar.date <= day).limit(1))
    return found.first() is not None


def waiting_sales(connection: Connection, account_id: str, ticker: str) -> Decimal:
    waiting = connection.execute(
        select(func.coalesce(func.sum(PaperOrder.quantity - PaperOrder.filled_quantity), 0)).where(
            PaperOrder.account_id == account_id,
            PaperOrder.ticker == ticker,
            PaperOrder.side == OrderSide.SELL.value,
            PaperOrder.status.in_(OPEN_STATUSES),
        )
    ).scalar_one()
    return Decimal(waiting)


def held_quantity(connection: Connection, account_id: str, ticker: str) -> Decimal:
    held = connection.execute(
        select(PaperPosition.quantity).where(PaperPosition.account_id == account_id, PaperPosition.ticker == ticker)
    ).scalar_one_or_none()
    return Decimal(held or 0)


def insert_order(connection: Connection, values: dict[str, Any]) -> Row[Any]:
    """A new order in the book, with the venue's own id ("paper-<n>")."""
    inserted = connection.execute(insert(PaperOrder).values(order_id=f"pending-{values['client_order_id']}", **values))
    row_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
    connection.execute(update(PaperOrder).where(PaperOrder.id == row_id).values(order_id=f"paper-{row_id}"))
    return connection.execute(select(PaperOrder.__table__).where(PaperOrder.id == row_id)).one()


def cancel_order(connection: Connection, account_id: str, order_id: str, now: datetime) -> None:
    connection.execute(
        update(PaperOrder)
        .where(
            PaperOrder.account_id == account_id, PaperOrder.order_id == order_id, PaperOrder.status.in_(OPEN_STATUSES)
        )
        .values(status=OrderStatus.CANCELED.value, reason="canceled on request", updated_at=now)
    )


def write_settlement(
    connection: Connection,
    account_id: str,
    ledger: Ledger,
    marked: Sequence[Marked],
    *,
    session: date,
    peak: Decimal,
    now: datetime,
) -> None:
    """Everything one settlement recorded, and the account as of `session`'s close."""
    fill_ids = _write_fills(connection, account_id, ledger, now)
    _write_cash_entries(connection, account_id, ledger, fill_ids, now)
    if ledger.position_changes:
        connection.execute(
            insert(PaperPositionChange),
            [
                {
                    "account_id": account_id,
                    "session": change.session,
                    "ticker": change.ticker,
                    "kind": change.kind,
                    "quantity": change.quantity,
                    "split_coef": change.split_coef,
                    "description": change.description,
                    "created_at": now,
                }
                for change in ledger.position_changes
            ],
        )
    _write_order_updates(connection, ledger, now)
    _write_positions(connection, account_id, marked)
    cash = round_money(ledger.cash)
    total = cash + sum((m.market_value for m in marked), Decimal(0))
    connection.execute(
        update(PaperAccount)
        .where(PaperAccount.account_id == account_id)
        .values(
            cash_balance=cash,
            buying_power=cash,
            total_value=total,
            peak_value=max(peak, total),
            settled_through=session,
            updated_at=now,
        )
    )


def _write_fills(connection: Connection, account_id: str, ledger: Ledger, now: datetime) -> list[int]:
    ids = []
    for record in ledger.fills:
        fill = record.fill
        inserted = connection.execute(
            insert(PaperFill).values(
                paper_order_id=record.order_id,
                account_id=account_id,
                ticker=fill.ticker,
                side=fill.side.value,
                session=fill.session,
                quantity=fill.quantity,
                price=fill.price,
                gross=fill.gross,
                commission=fill.commission,
                at_close=fill.flagged_no_open,
                filled_at=session_open_utc(fill.session),
            )
        )
        ids.append(int(inserted.inserted_primary_key[0]))  # type: ignore[index]
    return ids


def _write_cash_entries(
    connection: Connection, account_id: str, ledger: Ledger, fill_ids: list[int], now: datetime
) -> None:
    if not ledger.cash_entries:
        return
    connection.execute(
        insert(PaperCashEntry),
        [
            {
                "account_id": account_id,
                "session": entry.session,
                "kind": entry.kind,
                "amount": entry.amount,
                "ticker": entry.ticker,
                "paper_fill_id": None if entry.fill_index is None else fill_ids[entry.fill_index],
                "description": entry.description,
                "created_at": now,
            }
            for entry in ledger.cash_entries
        ],
    )


def _write_order_updates(connection: Connection, ledger: Ledger, now: datetime) -> None:
    for order_id, change in ledger.order_updates.items():
        values: dict[str, Any] = {"status": change.status.value, "reason": change.reason, "updated_at": now}
        if change.quantity is not None:
            values["quantity"] = change.quantity  # differs from the order's only after a split adjustment
        if change.fill_index is not None:
            fill = ledger.fills[change.fill_index].fill
            values |= {
                "filled_quantity": fill.quantity,
                "average_price": fill.price,
                "commission": fill.commission,
                "filled_at": session_open_utc(fill.session),
            }
        connection.execute(update(PaperOrder).where(PaperOrder.id == order_id).values(values))


def _write_positions(connection: Connection, account_id: str, marked: Sequence[Marked]) -> None:
    connection.execute(delete(PaperPosition).where(PaperPosition.account_id == account_id))
    if marked:
        connection.execute(
            insert(PaperPosition),
            [
                {
                    "account_id": account_id,
                    "ticker": m.ticker,
                    "quantity": m.quantity,
                    "avg_price": m.average_price,
                    "market_value": m.market_value,
                }
                for m in marked
            ],
        )
