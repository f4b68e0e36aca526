from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.brokers.base import Broker, BrokerCapabilities, RetryPolicy, call_with_retry, submit_with_retry
from trading.errors import BrokerError, BrokerUnavailable, FundError, OrderRejected, RetryableBrokerError
from trading.orders import (
    AccountSnapshot,
    BrokerOrder,
    BrokerPosition,
    OrderRequest,
    OrderSide,
    OrderStatus,
    decimal_places,
    deterministic_client_order_id,
)

NOW = datetime(2024, 1, 5, 21, 30, tzinfo=UTC)
SESSION = date(2024, 1, 5)


def an_order(**overrides: object) -> OrderRequest:
    values: dict[str, object] = {
        "client_order_id": "af-20240105-b-AAPL-0123456789abcdef",
        "ticker": "AAPL",
        "side": OrderSide.BUY,
        "quantity": Decimal("10"),
    }
    values.update(overrides)
    return OrderRequest(**values)  # type: ignore[arg-type]


# --- records ---------------------------------------------------------------------------------------


def test_an_order_request_is_a_market_day_order_by_default() -> None:
    order = an_order()
    assert (order.order_type, order.time_in_force) == ("market", "day")


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"quantity": Decimal("0")}, "quantity must be positive"),
        ({"quantity": Decimal("-1")}, "quantity must be positive"),
        ({"quantity": Decimal("0.0000000001")}, "more than 9 decimal places"),
        ({"ticker": ""}, "ticker must be non-empty"),
        ({"ticker": " AAPL"}, "ticker must be non-empty"),
        ({"client_order_id": ""}, "1 to 48 characters"),
        ({"client_order_id": "x" * 49}, "1 to 48 characters"),
        ({"quantity": Decimal("NaN")}, "must be finite"),
    ],
)
def test_an_invalid_order_request_is_refused_with_the_problem_named(
    overrides: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        an_order(**overrides)


def test_an_order_request_refuses_a_float_quantity() -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal built from a string, got float"):
        an_order(quantity=0.1)


def test_an_order_request_refuses_a_string_that_is_not_a_side() -> None:
    with pytest.raises(ValueError, match="'BUY' is not a valid OrderSide"):
        an_order(side="BUY")


def test_an_order_request_accepts_nine_decimals_and_trailing_zeros_beyond_them() -> None:
    assert an_order(quantity=Decimal("0.123456789")).quantity == Decimal("0.123456789")
    assert an_order(quantity=Decimal("5.000000000000")).quantity == 5


def test_decimal_places_ignores_trailing_zeros() -> None:
    assert [decimal_places(Decimal(text)) for text in ("1.50", "100", "1E+2", "0.001", "7")] == [1, 0, 0, 3, 0]


def test_an_account_snapshot_needs_an_aware_utc_time() -> None:
    with pytest.raises(ValueError, match="account A1: as_of must be a timezone-aware UTC datetime"):
        AccountSnapshot("A1", Decimal("1"), Decimal("1"), Decimal("1"), NOW.replace(tzinfo=None))
    new_york = timezone(timedelta(hours=-5))
    with pytest.raises(ValueError, match="UTC"):
        AccountSnapshot("A1", Decimal("1"), Decimal("1"), Decimal("1"), NOW.astimezone(new_york))
    assert AccountSnapshot("A1", Decimal("1"), Decimal("2"), Decimal("3"), NOW).equity == Decimal("3")


def test_a_position_refuses_float_money() -> None:
    with pytest.raises(TypeError, match="position AAPL: market_value must be a Decimal"):
        BrokerPosition("AAPL", Decimal("1"), Decimal("100"), 100.0)  # type: ignore[arg-type]


def a_broker_order(**overrides: object) -> BrokerOrder:
    values: dict[str, object] = {
        "order_id": "o-1",
        "client_order_id": "c-1",
        "ticker": "AAPL",
        "side": OrderSide.BUY,
        "quantity": Decimal("10"),
        "filled_quantity": Decimal("10"),
        "average_fill_price": Decimal("150.25"),
        "status": OrderStatus.FILLED,
        "submitted_at": NOW,
        "filled_at": NOW + timedelta(hours=12),
    }
    values.update(overrides)
    return BrokerOrder(**values)  # type: ignore[arg-type]


def test_a_broker_order_cannot_fill_more_than_was_ordered() -> None:
    with pytest.raises(ValueError, match=r"broker order o-1 \(buy AAPL\): filled_quantity 11 is outside \[0, 10\]"):
        a_broker_order(filled_quantity=Decimal("11"))


def test_a_broker_order_with_a_fill_needs_a_fill_price() -> None:
    with pytest.raises(ValueError, match="needs an average_fill_price"):
        a_broker_order(average_fill_price=None)
    unfilled = a_broker_order(
        filled_quantity=Decimal("0"), average_fill_price=None, status=OrderStatus.SUBMITTED, filled_at=None
    )
    assert unfilled.filled_at is None


def test_only_filled_canceled_rejected_and_expired_orders_are_final() -> None:
    assert {status for status in OrderStatus if status.is_final} == {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
    }


def test_order_statuses_are_values_the_trade_executions_table_accepts() -> None:
    from trading.db.schema import ORDER_STATUSES

    assert {status.value for status in OrderStatus} <= set(ORDER_STATUSES)


# --- client order ids ------------------------------------------------------------------------------


PAPER = {"broker": "paper", "mode": "paper"}


def test_a_client_order_id_is_readable_and_stable() -> None:
    first = deterministic_client_order_id("PAPER_AUTONOMOUS_FUND", SESSION, "BRK.B", OrderSide.SELL, **PAPER)
    assert first == deterministic_client_order_id("PAPER_AUTONOMOUS_FUND", SESSION, "BRK.B", OrderSide.SELL, **PAPER)
    assert re.fullmatch(r"af-p20240105-s-BRKB-[0-9a-f]{16}", first)


def test_a_client_order_id_is_pinned() -> None:
    assert deterministic_client_order_id("ACC", SESSION, "AAPL", OrderSide.BUY, **PAPER) == (
        deterministic_client_order_id("ACC", SESSION, "AAPL", OrderSide.BUY, attempt=0, **PAPER)
    )
    assert deterministic_client_order_id("ACC", SESSION, "AAPL", OrderSide.BUY, **PAPER) == (
        "af-p20240105-b-AAPL-b1ea208bf20b13ce"
    )


def test_a_paper_and_a_live_account_of_the_same_name_never_share_a_client_order_id() -> None:
    intent = ("PAPER_AUTONOMOUS_FUND", SESSION, "AAPL", OrderSide.BUY)
    paper = deterministic_client_order_id(*intent, broker="paper", mode="paper")
    alpaca_paper = deterministic_client_order_id(*intent, broker="alpaca", mode="paper")
    alpaca_live = deterministic_client_order_id(*intent, broker="alpaca", mode="live")
    assert len({paper, alpaca_paper, alpaca_live}) == 3
    assert alpaca_live.startswith("af-l20240105-")


@pytest.mark.parametrize(
    "changed",
    [
        {"account_id": "OTHER"},
        {"session": date(2024, 1, 8)},
        {"ticker": "BRKB"},
        {"side": OrderSide.BUY},
        {"attempt": 1},
        {"broker": "alpaca"},
        {"mode": "live"},
    ],
)
def test_a_client_order_id_changes_with_every_input(changed: dict[str, object]) -> None:
    base: dict[str, object] = {
        "account_id": "ACC",
        "session": SESSION,
        "ticker": "BRK.B",
        "side": OrderSide.SELL,
        **PAPER,
    }
    assert deterministic_client_order_id(**base) != deterministic_client_order_id(**{**base, **changed})  # type: ignore[arg-type]


tickers = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=16)
intents = st.tuples(
    st.sampled_from(["PAPER_AUTONOMOUS_FUND", "ACC-2", "a" * 64]),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
    tickers,
    st.sampled_from(list(OrderSide)),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(["paper", "alpaca", "schwab"]),
    st.sampled_from(["paper", "live"]),
)
Intent = tuple[str, date, str, OrderSide, int, str, str]


