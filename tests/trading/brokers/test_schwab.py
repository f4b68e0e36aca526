"""Schwab beyond the shared contract: the intent written before each send and the match after a crash,
one working order per ticker and side, tokens (expired, refused, refreshed, owner-only), errors, the
throttle, and the API host setting. The real schwab-py runs through an httpx.MockTransport over
tests/fakes/schwab_api.py, or over real HTTP to the same fake."""

from __future__ import annotations

import json
import stat
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.fakes.schwab_api import FakeSchwab
from tests.fakes.schwab_tokens import write_token
from trading.brokers.base import call_with_retry, submit_with_retry
from trading.brokers.schwab import (
    OrderThrottle,
    SchwabAuthenticationFailed,
    SchwabBroker,
    SchwabTokenExpired,
    TokenFile,
    schwab_client,
)
from trading.errors import BrokerError, BrokerUnavailable, OrderRejected, RetryableBrokerError
from trading.orders import OrderRequest, OrderSide, OrderStatus
from trading.settings import BrokerCredentials
from trading.store.order_intents import intent

D = Decimal
CREDENTIALS = BrokerCredentials(schwab_api_key="app-key", schwab_app_secret="app-secret", timeout_seconds=2)
TODAY = date.today()


def broker(
    engine: Engine,
    fake: FakeSchwab,
    folder: Path,
    *,
    transport: httpx.BaseTransport | None = None,
    credentials: BrokerCredentials = CREDENTIALS,
    number: str | None = None,
    age_days: float = 0.0,
) -> SchwabBroker:
    tokens = TokenFile(write_token(folder / "token.json", fake, age_days=age_days))
    client = schwab_client(credentials, tokens, transport=transport or fake.transport())
    return SchwabBroker(
        client, engine, "FUND", number or fake.account_number, tokens=tokens, throttle=OrderThrottle(120)
    )


def buy(quantity: str, ticker: str = "AAA", client_id: str = "af-l20261204-b-AAA-0123456789abcdef") -> OrderRequest:
    return OrderRequest(client_id, ticker, OrderSide.BUY, D(quantity))


