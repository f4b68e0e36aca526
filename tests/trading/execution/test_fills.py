from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.trading.execution.strategies import cost_models, open_prices, quantities
from trading.errors import DataError, InsufficientFunds, OrderRejected
from trading.execution.costs import CommissionModel, CostModels, SlippageModel
from trading.execution.fills import (
    BarPrices,
    Fill,
    apply_fill_to_position,
    apply_split,
    cash_after_fill,
    dividend_cash,
    fill_market_order,
)
from trading.orders import OrderSide

D = Decimal
SESSION = date(2024, 1, 8)
NO_COSTS = CostModels()
BROKERAGE = CostModels(SlippageModel(D("5")), CommissionModel(per_share=D("0.005"), minimum=D("1")))


def bar(open_: str | None, close: str, ticker: str = "AAPL") -> BarPrices:
    return BarPrices(ticker, SESSION, None if open_ is None else D(open_), D(close))


def test_a_buy_fills_at_the_next_open_plus_slippage_and_pays_the_commission() -> None:
    fill = fill_market_order(OrderSide.BUY, D("10"), bar("100", "105"), BROKERAGE)
    assert fill == Fill(
        ticker="AAPL",
        session=SESSION,
        side=OrderSide.BUY,
        quantity=D("10"),
        price=D("100.05"),
        commission=D("1"),
        gross=D("1000.5"),
        net_cash_change=D("-1001.5"),
        flagged_no_open=False,
    )
    assert str(fill.net_cash_change) == "-1001.5000"


def test_a_bar_without_an_open_fills_at_its_close_and_is_flagged() -> None:
    fill = fill_market_order(OrderSide.SELL, D("10"), bar(None, "50"), BROKERAGE)
    assert (fill.price, fill.gross, fill.commission, fill.net_cash_change) == (
        D("49.975"),
        D("499.75"),
        D("1"),
        D("498.75"),
    )
    assert fill.flagged_no_open


def test_a_fractional_buy_rounds_its_gross_to_the_money_places() -> None:
    # 0.5 x 33.333333 = 16.6666665 -> 16.6667
    fill = fill_market_order(OrderSide.BUY, D("0.5"), bar("33.333333", "34"), NO_COSTS)
    assert (fill.gross, fill.net_cash_change) == (D("16.6667"), D("-16.6667"))


@pytest.mark.parametrize("quantity", [D("0"), D("-3"), D("0.0000000001")])
def test_a_fill_needs_a_positive_quantity_with_at_most_nine_places(quantity: Decimal) -> None:
    with pytest.raises(ValueError, match="AAPL on 2024-01-08"):
        fill_market_order(OrderSide.BUY, quantity, bar("100", "100"), NO_COSTS)


def test_a_bar_with_a_non_positive_or_float_price_is_bad_data_naming_ticker_date_and_field() -> None:
    with pytest.raises(DataError, match="bar MSFT 2024-01-08: close must be a positive Decimal"):
        bar("100", "0", ticker="MSFT")
    with pytest.raises(DataError, match=r"bar AAPL 2024-01-08: open must be a positive Decimal, got 100\.0"):
        BarPrices("AAPL", SESSION, 100.0, D("1"))  # type: ignore[arg-type]


def test_a_buy_that_needs_more_than_the_cash_is_refused_with_the_numbers() -> None:
    fill = fill_market_order(OrderSide.BUY, D("10"), bar("100", "105"), BROKERAGE)
    with pytest.raises(InsufficientFunds) as refused:
        cash_after_fill(D("1000"), fill)
    assert str(refused.value) == (
        "buy 10 AAPL at 100.050000 on 2024-01-08: needs 1001.5000 (gross 1000.5000 + commission 1.0000) "
        "but only 1000 cash is available"
    )
    assert isinstance(refused.value, OrderRejected)
    assert cash_after_fill(D("1001.5"), fill) == 0
    assert cash_after_fill(D("2000"), fill) == D("998.5")


def test_a_sale_smaller_than_the_minimum_commission_cannot_overdraw_cash() -> None:
    fill = fill_market_order(OrderSide.SELL, D("0.01"), bar("10", "10"), BROKERAGE)
    assert fill.net_cash_change == D("-0.9")
    with pytest.raises(InsufficientFunds, match=r"commission 1\.0000 exceeds proceeds 0\.1000"):
        cash_after_fill(D("0.5"), fill)


def test_buys_move_the_average_price_to_the_volume_weighted_mean() -> None:
    buy_at_110 = fill_market_order(OrderSide.BUY, D("10"), bar("110", "110"), NO_COSTS)
    assert apply_fill_to_position(D("10"), D("100"), buy_at_110) == (D("20"), D("105"))
    buy_one_at_11 = fill_market_order(OrderSide.BUY, D("1"), bar("11", "11"), NO_COSTS)
    assert apply_fill_to_position(D("3"), D("10"), buy_one_at_11) == (D("4"), D("10.25"))
    # (3 x 10 + 3 x 10.000001) / 6 = 10.0000005, half-even to 10.000000
    buy_three = fill_market_order(OrderSide.BUY, D("3"), bar("10.000001", "11"), NO_COSTS)
    assert apply_fill_to_position(D("3"), D("10"), buy_three) == (D("6"), D("10.000000"))


