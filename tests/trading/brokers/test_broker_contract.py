"""One contract every broker passes: the database paper venue (on both databases) and Alpaca (the real
alpaca-py against a local fake server, tests/fakes/alpaca_server.py). The daily run relies on exactly
these answers: a submit, its look-ups by broker id and client id, a cancel, positions, the account, a
repeated submit that finds the first order, refusals, and fills read back after the venue worked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.fakes.alpaca_server import FakeAlpaca
from tests.fakes.schwab_api import FakeSchwab
from tests.fakes.schwab_tokens import write_token
from tests.trading.brokers.test_paper_venue import DAYS, load, venue
from trading.brokers.alpaca import AlpacaBroker, trading_client
from trading.brokers.base import Broker
from trading.brokers.schwab import OrderThrottle, SchwabBroker, TokenFile, schwab_client
from trading.errors import OrderNotFound, OrderRejected
from trading.orders import OrderRequest, OrderSide, OrderStatus, deterministic_client_order_id
from trading.settings import BrokerCredentials
from trading.store.accounts import create_paper_account

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
ACCOUNT = "CONTRACT"


@dataclass
class Harness:
    """A broker and the hands that move its venue: `work()` lets it fill every open order, as the
    next session's open does."""

    broker: Broker
    work: Callable[[], None]
    partial_fill: Callable[[str, Decimal], None] | None
    session: date

    def request(self, side: OrderSide, ticker: str, quantity: str, attempt: int = 0) -> OrderRequest:
        client_id = deterministic_client_order_id(
            ACCOUNT, self.session, ticker, side, attempt, broker=self.broker.name, mode="paper"
        )
        return OrderRequest(client_id, ticker, side, D(quantity))


def paper_harness(engine: Engine, folder: Path) -> Harness:
    load(engine, folder)
    create_paper_account(engine, ACCOUNT, D("10000"))
    at = venue(engine, ACCOUNT)
    at.sync(DAYS[0])
    state = {"venue": at}

    class Moving:
        """The venue of the current session: `work` moves it one session on, re-opening it as the next run would."""

        def __getattr__(self, name: str) -> object:
            return getattr(state["venue"], name)

    def work() -> None:
        after = venue(engine, ACCOUNT)
        after.sync(DAYS[1])
        state["venue"] = after

    return Harness(Moving(), work, None, DAYS[0])  # type: ignore[arg-type]


def alpaca_harness(fake: FakeAlpaca) -> Harness:
    fake.set_price("AAA", "101")
    fake.set_price("BBB", "51")
    credentials = BrokerCredentials(
        alpaca_api_key="test-key", alpaca_secret_key="test-secret", alpaca_trading_url=fake.url, timeout_seconds=5
    )
    broker = AlpacaBroker(trading_client(credentials, paper=True), ACCOUNT, external_account="PA0000TEST")

    def partial(order_id: str, quantity: Decimal) -> None:
        fake.fill(order_id, qty=quantity)

    return Harness(broker, fake.fill_all_open, partial, DAYS[0])


def schwab_harness(engine: Engine, folder: Path, fake: FakeSchwab) -> Harness:
    fake.positions.clear()
    credentials = BrokerCredentials(schwab_api_key="app-key", schwab_app_secret="app-secret", timeout_seconds=5)
    tokens = TokenFile(write_token(folder / "token.json", fake))
    client = schwab_client(credentials, tokens, transport=fake.transport())
    broker = SchwabBroker(client, engine, ACCOUNT, fake.account_number, tokens=tokens, throttle=OrderThrottle(120))

    def partial(order_id: str, quantity: Decimal) -> None:
        fake.fill(int(order_id), quantity, price="101")

    return Harness(broker, lambda: fake.fill_all_open(price="101"), partial, DAYS[0])


