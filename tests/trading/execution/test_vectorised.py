from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.trading.execution.strategies import cost_models, open_prices, quantities
from trading.execution.costs import PRICE_STEP, CommissionModel, CostModels, SlippageModel
from trading.execution.fills import BarPrices, fill_market_order
from trading.execution.vectorised import FloatCosts, fill_market_orders
from trading.orders import OrderSide

D = Decimal
SESSION = date(2024, 1, 8)
BROKERAGE = CostModels(SlippageModel(D("5")), CommissionModel(per_share=D("0.005"), minimum=D("1")))
# The ledger rounds money to 4 places (half a step each way) and float64 adds a relative error of a few ulps.
HALF_MONEY_STEP = 0.00005
HALF_PRICE_STEP = float(PRICE_STEP) / 2
RELATIVE = 1e-12

orders = st.lists(st.tuples(st.sampled_from(list(OrderSide)), quantities, open_prices), min_size=1, max_size=8)


@given(orders=orders, models=cost_models)
def test_the_float_engine_prices_random_orders_as_the_decimal_ledger_does_within_rounding(
    orders: list[tuple[OrderSide, Decimal, Decimal]], models: CostModels
) -> None:
    signed = np.array([float(q) if side is OrderSide.BUY else -float(q) for side, q, _ in orders])
    reference = np.array([float(price) for _, _, price in orders])
    fills = fill_market_orders(signed, reference, FloatCosts.from_models(models))
    for i, (side, quantity, open_) in enumerate(orders):
        ledger = fill_market_order(side, quantity, BarPrices("X", SESSION, open_, open_), models)
        price_error = HALF_PRICE_STEP + RELATIVE * float(ledger.price)
        money_error = HALF_MONEY_STEP + float(quantity) * price_error + RELATIVE * float(ledger.gross)
        assert abs(fills.price[i] - float(ledger.price)) <= price_error
        assert abs(fills.commission[i] - float(ledger.commission)) <= HALF_MONEY_STEP + RELATIVE * fills.commission[i]
        assert abs(fills.gross[i] - float(ledger.gross)) <= money_error
        assert abs(fills.net_cash_change[i] - float(ledger.net_cash_change)) <= 2 * money_error


def test_an_order_of_no_shares_fills_nothing_and_pays_no_commission_minimum() -> None:
    fills = fill_market_orders(np.array([0.0, 10.0]), np.array([100.0, 100.0]), FloatCosts.from_models(BROKERAGE))
    assert fills.net_cash_change.tolist() == [0.0, -(10 * 100.05 + 1.0)]
    assert fills.commission.tolist() == [0.0, 1.0]


def test_an_order_without_a_price_to_count_its_shares_pays_the_commission_minimum() -> None:
    fills = fill_market_orders(np.array([np.nan]), np.array([np.nan]), FloatCosts.from_models(BROKERAGE))
    assert fills.commission.tolist() == [1.0]


def test_float_costs_read_the_same_settings_as_the_ledger_models() -> None:
    costs = FloatCosts.from_models(BROKERAGE)
    assert (costs.slippage_rate, costs.commission_per_share, costs.commission_minimum) == (0.0005, 0.005, 1.0)
    assert costs.charges_commission
    assert not FloatCosts.from_models(CostModels()).charges_commission
