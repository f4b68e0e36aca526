"""The paper venue against both databases: fills at the next open, corporate actions, delistings, its own
books (which must add up), read-only syncs, and the Broker interface's answers and refusals."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Row, func, insert, select

from tests.factories import BAR_HEADER, write_text
from trading.brokers.base import BrokerCapabilities, SyncReport, VenueEvent, VenueEventKind
from trading.brokers.paper.venue import LedgerAhead, PaperVenue, ReadOnlyVenue
from trading.db.schema import (
    Base,
    PaperCashEntry,
    PaperFill,
    PaperOrder,
    PaperPosition,
    PaperPositionChange,
    TradeExecution,
)
from trading.errors import DataError, FundError, OrderNotFound, OrderRejected
from trading.execution.costs import CommissionModel, CostModels, SlippageModel, round_money
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import TradingCalendar, session_open_utc
from trading.orders import (
    AccountSnapshot,
    BrokerPosition,
    OrderRequest,
    OrderSide,
    OrderStatus,
    deterministic_client_order_id,
)
from trading.store.accounts import UnknownAccount, create_paper_account, get_paper_account

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
# Real XNYS sessions (June 2024 has no holiday before the 19th).
DAYS = [date(2024, 6, day) for day in (3, 4, 5, 6, 7, 10, 11, 12, 13, 14)]
T0, T1, T2, T3, T4, T5, T6, T7, T8, T9 = DAYS
# 10 bps against the order; one cent a share with a one-dollar minimum.
COSTS = CostModels(SlippageModel(D("10")), CommissionModel(D("0.01"), D("1.00")))
NOW = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
DELISTED_AFTER = 3
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
    """SPY, AAA and BBB on every day: AAA opens at 99, 101, 103, ... and closes 1 above; BBB at 50, 51, ..."""
    bars: dict[tuple[str, date], Bar] = {}
    for i, day in enumerate(DAYS):
        bars["SPY", day] = Bar("SPY", day, str(400 + i), str(D("400.5") + i))
        bars["AAA", day] = Bar("AAA", day, str(99 + 2 * i), str(100 + 2 * i))
        bars["BBB", day] = Bar("BBB", day, str(50 + i), str(D("50.5") + i))
    return bars


def load(engine: Engine, folder: Path, *changes: Bar, without: Iterable[tuple[str, date]] = ()) -> None:
    """Import the standard market, `changes` replacing its bars and `without` left out, with the real importer."""
    bars = standard_bars()
    bars.update({(bar.ticker, bar.day): bar for bar in changes})
    for key in without:
        del bars[key]
    lines = "\n".join(bar.line() for bar in bars.values())
    path = write_text(folder / f"bars-{next(_files)}.csv", f"{BAR_HEADER}\n{lines}")
    import_bar_files(engine, [path], strict=True)


def after(day: date, tickers: Iterable[str] = ("SPY", "AAA", "BBB")) -> list[tuple[str, date]]:
    return [(ticker, d) for d in DAYS if d > day for ticker in tickers]


def venue(
    engine: Engine, account: str = "A", *, read_only: bool = False, delisted_after: int = DELISTED_AFTER
) -> PaperVenue:
    return PaperVenue(
        engine,
        account,
        costs=COSTS,
        calendar=TradingCalendar.from_database(engine, "SPY"),
        benchmark="SPY",
        delisted_after_sessions=delisted_after,
        read_only=read_only,
        clock=lambda: NOW,
    )


def synced(engine: Engine, day: date, account: str = "A", *, delisted_after: int = DELISTED_AFTER) -> PaperVenue:
    at = venue(engine, account, delisted_after=delisted_after)
    at.sync(day)
    return at


def order(
    side: OrderSide, ticker: str, quantity: str, day: date = T0, account: str = "A", attempt: int = 0
) -> OrderRequest:
    client_id = deterministic_client_order_id(account, day, ticker, side, attempt, broker="paper", mode="paper")
    return OrderRequest(client_id, ticker, side, D(quantity))


def rows(engine: Engine, table: Any, account: str = "A") -> list[Row[Any]]:
    """Every row of one of the venue's tables for `account`, in insertion order."""
    with engine.connect() as connection:
        query = select(table.__table__).where(table.account_id == account)
        order_by = table.id if hasattr(table, "id") else table.ticker
        return list(connection.execute(query.order_by(order_by)).all())


def paper_order(engine: Engine, client_order_id: str) -> Row[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(PaperOrder.__table__).where(PaperOrder.client_order_id == client_order_id)
        ).one()


def journal(engine: Engine, account: str = "A") -> list[tuple[str, Decimal, str | None, date | None]]:
    return [(r.kind, r.amount, r.ticker, r.session) for r in rows(engine, PaperCashEntry, account)]


def changes(engine: Engine, account: str = "A") -> list[tuple[date | None, str, str, Decimal]]:
    return [(r.session, r.ticker, r.kind, r.quantity) for r in rows(engine, PaperPositionChange, account)]


def stored_positions(engine: Engine, account: str = "A") -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {r.ticker: (r.quantity, r.avg_price, r.market_value) for r in rows(engine, PaperPosition, account)}


def held(at: PaperVenue) -> dict[str, tuple[Decimal, Decimal, Decimal | None]]:
    return {p.ticker: (p.quantity, p.average_price, p.market_value) for p in at.positions()}


def cash(engine: Engine, account: str = "A") -> Decimal:
    return get_paper_account(engine, account).cash


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def kinds(report: SyncReport) -> list[tuple[date, VenueEventKind, str | None]]:
    return [(e.session, e.kind, e.ticker) for e in report.events]


def bought_ten_aaa(engine: Engine, starting_cash: str = "10000", **account: Any) -> PaperVenue:
    """Buy 10 AAA after T0's close: it fills at T1's open 101 + 10 bps = 101.101, plus a 1.00 commission."""
    create_paper_account(engine, "A", D(starting_cash), **account)
    synced(engine, T0).submit(order(BUY, "AAA", "10"))
    at_t1 = venue(engine)
    assert kinds(at_t1.sync(T1)) == [(T1, VenueEventKind.FILL, "AAA")]
    return at_t1


