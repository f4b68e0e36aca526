"""Slippage and commission models and the ledger's rounding rules, shared by the paper venue and the backtest.

Rounding: prices to 6 places (the schema's Numeric(20, 6)), money to 4 places (Numeric(20, 4)),
quantities to 9 (Numeric(24, 9)), always ROUND_HALF_EVEN (banker's rounding, so that rounding
errors do not drift one way over many fills). All arithmetic runs in a 60-digit Decimal context:
the default 28 digits could round a large quantity times a 6-place price before we do.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from trading.orders import OrderSide
from trading.settings import ExecutionSettings

PRICE_STEP = Decimal("0.000001")
MONEY_STEP = Decimal("0.0001")
QUANTITY_STEP = Decimal("0.000000001")
BASIS_POINTS = Decimal(10_000)
LEDGER_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)


def round_price(value: Decimal) -> Decimal:
    return value.quantize(PRICE_STEP, rounding=ROUND_HALF_EVEN, context=LEDGER_CONTEXT)


def round_money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN, context=LEDGER_CONTEXT)


def round_quantity(value: Decimal) -> Decimal:
    return value.quantize(QUANTITY_STEP, rounding=ROUND_HALF_EVEN, context=LEDGER_CONTEXT)


@dataclass(frozen=True)
class SlippageModel:
    """A fixed adverse price move in basis points: buys pay more, sells receive less."""

    bps: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        # 10,000 bps would sell for nothing; 10% is already far beyond any liquid market order.
        if not Decimal(0) <= self.bps <= Decimal(1000):
            raise ValueError(f"slippage must be between 0 and 1000 bps, got {self.bps}")

    def execution_price(self, side: OrderSide, reference_price: Decimal) -> Decimal:
        """The price a market order gets when the market trades at `reference_price`.

        The reference is put on the price grid first: then rounding can never turn the slippage
        in the order's favour (a buy pays at least the gridded reference, a sell gets at most it).
        """
        reference = round_price(reference_price)
        if reference <= 0:
            raise ValueError(f"reference price {reference_price} is not positive on the 6-place price grid")
        move = self.bps / BASIS_POINTS
        with localcontext(LEDGER_CONTEXT):
            factor = 1 + move if side is OrderSide.BUY else 1 - move
            return round_price(reference * factor)


@dataclass(frozen=True)
class CommissionModel:
    """A per-share commission with a minimum per order (zero and zero: commission-free, like Alpaca)."""

    per_share: Decimal = Decimal(0)
    minimum: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.per_share < 0 or self.minimum < 0:
            raise ValueError(f"commission per share and minimum must be >= 0, got {self.per_share}, {self.minimum}")

    def commission(self, quantity: Decimal) -> Decimal:
        """Money charged for one fill of `quantity` shares (a fill, not an order: no partial-fill splitting)."""
        with localcontext(LEDGER_CONTEXT):
            return round_money(max(self.per_share * quantity, self.minimum))


@dataclass(frozen=True)
class CostModels:
    """Everything a fill costs beyond the market price."""

    slippage: SlippageModel = SlippageModel()
    commission: CommissionModel = CommissionModel()

    @classmethod
    def from_settings(cls, settings: ExecutionSettings) -> CostModels:
        return cls(
            slippage=SlippageModel(settings.slippage_bps),
            commission=CommissionModel(settings.commission_per_share, settings.commission_minimum),
        )
