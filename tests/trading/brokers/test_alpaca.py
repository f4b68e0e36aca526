"""Alpaca beyond the shared contract: what goes over the wire, the faults a network gives (through the
fund's one retry path, with alpaca-py's own retries off), refusals, keys, and the account checks.
The real alpaca-py runs against a local fake server (tests/fakes/alpaca_server.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.fakes.alpaca_server import FakeAlpaca
from trading.brokers.alpaca import AlpacaBroker, AuthenticationFailed, trading_client
from trading.brokers.base import RetryPolicy, VenueEventKind, call_with_retry, submit_with_retry
from trading.errors import (
    BrokerError,
    BrokerUnavailable,
    ConfigurationError,
    InsufficientFunds,
    OrderRejected,
    RetryableBrokerError,
)
from trading.orders import OrderRequest, OrderSide, OrderStatus
from trading.settings import BrokerCredentials

D = Decimal
NO_WAIT = RetryPolicy(max_attempts=4, first_delay=0.0, max_delay=0.0)
SECRET = "test-secret"


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash="10000") as server:
        server.set_price("AAA", "100")
        yield server


def credentials(fake: FakeAlpaca, **changes: object) -> BrokerCredentials:
    values: dict[str, object] = {
        "alpaca_api_key": "test-key",
        "alpaca_secret_key": SECRET,
        "alpaca_trading_url": fake.url,
        "timeout_seconds": 1.0,
    }
    return BrokerCredentials.model_validate(values | changes)


def broker(fake: FakeAlpaca, external_account: str | None = "PA0000TEST", **changes: object) -> AlpacaBroker:
    return AlpacaBroker(
        trading_client(credentials(fake, **changes), paper=True), "FUND", external_account=external_account
    )


def buy(quantity: str, ticker: str = "AAA", client_id: str = "af-p20261204-b-AAA-0123456789abcdef") -> OrderRequest:
    return OrderRequest(client_id, ticker, OrderSide.BUY, D(quantity))


def posts(fake: FakeAlpaca) -> list[dict[str, object]]:
    return [r.body for r in fake.request_log if r.method == "POST" and isinstance(r.body, dict)]


def no_sleep(_seconds: float) -> None:
    return None


def test_the_fund_sends_a_market_day_order_with_its_client_id(fake: FakeAlpaca) -> None:
    sent = broker(fake).submit(buy("10"))
    (body,) = posts(fake)
    assert body["type"] == "market"
    assert body["time_in_force"] == "day"
    assert body["client_order_id"] == "af-p20261204-b-AAA-0123456789abcdef"
    assert D(str(body["qty"])) == 10
    assert "notional" not in body or body["notional"] is None
    assert sent.status is OrderStatus.SUBMITTED


def test_a_fraction_of_a_fractionable_asset_is_sent_as_is(fake: FakeAlpaca) -> None:
    broker(fake).submit(buy("2.5"))
    assert D(str(posts(fake)[0]["qty"])) == D("2.5")


def test_a_fraction_of_an_asset_alpaca_cannot_split_is_sent_in_whole_shares(
    fake: FakeAlpaca, caplog: pytest.LogCaptureFixture
) -> None:
    fake.set_asset("AAA", fractionable=False)
    with caplog.at_level(logging.WARNING):
        sent = broker(fake).submit(buy("2.5"))
    assert sent.quantity == 2
    assert D(str(posts(fake)[0]["qty"])) == 2
    assert "not fractionable" in caplog.text
    with pytest.raises(OrderRejected, match="below one share"):
        broker(fake).submit(buy("0.5", client_id="af-other"))


def test_an_asset_alpaca_does_not_know_or_will_not_trade_is_refused(fake: FakeAlpaca) -> None:
    fake.remove_asset("ZZZ")
    with pytest.raises(OrderRejected, match="does not know the asset ZZZ"):
        broker(fake).submit(buy("1", ticker="ZZZ"))
    fake.set_asset("HALT", tradable=False)
    with pytest.raises(OrderRejected, match="HALT is not tradable"):
        broker(fake).submit(buy("1", ticker="HALT"))
    assert fake.order_posts == 0


def test_a_buy_beyond_the_buying_power_is_insufficient_funds(fake: FakeAlpaca) -> None:
    with pytest.raises(InsufficientFunds, match="buying power"):
        broker(fake).submit(buy("1000"))


def test_a_submit_accepted_then_lost_to_a_504_is_found_by_its_client_id_not_sent_twice(fake: FakeAlpaca) -> None:
    fake.fail_next_order_posts(("after_create", 504))
    at = broker(fake)
    with pytest.raises(RetryableBrokerError, match="HTTP 504"):
        at.submit(buy("3"))
    assert fake.order_posts == 1, "alpaca-py's own retry loop is off: the fund's retry path decides"
    answer = submit_with_retry(at, buy("3"), policy=NO_WAIT, sleep=no_sleep)
    assert fake.order_posts == 2
    assert len(fake.orders()) == 1
    assert answer.order_id == fake.orders()[0]["id"]


@pytest.mark.parametrize(
    "fault",
    [("status", 429), ("status", 500), ("status", 503), ("drop",), ("drop_after_create",), ("delay", 1.5)],
    ids=["429", "500", "503-html", "dropped", "dropped-after-create", "timeout"],
)
def test_a_transient_fault_on_submit_is_retried_with_the_same_client_id_and_makes_one_order(
    fake: FakeAlpaca, fault: tuple[object, ...]
) -> None:
    fake.fail_next_order_posts(fault)
    answer = submit_with_retry(broker(fake), buy("3"), policy=NO_WAIT, sleep=no_sleep)
    assert len(fake.orders()) == 1
    assert answer.order_id == fake.orders()[0]["id"]
    assert {p["client_order_id"] for p in posts(fake)} == {"af-p20261204-b-AAA-0123456789abcdef"}


def test_a_gateways_html_page_reads_as_a_short_retryable_error(fake: FakeAlpaca) -> None:
    fake.fail_next("GET", "/v2/account", 502)
    with pytest.raises(RetryableBrokerError, match=r"HTTP 502: <html>"):
        broker(fake).account()


def test_reads_are_retried_through_the_funds_path_with_its_backoff(fake: FakeAlpaca) -> None:
    fake.fail_next("GET", "/v2/positions", 429, count=2)
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=4, first_delay=0.25, multiplier=2.0, max_delay=10.0)
    at = broker(fake)
    assert call_with_retry(at.positions, idempotent=True, what="positions", policy=policy, sleep=waits.append) == []
    assert waits == [0.25, 0.5]
    assert [path for method, path in fake.requests if path == "/v2/positions"] == ["/v2/positions"] * 3


def test_a_server_that_cannot_be_reached_is_unavailable_and_retryable(fake: FakeAlpaca) -> None:
    at = broker(fake)
    fake.stop()
    with pytest.raises(BrokerUnavailable, match="could not reach"):
        at.account()


def test_bad_keys_are_a_fatal_error_that_names_the_settings_and_never_the_secret(
    fake: FakeAlpaca, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationFailed) as refused:
        call_with_retry(broker(fake, alpaca_secret_key="wrong-secret").account, idempotent=True, what="account")
    assert not isinstance(refused.value, RetryableBrokerError)
    assert "FUND_BROKERS__ALPACA_API_KEY" in str(refused.value)
    assert "wrong-secret" not in str(refused.value) + caplog.text
    assert [path for _m, path in fake.requests] == ["/v2/account"], "a refusal of the keys is not retried"


def test_missing_keys_are_a_configuration_error_before_any_call(fake: FakeAlpaca) -> None:
    with pytest.raises(ConfigurationError, match="FUND_BROKERS__ALPACA_API_KEY"):
        trading_client(BrokerCredentials(alpaca_trading_url=fake.url), paper=True)
    assert fake.requests == []


def test_keys_that_reach_another_account_stop_the_sync(fake: FakeAlpaca) -> None:
    with pytest.raises(BrokerError, match="reach account PA0000TEST, but FUND is linked to PA9999"):
        broker(fake, external_account="PA9999").sync(datetime.now(ZoneInfo("America/New_York")).date())


def test_a_blocked_account_cannot_be_synced(fake: FakeAlpaca) -> None:
    fake.set_trading_blocked(True)
    with pytest.raises(BrokerError, match="cannot trade"):
        broker(fake).sync(datetime.now(ZoneInfo("America/New_York")).date())


def test_a_sync_reports_the_sessions_fills_and_expiries(fake: FakeAlpaca) -> None:
    at = broker(fake)
    filled = at.submit(buy("2"))
    at.submit(buy("1", client_id="af-second"))
    fake.fill(filled.order_id)
    fake.expire_open()
    report = at.sync(datetime.now(ZoneInfo("America/New_York")).date())
    assert [(e.kind, e.ticker) for e in report.events] == [
        (VenueEventKind.FILL, "AAA"),
        (VenueEventKind.EXPIRED, "AAA"),
    ]
    assert at.get_order(filled.order_id).average_fill_price == 100
