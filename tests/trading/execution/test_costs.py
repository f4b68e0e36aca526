from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.execution.costs import (
    CommissionModel,
    CostModels,
    SlippageModel,
    round_money,
    round_price,
    round_quantity,
)
from trading.orders import OrderSide
from trading.settings import ExecutionSettings

D = Decimal


def test_rounding_is_half_even_to_the_schemas_places() -> None:
    assert [round_price(D(text)) for text in ("1.0000005", "1.0000015", "1.00000051")] == [
        D("1.000000"),
        D("1.000002"),
        D("1.000001"),
    ]
    assert [round_money(D(text)) for text in ("0.00005", "0.00015", "2.93125")] == [D("0"), D("0.0002"), D("2.9312")]
    assert round_quantity(D("0.0000000005")) == 0
    assert str(round_money(D("3"))) == "3.0000"


def test_five_bps_of_slippage_makes_buys_pay_more_and_sells_receive_less() -> None:
    slippage = SlippageModel(D("5"))
    assert slippage.execution_price(OrderSide.BUY, D("100")) == D("100.05")
    assert slippage.execution_price(OrderSide.SELL, D("100")) == D("99.95")
    # 123.456789 x 0.0005 = 0.0617283945
    assert slippage.execution_price(OrderSide.BUY, D("123.456789")) == D("123.518517")
    assert slippage.execution_price(OrderSide.SELL, D("123.456789")) == D("123.395061")


def test_the_reference_price_is_put_on_the_price_grid_before_slippage() -> None:
    assert SlippageModel().execution_price(OrderSide.BUY, D("10.0000004")) == D("10.000000")
    assert SlippageModel().execution_price(OrderSide.SELL, D("10.0000006")) == D("10.000001")


@pytest.mark.parametrize("bps", [D("-1"), D("1000.01")])
def test_slippage_outside_zero_to_a_thousand_bps_is_refused(bps: Decimal) -> None:
    with pytest.raises(ValueError, match="between 0 and 1000 bps"):
        SlippageModel(bps)


def test_a_per_share_commission_is_charged_at_least_the_minimum() -> None:
    commission = CommissionModel(per_share=D("0.005"), minimum=D("1.00"))
    assert commission.commission(D("100")) == D("1.0000")
    assert commission.commission(D("1000")) == D("5.0000")
    assert commission.commission(D("333")) == D("1.6650")
    assert CommissionModel().commission(D("1000")) == 0


def test_a_negative_commission_is_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        CommissionModel(per_share=D("-0.01"))


def test_cost_models_come_from_the_execution_settings_defaults() -> None:
    settings = ExecutionSettings()
    assert (settings.slippage_bps, settings.commission_per_share, settings.commission_minimum) == (
        D("5"),
        D("0"),
        D("0"),
    )
    assert (settings.min_order_value, settings.cash_buffer) == (D("50"), D("0.002"))
    models = CostModels.from_settings(ExecutionSettings(commission_per_share=D("0.01"), commission_minimum=D("2")))
    assert models == CostModels(SlippageModel(D("5")), CommissionModel(D("0.01"), D("2")))


def test_execution_settings_parse_text_as_exact_decimals() -> None:
    settings = ExecutionSettings.model_validate({"slippage_bps": "2.5", "commission_per_share": 0.1})
    assert settings.slippage_bps == D("2.5")
    # A TOML float becomes the Decimal of its text, not of its binary value.
    assert settings.commission_per_share == D("0.1")


prices = st.decimals(min_value=D("0.000001"), max_value=D("100000"), places=8, allow_nan=False, allow_infinity=False)
bps_values = st.decimals(min_value=D("0"), max_value=D("1000"), places=2, allow_nan=False, allow_infinity=False)


@given(reference=prices, bps=bps_values)
def test_slippage_is_never_in_the_orders_favour(reference: Decimal, bps: Decimal) -> None:
    slippage = SlippageModel(bps)
    on_grid = round_price(reference)
    buy = slippage.execution_price(OrderSide.BUY, reference)
    sell = slippage.execution_price(OrderSide.SELL, reference)
    assert sell <= on_grid <= buy
    assert buy - sell <= 2 * on_grid * bps / 10_000 + D("0.000001")
