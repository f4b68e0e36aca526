"""The Alpaca fake, driven through the real alpaca-py clients: if these pass, alpaca-py's models accept its answers."""

from __future__ import annotations

import json
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import alpaca.common.rest
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, CorporateActionsType, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.models.corporate_actions import CashDividend, CorporateActionsSet, ForwardSplit, ReverseSplit
from alpaca.data.requests import CorporateActionsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AccountStatus, AssetClass, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetCalendarRequest, GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from tests.fakes.alpaca_server import FakeAlpaca


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash="10000") as server:
        yield server


@pytest.fixture
def trading(fake: FakeAlpaca) -> TradingClient:
    return TradingClient("test-key", "test-secret", paper=True, url_override=fake.url)


@pytest.fixture
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """alpaca-py sleeps 3 s between retries through the `time` module it imported; replace only that reference."""
    waits: list[float] = []
    monkeypatch.setattr(alpaca.common.rest, "time", types.SimpleNamespace(sleep=waits.append))
    return waits


def market(symbol: str = "AAPL", side: OrderSide = OrderSide.BUY, **fields: Any) -> MarketOrderRequest:
    fields.setdefault("qty", 10)
    return MarketOrderRequest(symbol=symbol, side=side, time_in_force=TimeInForce.DAY, **fields)


def api_error(call: Any, *args: Any) -> APIError:
    with pytest.raises(APIError) as caught:
        call(*args)
    return caught.value


