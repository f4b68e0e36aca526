"""The paper venue's settlement engine on its own: pure Decimal state through sessions, no database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_DOWN, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from trading.brokers.base import VenueEventKind
from trading.brokers.paper.settlement import DayBar, Holding, Ledger, OpenOrder, SettlementRules, settle
from trading.execution.costs import CommissionModel, CostModels, SlippageModel, round_money, round_quantity
from trading.orders import OrderSide, OrderStatus

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
SESSIONS = [date(2024, 6, day) for day in (3, 4, 5, 6, 7, 10, 11, 12, 13, 14)]
S0, S1, S2, S3, S4, S5, S6, S7, S8, S9 = SESSIONS
COSTS = CostModels(SlippageModel(D("10")), CommissionModel(D("0.01"), D("1.00")))


def sessions_since(start: date, end: date) -> int:
    return sum(1 for day in SESSIONS if start < day <= end)


RULES = SettlementRules(COSTS, delisted_after=3, sessions_since=sessions_since)


def bar(open_: str | None, close: str, *, dividend: str = "0", split: str = "1") -> DayBar:
    return DayBar(None if open_ is None else D(open_), D(close), D(dividend), D(split))


def holding(quantity: str, average: str = "100", last: date = S0, close: str = "100") -> Holding:
    return Holding(D(quantity), D(average), last, D(close))


def journal_total(ledger: Ledger) -> Decimal:
    return sum((entry.amount for entry in ledger.cash_entries), D(0))


# --- splits ---------------------------------------------------------------------------------------------

ratios = st.decimals(min_value=D("0.1"), max_value=D("10"), places=6, allow_nan=False, allow_infinity=False)
closes = st.decimals(min_value=D("0.01"), max_value=D("5000"), places=4, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(quantity=st.integers(1, 100_000), ratio=ratios, close=closes)
def test_after_any_split_a_whole_share_account_holds_whole_shares_and_its_journal_is_its_cash(
    quantity: int, ratio: Decimal, close: Decimal
) -> None:
    ledger = Ledger(D("1000"), {"AAA": holding(str(quantity), "12.345678")}, fractional=False)
    settle(ledger, [S1], {("AAA", S1): DayBar(close, close, D(0), ratio)}, [], RULES)

    after = ledger.holdings["AAA"].quantity
    exact = round_quantity(D(quantity) * ratio)
    fraction = exact - exact.to_integral_value(rounding=ROUND_DOWN)
    assert after == after.to_integral_value()
    assert after == exact.to_integral_value(rounding=ROUND_DOWN)
    assert ledger.cash == D("1000") + journal_total(ledger)
    assert ledger.cash - D("1000") == round_money(fraction * close)
    assert sum((change.quantity for change in ledger.position_changes), D(0)) == after - quantity
    assert [e.kind for e in ledger.cash_entries] == (["cash_in_lieu"] if fraction else [])


@settings(max_examples=200, deadline=None)
@given(quantity=st.integers(1, 100_000), ratio=ratios, close=closes)
def test_after_any_split_a_fractional_account_keeps_the_fraction_and_gets_no_cash(
    quantity: int, ratio: Decimal, close: Decimal
) -> None:
    ledger = Ledger(D("1000"), {"AAA": holding(str(quantity))}, fractional=True)
    settle(ledger, [S1], {("AAA", S1): DayBar(close, close, D(0), ratio)}, [], RULES)
    assert ledger.holdings["AAA"].quantity == round_quantity(D(quantity) * ratio)
    assert (ledger.cash, ledger.cash_entries) == (D("1000"), [])


def test_a_reverse_split_below_one_share_pays_a_whole_share_account_everything_in_cash() -> None:
    ledger = Ledger(D(0), {"AAA": holding("5", "20")}, fractional=False)
    settle(ledger, [S1], {("AAA", S1): bar("200", "210", split="0.1")}, [], RULES)
    assert ledger.holdings["AAA"].quantity == 0
    assert [(c.kind, c.quantity) for c in ledger.position_changes] == [
        ("split", D("-4.5")),
        ("cash_in_lieu", D("-0.5")),
    ]
    assert ledger.cash == journal_total(ledger) == D(105)


def test_a_resting_order_split_down_to_nothing_is_rejected() -> None:
    ledger = Ledger(D(0), {"AAA": holding("30")}, fractional=False)
    sale = OpenOrder(1, "c1", "AAA", SELL, D(5), S1)
    settle(ledger, [S1], {("AAA", S1): bar("1000", "1000", split="0.1")}, [sale], RULES)
    update = ledger.order_updates[1]
    assert update.status is OrderStatus.REJECTED
    assert update.reason == f"quantity adjusted from 5 for the 0.1 split on {S1}; nothing left to trade"
    assert ledger.holdings["AAA"].quantity == 3
    assert ledger.fills == []


# --- fills --------------------------------------------------------------------------------------------------


def test_only_orders_due_at_a_session_fill_there_and_each_fills_once() -> None:
    ledger = Ledger(D("10000"), {}, fractional=False)
    first = OpenOrder(1, "c1", "AAA", BUY, D(1), S1)
    later = OpenOrder(2, "c2", "AAA", BUY, D(1), S2)
    bars = {("AAA", day): bar("100", "100") for day in (S1, S2)}
    settle(ledger, [S1], bars, [first, later], RULES)
    assert list(ledger.order_updates) == [1]
    settle(ledger, [S2], bars, [first, later], RULES)
    assert list(ledger.order_updates) == [1, 2]
    assert [record.order_id for record in ledger.fills] == [1, 2]


def test_sales_fill_before_buys_each_side_by_id() -> None:
    ledger = Ledger(D(0), {"AAA": holding("10"), "BBB": holding("10")}, fractional=False)
    orders = [
        OpenOrder(1, "b1", "CCC", BUY, D(1), S1),
        OpenOrder(2, "s2", "BBB", SELL, D(10), S1),
        OpenOrder(3, "b3", "CCC", BUY, D(1), S1),
        OpenOrder(4, "s4", "AAA", SELL, D(10), S1),
    ]
    bars = {(t, S1): bar("100", "100") for t in ("AAA", "BBB", "CCC")}
    settle(ledger, [S1], bars, orders, RULES)
    assert [record.order_id for record in ledger.fills] == [2, 4, 1, 3]
    assert ledger.cash >= 0
    assert ledger.cash == journal_total(ledger)


# --- delisting ---------------------------------------------------------------------------------------------


def test_a_ticker_is_delisted_at_the_session_its_missing_bars_reach_the_setting_and_not_before() -> None:
    ledger = Ledger(D(0), {"AAA": holding("10", close="42")}, fractional=False)
    settle(ledger, [S1, S2], {}, [], RULES)
    assert ledger.events == []
    settle(ledger, [S3], {}, [], RULES)
    assert [(e.session, e.kind) for e in ledger.events] == [(S3, VenueEventKind.DELISTING)]
    assert (ledger.holdings["AAA"].quantity, ledger.cash) == (D(0), D(420))
    assert [(c.kind, c.quantity) for c in ledger.position_changes] == [("delisting", D(-10))]


def test_a_bar_that_comes_back_restarts_the_count() -> None:
    ledger = Ledger(D(0), {"AAA": holding("10", close="42")}, fractional=False)
    settle(ledger, [S1, S2, S3, S4, S5], {("AAA", S3): bar("43", "44")}, [], RULES)
    assert ledger.events == []
    settle(ledger, [S6], {}, [], RULES)
    assert [(e.session, e.kind) for e in ledger.events] == [(S6, VenueEventKind.DELISTING)]
    assert ledger.cash == D(440)


# --- the ledger's invariants over random trading ------------------------------------------------------------

MARKET = {
    (ticker, day): bar(str(open_), str(open_ + 1), dividend=dividend, split=split)
    for ticker, base in (("AAA", 100), ("BBB", 40))
    for i, day in enumerate(SESSIONS[:6])
    for open_ in [base + 3 * i]
    for dividend, split in [
        ("0.37" if (ticker, i) == ("BBB", 3) else "0", "1.499999" if (ticker, i) == ("AAA", 2) else "1")
    ]
} | {("CCC", day): bar("20", "21") for day in SESSIONS[:2]}  # CCC stops trading after S1: delisted at S4

order_lists = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.sampled_from(["AAA", "BBB", "CCC"]), st.integers(1, 40)),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(
    start=st.sampled_from(["300", "2500", "10000"]),
    days=st.lists(order_lists, min_size=5, max_size=5),
    fractional=st.booleans(),
)
def test_after_any_trading_cash_is_never_negative_and_journal_fills_and_changes_rebuild_the_account(
    start: str, days: Sequence[list[tuple[OrderSide, str, int]]], fractional: bool
) -> None:
    ledger = Ledger(D(start), {}, fractional=fractional)
    ids = iter(range(1, 1000))
    sent: list[OpenOrder] = []
    for day, fill_day, requests in zip(SESSIONS[:5], SESSIONS[1:6], days, strict=True):
        settle(ledger, [day], MARKET, sent, RULES)
        for side, ticker, quantity in requests:
            sent.append(OpenOrder(next(ids), f"c{len(sent)}", ticker, side, D(quantity), fill_day))
    settle(ledger, [SESSIONS[5]], MARKET, sent, RULES)

    assert ledger.cash >= 0
    assert ledger.cash == D(start) + journal_total(ledger)
    rebuilt: dict[str, Decimal] = defaultdict(Decimal)
    for record in ledger.fills:
        rebuilt[record.fill.ticker] += record.fill.quantity if record.fill.side is BUY else -record.fill.quantity
    for change in ledger.position_changes:
        rebuilt[change.ticker] += change.quantity
    for ticker, held in ledger.holdings.items():
        assert held.quantity >= 0
        assert held.quantity == rebuilt[ticker]
        if not fractional:
            assert held.quantity == held.quantity.to_integral_value()
    # Every order due has an outcome, and only a filled one has a fill.
    assert set(ledger.order_updates) == {o.id for o in sent}
    filled = {o for o, u in ledger.order_updates.items() if u.status is OrderStatus.FILLED}
    assert filled == {record.order_id for record in ledger.fills}
    assert ledger.holdings.get("CCC", Holding(D(0), D(0), None, None)).quantity == 0
