from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Row, func, insert, select

from tests.factories import BAR_HEADER, weekdays, write_text
from trading.brokers.base import OrderRequest, OrderSide, OrderStatus, deterministic_client_order_id
from trading.brokers.paper import RECENT_CLOSE_WINDOW, LedgerAhead, PaperBroker, session_open_utc
from trading.db.schema import TradeExecution
from trading.errors import DataError, OrderNotFound, OrderRejected
from trading.execution.costs import CommissionModel, CostModels, SlippageModel, round_money
from trading.marketdata.bars_import import import_bar_files
from trading.store.accounts import create_paper_account, get_paper_account, paper_positions

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
# June: New York is on daylight time, so 09:30 there is 13:30 UTC.
DAYS = weekdays(date(2024, 6, 3), 5)
T0, T1, T2, T3, T4 = DAYS
# 10 bps against the order; one cent a share with a one-dollar minimum.
COSTS = CostModels(SlippageModel(D("10")), CommissionModel(D("0.01"), D("1.00")))
NOW = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
_files = itertools.count()


@dataclass(frozen=True)
class Bar:
    ticker: str
    day: date
    open: str | None
    close: str
    dividend: str = "0"
    split: str = "1"

    def line(self) -> str:
        prices = [D(self.close)] + ([] if self.open is None else [D(self.open)])
        return (
            f"{self.day},{self.ticker},{self.open or ''},{max(prices)},{min(prices)},{self.close},{self.close},"
            f"1000000,{self.dividend},{self.split}"
        )


def standard_bars() -> dict[tuple[str, date], Bar]:
    """SPY, AAA and BBB on T0..T4. AAA opens at 99, 101, 103, ... and closes 1 above its open; BBB at 50, 51, ..."""
    bars: dict[tuple[str, date], Bar] = {}
    for i, day in enumerate(DAYS):
        bars["SPY", day] = Bar("SPY", day, str(400 + i), str(D("400.5") + i))
        bars["AAA", day] = Bar("AAA", day, str(99 + 2 * i), str(100 + 2 * i))
        bars["BBB", day] = Bar("BBB", day, str(50 + i), str(D("50.5") + i))
    return bars


def load(
    engine: Engine, folder: Path, *changes: Bar, without: Iterable[tuple[str, date]] = ()
) -> dict[tuple[str, date], Bar]:
    """Import the standard market, `changes` replacing its bars and `without` left out, with the real importer."""
    bars = standard_bars()
    bars.update({(bar.ticker, bar.day): bar for bar in changes})
    for key in without:
        del bars[key]
    lines = "\n".join(bar.line() for bar in bars.values())
    path = write_text(folder / f"bars-{next(_files)}.csv", f"{BAR_HEADER}\n{lines}")
    import_bar_files(engine, [path], strict=True)
    return bars


def after(day: date) -> list[tuple[str, date]]:
    return [(ticker, d) for d in DAYS if d > day for ticker in ("SPY", "AAA", "BBB")]


def broker(engine: Engine, day: date, account: str = "A") -> PaperBroker:
    return PaperBroker(engine, account, session=day, costs=COSTS, benchmark="SPY", clock=lambda: NOW)


def order(
    side: OrderSide, ticker: str, quantity: str, day: date = T0, account: str = "A", attempt: int = 0
) -> OrderRequest:
    client_id = deterministic_client_order_id(account, day, ticker, side, attempt)
    return OrderRequest(client_id, ticker, side, D(quantity))


def row(engine: Engine, client_order_id: str) -> Row[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(TradeExecution.__table__).where(TradeExecution.client_order_id == client_order_id)
        ).one()


def order_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(TradeExecution)).scalar_one())


def holdings(engine: Engine, account: str = "A") -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {p.ticker: (p.quantity, p.average_price, p.market_value) for p in paper_positions(engine, account)}


def cash(engine: Engine, account: str = "A") -> Decimal:
    return get_paper_account(engine, account).cash


def bought_ten_aaa(engine: Engine, starting_cash: str = "10000") -> None:
    """Buy 10 AAA after T0's close: it fills at T1's open 101 + 10 bps = 101.101, plus a 1.00 commission."""
    create_paper_account(engine, "A", D(starting_cash))
    broker(engine, T0).submit(order(BUY, "AAA", "10"))
    assert broker(engine, T1).settle().fills == (order(BUY, "AAA", "10").client_order_id,)