def test_the_fund_sends_a_whole_share_market_day_order_and_writes_its_intent_before(
    engine: Engine, tmp_path: Path
) -> None:
    fake = FakeSchwab()
    seen: list[dict[str, object]] = []

    def watching(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/orders"):
            recorded = intent(engine, "af-l20261204-b-AAA-0123456789abcdef")
            assert recorded is not None, "the intent is written before the send"
            assert recorded.order_id is None
            seen.append(json.loads(request.content))
        return fake.handle(request)

    sent = broker(engine, fake, tmp_path, transport=httpx.MockTransport(watching)).submit(buy("10"))
    (spec,) = seen
    assert (spec["orderType"], spec["duration"], spec["session"]) == ("MARKET", "DAY", "NORMAL")
    assert spec["orderLegCollection"] == [
        {"instruction": "BUY", "quantity": 10, "instrument": {"symbol": "AAA", "assetType": "EQUITY"}}
    ]
    recorded = intent(engine, sent.client_order_id or "")
    assert recorded is not None
    assert recorded.order_id == sent.order_id == "1001"
    assert sent.status is OrderStatus.SUBMITTED


def test_an_order_placed_but_lost_to_a_504_is_found_by_its_intent_and_never_sent_twice(
    engine: Engine, tmp_path: Path
) -> None:
    fake = FakeSchwab()
    at = broker(engine, fake, tmp_path)
    fake.fail_next("POST", f"/trader/v1/accounts/{fake.account_hash}/orders", 504, after=True)
    with pytest.raises(RetryableBrokerError, match="HTTP 504"):
        submit_with_retry(at, buy("5"), sleep=lambda _s: None)
    assert fake.order_posts == 1, "a submit without client order ids is never repeated blindly"
    found = at.find_by_client_order_id(buy("5").client_order_id)
    assert found is not None
    assert found.order_id == "1001"
    again = at.submit(buy("5"))
    assert again.order_id == "1001"
    assert fake.order_posts == 1


def test_a_match_needs_the_same_ticker_side_and_quantity_entered_after_the_send(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    at = broker(engine, fake, tmp_path)
    fake.fail_next("POST", f"/trader/v1/accounts/{fake.account_hash}/orders", 504, after=False)
    with pytest.raises(RetryableBrokerError):
        at.submit(buy("5"))
    assert at.find_by_client_order_id(buy("5").client_order_id) is None, "nothing arrived: safe to send"
    assert at.find_by_client_order_id("never-sent") is None


def test_two_orders_that_both_match_an_intent_are_left_to_a_person(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    at = broker(engine, fake, tmp_path)
    fake.fail_next("POST", f"/trader/v1/accounts/{fake.account_hash}/orders", 504, after=True)
    with pytest.raises(RetryableBrokerError):
        at.submit(buy("5"))
    # The same order entered by hand on Schwab's site.
    fake.handle(
        httpx.Request(
            "POST",
            f"https://api.schwabapi.com/trader/v1/accounts/{fake.account_hash}/orders",
            headers={"Authorization": f"Bearer {fake.access_token}"},
            json=fake.orders[1001] | {"orderLegCollection": fake.orders[1001]["orderLegCollection"]},
        )
    )
    with pytest.raises(BrokerError, match="a person must decide"):
        at.find_by_client_order_id(buy("5").client_order_id)


def test_a_second_working_order_for_the_same_ticker_and_side_is_refused(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    at = broker(engine, fake, tmp_path)
    at.submit(buy("5"))
    with pytest.raises(OrderRejected, match="still working at Schwab; one order per ticker and side"):
        at.submit(buy("3", client_id="af-other"))
    fake.fill_all_open()
    assert at.submit(buy("3", client_id="af-other")).order_id == "1002"


def test_a_fraction_of_a_share_is_refused_before_anything_is_written(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    with pytest.raises(OrderRejected, match="whole shares"):
        broker(engine, fake, tmp_path).submit(buy("2.5"))
    assert fake.order_posts == 0
    assert intent(engine, buy("2.5").client_order_id) is None


def test_an_expired_or_missing_token_stops_the_sync_with_how_to_log_in(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    with pytest.raises(SchwabTokenExpired, match=r"8\.0 days old .* `fund broker login schwab`"):
        broker(engine, fake, tmp_path, age_days=8).sync(TODAY)
    with pytest.raises(SchwabTokenExpired, match="no Schwab token at"):
        schwab_client(CREDENTIALS, TokenFile(tmp_path / "missing.json"))


def test_a_stale_access_token_is_refreshed_and_rewritten_owner_only(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    path = write_token(tmp_path / "token.json", fake)
    stored = json.loads(path.read_text())
    stored["token"]["expires_at"] = 0  # the access token has expired: Authlib refreshes it first
    path.write_text(json.dumps(stored))
    tokens = TokenFile(path)
    at = SchwabBroker(
        schwab_client(CREDENTIALS, tokens, transport=fake.transport()),
        engine, "FUND", fake.account_number, tokens=tokens, throttle=OrderThrottle(120),
    )  # fmt: skip
    assert at.account().cash == 100000
    assert fake.access_token == "access-2"
    rewritten = json.loads(path.read_text())
    assert rewritten["token"]["access_token"] == "access-2"
    assert rewritten["creation_timestamp"] == stored["creation_timestamp"], "the login's time, not the refresh's"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_refused_refresh_is_an_authentication_failure_that_says_to_log_in(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    path = write_token(tmp_path / "token.json", fake)
    stored = json.loads(path.read_text())
    stored["token"]["expires_at"] = 0
    path.write_text(json.dumps(stored))
    fake.refused_refresh = True
    tokens = TokenFile(path)
    at = SchwabBroker(
        schwab_client(CREDENTIALS, tokens, transport=fake.transport()),
        engine, "FUND", fake.account_number, tokens=tokens, throttle=OrderThrottle(120),
    )  # fmt: skip
    with pytest.raises(SchwabAuthenticationFailed, match="log in again"):
        at.account()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retryable_and_reads_are_retried(
    engine: Engine, tmp_path: Path, status: int
) -> None:
    fake = FakeSchwab()
    at = broker(engine, fake, tmp_path)
    fake.fail_next("GET", f"/trader/v1/accounts/{fake.account_hash}", status, count=2)
    waits: list[float] = []
    snapshot = call_with_retry(at.account, idempotent=True, what="account", sleep=waits.append)
    assert snapshot.equity == 100000
    assert len(waits) == 2


def test_a_timeout_and_an_unreachable_host_are_retryable(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()

    def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/trader/v1/accounts/HASH"):
            raise httpx.ReadTimeout("timed out", request=request)
        return fake.handle(request)

    with pytest.raises(RetryableBrokerError, match="no answer in time"):
        broker(engine, fake, tmp_path, transport=httpx.MockTransport(slow)).account()
    unreachable = CREDENTIALS.model_copy(update={"schwab_api_url": "http://127.0.0.1:9"})
    tokens = TokenFile(write_token(tmp_path / "t2.json", fake))
    at = SchwabBroker(
        schwab_client(unreachable, tokens), engine, "FUND", fake.account_number, tokens=tokens,
        throttle=OrderThrottle(120),
    )  # fmt: skip
    with pytest.raises(BrokerUnavailable, match="could not reach"):
        at.account()


def test_an_account_number_the_login_does_not_reach_is_named(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    with pytest.raises(BrokerError, match="reaches account\\(s\\) 12345678, not 99999999"):
        broker(engine, fake, tmp_path, number="99999999").account()


def test_the_api_url_setting_sends_every_call_to_that_host(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSchwab()
    url = fake.serve()
    try:
        settings = CREDENTIALS.model_copy(update={"schwab_api_url": url})
        tokens = TokenFile(write_token(tmp_path / "token.json", fake))
        at = SchwabBroker(
            schwab_client(settings, tokens), engine, "FUND", fake.account_number, tokens=tokens,
            throttle=OrderThrottle(120),
        )  # fmt: skip
        assert at.account().cash == 100000
        assert at.submit(buy("1")).order_id == "1001"
    finally:
        fake.stop()


def test_the_throttle_waits_once_the_minute_holds_its_limit() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    throttle = OrderThrottle(2, clock=lambda: now[0], sleep=sleep)
    throttle.wait()
    now[0] = 10.0
    throttle.wait()
    now[0] = 20.0
    throttle.wait()
    assert waits == [40.0]
    now[0] = 200.0
    throttle.wait()
    assert waits == [40.0]
