"""A broker seen through a dry run: every read passes, every change is refused. A live broker in a dry
run is wrapped in this, so that no code path of the run (or a later bug in one) can send or cancel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from trading.brokers.base import Broker, BrokerCapabilities, SyncReport
from trading.errors import BrokerError
from trading.orders import AccountSnapshot, BrokerOrder, BrokerPosition, OrderRequest


class ReadOnlyBroker(BrokerError):
    """A dry run's broker was asked to send or cancel an order."""


class DryRunBroker:
    """`broker`, read-only."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    @property
    def name(self) -> str:
        return self._broker.name

    @property
    def capabilities(self) -> BrokerCapabilities:
        return self._broker.capabilities

    def sync(self, session: date) -> SyncReport:
        return self._broker.sync(session)

    def account(self) -> AccountSnapshot:
        return self._broker.account()

    def positions(self) -> Sequence[BrokerPosition]:
        return self._broker.positions()

    def submit(self, request: OrderRequest) -> BrokerOrder:
        raise ReadOnlyBroker(f"a dry run sends nothing: refused {request.side} {request.quantity} {request.ticker}")

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._broker.get_order(order_id)

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        return self._broker.find_by_client_order_id(client_order_id)

    def cancel(self, order_id: str) -> None:
        raise ReadOnlyBroker(f"a dry run cancels nothing: refused to cancel {order_id}")

    def open_orders(self) -> Sequence[BrokerOrder]:
        return self._broker.open_orders()