# --- the fill at the next open -----------------------------------------------------------------


def test_an_order_sent_after_a_close_fills_at_the_next_open_with_slippage_and_commission(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    sent = broker(engine, T0).submit(request)
    assert (sent.status, sent.filled_quantity, sent.average_fill_price, sent.submitted_at) == (
        OrderStatus.SUBMITTED,
        D(0),
        None,
        NOW,
    )

    settlement = broker(engine, T1).settle()

    assert (settlement.sessions_applied, settlement.fills) == ((T1,), (request.client_order_id,))
    # 10 x 101.101 = 1011.01, plus the 1.00 minimum commission.
    assert (settlement.cash, settlement.positions_value) == (D("8987.99"), D("1020"))
    account = get_paper_account(engine, "A")
    assert (account.cash, account.buying_power) == (D("8987.99"), D("8987.99"))
    assert (account.total_value, account.peak_value, account.settled_through) == (D("10007.99"), D("10007.99"), T1)
    assert holdings(engine) == {"AAA": (D("10"), D("101.101"), D("1020"))}
    stored = row(engine, request.client_order_id)
    assert stored.status == "filled"
    assert (stored.price, stored.filled_quantity, stored.commission) == (D("101.101"), D("10"), D("1"))
    assert stored.filled_at == datetime(2024, 6, 4, 13, 30, tzinfo=UTC) == session_open_utc(T1)
    assert (stored.session_date, stored.reason, stored.order_id) == (T0, None, sent.order_id)
    read_back = broker(engine, T1).get_order(sent.order_id)
    assert (read_back.status, read_back.filled_quantity, read_back.average_fill_price) == (
        OrderStatus.FILLED,
        D("10"),
        D("101.101"),
    )
    assert read_back.filled_at == session_open_utc(T1)


def test_the_session_open_is_half_past_nine_in_new_york_in_either_season() -> None:
    assert session_open_utc(date(2024, 1, 2)) == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert session_open_utc(date(2024, 7, 1)) == datetime(2024, 7, 1, 13, 30, tzinfo=UTC)


def test_a_sale_fills_at_the_next_open_less_slippage_and_keeps_the_average_price(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    bought_ten_aaa(engine)
    broker(engine, T1).submit(order(SELL, "AAA", "4", T1))
    broker(engine, T2).settle()
    # 4 x (103 - 10 bps) = 4 x 102.897 = 411.588, less the 1.00 commission.
    assert cash(engine) == D("8987.99") + D("411.588") - D("1")
    assert holdings(engine) == {"AAA": (D("6"), D("101.101"), D("624"))}


def test_a_ledger_settled_several_sessions_late_fills_at_the_session_after_the_order_was_sent(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    broker(engine, T0).submit(request)
    settlement = broker(engine, T3).settle()
    assert settlement.sessions_applied == (T1, T2, T3)
    stored = row(engine, request.client_order_id)
    assert (stored.price, stored.filled_at) == (D("101.101"), session_open_utc(T1))
    # Marked at T3's close, the session the broker trades after.
    assert holdings(engine) == {"AAA": (D("10"), D("101.101"), D("1060"))}


def test_an_order_stays_submitted_while_the_ledger_is_at_the_close_it_was_sent_after(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    at_close = broker(engine, T0)
    at_close.submit(request)
    settlement = at_close.settle()
    assert (settlement.sessions_applied, settlement.fills) == ((), ())
    assert row(engine, request.client_order_id).status == "submitted"
    assert [o.client_order_id for o in at_close.open_orders()] == [request.client_order_id]
    assert (cash(engine), holdings(engine)) == (D("10000"), {})
    assert get_paper_account(engine, "A").settled_through == T0
    broker(engine, T1).settle()
    assert row(engine, request.client_order_id).status == "filled"


def test_a_session_without_its_bars_cannot_be_settled_and_its_orders_stay_submitted(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, without=after(T0))
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    broker(engine, T0).submit(request)
    with pytest.raises(DataError, match=f"no SPY bar on {T1} yet"):
        broker(engine, T1).settle()
    assert row(engine, request.client_order_id).status == "submitted"
    assert (cash(engine), holdings(engine)) == (D("10000"), {})
    assert get_paper_account(engine, "A").settled_through is None


def test_an_order_waiting_for_a_late_bar_fills_at_its_open_once_the_bar_arrives(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, without=after(T0))
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    broker(engine, T0).submit(request)
    with pytest.raises(DataError):
        broker(engine, T1).settle()
    load(engine, tmp_path)
    broker(engine, T1).settle()
    stored = row(engine, request.client_order_id)
    assert (stored.status, stored.price) == ("filled", D("101.101"))


def test_a_bar_without_an_open_fills_at_its_close_and_the_order_says_so(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, Bar("AAA", T1, None, "102"))
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    broker(engine, T0).submit(request)
    broker(engine, T1).settle()
    stored = row(engine, request.client_order_id)
    assert (stored.status, stored.price) == ("filled", D("102.102"))
    assert stored.reason == f"filled at the close: the {T1} bar has no open"
    assert broker(engine, T1).get_order(stored.order_id).reason == stored.reason


def test_sells_settle_before_buys_so_a_sale_can_fund_a_buy_sent_after_the_same_close(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    bought_ten_aaa(engine, starting_cash="1100")
    assert cash(engine) == D("87.99")
    # The buy is sent first (a lower id): only the side can put the sale ahead of it.
    buy = order(BUY, "BBB", "20", T1)
    sell = order(SELL, "AAA", "10", T1)
    at_t1 = broker(engine, T1)
    at_t1.submit(buy)
    at_t1.submit(sell)
    settlement = broker(engine, T2).settle()
    assert settlement.fills == (sell.client_order_id, buy.client_order_id)
    # + 10 x 102.897 - 1 = 1027.97, then - 20 x 52.052 - 1 = 1042.04.
    assert cash(engine) == D("87.99") + D("1027.97") - D("1042.04")
    assert holdings(engine) == {"BBB": (D("20"), D("52.052"), D("1050"))}


def test_a_buy_that_would_make_cash_negative_is_rejected_with_the_numbers_and_nothing_changes(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("1000"))
    request = order(BUY, "AAA", "10")
    broker(engine, T0).submit(request)
    settlement = broker(engine, T1).settle()
    assert [client_id for client_id, _ in settlement.rejected] == [request.client_order_id]
    stored = row(engine, request.client_order_id)
    assert stored.status == "rejected"
    assert "needs 1012.01" in stored.reason
    assert "gross 1011.01" in stored.reason
    assert "commission 1.00" in stored.reason
    assert "only 1000" in stored.reason
    assert (stored.price, stored.filled_quantity, stored.commission, stored.filled_at) == (None, None, None, None)
    assert (cash(engine), holdings(engine)) == (D("1000"), {})
    assert get_paper_account(engine, "A").total_value == D("1000")


def test_a_buy_that_no_longer_fits_after_an_earlier_buy_is_rejected_whole_not_filled_in_part(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("1600"))
    first, second = order(BUY, "AAA", "10"), order(BUY, "BBB", "20")
    at_t0 = broker(engine, T0)
    at_t0.submit(first)
    at_t0.submit(second)
    settlement = broker(engine, T1).settle()
    assert settlement.fills == (first.client_order_id,)
    assert [client_id for client_id, _ in settlement.rejected] == [second.client_order_id]
    # 1600 - 1012.01 leaves 587.99; 20 BBB at 51.051 need 1022.02.
    assert "needs 1022.02" in row(engine, second.client_order_id).reason
    assert cash(engine) == D("587.99")
    assert set(holdings(engine)) == {"AAA"}


def test_an_order_whose_ticker_has_no_bar_on_the_fill_session_expires_with_a_reason(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, without=[("BBB", T1)])
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "BBB", "10")
    broker(engine, T0).submit(request)
    settlement = broker(engine, T2).settle()
    assert [client_id for client_id, _ in settlement.expired] == [request.client_order_id]
    stored = row(engine, request.client_order_id)
    assert stored.status == "expired"
    assert stored.reason == f"expired: no bar for BBB on {T1}, the session after it was sent (halted or delisted)"
    assert (cash(engine), holdings(engine)) == (D("10000"), {})


# --- corporate actions and marking ---------------------------------------------------------------


def test_a_split_doubles_a_held_quantity_and_halves_its_average_price_keeping_the_cost(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "51.5", "52", split="2"))
    bought_ten_aaa(engine)
    settlement = broker(engine, T2).settle()
    assert [(day, ticker, D(coef)) for day, ticker, coef in settlement.splits] == [(T2, "AAA", D(2))]
    quantity, average, value = holdings(engine)["AAA"]
    assert (quantity, average, value) == (D("20"), D("50.5505"), D("1040"))
    assert quantity * average == D("10") * D("101.101")
    assert cash(engine) == D("8987.99")


def test_a_sale_resting_across_a_split_is_adjusted_by_the_split(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "51.5", "52", split="2"))
    bought_ten_aaa(engine)
    request = order(SELL, "AAA", "5", T1)
    broker(engine, T1).submit(request)
    broker(engine, T2).settle()
    stored = row(engine, request.client_order_id)
    assert (stored.status, stored.filled_quantity, stored.price) == ("filled", D("10"), D("51.4485"))
    assert f"split on {T2}" in stored.reason
    assert holdings(engine) == {"AAA": (D("10"), D("50.5505"), D("520"))}
    # + 10 x 51.4485 - 1
    assert cash(engine) == D("8987.99") + D("514.485") - D("1")


def test_an_order_adjusted_for_a_split_can_still_be_read_back(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "51.5", "52", split="2"))
    bought_ten_aaa(engine)
    request = order(SELL, "AAA", "5", T1)
    sent = broker(engine, T1).submit(request)
    at_t2 = broker(engine, T2)
    at_t2.settle()
    read_back = at_t2.get_order(sent.order_id)
    assert (read_back.status, read_back.filled_quantity) == (OrderStatus.FILLED, read_back.quantity)
    assert at_t2.find_by_client_order_id(request.client_order_id) == read_back


def test_a_cash_dividend_credits_the_held_quantity_times_the_dividend(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "103", "104", dividend="0.5"))
    bought_ten_aaa(engine)
    settlement = broker(engine, T2).settle()
    assert settlement.dividends == ((T2, "AAA", D("5")),)
    assert cash(engine) == D("8987.99") + D("5")
    assert get_paper_account(engine, "A").total_value == D("8992.99") + D("1040")