def _client_id(intent: Intent) -> str:
    account, session, ticker, side, attempt, broker, mode = intent
    return deterministic_client_order_id(account, session, ticker, side, attempt, broker=broker, mode=mode)


@given(intents)
def test_every_client_order_id_fits_alpaca_and_the_column(intent: Intent) -> None:
    client_id = _client_id(intent)
    assert len(client_id) <= 48
    assert re.fullmatch(r"[A-Za-z0-9-]+", client_id)
    an_order(client_order_id=client_id)


@given(st.lists(intents, min_size=2, max_size=50, unique=True))
def test_different_intents_get_different_client_order_ids(batch: list[Intent]) -> None:
    ids = [_client_id(intent) for intent in batch]
    assert len(set(ids)) == len(ids)


def test_a_client_order_id_needs_an_account_a_ticker_a_broker_a_sending_mode_and_a_non_negative_attempt() -> None:
    with pytest.raises(ValueError, match="needs an account id, a ticker and a broker"):
        deterministic_client_order_id("", SESSION, "AAPL", OrderSide.BUY, **PAPER)
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        deterministic_client_order_id("ACC", SESSION, "AAPL", OrderSide.BUY, attempt=-1, **PAPER)
    with pytest.raises(ValueError, match="paper or live mode only"):
        deterministic_client_order_id("ACC", SESSION, "AAPL", OrderSide.BUY, broker="paper", mode="dry_run")


# --- retries ---------------------------------------------------------------------------------------


def test_broker_errors_split_into_retryable_and_fatal_under_fund_error() -> None:
    assert issubclass(BrokerUnavailable, RetryableBrokerError)
    assert issubclass(RetryableBrokerError, BrokerError)
    assert issubclass(OrderRejected, BrokerError)
    assert not issubclass(OrderRejected, RetryableBrokerError)
    assert issubclass(BrokerError, FundError)