# --- the fill at the next open -----------------------------------------------------------------


def test_an_order_sent_after_a_close_fills_at_the_next_open_with_slippage_and_commission(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    sent = synced(engine, T0).submit(request)
    assert (sent.status, sent.filled_quantity, sent.average_fill_price, sent.submitted_at) == (
        OrderStatus.SUBMITTED,
        D(0),
        None,
        NOW,
    )
    assert sent.order_id.startswith("paper-")

    at_t1 = venue(engine)
    report = at_t1.sync(T1)

    # 10 x (101 + 10 bps) = 10 x 101.101 = 1011.01, plus the 1.00 minimum commission.
    assert report.session == T1
    assert report.events == (
        VenueEvent(T1, VenueEventKind.FILL, "AAA", f"{request.client_order_id}: buy 10 AAA at 101.101"),
    )
    [fill] = rows(engine, PaperFill)
    assert (fill.side, fill.ticker, fill.session, fill.quantity, fill.price) == ("buy", "AAA", T1, D(10), D("101.101"))
    assert (fill.gross, fill.commission, fill.at_close) == (D("1011.01"), D("1.00"), False)
    assert fill.filled_at == datetime(2024, 6, 4, 13, 30, tzinfo=UTC) == session_open_utc(T1)
    stored = paper_order(engine, request.client_order_id)
    assert fill.paper_order_id == stored.id
    assert (stored.status, stored.filled_quantity, stored.average_price, stored.commission) == (
        "filled",
        D(10),
        D("101.101"),
        D(1),
    )
    assert (stored.filled_at, stored.sent_after, stored.reason, stored.order_id) == (
        session_open_utc(T1),
        T0,
        None,
        sent.order_id,
    )
    entries = rows(engine, PaperCashEntry)
    assert [(e.kind, e.amount, e.ticker, e.session, e.paper_fill_id) for e in entries] == [
        ("deposit", D("10000"), None, None, None),
        ("fill", D("-1011.01"), "AAA", T1, fill.id),
        ("commission", D("-1.00"), "AAA", T1, fill.id),
    ]
    account = get_paper_account(engine, "A")
    assert (account.cash, account.buying_power, account.settled_through) == (D("8987.99"), D("8987.99"), T1)
    # Marked at T1's close, 102.
    assert (account.total_value, account.peak_value) == (D("10007.99"), D("10007.99"))
    assert at_t1.account() == AccountSnapshot("A", D("8987.99"), D("8987.99"), D("10007.99"), NOW)
    assert list(at_t1.positions()) == [BrokerPosition("AAA", D(10), D("101.101"), D(1020))]
    assert stored_positions(engine) == {"AAA": (D(10), D("101.101"), D(1020))}
    read_back = at_t1.get_order(sent.order_id)
    assert (read_back.status, read_back.filled_quantity, read_back.average_fill_price, read_back.commission) == (
        OrderStatus.FILLED,
        D(10),
        D("101.101"),
        D(1),
    )
    assert (read_back.filled_at, read_back.reason) == (session_open_utc(T1), None)
    assert at_t1.open_orders() == []


def test_a_sale_fills_at_the_next_open_less_slippage_and_keeps_the_average_price(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    bought_ten_aaa(engine).submit(order(SELL, "AAA", "4", T1))
    at_t2 = venue(engine)
    assert kinds(at_t2.sync(T2)) == [(T2, VenueEventKind.FILL, "AAA")]
    # 4 x (103 - 10 bps) = 4 x 102.897 = 411.588, less the 1.00 commission.
    assert cash(engine) == D("8987.99") + D("411.588") - D(1)
    assert held(at_t2) == {"AAA": (D(6), D("101.101"), D(624))}
    sale = rows(engine, PaperFill)[-1]
    assert (sale.side, sale.quantity, sale.price, sale.gross, sale.commission) == (
        "sell",
        D(4),
        D("102.897"),
        D("411.588"),
        D(1),
    )
    assert journal(engine)[-2:] == [("fill", D("411.588"), "AAA", T2), ("commission", D(-1), "AAA", T2)]


def test_a_bar_without_an_open_fills_at_its_close_and_the_fill_and_the_order_say_so(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, Bar("AAA", T1, None, "102"))
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    synced(engine, T0).submit(request)
    at_t1 = synced(engine, T1)
    [fill] = rows(engine, PaperFill)
    assert (fill.price, fill.at_close) == (D("102.102"), True)
    stored = paper_order(engine, request.client_order_id)
    assert (stored.status, stored.average_price) == ("filled", D("102.102"))
    assert stored.reason == f"filled at the close: the {T1} bar has no open"
    assert at_t1.get_order(stored.order_id).reason == stored.reason


# --- when orders fill, and when they do not --------------------------------------------------------


def test_sales_fill_before_buys_so_a_sale_can_fund_a_buy_sent_after_the_same_close(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    at_t1 = bought_ten_aaa(engine, starting_cash="1100")
    assert cash(engine) == D("87.99")
    # The buy is sent first (a lower id): only the side can put the sale ahead of it.
    buy, sell = order(BUY, "BBB", "20", T1), order(SELL, "AAA", "10", T1)
    at_t1.submit(buy)
    at_t1.submit(sell)
    report = venue(engine).sync(T2)
    assert [e.detail.split(":")[0] for e in report.of(VenueEventKind.FILL)] == [
        sell.client_order_id,
        buy.client_order_id,
    ]
    # + 10 x 102.897 - 1 = 1027.97, then - 20 x 52.052 - 1 = 1042.04.
    assert cash(engine) == D("87.99") + D("1027.97") - D("1042.04")
    assert stored_positions(engine) == {"BBB": (D(20), D("52.052"), D(1050))}
    assert [(f.side, f.ticker) for f in rows(engine, PaperFill)][1:] == [("sell", "AAA"), ("buy", "BBB")]


def test_a_buy_that_would_take_cash_below_zero_is_rejected_with_the_numbers_and_nothing_changes(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("1000"))
    request = order(BUY, "AAA", "10")
    synced(engine, T0).submit(request)
    at_t1 = venue(engine)
    report = at_t1.sync(T1)
    [rejected] = report.events
    assert (rejected.kind, rejected.ticker) == (VenueEventKind.REJECTED, "AAA")
    stored = paper_order(engine, request.client_order_id)
    assert stored.status == "rejected"
    for number in ("needs 1012.01", "gross 1011.01", "commission 1.00", "only 1000"):
        assert number in stored.reason
        assert number in rejected.detail
    assert (stored.filled_quantity, stored.average_price, stored.commission, stored.filled_at) == (
        D(0),
        None,
        D(0),
        None,
    )
    assert at_t1.get_order(stored.order_id).status is OrderStatus.REJECTED
    assert rows(engine, PaperFill) == []
    assert journal(engine) == [("deposit", D(1000), None, None)]
    assert (cash(engine), stored_positions(engine)) == (D(1000), {})
    assert get_paper_account(engine, "A").total_value == D(1000)


def test_a_buy_that_no_longer_fits_after_an_earlier_buy_is_rejected_whole_not_filled_in_part(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("1600"))
    first, second = order(BUY, "AAA", "10"), order(BUY, "BBB", "20")
    at_t0 = synced(engine, T0)
    at_t0.submit(first)
    at_t0.submit(second)
    report = venue(engine).sync(T1)
    assert [e.kind for e in report.events] == [VenueEventKind.FILL, VenueEventKind.REJECTED]
    # 1600 - 1012.01 leaves 587.99; 20 BBB at 51.051 need 1022.02.
    assert "needs 1022.02" in paper_order(engine, second.client_order_id).reason
    assert cash(engine) == D("587.99")
    assert set(stored_positions(engine)) == {"AAA"}


def test_an_order_whose_ticker_has_no_bar_on_its_fill_session_expires_with_a_reason(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, without=[("BBB", T1)])
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "BBB", "10")
    synced(engine, T0).submit(request)
    report = venue(engine).sync(T2)
    reason = f"expired: no BBB bar on {T1}, the session after it was sent (halted or delisted)"
    assert report.events == (VenueEvent(T1, VenueEventKind.EXPIRED, "BBB", f"{request.client_order_id} {reason}"),)
    stored = paper_order(engine, request.client_order_id)
    assert (stored.status, stored.reason, stored.filled_quantity) == ("expired", reason, D(0))
    # It does not wait for the bar of T2: a day order lives one session.
    assert rows(engine, PaperFill) == []
    assert (cash(engine), stored_positions(engine)) == (D(10000), {})


def test_an_order_stays_submitted_while_the_venue_is_at_the_close_it_was_sent_after(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    at_close = synced(engine, T0)
    at_close.submit(request)
    assert at_close.sync(T0).events == ()
    assert venue(engine).sync(T0).events == ()
    assert paper_order(engine, request.client_order_id).status == "submitted"
    assert [o.client_order_id for o in at_close.open_orders()] == [request.client_order_id]
    assert (cash(engine), stored_positions(engine), rows(engine, PaperFill)) == (D(10000), {}, [])
    assert get_paper_account(engine, "A").settled_through == T0
    venue(engine).sync(T1)
    assert paper_order(engine, request.client_order_id).status == "filled"


def test_a_venue_synced_several_sessions_late_fills_at_the_session_after_the_order_was_sent(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    synced(engine, T0).submit(request)
    at_t3 = venue(engine)
    report = at_t3.sync(T3)
    assert kinds(report) == [(T1, VenueEventKind.FILL, "AAA")]
    [fill] = rows(engine, PaperFill)
    assert (fill.session, fill.price, fill.filled_at) == (T1, D("101.101"), session_open_utc(T1))
    assert paper_order(engine, request.client_order_id).filled_at == session_open_utc(T1)
    # Marked at T3's close (106), the session the venue now stands at.
    assert held(at_t3) == {"AAA": (D(10), D("101.101"), D(1060))}
    assert get_paper_account(engine, "A").settled_through == T3


def test_a_sync_across_a_session_whose_bars_never_arrived_is_refused_rather_than_expiring_its_orders(
    engine: Engine, tmp_path: Path
) -> None:
    # T1's file never came (no SPY, AAA or BBB bar); T2's did. Settling T1 without its bars would
    # expire the order due there for good, the very thing the DataError on the synced session prevents.
    load(engine, tmp_path, without=[(ticker, T1) for ticker in ("SPY", "AAA", "BBB")])
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    synced(engine, T0).submit(request)
    before = every_row(engine)
    with pytest.raises(DataError, match=f"no SPY bar on {T1}"):
        venue(engine).sync(T2)
    assert every_row(engine) == before
    load(engine, tmp_path)
    venue(engine).sync(T2)
    assert (paper_order(engine, request.client_order_id).status, rows(engine, PaperFill)[0].session) == ("filled", T1)


def test_an_order_sent_before_an_exchange_holiday_fills_at_the_open_of_the_next_session(
    engine: Engine, tmp_path: Path
) -> None:
    # June 19, 2024 (Juneteenth) is not a session: an order sent after the 18th's close fills on the 20th.
    june = [(date(2024, 6, 17), 120), (date(2024, 6, 18), 122), (date(2024, 6, 20), 124)]
    load(
        engine,
        tmp_path,
        *(Bar("SPY", day, "410", "411") for day, _ in june),
        *(Bar("AAA", day, str(price), str(price + 1)) for day, price in june),
    )
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10", date(2024, 6, 18))
    synced(engine, date(2024, 6, 18)).submit(request)
    report = venue(engine).sync(date(2024, 6, 20))
    assert kinds(report) == [(date(2024, 6, 20), VenueEventKind.FILL, "AAA")]
    stored = paper_order(engine, request.client_order_id)
    assert (stored.average_price, stored.filled_at) == (D("124.124"), session_open_utc(date(2024, 6, 20)))


def test_an_order_carried_over_to_an_account_never_synced_fills_at_the_session_after_it_was_sent(
    engine: Engine, tmp_path: Path
) -> None:
    # What the migration to the venue's books carries over: an open order, and an account not yet settled.
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    with engine.begin() as connection:
        connection.execute(
            insert(PaperOrder).values(
                order_id="paper-legacy-1",
                account_id="A",
                client_order_id=request.client_order_id,
                ticker="AAA",
                side="buy",
                quantity=D(10),
                order_type="market",
                sent_after=T0,
                status="submitted",
                submitted_at=NOW,
                updated_at=NOW,
            )
        )
    at_t2 = venue(engine)
    assert kinds(at_t2.sync(T2)) == [(T1, VenueEventKind.FILL, "AAA")]
    assert at_t2.get_order("paper-legacy-1").average_fill_price == D("101.101")
    assert held(at_t2) == {"AAA": (D(10), D("101.101"), D(1040))}
    assert get_paper_account(engine, "A").settled_through == T2


# --- splits ------------------------------------------------------------------------------------------


def test_a_split_doubles_a_held_quantity_and_halves_its_average_price_keeping_the_cost(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "51.5", "52", split="2"))
    bought_ten_aaa(engine)
    at_t2 = venue(engine)
    report = at_t2.sync(T2)
    assert report.events == (VenueEvent(T2, VenueEventKind.SPLIT, "AAA", "2 split: 10 -> 20 shares"),)
    assert held(at_t2) == {"AAA": (D(20), D("50.5505"), D(1040))}
    assert D(20) * D("50.5505") == D(10) * D("101.101")
    [split] = rows(engine, PaperPositionChange)
    assert (split.session, split.ticker, split.kind, split.quantity, split.split_coef) == (T2, "AAA", "split", 10, 2)
    assert split.description == f"2 split on {T2}"
    assert cash(engine) == D("8987.99")
    assert [kind for kind, *_ in journal(engine)] == ["deposit", "fill", "commission"]


def test_a_sale_resting_across_a_split_is_adjusted_by_the_split(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "51.5", "52", split="2"))
    request = order(SELL, "AAA", "5", T1)
    sent = bought_ten_aaa(engine).submit(request)
    at_t2 = venue(engine)
    at_t2.sync(T2)
    stored = paper_order(engine, request.client_order_id)
    assert (stored.status, stored.quantity, stored.filled_quantity, stored.average_price) == (
        "filled",
        D(10),
        D(10),
        D("51.4485"),
    )
    assert stored.reason == f"quantity adjusted from 5 for the 2 split on {T2}"
    read_back = at_t2.get_order(sent.order_id)
    assert (read_back.status, read_back.quantity, read_back.filled_quantity) == (OrderStatus.FILLED, D(10), D(10))
    assert held(at_t2) == {"AAA": (D(10), D("50.5505"), D(520))}
    # + 10 x 51.4485 - 1
    assert cash(engine) == D("8987.99") + D("514.485") - D(1)


# 7 AAA bought at 101.101, then a split at T2 whose close is 41.25 (cash in lieu is paid at it).
ODD_SPLITS = [
    # ratio, shares after the split, the fraction paid in cash, the cash (fraction x 41.25, to 4 places)
    ("1.5", "10.5", "0.5", "20.625"),
    ("1.499999", "10.499993", "0.499993", "20.6247"),
    ("3.000003", "21.000021", "0.000021", "0.0009"),
    ("7.000007", "49.000049", "0.000049", "0.0020"),
]


def bought_seven_aaa_before_a_split(engine: Engine, folder: Path, ratio: str, *, fractional: bool) -> PaperVenue:
    load(engine, folder, Bar("AAA", T2, "41", "41.25", split=ratio))
    create_paper_account(engine, "A", D("10000"), fractional_shares=fractional)
    synced(engine, T0).submit(order(BUY, "AAA", "7"))
    synced(engine, T1)
    return venue(engine)


@pytest.mark.parametrize(("ratio", "after_split", "fraction", "in_lieu"), ODD_SPLITS)
def test_an_odd_split_leaves_a_whole_share_account_whole_shares_and_pays_the_fraction_at_the_close(
    engine: Engine, tmp_path: Path, ratio: str, after_split: str, fraction: str, in_lieu: str
) -> None:
    at_t2 = bought_seven_aaa_before_a_split(engine, tmp_path, ratio, fractional=False)
    before = cash(engine)
    report = at_t2.sync(T2)

    whole = D(after_split).to_integral_value(rounding=ROUND_DOWN)
    assert kinds(report) == [(T2, VenueEventKind.SPLIT, "AAA"), (T2, VenueEventKind.CASH_IN_LIEU, "AAA")]
    [(quantity, _, value)] = held(at_t2).values()
    assert quantity == whole
    assert quantity == quantity.to_integral_value()
    assert value == whole * D("41.25")
    assert stored_positions(engine)["AAA"][0] == whole
    assert cash(engine) == before + D(in_lieu)
    assert journal(engine)[-1] == ("cash_in_lieu", D(in_lieu), "AAA", T2)
    [split, paid] = rows(engine, PaperPositionChange)
    assert (split.kind, split.quantity, split.split_coef) == ("split", D(after_split) - 7, D(ratio))
    assert (paid.kind, paid.quantity, paid.session) == ("cash_in_lieu", -D(fraction), T2)
    assert paid.description == f"cash in lieu of {fraction} AAA shares after the {ratio} split, at 41.25"
    assert sum((r.amount for r in rows(engine, PaperCashEntry)), D(0)) == cash(engine)
    # The fills and the changes rebuild the position.
    assert D(7) + split.quantity + paid.quantity == whole


@pytest.mark.parametrize(("ratio", "after_split"), [(ratio, after) for ratio, after, _, _ in ODD_SPLITS])
def test_an_odd_split_leaves_a_fractional_account_the_fraction_and_pays_no_cash_in_lieu(
    engine: Engine, tmp_path: Path, ratio: str, after_split: str
) -> None:
    at_t2 = bought_seven_aaa_before_a_split(engine, tmp_path, ratio, fractional=True)
    before = cash(engine)
    report = at_t2.sync(T2)
    assert kinds(report) == [(T2, VenueEventKind.SPLIT, "AAA")]
    assert held(at_t2)["AAA"][0] == D(after_split)
    assert stored_positions(engine)["AAA"][0] == D(after_split)
    assert cash(engine) == before
    assert "cash_in_lieu" not in [kind for kind, *_ in journal(engine)]
    assert [(kind, quantity) for _, _, kind, quantity in changes(engine)] == [("split", D(after_split) - 7)]


def test_a_sale_resting_across_an_odd_split_is_rounded_down_to_whole_shares_on_a_whole_share_account(
    engine: Engine, tmp_path: Path
) -> None:
    at_t1 = bought_seven_aaa_before_a_split(engine, tmp_path, "1.5", fractional=False)
    at_t1.sync(T1)
    request = order(SELL, "AAA", "5", T1)
    at_t1.submit(request)
    at_t2 = venue(engine)
    at_t2.sync(T2)
    # 5 x 1.5 = 7.5 shares: a whole-share account sells 7 of the 10 it keeps.
    stored = paper_order(engine, request.client_order_id)
    assert (stored.status, stored.quantity, stored.filled_quantity) == ("filled", D(7), D(7))
    assert held(at_t2)["AAA"][0] == D(3)


# --- dividends -----------------------------------------------------------------------------------------


def test_a_cash_dividend_credits_the_held_quantity_times_the_dividend_in_the_journal(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "103", "104", dividend="0.5"))
    bought_ten_aaa(engine)
    at_t2 = venue(engine)
    report = at_t2.sync(T2)
    assert report.events == (VenueEvent(T2, VenueEventKind.DIVIDEND, "AAA", "dividend 0.5 a share on 10 AAA: 5"),)
    assert journal(engine)[-1] == ("dividend", D(5), "AAA", T2)
    assert rows(engine, PaperCashEntry)[-1].paper_fill_id is None
    assert cash(engine) == D("8987.99") + D(5)
    assert at_t2.account().equity == D("8992.99") + D(1040)
    assert get_paper_account(engine, "A").total_value == D("8992.99") + D(1040)


def test_a_sale_at_the_ex_date_open_keeps_the_dividend_and_a_purchase_then_does_not_get_it(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, Bar("AAA", T2, "103", "104", dividend="0.5"), Bar("BBB", T2, "52", "52.5", dividend="1"))
    at_t1 = bought_ten_aaa(engine)
    at_t1.submit(order(SELL, "AAA", "10", T1))
    at_t1.submit(order(BUY, "BBB", "10", T1))
    report = venue(engine).sync(T2)
    assert [(e.ticker, e.detail) for e in report.of(VenueEventKind.DIVIDEND)] == [
        ("AAA", "dividend 0.5 a share on 10 AAA: 5")
    ]
    assert [entry for entry in journal(engine) if entry[0] == "dividend"] == [("dividend", D(5), "AAA", T2)]
    assert set(stored_positions(engine)) == {"BBB"}


# --- delisting -------------------------------------------------------------------------------------------


def test_a_held_ticker_whose_bars_stop_is_marked_at_its_last_close_then_closed_in_cash_when_delisted(
    engine: Engine, tmp_path: Path
) -> None:
    # AAA's last bar is T2 (close 104); the venue delists after 3 sessions without one: at T5.
    load(engine, tmp_path, without=after(T2, ["AAA"]))
    bought_ten_aaa(engine)
    for day in (T2, T3, T4):
        at = venue(engine)
        assert at.sync(day).of(VenueEventKind.DELISTING) == ()
        assert held(at) == {"AAA": (D(10), D("101.101"), D(1040))}
        assert stored_positions(engine) == {"AAA": (D(10), D("101.101"), D(1040))}
        assert cash(engine) == D("8987.99")

    at_t5 = venue(engine)
    report = at_t5.sync(T5)

    description = f"delisted: no AAA bar for 3 sessions since {T2}; 10 shares closed at the last close 104"
    assert report.events == (VenueEvent(T5, VenueEventKind.DELISTING, "AAA", f"{description}: 1040"),)
    assert cash(engine) == D("8987.99") + D(1040)
    assert journal(engine)[-1] == ("delisting", D(1040), "AAA", T5)
    assert rows(engine, PaperCashEntry)[-1].description == description
    [delisting] = rows(engine, PaperPositionChange)
    assert (delisting.session, delisting.ticker, delisting.kind, delisting.quantity) == (T5, "AAA", "delisting", -10)
    assert delisting.description == description
    assert stored_positions(engine) == {}
    assert list(at_t5.positions()) == []
    assert at_t5.account().equity == D("10027.99")
    assert get_paper_account(engine, "A").total_value == D("10027.99")
    # Nothing more happens to it afterwards.
    assert venue(engine).sync(T6).events == ()


def test_a_venue_synced_late_delists_at_the_session_the_setting_is_reached(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, without=after(T2, ["AAA"]))
    bought_ten_aaa(engine)
    report = venue(engine).sync(T7)
    assert kinds(report) == [(T5, VenueEventKind.DELISTING, "AAA")]
    assert cash(engine) == D("8987.99") + D(1040)
    assert stored_positions(engine) == {}


def test_a_ticker_missing_fewer_sessions_than_the_setting_that_comes_back_is_not_delisted(
    engine: Engine, tmp_path: Path
) -> None:
    # Two sessions without a bar (T3, T4) against a setting of three; the bar is back at T5.
    load(engine, tmp_path, without=[("AAA", T3), ("AAA", T4)])
    bought_ten_aaa(engine)
    for day in (T2, T3, T4, T5, T6, T7):
        assert venue(engine).sync(day).events == ()
    at_t7 = venue(engine)
    at_t7.sync(T7)
    assert held(at_t7) == {"AAA": (D(10), D("101.101"), D(10) * D(114))}
    assert "delisting" not in [kind for kind, *_ in journal(engine)]
    assert changes(engine) == []


def test_a_position_without_a_bar_for_weeks_is_marked_at_its_last_close_until_the_setting_is_reached(
    engine: Engine, tmp_path: Path
) -> None:
    # AAA's last bar is T2 (close 104); SPY trades on into late June. With a 30-session setting the
    # position stays, marked at 104, even when its close is older than the venue first looks back.
    late_june = [date(2024, 6, day) for day in (17, 18, 20, 21, 24, 25, 26, 27, 28)]
    load(engine, tmp_path, *(Bar("SPY", day, "410", "411") for day in late_june), without=after(T2, ["AAA"]))
    bought_ten_aaa(engine)
    last = late_june[-1]
    assert venue(engine, delisted_after=30).sync(last).events == ()
    again = venue(engine, delisted_after=30)
    assert again.sync(last).events == ()
    assert held(again) == {"AAA": (D(10), D("101.101"), D(1040))}
    assert held(venue(engine, delisted_after=30)) == {"AAA": (D(10), D("101.101"), D(1040))}
    assert stored_positions(engine)["AAA"][2] == D(1040)


# --- the books add up ---------------------------------------------------------------------------------


def trade_mixed_sessions(engine: Engine, folder: Path) -> None:
    """Five sessions of buys, sales, a refusal at submit, a refusal at the open, a cancel, an odd split
    with cash in lieu (and a sale resting across it) and a dividend, on a whole-share account."""
    load(
        engine,
        folder,
        Bar("AAA", T2, "70", "69.5", split="1.5"),
        Bar("AAA", T3, "70.5", "71"),
        Bar("AAA", T4, "71.5", "72"),
        Bar("BBB", T2, "52", "52.5", dividend="0.4"),
    )
    create_paper_account(engine, "A", D("20000"))
    at = synced(engine, T0)
    at.submit(order(BUY, "AAA", "7", T0))
    at.submit(order(BUY, "BBB", "30", T0))
    at = synced(engine, T1)
    at.submit(order(SELL, "AAA", "3", T1))  # 4.5 after the split: 4 shares
    at.submit(order(BUY, "BBB", "10", T1))
    canceled = at.submit(order(BUY, "BBB", "5", T1, attempt=1))
    at.cancel(canceled.order_id)
    with pytest.raises(OrderRejected):
        at.submit(order(SELL, "BBB", "31", T1))
    at = synced(engine, T2)
    at.submit(order(BUY, "AAA", "2", T2))
    at.submit(order(SELL, "BBB", "15", T2))
    at = synced(engine, T3)
    at.submit(order(BUY, "AAA", "1000", T3))  # far more than the cash: rejected at the open
    at.submit(order(SELL, "BBB", "25", T3))
    synced(engine, T4)


def test_the_venues_books_add_up_after_mixed_sessions(engine: Engine, tmp_path: Path) -> None:
    trade_mixed_sessions(engine, tmp_path)
    entries = rows(engine, PaperCashEntry)
    fills = rows(engine, PaperFill)
    orders = rows(engine, PaperOrder)
    assert {e.kind for e in entries} == {"deposit", "fill", "commission", "dividend", "cash_in_lieu"}
    assert {o.status for o in orders} == {"filled", "canceled", "rejected"}

    # (a) the journal sums to the cash balance
    account = get_paper_account(engine, "A")
    assert sum((e.amount for e in entries), D(0)) == account.cash
    assert account.cash >= 0

    # (b) fills and position changes rebuild every position
    rebuilt: dict[str, Decimal] = defaultdict(Decimal)
    for fill in fills:
        rebuilt[fill.ticker] += fill.quantity if fill.side == "buy" else -fill.quantity
    for change in rows(engine, PaperPositionChange):
        rebuilt[change.ticker] += change.quantity
    positions = stored_positions(engine)
    assert {ticker: rebuilt[ticker] for ticker in rebuilt} == {
        ticker: positions[ticker][0] if ticker in positions else D(0) for ticker in rebuilt
    }
    assert positions["AAA"][0] == D(8)  # 7 -> 10.5 -> 10, - 4, + 2

    # (c) each filled order is its fills; every other order has none
    by_order: dict[int, list[Row[Any]]] = defaultdict(list)
    for fill in fills:
        by_order[fill.paper_order_id].append(fill)
    for stored in orders:
        own = by_order.get(stored.id, [])
        if stored.status != "filled":
            assert own == []
            assert (stored.filled_quantity, stored.average_price, stored.commission) == (D(0), None, D(0))
            continue
        quantity = sum((f.quantity for f in own), D(0))
        assert stored.filled_quantity == quantity == stored.quantity
        assert stored.average_price == sum((f.quantity * f.price for f in own), D(0)) / quantity
        assert stored.commission == sum((f.commission for f in own), D(0))
        # Every fill's money is in the journal, linked to it.
        for fill in own:
            linked = sorted((e.kind, e.amount) for e in entries if e.paper_fill_id == fill.id)
            signed = fill.gross if fill.side == "sell" else -fill.gross
            assert linked == sorted([("fill", signed), ("commission", -fill.commission)])

    # The marks: each position at its close of T4, and the total is cash plus them.
    assert account.total_value == account.cash + sum((value for _, _, value in positions.values()), D(0))
    assert positions["AAA"][2] == round_money(D(8) * D(72))


def test_the_venue_never_writes_the_funds_trade_executions(engine: Engine, tmp_path: Path) -> None:
    trade_mixed_sessions(engine, tmp_path)
    assert count(engine, PaperOrder) > 0
    assert count(engine, TradeExecution) == 0


# --- a read-only venue (a dry run) ---------------------------------------------------------------------


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(
                    select(table).order_by(*(table.primary_key.columns or table.columns))
                ).all()
            ]
            for table in Base.metadata.sorted_tables
        }