def test_a_first_buy_sets_the_average_price_to_the_fill_price_without_commission() -> None:
    fill = fill_market_order(OrderSide.BUY, D("10"), bar("100", "105"), BROKERAGE)
    assert apply_fill_to_position(D("0"), D("0"), fill) == (D("10"), D("100.05"))


def test_sells_keep_the_average_price() -> None:
    sell = fill_market_order(OrderSide.SELL, D("5"), bar("120", "120"), BROKERAGE)
    assert apply_fill_to_position(D("20"), D("105"), sell) == (D("15"), D("105"))
    sell_all = fill_market_order(OrderSide.SELL, D("20"), bar("120", "120"), BROKERAGE)
    assert apply_fill_to_position(D("20"), D("105"), sell_all) == (D("0"), D("105"))


def test_selling_more_than_is_held_is_rejected_because_the_fund_never_goes_short() -> None:
    sell = fill_market_order(OrderSide.SELL, D("21"), bar("120", "120"), NO_COSTS)
    with pytest.raises(OrderRejected, match="sell 21 AAPL on 2024-01-08: only 20 held"):
        apply_fill_to_position(D("20"), D("105"), sell)


def test_a_split_multiplies_the_quantity_and_divides_the_average_price() -> None:
    assert apply_split(D("10"), D("300"), D("3")) == (D("30"), D("100"))
    assert apply_split(D("15"), D("10"), D("0.1")) == (D("1.5"), D("100"))
    # 3-for-2 on 7 shares: 10.5 shares, 700 / 10.5 = 66.666666...
    assert apply_split(D("7"), D("100"), D("1.5")) == (D("10.5"), D("66.666667"))
    with pytest.raises(ValueError, match="split coefficient must be positive"):
        apply_split(D("7"), D("100"), D("0"))


def test_a_dividend_pays_quantity_times_the_amount_rounded_half_even() -> None:
    assert dividend_cash(D("100"), D("0.24")) == D("24")
    # 12.5 x 0.2345 = 2.93125 -> 2.9312
    assert dividend_cash(D("12.5"), D("0.2345")) == D("2.9312")
    with pytest.raises(ValueError, match="cannot be negative"):
        dividend_cash(D("1"), D("-0.1"))


# --- invariants ------------------------------------------------------------------------------------

HALF_MONEY_STEP = D("0.00005")


@given(quantity=quantities, open_=open_prices, models=cost_models)
def test_a_buy_costs_exactly_its_gross_plus_commission(quantity: Decimal, open_: Decimal, models: CostModels) -> None:
    fill = fill_market_order(OrderSide.BUY, quantity, BarPrices("X", SESSION, open_, open_), models)
    assert fill.net_cash_change == -(fill.gross + fill.commission)
    assert abs(fill.gross - quantity * fill.price) <= HALF_MONEY_STEP
    assert fill.commission >= models.commission.minimum
    assert fill.price >= open_


@given(quantity=quantities, open_=open_prices, models=cost_models, cash=st.decimals(min_value=0, max_value=10**7))
def test_cash_after_a_fill_is_never_negative(
    quantity: Decimal, open_: Decimal, models: CostModels, cash: Decimal
) -> None:
    for side in OrderSide:
        fill = fill_market_order(side, quantity, BarPrices("X", SESSION, open_, open_), models)
        try:
            after = cash_after_fill(cash, fill)
        except InsufficientFunds:
            assert cash + fill.net_cash_change < 0
        else:
            assert after >= 0
            assert after == cash + fill.net_cash_change


@given(quantity=quantities, open_=open_prices, models=cost_models)
def test_buying_then_selling_everything_loses_exactly_the_costs(
    quantity: Decimal, open_: Decimal, models: CostModels
) -> None:
    at_open = BarPrices("X", SESSION, open_, open_)
    buy = fill_market_order(OrderSide.BUY, quantity, at_open, models)
    sell = fill_market_order(OrderSide.SELL, quantity, at_open, models)
    held, average = apply_fill_to_position(D(0), D(0), buy)
    assert apply_fill_to_position(held, average, sell) == (D(0), buy.price)

    loss = -(buy.net_cash_change + sell.net_cash_change)
    commissions = buy.commission + sell.commission
    slippage_paid = quantity * (buy.price - sell.price)
    assert abs(loss - (commissions + slippage_paid)) <= 2 * HALF_MONEY_STEP
    assert loss >= commissions
    if models.slippage.bps == 0:
        assert loss == commissions


@given(
    quantity=quantities,
    average=open_prices,
    split_coef=st.sampled_from([D("2"), D("3"), D("1.5"), D("4"), D("0.5"), D("0.1"), D("0.05"), D("7")]),
)
def test_a_split_keeps_the_cost_basis_to_rounding(quantity: Decimal, average: Decimal, split_coef: Decimal) -> None:
    new_quantity, new_average = apply_split(quantity, average, split_coef)
    assume(new_quantity > 0)
    assert abs(new_quantity - quantity * split_coef) <= D("0.0000000005")
    assert abs(new_quantity * new_average - quantity * average) <= new_quantity * D("0.0000005")
