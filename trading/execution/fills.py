"""How a market order fills against the next session's bar and what the fill does to cash and a position.

Pure Decimal functions: the paper venue (trading/brokers/paper/settlement.py) and the backtest call
them unchanged, so paper results and backtests price trades identically. Rounding rules are in
trading/execution/costs.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal, localcontext

from trading.errors import DataError, InsufficientFunds, OrderRejected
from trading.execution.costs import (
    LEDGER_CONTEXT,
    CostModels,
    round_money,
    round_price,
    round_quantity,
)
from trading.orders import QUANTITY_PLACES, OrderSide, decimal_places

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BarPrices:
    """The prices of the bar an order fills against: the raw (as-traded) open and close, and the
    adjusted close, which prices a fill only when the vendor gave no raw price at all (a series
    shipped as adjusted closes only, e.g. GLD in the shared data).

    A bar with no price at all cannot price a fill: the caller treats it like a missing bar.
    """

    ticker: str
    session: date
    open: Decimal | None
    close: Decimal | None
    adj_close: Decimal | None = None

    def __post_init__(self) -> None:
        for field in ("open", "close", "adj_close"):
            value = getattr(self, field)
            if value is not None and not (isinstance(value, Decimal) and value.is_finite() and value > 0):
                raise DataError(f"bar {self.ticker} {self.session}: {field} must be a positive Decimal, got {value!r}")
        if self.open is None and self.close is None and self.adj_close is None:
            raise DataError(f"bar {self.ticker} {self.session}: no open, close or adjusted close to fill at")

    @property
    def adjusted_only(self) -> bool:
        """No raw price, only the adjusted close (dividends and splits are inside such a series)."""
        return self.open is None and self.close is None


@dataclass(frozen=True)
class Fill:
    """One executed market order. `net_cash_change` is what the account's cash moves by (negative for a buy)."""

    ticker: str
    session: date
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    gross: Decimal
    net_cash_change: Decimal
    # The bar had no open, so the fill used its close: a worse proxy a reviewer should see.
    flagged_no_open: bool
    # The bar had no raw price at all, so the fill used its adjusted close (flagged_no_open too): the
    # quantity is then in the adjusted series' units, which the venue marks at adjusted closes as well.
    at_adjusted_close: bool = False


def fill_market_order(side: OrderSide, quantity: Decimal, next_bar: BarPrices, models: CostModels) -> Fill:
    """Fill a market order sent after a close at `next_bar`, the next session's bar.

    The fill takes the bar's open (its close, flagged, when the vendor gave no open; its adjusted
    close, flagged, when the vendor gave no raw price at all), moved by the slippage model against
    the order; the commission model adds its charge. The bar is not optional: while the next
    session's bar does not exist, the caller keeps the order submitted.
    """
    where = f"{side} {quantity} {next_bar.ticker} on {next_bar.session}"
    if not (quantity.is_finite() and quantity > 0):
        raise ValueError(f"{where}: quantity must be positive")
    if decimal_places(quantity) > QUANTITY_PLACES:
        raise ValueError(f"{where}: quantity has more than {QUANTITY_PLACES} decimal places")
    reference = _reference_price(next_bar, where)
    flagged = next_bar.open is None
    price = models.slippage.execution_price(side, reference)
    commission = models.commission.commission(quantity)
    with localcontext(LEDGER_CONTEXT):
        gross = round_money(quantity * price)
        net = -(gross + commission) if side is OrderSide.BUY else gross - commission
    return Fill(
        ticker=next_bar.ticker,
        session=next_bar.session,
        side=side,
        quantity=quantity,
        price=price,
        commission=commission,
        gross=gross,
        net_cash_change=net,
        flagged_no_open=flagged,
        at_adjusted_close=next_bar.adjusted_only,
    )


