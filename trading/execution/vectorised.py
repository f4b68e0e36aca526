"""The fill, slippage and commission engine of trading/execution/fills.py in float64 over arrays of
orders, for analytics that price many fills per step (the agent's training simulator).

It is the same model as the Decimal ledger path, built from the same `CostModels`: a market order
fills at the reference price (the next session's open) moved by `bps` against the order, and pays
max(per_share x quantity, minimum). Only the ledger's rounding (prices to 6 places, money to 4) is
left out; tests/trading/execution/test_vectorised.py checks the two agree within that rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trading.execution.costs import CostModels

FloatArray = npt.NDArray[np.float64]

BASIS_POINTS = 10_000.0


@dataclass(frozen=True)
class FloatCosts:
    """The parameters of a `CostModels` as floats: the slippage as a rate, the commission per share
    and its minimum per order."""

    slippage_rate: float
    commission_per_share: float
    commission_minimum: float

    @classmethod
    def from_models(cls, models: CostModels) -> FloatCosts:
        return cls(
            slippage_rate=float(models.slippage.bps) / BASIS_POINTS,
            commission_per_share=float(models.commission.per_share),
            commission_minimum=float(models.commission.minimum),
        )

    @property
    def charges_commission(self) -> bool:
        return self.commission_per_share > 0.0 or self.commission_minimum > 0.0


@dataclass(frozen=True, eq=False)
class FloatFills:
    """Fills of an array of market orders; each field has the orders' shape. `net_cash_change` is what
    the account's cash moves by (negative for a buy), as `Fill.net_cash_change`."""

    price: FloatArray
    commission: FloatArray
    gross: FloatArray
    net_cash_change: FloatArray


def execution_price(signed_quantity: FloatArray, reference: FloatArray, costs: FloatCosts) -> FloatArray:
    """`SlippageModel.execution_price` per order: buys (quantity > 0) pay more, sells receive less."""
    side = np.sign(signed_quantity)
    price: FloatArray = reference * (1.0 + side * costs.slippage_rate)
    return price


def commission(quantity: FloatArray, costs: FloatCosts) -> FloatArray:
    """`CommissionModel.commission` per order of `quantity` shares (> 0).

    A NaN quantity (no price to count shares at) pays the minimum: fmax ignores the NaN.
    """
    charged: FloatArray = np.fmax(costs.commission_per_share * quantity, costs.commission_minimum)
    return charged


def fill_market_orders(signed_quantity: FloatArray, reference: FloatArray, costs: FloatCosts) -> FloatFills:
    """`fill_market_order` for every non-zero order at once: quantity > 0 buys, < 0 sells, against
    the reference price (the next session's open). Orders of zero shares fill nothing and pay nothing."""
    quantity = np.asarray(signed_quantity, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    traded = quantity != 0.0
    price = execution_price(quantity, reference, costs)
    size = np.abs(quantity)
    charged = np.where(traded, commission(size, costs), 0.0)
    gross = size * price
    net = np.where(traded, -np.sign(quantity) * gross - charged, 0.0)
    return FloatFills(price=price, commission=charged, gross=np.where(traded, gross, 0.0), net_cash_change=net)