@pytest.fixture(params=["paper", "alpaca", "schwab"])
def harness(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> Iterator[Harness]:
    """Each broker; the paper venue and Schwab's order intents on each database (Alpaca's case runs beside
    each, touching neither)."""
    if request.param == "paper":
        yield paper_harness(engine, tmp_path)
        return
    if request.param == "schwab":
        yield schwab_harness(engine, tmp_path, FakeSchwab(cash="10000"))
        return
    with FakeAlpaca(cash="10000") as fake:
        yield alpaca_harness(fake)


def test_a_submitted_order_is_found_by_its_id_by_its_client_id_and_among_the_open_orders(harness: Harness) -> None:
    request = harness.request(BUY, "AAA", "10")
    sent = harness.broker.submit(request)
    assert (sent.client_order_id, sent.ticker, sent.side, sent.quantity) == (request.client_order_id, "AAA", BUY, 10)
    assert sent.status is OrderStatus.SUBMITTED
    assert harness.broker.get_order(sent.order_id).client_order_id == request.client_order_id
    found = harness.broker.find_by_client_order_id(request.client_order_id)
    assert found is not None
    assert found.order_id == sent.order_id
    assert [o.order_id for o in harness.broker.open_orders()] == [sent.order_id]
    assert harness.broker.find_by_client_order_id(harness.request(BUY, "AAA", "10", attempt=1).client_order_id) is None


def test_a_filled_order_moves_cash_into_the_position_and_reports_its_price(harness: Harness) -> None:
    before = harness.broker.account()
    sent = harness.broker.submit(harness.request(BUY, "AAA", "10"))
    harness.work()
    filled = harness.broker.get_order(sent.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_quantity == 10
    assert filled.average_fill_price is not None
    assert D(100) < filled.average_fill_price < D(102)
    positions = {p.ticker: p for p in harness.broker.positions()}
    assert positions["AAA"].quantity == 10
    after = harness.broker.account()
    assert after.cash <= before.cash - 10 * filled.average_fill_price
    assert harness.broker.open_orders() == []


def test_a_repeated_submit_under_the_same_client_id_answers_the_first_order(harness: Harness) -> None:
    request = harness.request(BUY, "BBB", "5")
    first = harness.broker.submit(request)
    again = harness.broker.submit(request)
    assert again.order_id == first.order_id
    assert len(harness.broker.open_orders()) == 1


def test_a_canceled_order_is_read_back_canceled_and_leaves_the_open_orders(harness: Harness) -> None:
    sent = harness.broker.submit(harness.request(BUY, "AAA", "3"))
    harness.broker.cancel(sent.order_id)
    assert harness.broker.get_order(sent.order_id).status is OrderStatus.CANCELED
    assert harness.broker.open_orders() == []


def test_an_unknown_order_id_is_order_not_found(harness: Harness) -> None:
    unknown = "paper-999999" if harness.broker.name == "paper" else "7f1e2d3c-0000-4000-8000-000000000000"
    with pytest.raises(OrderNotFound):
        harness.broker.get_order(unknown)


def test_selling_more_than_is_held_is_refused_with_the_reason(harness: Harness) -> None:
    with pytest.raises(OrderRejected, match=r"AAA|held|short|available"):
        harness.broker.submit(harness.request(SELL, "AAA", "5"))
    assert harness.broker.open_orders() == []


def test_a_partial_fill_reports_the_cumulative_quantity_and_average_price(harness: Harness) -> None:
    if harness.partial_fill is None:
        pytest.skip(f"the {harness.broker.name} venue fills whole orders at the next open")
    sent = harness.broker.submit(harness.request(BUY, "AAA", "10"))
    harness.partial_fill(sent.order_id, D(4))
    part = harness.broker.get_order(sent.order_id)
    assert (part.status, part.filled_quantity, part.average_fill_price) == (OrderStatus.PARTIALLY_FILLED, 4, 101)
    assert not part.status.is_final
    harness.partial_fill(sent.order_id, D(6))
    whole = harness.broker.get_order(sent.order_id)
    assert (whole.status, whole.filled_quantity) == (OrderStatus.FILLED, 10)