def test_the_account_reports_cash_and_equity_as_alpaca_strings(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.set_position("AAPL", "10", "150")
    fake.set_price("AAPL", "160")

    account = trading.get_account()

    assert account.status == AccountStatus.ACTIVE
    assert account.account_number == "PA0000TEST"
    assert (account.cash, account.buying_power, account.equity) == ("10000", "10000", "11600")
    assert account.trading_blocked is False
    assert account.account_blocked is False


def test_account_status_and_trading_block_are_controllable(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.set_account_status("ACCOUNT_CLOSED")
    fake.set_trading_blocked(True)

    account = trading.get_account()
    refusal = api_error(trading.submit_order, market())

    assert (account.status, account.trading_blocked) == (AccountStatus.ACCOUNT_CLOSED, True)
    assert (refusal.status_code, refusal.code) == (403, 40310000)


def test_positions_parse_and_a_missing_position_is_alpacas_404(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.set_position("MSFT", "2.5", "300")
    fake.set_price("MSFT", "310")

    [position] = trading.get_all_positions()
    missing = api_error(trading.get_open_position, "AAPL")

    assert position == trading.get_open_position("MSFT")
    assert (position.symbol, position.qty, position.avg_entry_price) == ("MSFT", "2.5", "300")
    assert (position.market_value, position.cost_basis, position.unrealized_pl) == ("775", "750", "25")
    assert position.asset_class == AssetClass.US_EQUITY
    assert (missing.status_code, missing.code, missing.message) == (404, 40410000, "position does not exist")


def test_an_asset_is_fractionable_unless_configured_and_a_removed_asset_is_a_404(
    fake: FakeAlpaca, trading: TradingClient
) -> None:
    fake.set_asset("BRK.A", fractionable=False)
    fake.remove_asset("GONE")

    assert trading.get_asset("AAPL").fractionable is True
    assert trading.get_asset("BRK.A").fractionable is False
    assert trading.get_asset("AAPL").asset_class == AssetClass.US_EQUITY
    assert api_error(trading.get_asset, "GONE").status_code == 404


def test_a_market_order_by_quantity_is_accepted_and_read_back_by_id_and_by_client_id(
    fake: FakeAlpaca, trading: TradingClient
) -> None:
    order = trading.submit_order(market(client_order_id="fund-1"))

    assert isinstance(order.id, uuid.UUID)
    assert (order.symbol, order.qty, order.notional, order.status) == ("AAPL", "10", None, OrderStatus.ACCEPTED)
    assert (order.client_order_id, order.extended_hours, order.filled_qty) == ("fund-1", False, "0")
    assert order.submitted_at.tzinfo is not None
    assert trading.get_order_by_id(order.id) == order
    assert trading.get_order_by_client_id("fund-1") == order
    assert api_error(trading.get_order_by_client_id, "fund-2").status_code == 404
    assert api_error(trading.get_order_by_id, uuid.uuid4()).status_code == 404
    assert ("GET", "/v2/orders:by_client_order_id") in fake.requests


def test_a_notional_order_carries_the_notional_and_no_quantity_and_gets_a_generated_client_id(
    trading: TradingClient,
) -> None:
    order = trading.submit_order(market(qty=None, notional=250.5))

    assert (order.notional, order.qty) == ("250.5", None)
    assert uuid.UUID(order.client_order_id)


def test_fractional_quantities_need_a_fractionable_asset_and_a_day_order(
    fake: FakeAlpaca, trading: TradingClient
) -> None:
    fake.set_asset("BRK.A", fractionable=False)
    gtc = MarketOrderRequest(symbol="AAPL", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC)

    not_fractionable = api_error(trading.submit_order, market("BRK.A", qty=0.5))
    not_day = api_error(trading.submit_order, gtc)

    assert (not_fractionable.status_code, not_fractionable.message) == (422, 'asset "BRK.A" is not fractionable')
    assert (not_day.status_code, not_day.message) == (422, "fractional orders must be DAY orders")
    assert trading.submit_order(market(qty=0.5)).qty == "0.5"
    assert trading.submit_order(market("BRK.A", qty=1)).qty == "1"


def test_an_unknown_asset_is_refused_with_alpacas_422(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.remove_asset("ZZZZ")

    refusal = api_error(trading.submit_order, market("ZZZZ"))

    assert (refusal.status_code, refusal.code, refusal.message) == (422, 42210000, 'asset "ZZZZ" not found')


def test_selling_more_than_is_available_is_refused_with_403_insufficient_qty(
    fake: FakeAlpaca, trading: TradingClient
) -> None:
    fake.set_position("AAPL", "5", "100")
    trading.submit_order(market(side=OrderSide.SELL, qty=3))  # holds 3 of the 5 for this open order

    refusal = api_error(trading.submit_order, market(side=OrderSide.SELL, qty=3))
    short = api_error(trading.submit_order, market("MSFT", side=OrderSide.SELL, qty=1))

    assert (refusal.status_code, refusal.code) == (403, 40310000)
    assert refusal.message == "insufficient qty available for order (requested: 3, available: 2)"
    assert trading.get_open_position("AAPL").qty_available == "2"
    assert (short.status_code, short.message) == (422, 'asset "MSFT" cannot be sold short')


def test_a_buy_costing_more_than_cash_is_refused_with_403_insufficient_buying_power(
    fake: FakeAlpaca, trading: TradingClient
) -> None:
    fake.set_price("AAPL", "1001")
    limit = LimitOrderRequest(symbol="MSFT", qty=2, limit_price=6000, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)

    refusals = [api_error(trading.submit_order, request) for request in (market(), market(qty=None, notional=20000))]
    refusals.append(api_error(trading.submit_order, limit))

    assert {(r.status_code, r.code, r.message) for r in refusals} == {(403, 40310000, "insufficient buying power")}
    assert json.loads(str(refusals[0]))["cost_basis"] == "10010"
    assert trading.submit_order(market("TSLA", qty=1000)).status == OrderStatus.ACCEPTED  # no price known: no check


def test_listing_with_status_all_includes_closed_orders_while_the_default_lists_only_open_ones(
    fake: FakeAlpaca, trading: TradingClient
) -> None:
    first = trading.submit_order(market(client_order_id="a"))
    second = trading.submit_order(market("MSFT", client_order_id="b"))
    fake.fill(str(first.id), price="100")

    everything = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))
    closed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    only_msft = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["MSFT"]))
    later = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, after=first.submitted_at))

    assert [o.id for o in everything] == [second.id, first.id]  # newest first, as Alpaca's default direction
    assert [o.id for o in trading.get_orders()] == [second.id]
    assert [o.id for o in closed] == [first.id]
    assert [o.id for o in only_msft] == [second.id]
    assert [o.id for o in later] == [second.id]


def test_cancelling_an_open_order_answers_204_and_marks_it_canceled(fake: FakeAlpaca, trading: TradingClient) -> None:
    order = trading.submit_order(market())

    trading.cancel_order_by_id(order.id)  # alpaca-py returns None for Alpaca's 204
    canceled = trading.get_order_by_id(order.id)

    assert canceled.status == OrderStatus.CANCELED
    assert canceled.canceled_at is not None
    assert api_error(trading.cancel_order_by_id, uuid.uuid4()).status_code == 404


def test_cancelling_a_filled_order_raises_alpacas_422(fake: FakeAlpaca, trading: TradingClient) -> None:
    order = trading.submit_order(market())
    fake.fill(str(order.id), price="100")

    refusal = api_error(trading.cancel_order_by_id, order.id)

    assert (refusal.status_code, refusal.code, refusal.message) == (422, 42210000, "order is not cancelable")