def test_a_sale_at_the_ex_date_open_keeps_the_dividend_and_a_purchase_then_does_not_get_it(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "103", "104", dividend="0.5"), Bar("BBB", T2, "52", "52.5", dividend="1"))
    bought_ten_aaa(engine)
    at_t1 = broker(engine, T1)
    at_t1.submit(order(SELL, "AAA", "10", T1))
    at_t1.submit(order(BUY, "BBB", "10", T1))
    settlement = broker(engine, T2).settle()
    assert settlement.dividends == ((T2, "AAA", D("5")),)
    assert set(holdings(engine)) == {"BBB"}


def test_positions_are_marked_at_the_session_close_and_the_peak_keeps_the_highest_value(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, Bar("AAA", T4, "95", "90"))
    bought_ten_aaa(engine)
    at_t3 = broker(engine, T3)
    settlement = at_t3.settle()
    assert (settlement.positions_value, settlement.equity) == (D("1060"), D("10047.99"))
    account = get_paper_account(engine, "A")
    assert (account.total_value, account.peak_value, account.settled_through) == (D("10047.99"), D("10047.99"), T3)
    assert [(p.ticker, p.market_value) for p in at_t3.positions()] == [("AAA", D("1060"))]
    snapshot = at_t3.account()
    assert (snapshot.cash, snapshot.buying_power, snapshot.equity, snapshot.as_of) == (
        D("8987.99"),
        D("8987.99"),
        D("10047.99"),
        NOW,
    )
    broker(engine, T4).settle()
    account = get_paper_account(engine, "A")
    assert (account.total_value, account.peak_value) == (D("9887.99"), D("10047.99"))
    assert holdings(engine) == {"AAA": (D("10"), D("101.101"), D("900"))}