def state_with_work_pending(engine: Engine, folder: Path) -> None:
    """Settled through T1 holding 10 AAA, with a sale and a buy waiting; a dividend at T2, a split at T3."""
    load(engine, folder, Bar("AAA", T2, "103", "104", dividend="0.5"), Bar("BBB", T3, "26.5", "26.75", split="2"))
    at_t1 = bought_ten_aaa(engine)
    at_t1.submit(order(SELL, "AAA", "4", T1))
    at_t1.submit(order(BUY, "BBB", "5", T1))


def test_a_read_only_sync_sees_what_a_writing_sync_would_and_changes_no_row_of_any_table(
    engine: Engine, tmp_path: Path
) -> None:
    state_with_work_pending(engine, tmp_path)
    before = every_row(engine)

    dry = venue(engine, read_only=True)
    dry_report = dry.sync(T3)

    assert every_row(engine) == before
    assert get_paper_account(engine, "A").settled_through == T1
    wet = venue(engine)
    wet_report = wet.sync(T3)
    assert every_row(engine) != before
    assert dry_report == wet_report
    assert {e.kind for e in wet_report.events} == {VenueEventKind.FILL, VenueEventKind.DIVIDEND, VenueEventKind.SPLIT}
    assert dry.account() == wet.account()
    assert list(dry.positions()) == list(wet.positions())
    assert held(wet)["BBB"][0] == D(10)
    # A writing venue built afterwards reads the same account back from the tables.
    assert venue(engine).account() == wet.account()
    assert list(venue(engine).positions()) == list(wet.positions())
    assert dry.read_only is True
    assert wet.read_only is False