def test_cancel_all_answers_207_with_one_entry_per_open_order(fake: FakeAlpaca, trading: TradingClient) -> None:
    open_order = trading.submit_order(market())
    filled = trading.submit_order(market("MSFT"))
    fake.fill(str(filled.id), price="10")

    [response] = trading.cancel_orders()

    assert (response.id, response.status) == (open_order.id, 200)
    assert response.body is not None
    assert response.body["status"] == "canceled"


def test_a_duplicate_client_order_id_is_refused_with_alpacas_422(fake: FakeAlpaca, trading: TradingClient) -> None:
    trading.submit_order(market(client_order_id="fund-7"))

    refusal = api_error(trading.submit_order, market(client_order_id="fund-7"))

    assert (refusal.status_code, refusal.code, refusal.message) == (422, 40010001, "client_order_id must be unique")
    assert len(fake.orders()) == 1


def test_bad_keys_are_refused_with_401_and_a_body_without_a_code(fake: FakeAlpaca) -> None:
    intruder = TradingClient("wrong-key", "test-secret", paper=True, url_override=fake.url)

    refusal = api_error(intruder.get_account)

    assert refusal.status_code == 401
    assert json.loads(str(refusal)) == {"message": "unauthorized."}
    with pytest.raises(KeyError):
        _ = refusal.code


def test_a_partial_then_full_fill_keeps_a_volume_weighted_average_and_books_cash_and_position(
    fake: FakeAlpaca, trading: TradingClient
) -> None:
    order = trading.submit_order(market(qty=10))

    fake.fill(str(order.id), qty="4", price="100")
    partial = trading.get_order_by_id(order.id)
    fake.fill(str(order.id), price="110")
    filled = trading.get_order_by_id(order.id)

    assert (partial.status, partial.filled_qty, partial.filled_avg_price) == (OrderStatus.PARTIALLY_FILLED, "4", "100")
    assert (filled.status, filled.filled_qty, filled.filled_avg_price) == (OrderStatus.FILLED, "10", "106")
    assert filled.filled_at is not None
    assert fake.cash == Decimal("10000") - 4 * 100 - 6 * 110
    position = trading.get_open_position("AAPL")
    assert (position.qty, position.avg_entry_price) == ("10", "106")