@dataclass
class FlakyCall:
    """Fails with the given errors in order, then returns "ok"."""

    errors: list[Exception]
    calls: int = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_an_idempotent_call_is_retried_with_exponential_backoff() -> None:
    waits: list[float] = []
    flaky = FlakyCall([RetryableBrokerError("504"), RetryableBrokerError("504"), BrokerUnavailable("refused")])
    assert call_with_retry(flaky, idempotent=True, what="get order", sleep=waits.append) == "ok"
    assert flaky.calls == 4
    assert waits == [0.5, 1.0, 2.0]


def test_retries_stop_after_the_last_attempt_with_the_broker_error() -> None:
    waits: list[float] = []
    flaky = FlakyCall([RetryableBrokerError(f"timeout {n}") for n in range(5)])
    with pytest.raises(RetryableBrokerError, match="timeout 2"):
        call_with_retry(
            flaky, idempotent=True, what="positions", policy=RetryPolicy(max_attempts=3), sleep=waits.append
        )
    assert (flaky.calls, waits) == (3, [0.5, 1.0])


def test_a_call_that_is_not_idempotent_is_never_repeated() -> None:
    waits: list[float] = []
    flaky = FlakyCall([RetryableBrokerError("timeout")])
    with pytest.raises(RetryableBrokerError):
        call_with_retry(flaky, idempotent=False, what="submit", sleep=waits.append)
    assert (flaky.calls, waits) == (1, [])


def test_a_fatal_broker_error_is_never_retried() -> None:
    flaky = FlakyCall([OrderRejected("market closed")])
    with pytest.raises(OrderRejected):
        call_with_retry(flaky, idempotent=True, what="submit", sleep=lambda _: None)
    assert flaky.calls == 1


def test_a_retry_waits_at_least_the_brokers_retry_after_and_backoff_is_capped() -> None:
    waits: list[float] = []
    flaky = FlakyCall([RetryableBrokerError("429", retry_after=7.0), RetryableBrokerError("429")])
    call_with_retry(flaky, idempotent=True, what="account", sleep=waits.append)
    assert waits == [7.0, 1.0]
    policy = RetryPolicy(max_attempts=10, first_delay=1.0, multiplier=3.0, max_delay=20.0)
    assert [policy.delay_before_retry(retry) for retry in range(1, 6)] == [1.0, 3.0, 9.0, 20.0, 20.0]


@dataclass
class FlakySubmitBroker:
    """A minimal Broker whose submit times out a given number of times before it accepts."""

    dedupes_client_ids: bool
    timeouts: int
    submitted: list[OrderRequest] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "flaky"

    @property
    def capabilities(self) -> BrokerCapabilities:
        return BrokerCapabilities(
            fractional_shares=False,
            notional_orders=False,
            client_order_ids=self.dedupes_client_ids,
            max_client_order_id_length=48 if self.dedupes_client_ids else None,
        )

    def account(self) -> AccountSnapshot:
        return AccountSnapshot("FLAKY", Decimal("0"), Decimal("0"), Decimal("0"), NOW)

    def positions(self) -> Sequence[BrokerPosition]:
        return []

    def submit(self, request: OrderRequest) -> BrokerOrder:
        self.submitted.append(request)
        if self.timeouts > 0:
            self.timeouts -= 1
            raise RetryableBrokerError("read timeout")
        return BrokerOrder(
            order_id=f"o-{len(self.submitted)}",
            client_order_id=request.client_order_id,
            ticker=request.ticker,
            side=request.side,
            quantity=request.quantity,
            filled_quantity=Decimal("0"),
            average_fill_price=None,
            status=OrderStatus.SUBMITTED,
            submitted_at=NOW,
        )

    def get_order(self, order_id: str) -> BrokerOrder:
        raise NotImplementedError

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        return None

    def cancel(self, order_id: str) -> None:
        raise NotImplementedError

    def open_orders(self) -> Sequence[BrokerOrder]:
        return []


def test_a_submit_is_retried_when_the_broker_deduplicates_client_order_ids() -> None:
    broker = FlakySubmitBroker(dedupes_client_ids=True, timeouts=2)
    as_protocol: Broker = broker
    order = submit_with_retry(as_protocol, an_order(), sleep=lambda _: None)
    assert order.status is OrderStatus.SUBMITTED
    assert [request.client_order_id for request in broker.submitted] == [an_order().client_order_id] * 3


def test_a_submit_is_not_retried_when_the_broker_has_no_client_order_ids() -> None:
    broker = FlakySubmitBroker(dedupes_client_ids=False, timeouts=1)
    with pytest.raises(RetryableBrokerError, match="read timeout"):
        submit_with_retry(broker, an_order(), sleep=lambda _: None)
    assert len(broker.submitted) == 1
