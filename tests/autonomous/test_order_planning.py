"""Order planning: rounding, the minimum order value, full exits, the cash cap, bad input, and the
invariants (never spends more than the cash; lands within one share of the target) for random books."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autonomous.order_planning import OrderPlan, OrderSide, PlannedOrder, plan_orders

D = Decimal
MIN_ORDER = D("50")
BUFFER = 0.002
CASH = D("100000")


def plan(
    weights: Mapping[str, float],
    positions: Mapping[str, Decimal] | None = None,
    cash: Decimal = CASH,
    prices: Mapping[str, Decimal] | None = None,
    **rules: Any,
) -> OrderPlan:
    merged: dict[str, Any] = {"fractional": False, "min_order_value": MIN_ORDER, "cash_buffer": BUFFER} | rules
    return plan_orders(weights, positions or {}, cash, prices or {}, **merged)


def quantities(orders: tuple[PlannedOrder, ...]) -> dict[str, Decimal]:
    return {o.ticker: o.quantity for o in orders}


# --- no dust -------------------------------------------------------------------------------------


def test_an_exit_paced_by_the_turnover_cap_ends_at_zero_with_whole_shares() -> None:
    """The demo's dust: each session the turnover cap let only part of an exit through, the sale
    rounded down, and the last share (worth more than the minimum order) was never sold."""
    price = D("150")
    held = D("7")
    sessions = 0
    while held > 0:
        sessions += 1
        assert sessions <= 10, f"still holding {held} after 10 sessions"
        equity = CASH + held * price
        paced = float(held * price / equity) * 0.4  # the cap lets 60% of the remaining exit through
        result = plan({"AAA": paced}, {"AAA": held}, CASH, {"AAA": price}, exits={"AAA"})
        (sale,) = result.sells
        held -= sale.quantity
        assert held == 0 or held * price >= MIN_ORDER
    assert sessions <= 4


def test_a_sale_that_would_leave_less_than_the_minimum_order_sells_everything() -> None:
    prices = {"AAA": D("10")}
    result = plan({"AAA": 0.0003}, {"AAA": D("10")}, D("99900"), prices)  # target 30 USD of 100 USD held

    assert quantities(result.sells) == {"AAA": D("10")}


def test_a_holding_the_target_keeps_above_the_minimum_is_sold_only_down_to_its_target() -> None:
    prices = {"AAA": D("10")}
    result = plan({"AAA": 0.001}, {"AAA": D("100")}, D("99000"), prices)  # target 100 USD of 1,000 held

    assert quantities(result.sells) == {"AAA": D("90")}


def test_a_frozen_name_is_valued_but_never_traded_and_the_plan_says_why() -> None:
    prices = {"AAA": D("10"), "BBB": D("20")}
    result = plan(
        {"BBB": 0.5}, {"AAA": D("100")}, D("99000"), prices, frozen={"AAA": "no bar on the session (stale 2)"}
    )

    assert [o.ticker for o in result.orders] == ["BBB"]
    assert result.equity == D("100000")
    (skipped,) = [s for s in result.skipped if s.ticker == "AAA"]
    assert skipped.reason == "not traded today: no bar on the session (stale 2)"


# --- order and rounding -------------------------------------------------------------------------


def test_sells_come_before_buys_and_each_side_is_sorted_by_ticker() -> None:
    prices = {"AAA": D("10"), "BBB": D("20"), "CCC": D("30"), "DDD": D("40")}
    positions = {"DDD": D("500"), "BBB": D("1000")}  # 20k + 20k held
    result = plan({"CCC": 0.2, "AAA": 0.2, "BBB": 0.05}, positions, D("60000"), prices)

    assert [(o.side, o.ticker) for o in result.orders] == [
        (OrderSide.SELL, "BBB"),
        (OrderSide.SELL, "DDD"),
        (OrderSide.BUY, "AAA"),
        (OrderSide.BUY, "CCC"),
    ]
    assert result.sells == result.orders[:2]
    assert result.buys == result.orders[2:]


def test_whole_share_broker_buys_whole_shares_rounded_down() -> None:
    result = plan({"AAA": 0.1}, prices={"AAA": D("333.33")})  # 10,000 USD / 333.33 = 30.0003 shares

    (order,) = result.orders
    assert order == PlannedOrder("AAA", OrderSide.BUY, D("30"), D("333.33"), D("9999.90"))


def test_whole_share_broker_never_rounds_a_buy_up_even_just_below_a_whole_share() -> None:
    result = plan({"AAA": 0.1}, prices={"AAA": D("100.01")})  # 99.990 shares

    assert quantities(result.orders) == {"AAA": D("99")}


def test_fractional_broker_rounds_quantities_down_to_nine_places() -> None:
    result = plan({"AAA": 0.1}, prices={"AAA": D("3")}, fractional=True)  # 3333.3333333... shares

    assert quantities(result.orders) == {"AAA": D("3333.333333333")}
    assert result.orders[0].quantity.as_tuple().exponent == -9


def test_quantity_places_sets_the_fractional_precision() -> None:
    result = plan({"AAA": 0.1}, prices={"AAA": D("3")}, fractional=True, quantity_places=2)

    assert quantities(result.orders) == {"AAA": D("3333.33")}


def test_a_partial_sale_is_rounded_down_so_it_never_sells_below_the_target() -> None:
    # Holding 200 x 100 = 20% of 100k; the target 10.5% is 105 shares: sell 95, not 95.x.
    result = plan({"AAA": 0.105}, {"AAA": D("200")}, D("80000"), {"AAA": D("100")})

    assert [(o.side, o.quantity) for o in result.orders] == [(OrderSide.SELL, D("95"))]


def test_a_trade_that_rounds_to_zero_shares_is_skipped_with_the_shares_it_wanted() -> None:
    result = plan({"AAA": 0.004}, prices={"AAA": D("500")}, min_order_value=D("0"))  # 400 USD: 0.8 share

    assert result.orders == ()
    (skip,) = result.skipped
    assert (skip.ticker, skip.side) == ("AAA", OrderSide.BUY)
    assert "rounds to zero shares" in skip.reason
    assert "0.800000" in skip.reason


def test_an_order_below_the_minimum_value_is_skipped_with_its_value_in_the_reason() -> None:
    result = plan({"AAA": 0.0004, "BBB": 0.1}, prices={"AAA": D("1"), "BBB": D("1")})  # 40 USD and 10k USD

    assert quantities(result.orders) == {"BBB": D("10000")}
    (skip,) = result.skipped
    assert skip.ticker == "AAA"
    assert "below the minimum order value: 40.00 USD < 50.00 USD" in skip.reason


def test_an_unchanged_target_plans_nothing_and_reports_nothing() -> None:
    positions = {"AAA": D("100"), "BBB": D("33")}
    prices = {"AAA": D("100"), "BBB": D("30.30")}
    equity = D("10000") + D("100") * D("100") + D("33") * D("30.30")
    weights = {t: float(positions[t] * prices[t] / equity) for t in positions}  # float noise included

    result = plan(weights, positions, D("10000"), prices, fractional=True)

    assert result.orders == ()
    assert result.skipped == ()
    assert result.notes == ()


# --- exits --------------------------------------------------------------------------------------


def test_a_full_exit_sells_exactly_the_held_quantity_even_for_a_whole_share_broker() -> None:
    result = plan({"AAA": 0.0}, {"AAA": D("12.345678912")}, D("1000"), {"AAA": D("80")})

    assert [(o.side, o.quantity) for o in result.orders] == [(OrderSide.SELL, D("12.345678912"))]


def test_a_full_exit_is_not_held_back_by_the_minimum_order_value() -> None:
    result = plan({}, {"DUST": D("0.3")}, D("1000"), {"DUST": D("10")})  # 3 USD of dust

    assert quantities(result.sells) == {"DUST": D("0.3")}
    assert result.skipped == ()


def test_an_empty_target_sells_everything_and_buys_nothing() -> None:
    positions = {"AAA": D("10"), "BBB": D("2.5"), "CCC": D("0")}
    prices = {"AAA": D("100"), "BBB": D("40")}  # no price needed for a zero position

    result = plan({}, positions, D("500"), prices)

    assert quantities(result.sells) == {"AAA": D("10"), "BBB": D("2.5")}
    assert result.buys == ()
    assert result.estimated_cash_after == result.equity == D("1600")


# --- the cash -----------------------------------------------------------------------------------


def test_buys_are_scaled_down_to_the_available_cash_and_the_plan_says_so() -> None:
    # Cash 10,000, equity 10,000: the buffer keeps 20 aside, the targets want all of it.
    result = plan({"AAA": 0.5, "BBB": 0.5}, {}, D("10000"), {"AAA": D("1"), "BBB": D("1")})

    available = D("10000") - D("20")
    assert sum(o.estimated_value for o in result.buys) <= available
    assert quantities(result.buys) == {"AAA": D("4990"), "BBB": D("4990")}
    (note,) = result.notes
    assert "buys scaled by 0.9980" in note
    assert "9,980.00 USD is available" in note


def test_a_buy_the_cash_cap_shrinks_below_the_minimum_is_skipped_and_says_why() -> None:
    # Equity 10,000; only 30 USD can be spent (cash 50 - buffer 20): the 50-USD buy of BBB scales to 30 < 40.
    prices = {"AAA": D("1"), "BBB": D("1")}
    result = plan({"AAA": 0.995, "BBB": 0.005}, {"AAA": D("9950")}, D("50"), prices, min_order_value=D("40"))

    assert result.orders == ()
    (skip,) = result.skipped
    assert skip.ticker == "BBB"
    assert skip.reason == "cash cap: 50 shares scaled by 0.6000, below the minimum order value: 30.00 USD < 40.00 USD"
    assert len(result.notes) == 1


def test_sale_proceeds_fund_the_buys_of_the_same_plan() -> None:
    positions = {"OLD": D("1000")}
    prices = {"OLD": D("10"), "NEW": D("10")}

    result = plan({"NEW": 0.9}, positions, D("0"), prices)

    assert quantities(result.sells) == {"OLD": D("1000")}
    assert quantities(result.buys) == {"NEW": D("900")}
    assert result.notes == ()


def test_equity_and_estimated_cash_after_add_up() -> None:
    positions = {"AAA": D("100"), "BBB": D("50")}
    prices = {"AAA": D("25.5"), "BBB": D("80"), "CCC": D("7")}

    result = plan({"AAA": 0.1, "CCC": 0.3}, positions, D("3000"), prices)

    assert result.equity == D("3000") + D("2550") + D("4000")
    sold = sum(o.estimated_value for o in result.sells)
    bought = sum(o.estimated_value for o in result.buys)
    assert result.estimated_cash_after == result.cash_before + sold - bought
    assert all(o.estimated_value == o.quantity * o.reference_price for o in result.orders)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "positions"),
    [
        ({"MISSING": 0.1}, {}),  # a buy
        ({}, {"MISSING": D("3")}),  # a held name: equity cannot be valued
    ],
)
def test_a_missing_price_raises_naming_the_ticker(weights: dict[str, float], positions: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError, match="no price for MISSING"):
        plan(weights, positions, prices={"AAA": D("1")})


def test_a_name_with_a_zero_target_and_no_position_needs_no_price() -> None:
    assert plan({"GONE": 0.0}).orders == ()


@pytest.mark.parametrize("weight", [-0.01, math.nan, math.inf])
def test_a_negative_or_non_finite_weight_raises_naming_the_ticker(weight: float) -> None:
    with pytest.raises(ValueError, match="target weight of BAD"):
        plan({"AAA": 0.1, "BAD": weight}, prices={"AAA": D("1"), "BAD": D("1")})


def test_weights_summing_above_one_raise_naming_the_largest() -> None:
    with pytest.raises(ValueError, match=r"sum to 1\.100000 > 1.*AAA 0\.6000"):
        plan({"AAA": 0.6, "BBB": 0.5}, prices={"AAA": D("1"), "BBB": D("1")})


@pytest.mark.parametrize(
    ("positions", "prices", "cash", "message"),
    [
        ({"AAA": D("-1")}, {"AAA": D("1")}, D("100"), "position in AAA"),
        ({"AAA": D("NaN")}, {"AAA": D("1")}, D("100"), "position in AAA"),
        ({"AAA": D("1")}, {"AAA": D("0")}, D("100"), "price of AAA"),
        ({"AAA": D("1")}, {"AAA": D("Infinity")}, D("100"), "price of AAA"),
        ({}, {}, D("NaN"), "cash must be finite"),
        ({}, {}, D("0"), "equity is 0.00 USD"),
    ],
)
def test_bad_positions_prices_or_cash_raise_naming_the_problem(
    positions: dict[str, Decimal], prices: dict[str, Decimal], cash: Decimal, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan({}, positions, cash, prices)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"min_order_value": D("-1")}, "min_order_value"),
        ({"cash_buffer": 1.0}, "cash_buffer"),
        ({"cash_buffer": math.nan}, "cash_buffer"),
        ({"quantity_places": -1}, "quantity_places"),
    ],
)
def test_impossible_rules_raise(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan({}, cash=D("100"), **rules)


def test_the_plan_is_plain_json() -> None:
    result = plan({"AAA": 0.5}, prices={"AAA": D("10")})

    assert result.to_json()["orders"] == [
        {"ticker": "AAA", "side": "buy", "quantity": "5000", "reference_price": "10", "estimated_value": "50000"}
    ]


# --- invariants over random books ---------------------------------------------------------------

TICKERS = tuple(f"T{i}" for i in range(6))


@dataclass(frozen=True)
class Book:
    weights: dict[str, float]
    positions: dict[str, Decimal]
    cash: Decimal
    prices: dict[str, Decimal]
    fractional: bool
    min_order_value: Decimal

    def plan(self) -> OrderPlan:
        return plan_orders(
            self.weights,
            self.positions,
            self.cash,
            self.prices,
            fractional=self.fractional,
            min_order_value=self.min_order_value,
            cash_buffer=BUFFER,
        )


@st.composite
def books(draw: st.DrawFn, max_total_weight: float = 1.0) -> Book:
    fractional = draw(st.booleans())
    prices = {t: draw(st.decimals(D("0.5"), D("2000"), places=2)) for t in TICKERS}
    held = draw(st.lists(st.sampled_from(TICKERS), unique=True, max_size=len(TICKERS)))
    share_places = draw(st.sampled_from([0, 4]))  # whole-share books may hold fractions after a transfer
    positions = {t: draw(st.decimals(D("0"), D("400"), places=share_places)) for t in held}
    cash = draw(st.decimals(D("0"), D("200000"), places=2))
    targets = draw(st.lists(st.sampled_from(TICKERS), unique=True, max_size=len(TICKERS)))
    raw = [draw(st.floats(0.0, 1.0)) for _ in targets]
    total = draw(st.floats(0.0, max_total_weight))
    scale = total / sum(raw) if sum(raw) > 0 else 0.0
    weights = {t: min(r * scale, 1.0) for t, r in zip(targets, raw, strict=True)}
    assume(math.fsum(weights.values()) <= 1.0)
    min_order_value = draw(st.sampled_from([D("0"), MIN_ORDER]))
    book = Book(weights, positions, cash, prices, fractional, min_order_value)
    assume(cash + sum((q * prices[t] for t, q in positions.items()), D(0)) > 0)
    return book


def step_of(book: Book) -> Decimal:
    return D("1e-9") if book.fractional else D("1")


def after(book: Book, result: OrderPlan) -> dict[str, Decimal]:
    """Holdings once every order fills at its reference price."""
    held = dict(book.positions)
    for order in result.orders:
        sign = 1 if order.side is OrderSide.BUY else -1
        held[order.ticker] = held.get(order.ticker, D(0)) + sign * order.quantity
    return held


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
PRECISION_SLACK = D("1e-20")  # shares; far below the 1e-9 step


@PROPERTY_SETTINGS
@given(books())
def test_buys_never_cost_more_than_cash_plus_sales_minus_the_buffer(book: Book) -> None:
    result = book.plan()

    bought = sum((o.estimated_value for o in result.buys), D(0))
    sold = sum((o.estimated_value for o in result.sells), D(0))
    if result.buys:
        assert bought <= book.cash + sold - D(repr(BUFFER)) * result.equity
    assert result.estimated_cash_after >= 0


@PROPERTY_SETTINGS
@given(books())
def test_orders_are_positive_broker_sized_and_never_cross_the_target(book: Book) -> None:
    result = book.plan()
    step = step_of(book)
    held_after = after(book, result)

    assert len({o.ticker for o in result.orders}) == len(result.orders)  # never a buy and a sell of one name
    for order in result.orders:
        target = D(repr(book.weights.get(order.ticker, 0.0))) * result.equity / order.reference_price
        assert order.quantity > 0
        if order.side is OrderSide.SELL and held_after[order.ticker] == 0:
            # A full exit, whatever the held quantity: the target is nothing, or less than any
            # later order could sell (no dust is left behind).
            assert target * order.reference_price < book.min_order_value or target <= PRECISION_SLACK
            continue
        assert order.quantity % step == 0
        assert order.estimated_value >= book.min_order_value
        # 34-digit arithmetic can round a gap of N - 1e-108 shares to N (weights near 1e-100 occur here).
        if order.side is OrderSide.SELL:
            assert held_after[order.ticker] >= target - PRECISION_SLACK
        else:
            assert held_after[order.ticker] <= target + PRECISION_SLACK


@PROPERTY_SETTINGS
@given(books())
def test_a_sale_never_leaves_a_remainder_worth_less_than_the_minimum_order(book: Book) -> None:
    result = book.plan()
    held_after = after(book, result)

    for order in result.sells:
        remainder = held_after[order.ticker] * order.reference_price
        assert remainder == 0 or remainder >= book.min_order_value, order


@PROPERTY_SETTINGS
@given(books(max_total_weight=0.8))
def test_after_the_plan_every_weight_is_within_one_share_plus_the_minimum_of_its_target(book: Book) -> None:
    result = book.plan()
    assume(not result.notes)  # the cash cap did not bind (tested above), so every trade was sized freely
    held_after = after(book, result)

    for ticker in set(held_after) | set(book.weights):
        price = book.prices[ticker]
        value = held_after.get(ticker, D(0)) * price
        target = D(repr(book.weights.get(ticker, 0.0))) * result.equity
        # Rounding down costs up to one step; a trade that rounds below the minimum is skipped.
        tolerance = step_of(book) * price + book.min_order_value + D("0.01")
        assert abs(value - target) <= tolerance, ticker


@PROPERTY_SETTINGS
@given(books())
def test_identical_input_gives_an_identical_plan_whatever_the_mapping_order(book: Book) -> None:
    first = book.plan()
    reordered = Book(
        dict(reversed(book.weights.items())),
        dict(reversed(book.positions.items())),
        book.cash,
        dict(reversed(book.prices.items())),
        book.fractional,
        book.min_order_value,
    )

    assert book.plan().to_json() == first.to_json()
    assert reordered.plan().to_json() == first.to_json()