def test_selling_everything_removes_the_position_and_returns_the_cash(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.set_position("AAPL", "2", "100")
    fake.set_price("AAPL", "120")
    sell = trading.submit_order(market(side=OrderSide.SELL, qty=2))

    fake.fill_all_open()

    assert trading.get_all_positions() == []
    assert fake.cash == Decimal("10240")
    assert trading.get_order_by_id(sell.id).filled_avg_price == "120"


def test_a_notional_order_fills_as_many_shares_as_the_dollars_buy(fake: FakeAlpaca, trading: TradingClient) -> None:
    order = trading.submit_order(market(qty=None, notional=100))

    fake.fill(str(order.id), price="300")

    filled = trading.get_order_by_id(order.id)
    assert (filled.status, filled.filled_qty) == (OrderStatus.FILLED, "0.333333333")
    assert fake.positions()["AAPL"]["qty"] == "0.333333333"


def test_open_orders_expire_and_a_rejected_order_shows_rejected(fake: FakeAlpaca, trading: TradingClient) -> None:
    rejected = trading.submit_order(market())
    expiring = trading.submit_order(market("MSFT"))

    fake.reject(str(rejected.id), "halted")
    fake.expire_open()

    assert trading.get_order_by_id(rejected.id).status == OrderStatus.REJECTED
    assert trading.get_order_by_id(expiring.id).status == OrderStatus.EXPIRED
    assert trading.get_orders() == []


def test_an_order_accepted_then_answered_with_504_is_retried_into_the_duplicate_guard(
    fake: FakeAlpaca, trading: TradingClient, no_retry_wait: list[float]
) -> None:
    fake.fail_next_order_posts(("after_create", 504))

    refusal = api_error(trading.submit_order, market(client_order_id="fund-9"))

    assert (refusal.status_code, refusal.code) == (422, 40010001)
    assert fake.order_posts == 2
    assert no_retry_wait == [3]
    assert [o["client_order_id"] for o in fake.orders()] == ["fund-9"]


def test_a_gateway_504_has_an_html_body_and_is_retried_three_times(
    fake: FakeAlpaca, trading: TradingClient, no_retry_wait: list[float]
) -> None:
    fake.fail_next_order_posts(*[("status", 504)] * 4)

    refusal = api_error(trading.submit_order, market(client_order_id="fund-3"))

    assert refusal.status_code == 504
    assert str(refusal).startswith("<html>")
    with pytest.raises(json.JSONDecodeError):
        _ = refusal.code
    assert (fake.order_posts, fake.orders()) == (4, [])


def test_a_429_is_retried_and_the_order_goes_through(
    fake: FakeAlpaca, trading: TradingClient, no_retry_wait: list[float]
) -> None:
    fake.fail_next_order_posts(("status", 429), ("delay", 0.01))

    order = trading.submit_order(market(client_order_id="fund-4"))

    assert order.client_order_id == "fund-4"
    assert (fake.order_posts, len(fake.orders())) == (2, 1)


def test_a_dropped_connection_surfaces_as_a_requests_connection_error(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.fail_next_order_posts(("drop",), ("drop_after_create",))

    for _ in range(2):
        with pytest.raises(requests.exceptions.ConnectionError):
            trading.submit_order(market())

    assert fake.order_posts == 2
    assert len(fake.orders()) == 1
    assert trading.get_account().cash == "10000"  # the client recovers on a fresh connection


def test_a_generic_fault_answers_its_status_for_the_given_count(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.fail_next("GET", "/v2/account", 500)

    refusal = api_error(trading.get_account)

    assert (refusal.status_code, refusal.code) == (500, 50010000)
    assert trading.get_account().cash == "10000"


def test_reads_are_retried_on_429_as_well_as_order_posts(
    fake: FakeAlpaca, trading: TradingClient, no_retry_wait: list[float]
) -> None:
    fake.fail_next("GET", "/v2/positions", 429, count=2)

    assert trading.get_all_positions() == []
    assert fake.requests.count(("GET", "/v2/positions")) == 3
    assert no_retry_wait == [3, 3]


def test_an_unknown_endpoint_is_alpacas_404(fake: FakeAlpaca) -> None:
    headers = {"APCA-API-KEY-ID": "test-key", "APCA-API-SECRET-KEY": "test-secret"}

    response = requests.get(f"{fake.url}/v2/watchlists", headers=headers, timeout=5)

    assert response.status_code == 404
    assert response.json() == {"code": 40410000, "message": "endpoint not found"}


def test_the_clock_and_calendar_parse_into_alpaca_models(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.set_clock(datetime(2024, 1, 5, 20, 0, tzinfo=UTC))  # Friday 15:00 in New York

    clock = trading.get_clock()
    days = trading.get_calendar(GetCalendarRequest(start=date(2024, 1, 5), end=date(2024, 1, 9)))

    assert clock.is_open is True
    assert clock.next_close == datetime(2024, 1, 5, 21, 0, tzinfo=UTC)
    assert clock.next_open == datetime(2024, 1, 8, 14, 30, tzinfo=UTC)
    assert [d.date for d in days] == [date(2024, 1, 5), date(2024, 1, 8), date(2024, 1, 9)]
    assert (days[0].open, days[0].close) == (datetime(2024, 1, 5, 9, 30), datetime(2024, 1, 5, 16, 0))


def test_the_default_clock_follows_weekday_sessions_in_new_york(trading: TradingClient) -> None:
    clock = trading.get_clock()

    assert clock.timestamp < clock.next_open
    assert clock.timestamp < clock.next_close
    assert (clock.next_close < clock.next_open) is clock.is_open
    assert clock.next_open.astimezone(ZoneInfo("America/New_York")).time() == dt_time(9, 30)


def test_a_configured_calendar_drives_both_the_calendar_and_the_clock(fake: FakeAlpaca, trading: TradingClient) -> None:
    fake.set_calendar([date(2024, 1, 2), date(2024, 1, 4)])
    fake.set_clock(datetime(2024, 1, 2, 22, 0, tzinfo=UTC))

    days = trading.get_calendar(GetCalendarRequest(start=date(2024, 1, 1), end=date(2024, 1, 31)))
    clock = trading.get_clock()

    assert [d.date for d in days] == [date(2024, 1, 2), date(2024, 1, 4)]
    assert (clock.is_open, clock.next_open) == (False, datetime(2024, 1, 4, 14, 30, tzinfo=UTC))


def test_daily_bars_are_paged_and_stamped_at_new_york_midnight(fake: FakeAlpaca) -> None:
    first = date(2021, 1, 4)
    rows = [
        {
            "date": first + timedelta(days=n),
            "open": 10 + n,
            "high": 11 + n,
            "low": 9 + n,
            "close": 10.5 + n,
            "volume": 1000,
        }
        for n in range(5)
    ]
    fake.add_bars("AAPL", rows)
    fake.add_bars("MSFT", rows[:2])
    fake.bars_page_size = 2
    data = StockHistoricalDataClient("test-key", "test-secret", url_override=fake.url)
    request = StockBarsRequest(
        symbol_or_symbols=["AAPL", "MSFT"],
        timeframe=TimeFrame.Day,
        start=datetime(2021, 1, 1, tzinfo=UTC),
        end=datetime(2021, 1, 7, tzinfo=UTC),  # leaves out the bar of 7 January, stamped 05:00Z
        feed=DataFeed.IEX,
        adjustment=Adjustment.RAW,
    )

    bars = data.get_stock_bars(request)

    assert [b.timestamp for b in bars["AAPL"]] == [datetime(2021, 1, d, 5, 0, tzinfo=UTC) for d in (4, 5, 6)]
    assert [b.close for b in bars["MSFT"]] == [10.5, 11.5]
    assert (bars["AAPL"][0].volume, bars["AAPL"][0].trade_count, bars["AAPL"][0].vwap) == (1000, 1, 10.5)
    pages = [r for r in fake.request_log if r.path == "/v2/stocks/bars"]
    assert len(pages) == 3
    assert {(p.query["timeframe"], p.query["feed"], p.query["adjustment"]) for p in pages} == {("1Day", "iex", "raw")}
    assert "page_token" not in pages[0].query
    assert all(p.query.get("page_token") for p in pages[1:])


def test_a_bars_limit_caps_the_total_across_pages(fake: FakeAlpaca) -> None:
    fake.add_bars(
        "AAPL",
        [{"date": date(2021, 3, d), "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1} for d in range(1, 11)],
    )
    fake.bars_page_size = 2
    data = StockHistoricalDataClient("test-key", "test-secret", url_override=fake.url)
    request = StockBarsRequest(
        symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=datetime(2021, 3, 1, tzinfo=UTC), limit=5
    )

    bars = data.get_stock_bars(request)

    assert len(bars["AAPL"]) == 5
    asked = [int(r.query["limit"]) for r in fake.request_log if r.path == "/v2/stocks/bars"]
    assert asked == [5, 3, 1]


def test_dividends_and_splits_parse_into_alpaca_models_filtered_by_process_date_and_paged(fake: FakeAlpaca) -> None:
    fake.add_dividend("AAPL", date(2024, 2, 9), "0.24")
    fake.add_dividend("MSFT", date(2024, 2, 14), 0.75, process_date=date(2024, 3, 14))
    fake.add_split("NVDA", date(2024, 6, 10), 10, 1)
    fake.add_split("AAPL", date(2024, 3, 1), 1, 4)
    fake.add_dividend("AAPL", date(2023, 11, 10), "0.24")  # processed before the window
    fake.add_dividend("IBM", date(2024, 2, 8), "1.66")  # a symbol not asked for
    fake.actions_page_size = 2
    client = CorporateActionsClient("test-key", "test-secret", url_override=fake.url)
    request = CorporateActionsRequest(
        symbols=["AAPL", "MSFT", "NVDA"],
        types=[
            CorporateActionsType.CASH_DIVIDEND,
            CorporateActionsType.FORWARD_SPLIT,
            CorporateActionsType.REVERSE_SPLIT,
        ],
        start=date(2024, 1, 1),
        end=date(2024, 6, 30),
    )

    actions = client.get_corporate_actions(request)

    assert isinstance(actions, CorporateActionsSet)
    dividends = actions.data["cash_dividends"]
    assert [(d.symbol, d.ex_date, d.rate, d.process_date) for d in dividends] == [
        ("AAPL", date(2024, 2, 9), 0.24, date(2024, 2, 9)),
        ("MSFT", date(2024, 2, 14), 0.75, date(2024, 3, 14)),
    ]
    assert all(isinstance(d, CashDividend) and not d.special for d in dividends)
    (forward,) = actions.data["forward_splits"]
    (reverse,) = actions.data["reverse_splits"]
    assert isinstance(forward, ForwardSplit)
    assert isinstance(reverse, ReverseSplit)
    assert (forward.symbol, forward.ex_date, forward.new_rate, forward.old_rate) == ("NVDA", date(2024, 6, 10), 10, 1)
    assert (reverse.symbol, reverse.new_rate, reverse.old_rate) == ("AAPL", 1, 4)
    pages = [r for r in fake.request_log if r.path == "/v1/corporate-actions"]
    assert len(pages) == 2
    assert pages[0].query["types"] == "cash_dividend,forward_split,reverse_split"
    assert (pages[0].query["start"], pages[0].query["end"]) == ("2024-01-01", "2024-06-30")