def _reference_price(bar: BarPrices, where: str) -> Decimal:
    """The price the fill starts from before slippage: the open, else the close, else the adjusted close."""
    if bar.open is not None:
        return bar.open
    if bar.close is not None:
        logger.info("%s: the bar has no open; filling at the close %s", where, bar.close)
        return bar.close
    assert bar.adj_close is not None  # BarPrices refuses a bar without any price
    logger.info("%s: the bar has no raw price; filling at the adjusted close %s", where, bar.adj_close)
    return bar.adj_close


def cash_after_fill(cash: Decimal, fill: Fill) -> Decimal:
    """The account's cash after `fill`; InsufficientFunds if it would go negative (no margin, ever)."""
    after = cash + fill.net_cash_change
    if after < 0:
        raise InsufficientFunds(_insufficient_funds_message(cash, fill))
    return after


def _insufficient_funds_message(cash: Decimal, fill: Fill) -> str:
    order = f"{fill.side} {fill.quantity} {fill.ticker} at {fill.price} on {fill.session}"
    if fill.side is OrderSide.BUY:
        return (
            f"{order}: needs {-fill.net_cash_change} (gross {fill.gross} + commission {fill.commission}) "
            f"but only {cash} cash is available"
        )
    # A tiny sale under a minimum commission can cost more than it brings in.
    return f"{order}: commission {fill.commission} exceeds proceeds {fill.gross} and cash {cash} cannot cover it"


def apply_fill_to_position(quantity: Decimal, average_price: Decimal, fill: Fill) -> tuple[Decimal, Decimal]:
    """A held position (quantity, average price) after `fill`.

    Buys move the average price to the volume-weighted mean of the old holding and the fill
    price (commissions are not in it: trade_executions records them). Sells keep the average
    price, and selling more than is held raises OrderRejected: the fund never goes short.
    """
    if quantity < 0:
        raise ValueError(f"{fill.ticker}: a held quantity cannot be negative, got {quantity}")
    with localcontext(LEDGER_CONTEXT):
        if fill.side is OrderSide.SELL:
            if fill.quantity > quantity:
                raise OrderRejected(
                    f"sell {fill.quantity} {fill.ticker} on {fill.session}: only {quantity} held (no short selling)"
                )
            return quantity - fill.quantity, average_price
        new_quantity = quantity + fill.quantity
        cost = quantity * average_price + fill.quantity * fill.price
        return new_quantity, round_price(cost / new_quantity)


def apply_split(quantity: Decimal, average_price: Decimal, split_coef: Decimal) -> tuple[Decimal, Decimal]:
    """A position after a split with the bar's `split_coef` (2 for 2-for-1, 0.1 for 1-for-10).

    The cost basis (quantity x average price) is kept: the average price is recomputed from it
    after the quantity is rounded. An odd split (1.5, 3.000003) can leave a fraction of a share;
    a whole-share account is then paid cash in lieu of it (`fraction_in_lieu`).
    """
    if not split_coef > 0:
        raise ValueError(f"split coefficient must be positive, got {split_coef}")
    with localcontext(LEDGER_CONTEXT):
        new_quantity = round_quantity(quantity * split_coef)
        if new_quantity == 0:
            return new_quantity, round_price(average_price / split_coef)
        return new_quantity, round_price(quantity * average_price / new_quantity)


def dividend_cash(quantity: Decimal, dividend: Decimal) -> Decimal:
    """Cash a holding of `quantity` shares receives from a per-share cash `dividend` on its ex-date."""
    if dividend < 0:
        raise ValueError(f"a dividend cannot be negative, got {dividend}")
    with localcontext(LEDGER_CONTEXT):
        return round_money(quantity * dividend)


def fraction_in_lieu(quantity: Decimal, price: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """What a whole-share account keeps of `quantity` after a split, the fraction it gives up, and the
    cash in lieu of that fraction at `price` (the split session's close), as brokers pay it."""
    if quantity < 0:
        raise ValueError(f"a held quantity cannot be negative, got {quantity}")
    with localcontext(LEDGER_CONTEXT):
        whole = quantity.to_integral_value(rounding=ROUND_DOWN)
        fraction = quantity - whole
        return whole, fraction, round_money(fraction * price)