def test_a_position_without_a_bar_for_weeks_is_marked_at_its_last_close(engine: Engine, tmp_path: Path) -> None:
    # AAA trades until T2, then is halted for four weeks of benchmark sessions: its mark is its last close.
    later = weekdays(date(2024, 6, 10), 20)
    load(
        engine,
        tmp_path,
        *(
            Bar(ticker, day, "400" if ticker == "SPY" else "50", "401" if ticker == "SPY" else "51")
            for day in later
            for ticker in ("SPY", "BBB")
        ),
        without=[("AAA", T3), ("AAA", T4)],
    )
    bought_ten_aaa(engine)
    broker(engine, later[-1]).settle()
    assert later[-1] - T2 > RECENT_CLOSE_WINDOW
    assert holdings(engine)["AAA"][2] == D("10") * D("104")  # T2's close


def test_settling_a_session_again_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "103", "104", dividend="0.5"))
    bought_ten_aaa(engine)
    broker(engine, T2).settle()
    before = (get_paper_account(engine, "A"), holdings(engine))
    again = broker(engine, T2).settle()
    assert (again.sessions_applied, again.dividends, again.fills) == ((), (), ())
    after_again = get_paper_account(engine, "A")
    assert (after_again.cash, after_again.total_value, holdings(engine)) == (
        before[0].cash,
        before[0].total_value,
        before[1],
    )


