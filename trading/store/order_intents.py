"""Order intents of brokers without client order ids (Schwab): written before the send, completed with the
broker's order id after it, and read back to match a send that was never recorded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select, update

from trading.db.schema import BrokerOrderIntent
from trading.orders import OrderSide
from trading.store import Bind, connection_for


@dataclass(frozen=True)
class OrderIntent:
    client_order_id: str
    account_id: str
    broker: str
    ticker: str
    side: OrderSide
    quantity: Decimal
    order_type: str
    sent_at: datetime
    order_id: str | None


_COLUMNS = select(
    BrokerOrderIntent.client_order_id,
    BrokerOrderIntent.account_id,
    BrokerOrderIntent.broker,
    BrokerOrderIntent.ticker,
    BrokerOrderIntent.side,
    BrokerOrderIntent.quantity,
    BrokerOrderIntent.order_type,
    BrokerOrderIntent.sent_at,
    BrokerOrderIntent.order_id,
)


def _intent(row: tuple[object, ...]) -> OrderIntent:
    cid, account, broker, ticker, side, quantity, kind, sent_at, order_id = row
    assert isinstance(sent_at, datetime)
    return OrderIntent(
        str(cid), str(account), str(broker), str(ticker), OrderSide(str(side)), Decimal(str(quantity)), str(kind),
        sent_at, None if order_id is None else str(order_id),
    )  # fmt: skip


def record_intent(bind: Bind, intent: OrderIntent) -> None:
    """Write the intent before the send; sending the same client id again refreshes its send time."""
    with connection_for(bind) as connection:
        exists = connection.execute(
            select(BrokerOrderIntent.client_order_id).where(BrokerOrderIntent.client_order_id == intent.client_order_id)
        ).first()
        if exists:
            connection.execute(
                update(BrokerOrderIntent)
                .where(BrokerOrderIntent.client_order_id == intent.client_order_id)
                .values(sent_at=intent.sent_at)
            )
            return
        connection.execute(
            insert(BrokerOrderIntent).values(
                client_order_id=intent.client_order_id,
                account_id=intent.account_id,
                broker=intent.broker,
                ticker=intent.ticker,
                side=intent.side.value,
                quantity=intent.quantity,
                order_type=intent.order_type,
                sent_at=intent.sent_at,
                order_id=intent.order_id,
            )
        )


def set_intent_order_id(bind: Bind, client_order_id: str, order_id: str) -> None:
    with connection_for(bind) as connection:
        connection.execute(
            update(BrokerOrderIntent)
            .where(BrokerOrderIntent.client_order_id == client_order_id)
            .values(order_id=order_id)
        )


def intent(bind: Bind, client_order_id: str) -> OrderIntent | None:
    with connection_for(bind) as connection:
        row = connection.execute(_COLUMNS.where(BrokerOrderIntent.client_order_id == client_order_id)).first()
    return None if row is None else _intent(tuple(row))


def recent_intents(bind: Bind, account_id: str, broker: str, since: datetime) -> list[OrderIntent]:
    """The account's intents sent at or after `since`: the only ones whose orders may still be working."""
    with connection_for(bind) as connection:
        rows = connection.execute(
            _COLUMNS.where(
                BrokerOrderIntent.account_id == account_id,
                BrokerOrderIntent.broker == broker,
                BrokerOrderIntent.sent_at >= since,
            )
        ).all()
    return [_intent(tuple(row)) for row in rows]


def client_ids_of_orders(bind: Bind, broker: str, order_ids: Iterable[str]) -> dict[str, str]:
    """The client order id of each of the broker's orders that an intent was recorded or matched to."""
    wanted = sorted(set(order_ids))
    if not wanted:
        return {}
    query = select(BrokerOrderIntent.order_id, BrokerOrderIntent.client_order_id).where(
        BrokerOrderIntent.broker == broker, BrokerOrderIntent.order_id.in_(wanted)
    )
    with connection_for(bind) as connection:
        return {str(order_id): str(cid) for order_id, cid in connection.execute(query)}