def test_a_read_only_venue_refuses_to_submit_or_cancel_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    state_with_work_pending(engine, tmp_path)
    waiting = venue(engine).open_orders()[0]
    before = every_row(engine)
    dry = venue(engine, read_only=True)
    with pytest.raises(ReadOnlyVenue, match="read-only"):
        dry.submit(order(BUY, "AAA", "1", T1, attempt=5))
    dry.sync(T1)
    with pytest.raises(ReadOnlyVenue, match="read-only"):
        dry.submit(order(BUY, "AAA", "1", T1, attempt=5))
    with pytest.raises(ReadOnlyVenue, match="read-only"):
        dry.cancel(waiting.order_id)
    assert every_row(engine) == before
    # Reading is allowed.
    assert dry.get_order(waiting.order_id) == waiting
    assert [o.order_id for o in dry.open_orders()] == [o.order_id for o in venue(engine).open_orders()]


def test_a_read_only_sync_for_a_session_before_the_one_settled_raises_ledger_ahead(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    synced(engine, T2)
    with pytest.raises(LedgerAhead, match=f"settled through {T2}"):
        venue(engine, read_only=True).sync(T1)


# --- errors at sync and at construction ----------------------------------------------------------------


def test_a_venue_cannot_sync_a_session_before_the_one_the_account_is_settled_through(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    synced(engine, T2)
    before = every_row(engine)
    with pytest.raises(LedgerAhead, match=f"settled through {T2}; it cannot trade after the earlier close of {T1}"):
        venue(engine).sync(T1)
    assert every_row(engine) == before
    assert venue(engine).sync(T2).session == T2


def test_a_session_without_its_benchmark_bar_cannot_be_synced_and_nothing_moves(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, without=after(T0))
    create_paper_account(engine, "A", D("10000"))
    with pytest.raises(DataError, match=f"no SPY bar on {T1} yet"):
        venue(engine).sync(T1)
    assert get_paper_account(engine, "A").settled_through is None
    request = order(BUY, "AAA", "10")
    synced(engine, T0).submit(request)
    before = every_row(engine)
    with pytest.raises(DataError, match=f"no SPY bar on {T1} yet"):
        venue(engine).sync(T1)
    assert every_row(engine) == before
    assert get_paper_account(engine, "A").settled_through == T0
    assert paper_order(engine, request.client_order_id).status == "submitted"
    # Once the bars arrive, the order fills at T1's open.
    load(engine, tmp_path)
    venue(engine).sync(T1)
    assert (paper_order(engine, request.client_order_id).status, rows(engine, PaperFill)[0].price) == (
        "filled",
        D("101.101"),
    )


def test_an_order_sent_before_any_sync_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    with pytest.raises(FundError, match="sync it to a session before you submit an order"):
        venue(engine).submit(order(BUY, "AAA", "1"))
    assert count(engine, PaperOrder) == 0


def test_an_order_sent_after_another_venue_settled_a_later_session_raises_ledger_ahead(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    stale = synced(engine, T0)
    synced(engine, T1)
    with pytest.raises(LedgerAhead, match=f"settled through {T1}, not {T0}"):
        stale.submit(order(BUY, "AAA", "10"))
    assert count(engine, PaperOrder) == 0


def test_a_venue_for_an_unknown_account_is_refused_when_it_is_built(engine: Engine) -> None:
    create_paper_account(engine, "A", D("1"))
    with pytest.raises(UnknownAccount, match="no paper account 'nobody' \\(existing: A\\)"):
        venue(engine, "nobody")


def test_the_venue_names_itself_paper_and_reports_its_capabilities(engine: Engine) -> None:
    create_paper_account(engine, "A", D("1"))
    create_paper_account(engine, "F", D("1"), fractional_shares=True)
    assert venue(engine).name == "paper"
    assert venue(engine).capabilities == BrokerCapabilities(False, False, True, 48)
    assert venue(engine, "F").capabilities.fractional_shares is True


# --- submit: refusals and idempotency -------------------------------------------------------------------


def assert_refused(engine: Engine, at: PaperVenue, request: OrderRequest, reason: str) -> None:
    with pytest.raises(OrderRejected, match=reason):
        at.submit(request)
    stored = paper_order(engine, request.client_order_id)
    assert stored.status == "rejected"
    assert re.search(reason, stored.reason)
    assert stored.order_id.startswith("paper-")
    found = at.find_by_client_order_id(request.client_order_id)
    assert found is not None
    assert found.status is OrderStatus.REJECTED
    assert at.get_order(stored.order_id) == found
    assert request.client_order_id not in {o.client_order_id for o in at.open_orders()}


def test_a_fraction_of_a_share_is_refused_on_a_whole_share_account_and_kept_as_rejected(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    at_t0 = synced(engine, T0)
    assert_refused(engine, at_t0, order(BUY, "AAA", "1.5"), r"1\.5 is not a whole number of shares")


def test_a_fractional_account_buys_and_holds_a_fraction_of_a_share(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"), fractional_shares=True)
    synced(engine, T0).submit(order(BUY, "AAA", "1.5"))
    at_t1 = synced(engine, T1)
    assert held(at_t1) == {"AAA": (D("1.5"), D("101.101"), D(153))}
    # 1.5 x 101.101 = 151.6515, plus the 1.00 minimum commission.
    assert cash(engine) == D(10000) - D("151.6515") - D(1)


def test_a_ticker_without_a_price_by_the_session_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, without=[("BBB", T0)])
    create_paper_account(engine, "A", D("10000"))
    at_t0 = synced(engine, T0)
    assert_refused(engine, at_t0, order(BUY, "ZZZ", "1"), f"no price data for ZZZ on or before {T0}")
    # BBB's first bar is the next session's: unknown at T0's close.
    assert_refused(engine, at_t0, order(BUY, "BBB", "1"), f"no price data for BBB on or before {T0}")


def test_selling_more_than_is_held_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    at_t1 = bought_ten_aaa(engine)
    assert_refused(engine, at_t1, order(SELL, "AAA", "11", T1), r"sell 11 AAA: only 10 held and not already being sold")
    assert_refused(engine, at_t1, order(SELL, "BBB", "1", T1), r"only 0 held")


def test_shares_already_being_sold_by_a_waiting_order_cannot_be_sold_again(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    at_t1 = bought_ten_aaa(engine)
    at_t1.submit(order(SELL, "AAA", "6", T1))
    assert_refused(engine, at_t1, order(SELL, "AAA", "5", T1, attempt=1), r"only 4 held and not already being sold")
    assert at_t1.submit(order(SELL, "AAA", "4", T1, attempt=2)).status is OrderStatus.SUBMITTED
    assert_refused(engine, at_t1, order(SELL, "AAA", "1", T1, attempt=3), r"only 0 held and not already being sold")


def test_fractional_sales_waiting_are_netted_exactly(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"), fractional_shares=True)
    synced(engine, T0).submit(order(BUY, "AAA", "0.3"))
    at_t1 = synced(engine, T1)
    at_t1.submit(order(SELL, "AAA", "0.1", T1))
    assert at_t1.submit(order(SELL, "AAA", "0.2", T1, attempt=1)).status is OrderStatus.SUBMITTED
    assert_refused(engine, at_t1, order(SELL, "AAA", "0.000000001", T1, attempt=2), r"only 0 held")


def test_a_refused_order_is_not_filled_by_a_later_sync(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "1.5")
    with pytest.raises(OrderRejected):
        synced(engine, T0).submit(request)
    assert venue(engine).sync(T1).events == ()
    assert (paper_order(engine, request.client_order_id).status, stored_positions(engine)) == ("rejected", {})


def test_a_repeated_client_order_id_returns_the_order_already_sent_without_a_second_row(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    at_t0 = synced(engine, T0)
    first = at_t0.submit(order(BUY, "AAA", "10"))
    again = synced(engine, T0).submit(order(BUY, "AAA", "10"))
    assert again == first
    assert count(engine, PaperOrder) == 1
    assert at_t0.find_by_client_order_id(first.client_order_id or "") == first
    assert at_t0.get_order(first.order_id) == first
    venue(engine).sync(T1)
    assert len(rows(engine, PaperFill)) == 1


def test_a_client_order_id_reused_for_a_different_order_is_refused(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    request = order(BUY, "AAA", "10")
    at_t0 = synced(engine, T0)
    at_t0.submit(request)
    for other in (
        OrderRequest(request.client_order_id, "AAA", BUY, D("11")),
        OrderRequest(request.client_order_id, "BBB", BUY, D("10")),
        OrderRequest(request.client_order_id, "AAA", SELL, D("10")),
    ):
        with pytest.raises(OrderRejected, match="belongs to buy 10"):
            at_t0.submit(other)
    assert count(engine, PaperOrder) == 1
    assert paper_order(engine, request.client_order_id).quantity == D(10)


def test_an_unknown_order_id_is_not_found_and_an_unknown_client_id_is_none(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    create_paper_account(engine, "B", D("10000"))
    sent = synced(engine, T0, "B").submit(order(BUY, "AAA", "1", account="B"))
    at_t0 = synced(engine, T0)
    with pytest.raises(OrderNotFound, match="paper account A has no order paper-404"):
        at_t0.get_order("paper-404")
    with pytest.raises(OrderNotFound, match="paper account A has no order paper-404"):
        at_t0.cancel("paper-404")
    assert at_t0.find_by_client_order_id("af-never-sent") is None
    # Another account's order is not this account's.
    assert at_t0.find_by_client_order_id(sent.client_order_id or "") is None
    with pytest.raises(OrderNotFound):
        at_t0.get_order(sent.order_id)


def test_cancel_makes_an_open_order_canceled_it_never_fills_and_open_orders_lists_only_open_ones(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    at_t1 = bought_ten_aaa(engine)
    waiting = at_t1.submit(order(SELL, "AAA", "2", T1))
    to_cancel = at_t1.submit(order(BUY, "BBB", "3", T1))
    with pytest.raises(OrderRejected):
        at_t1.submit(order(BUY, "AAA", "1.5", T1))
    assert [o.order_id for o in at_t1.open_orders()] == [waiting.order_id, to_cancel.order_id]

    at_t1.cancel(to_cancel.order_id)

    canceled = at_t1.get_order(to_cancel.order_id)
    assert (canceled.status, canceled.reason) == (OrderStatus.CANCELED, "canceled on request")
    assert [o.order_id for o in at_t1.open_orders()] == [waiting.order_id]
    at_t2 = venue(engine)
    report = at_t2.sync(T2)
    assert kinds(report) == [(T2, VenueEventKind.FILL, "AAA")]
    assert at_t2.get_order(to_cancel.order_id).status is OrderStatus.CANCELED
    assert set(stored_positions(engine)) == {"AAA"}
    assert at_t2.open_orders() == []


def test_cancelling_a_filled_order_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    at_t1 = bought_ten_aaa(engine)
    filled = at_t1.find_by_client_order_id(order(BUY, "AAA", "10").client_order_id)
    assert filled is not None
    before = every_row(engine)
    at_t1.cancel(filled.order_id)
    assert every_row(engine) == before
    assert at_t1.get_order(filled.order_id) == filled