# --- submit: idempotency and refusals ------------------------------------------------------------


def test_a_repeated_submit_returns_the_order_already_sent_and_writes_one_row(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    at_t0 = broker(engine, T0)
    first = at_t0.submit(order(BUY, "AAA", "10"))
    again = broker(engine, T0).submit(order(BUY, "AAA", "10"))
    assert again == first
    assert first.order_id.startswith("paper-")
    assert order_rows(engine) == 1
    assert at_t0.find_by_client_order_id(first.client_order_id or "") == first
    assert at_t0.get_order(first.order_id) == first


def test_a_client_order_id_reused_for_a_different_order_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    broker(engine, T0).submit(request)
    with pytest.raises(OrderRejected, match="belongs to buy 10"):
        broker(engine, T0).submit(OrderRequest(request.client_order_id, "AAA", BUY, D("11")))
    assert order_rows(engine) == 1
    assert row(engine, request.client_order_id).quantity == D("10")


def insert_planned(engine: Engine, request: OrderRequest, account: str = "A") -> int:
    """The row the daily run writes before it sends an order."""
    with engine.begin() as connection:
        result = connection.execute(
            insert(TradeExecution).values(
                client_order_id=request.client_order_id,
                broker="paper",
                account_id=account,
                ticker=request.ticker,
                side=request.side.value,
                quantity=request.quantity,
                order_type="market",
                status="planned",
            )
        )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def test_a_planned_row_is_taken_over_by_the_submit_not_duplicated(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    planned_id = insert_planned(engine, request)
    at_t0 = broker(engine, T0)
    assert at_t0.find_by_client_order_id(request.client_order_id) is None
    sent = at_t0.submit(request)
    assert (sent.order_id, sent.status) == (f"paper-{planned_id}", OrderStatus.SUBMITTED)
    assert order_rows(engine) == 1
    stored = row(engine, request.client_order_id)
    assert (stored.id, stored.status, stored.session_date, stored.submitted_at) == (planned_id, "submitted", T0, NOW)
    assert at_t0.find_by_client_order_id(request.client_order_id) == sent
    broker(engine, T1).settle()
    assert row(engine, request.client_order_id).status == "filled"


def test_a_planned_row_that_differs_from_the_request_is_not_silently_kept(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    planned = order(BUY, "AAA", "10")
    insert_planned(engine, planned)
    request = OrderRequest(planned.client_order_id, "AAA", BUY, D("12"))
    with pytest.raises(OrderRejected, match="belongs to buy 10"):
        broker(engine, T0).submit(request)
    assert row(engine, planned.client_order_id).status == "planned"


def test_find_by_client_order_id_is_none_for_an_unknown_id_and_for_another_accounts_order(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    create_paper_account(engine, "B", D("10000"))
    sent = broker(engine, T0, "B").submit(order(BUY, "AAA", "1", account="B"))
    at_t0 = broker(engine, T0)
    assert at_t0.find_by_client_order_id("af-never-sent") is None
    assert at_t0.find_by_client_order_id(sent.client_order_id or "") is None
    with pytest.raises(OrderNotFound, match="paper account A has no order"):
        at_t0.get_order(sent.order_id)


def assert_refused(engine: Engine, at: PaperBroker, request: OrderRequest, reason: str) -> None:
    with pytest.raises(OrderRejected, match=reason):
        at.submit(request)
    stored = row(engine, request.client_order_id)
    assert stored.status == "rejected"
    assert re.search(reason, stored.reason)
    assert stored.order_id is not None
    found = at.find_by_client_order_id(request.client_order_id)
    assert found is not None
    assert found.status == OrderStatus.REJECTED
    assert request.client_order_id not in {o.client_order_id for o in at.open_orders()}


def test_a_fraction_of_a_share_is_refused_on_a_whole_share_account(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    at_t0 = broker(engine, T0)
    assert at_t0.capabilities.fractional_shares is False
    assert_refused(engine, at_t0, order(BUY, "AAA", "1.5"), r"1\.5 is not a whole number of shares")


def test_a_fractional_account_buys_and_holds_a_fraction_of_a_share(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"), fractional_shares=True)
    at_t0 = broker(engine, T0)
    assert at_t0.capabilities.fractional_shares is True
    at_t0.submit(order(BUY, "AAA", "1.5"))
    broker(engine, T1).settle()
    assert holdings(engine) == {"AAA": (D("1.5"), D("101.101"), D("153"))}
    # 1.5 x 101.101 = 151.6515, plus the 1.00 minimum commission.
    assert cash(engine) == D("10000") - D("151.6515") - D("1")


def test_a_ticker_without_a_price_by_the_session_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, without=[("BBB", T0)])
    create_paper_account(engine, "A", D("10000"))
    at_t0 = broker(engine, T0)
    assert_refused(engine, at_t0, order(BUY, "ZZZ", "1"), f"no price data for ZZZ on or before {T0}")
    # BBB's first bar is the next session's: unknown at T0's close.
    assert_refused(engine, at_t0, order(BUY, "BBB", "1"), f"no price data for BBB on or before {T0}")


def test_selling_more_than_is_held_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    bought_ten_aaa(engine)
    at_t1 = broker(engine, T1)
    assert_refused(engine, at_t1, order(SELL, "AAA", "11", T1), r"only 10(\.0+)? held")
    # Zero is printed as 0 on PostgreSQL and as 0E-9 on SQLite; the amount is what matters.
    assert_refused(engine, at_t1, order(SELL, "BBB", "1", T1), r"only 0(E-9)? held")


def test_shares_already_being_sold_by_a_waiting_order_cannot_be_sold_again(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    bought_ten_aaa(engine)
    at_t1 = broker(engine, T1)
    at_t1.submit(order(SELL, "AAA", "6", T1))
    assert_refused(
        engine, at_t1, order(SELL, "AAA", "5", T1, attempt=1), r"only 4(\.0+)? held and not already being sold"
    )
    assert at_t1.submit(order(SELL, "AAA", "4", T1, attempt=2)).status == OrderStatus.SUBMITTED


def test_a_refused_order_is_not_filled_by_a_later_settlement(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "1.5")
    with pytest.raises(OrderRejected):
        broker(engine, T0).submit(request)
    assert broker(engine, T1).settle().fills == ()
    assert (row(engine, request.client_order_id).status, holdings(engine)) == ("rejected", {})


# --- get, cancel, ledger order ---------------------------------------------------------------------


def test_an_unknown_order_id_is_not_found(engine: Engine) -> None:
    create_paper_account(engine, "A", D("1"))
    with pytest.raises(OrderNotFound, match="paper account A has no order paper-404"):
        broker(engine, T0).get_order("paper-404")


def test_cancelling_a_submitted_order_cancels_it_and_it_never_fills(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    at_t0 = broker(engine, T0)
    sent = at_t0.submit(order(BUY, "AAA", "10"))
    at_t0.cancel(sent.order_id)
    canceled = at_t0.get_order(sent.order_id)
    assert (canceled.status, canceled.reason) == (OrderStatus.CANCELED, "canceled on request")
    assert at_t0.open_orders() == []
    assert broker(engine, T1).settle().fills == ()
    assert (cash(engine), holdings(engine)) == (D("10000"), {})


def test_cancelling_a_filled_order_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    bought_ten_aaa(engine)
    at_t1 = broker(engine, T1)
    filled = at_t1.find_by_client_order_id(order(BUY, "AAA", "10").client_order_id)
    assert filled is not None
    at_t1.cancel(filled.order_id)
    assert at_t1.get_order(filled.order_id) == filled
    assert holdings(engine)["AAA"][0] == D("10")


def test_a_broker_cannot_open_for_a_session_before_the_one_the_ledger_is_settled_through(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    broker(engine, T2).settle()
    with pytest.raises(LedgerAhead, match=f"settled through {T2}; it cannot trade after the earlier close of {T1}"):
        broker(engine, T1)
    assert broker(engine, T2).session == T2


def test_a_broker_whose_session_the_ledger_passed_meanwhile_refuses_to_settle(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    stale = broker(engine, T1)
    broker(engine, T2).settle()
    with pytest.raises(LedgerAhead, match=f"settled through {T2}"):
        stale.settle()
    assert get_paper_account(engine, "A").settled_through == T2


def test_an_order_sent_for_a_session_the_ledger_passed_meanwhile_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    stale = broker(engine, T0)
    broker(engine, T1).settle()
    with pytest.raises(LedgerAhead, match=f"settled through {T1}"):
        stale.submit(order(BUY, "AAA", "10"))
    assert order_rows(engine) == 0


def test_the_broker_names_itself_paper_and_deduplicates_client_ids(engine: Engine) -> None:
    create_paper_account(engine, "A", D("1"))
    at_t0 = broker(engine, T0)
    assert at_t0.name == "paper"
    assert at_t0.capabilities.client_order_ids is True
    assert at_t0.capabilities.notional_orders is False


# --- the ledger's invariants ---------------------------------------------------------------------

PROPERTY_MARKET = (
    Bar("AAA", T2, "51.5", "52", split="2"),
    Bar("AAA", T3, "52.5", "53"),
    Bar("AAA", T4, "53.5", "54"),
    Bar("BBB", T3, "53", "53.5", dividend="0.4"),
)
trades = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.sampled_from(["AAA", "BBB"]), st.integers(1, 30)), max_size=4
)


def test_after_any_settled_trades_cash_and_marked_positions_add_up_and_cash_never_goes_negative(
    engine: Engine, tmp_path: Path
) -> None:
    bars = load(engine, tmp_path, *PROPERTY_MARKET)
    accounts = itertools.count()

    @settings(max_examples=25, deadline=None)
    @given(starting_cash=st.sampled_from(["500", "2500", "10000"]), days=st.lists(trades, min_size=4, max_size=4))
    def check(starting_cash: str, days: list[list[tuple[OrderSide, str, int]]]) -> None:
        account = f"H{next(accounts)}"
        create_paper_account(engine, account, D(starting_cash))
        dividends = D(0)
        for day, sent in zip(DAYS, days, strict=False):
            at = broker(engine, day, account)
            dividends += sum((amount for _, _, amount in at.settle().dividends), D(0))
            for attempt, (side, ticker, quantity) in enumerate(sent):
                # A sale of more than is held is refused at once, as it should be.
                with contextlib.suppress(OrderRejected):
                    at.submit(order(side, ticker, str(quantity), day, account, attempt))
        final = broker(engine, T4, account).settle()
        dividends += sum((amount for _, _, amount in final.dividends), D(0))

        state = get_paper_account(engine, account)
        assert state.cash >= 0
        marked = sum(
            (round_money(p.quantity * D(bars[p.ticker, T4].close)) for p in paper_positions(engine, account)), D(0)
        )
        assert state.cash + marked == state.total_value
        with engine.connect() as connection:
            fills = connection.execute(
                select(
                    TradeExecution.side, TradeExecution.price, TradeExecution.filled_quantity, TradeExecution.commission
                ).where(TradeExecution.account_id == account, TradeExecution.status == "filled")
            ).all()
        flows = D(0)
        for side, price, quantity, commission in fills:
            gross = round_money(D(quantity) * D(price))
            flows += -(gross + D(commission)) if side == "buy" else gross - D(commission)
        assert state.cash == D(starting_cash) + flows + dividends

    check()
