"""Order planning: the risk manager's adjusted weights times today's equity become share orders,
sells before buys, rounded to what the broker accepts, and never spending more than the cash."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Context, Decimal, localcontext
from typing import Any

from autonomous.portfolio import WEIGHT_SUM_TOLERANCE
from trading.orders import QUANTITY_PLACES, OrderSide

logger = logging.getLogger(__name__)

# A gap under a cent is float noise in the weights (an unchanged name), not a trade worth reporting.
NEGLIGIBLE_VALUE = Decimal("0.01")
# Fixed precision so that a caller's decimal context cannot change a plan (34 digits: decimal128).
PLANNING_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class PlannedOrder:
    ticker: str
    side: OrderSide
    quantity: Decimal  # shares, always positive
    reference_price: Decimal  # the close the order was sized with; the fill will differ
    estimated_value: Decimal  # quantity x reference price

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "reference_price": str(self.reference_price),
            "estimated_value": str(self.estimated_value),
        }


@dataclass(frozen=True)
class SkippedOrder:
    """A trade the target asked for that the plan does not make, with the numbers that decided it."""

    ticker: str
    side: OrderSide
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"ticker": self.ticker, "side": self.side.value, "reason": self.reason}


@dataclass(frozen=True)
class OrderPlan:
    """Orders to send in this order: every sale (by ticker), then every buy (by ticker). Values are
    estimates at the reference prices, before slippage and commission (the cash buffer pays those)."""

    orders: tuple[PlannedOrder, ...]
    equity: Decimal
    cash_before: Decimal
    estimated_cash_after: Decimal
    skipped: tuple[SkippedOrder, ...]
    notes: tuple[str, ...] = ()

    @property
    def sells(self) -> tuple[PlannedOrder, ...]:
        return tuple(o for o in self.orders if o.side is OrderSide.SELL)

    @property
    def buys(self) -> tuple[PlannedOrder, ...]:
        return tuple(o for o in self.orders if o.side is OrderSide.BUY)

    def to_json(self) -> dict[str, Any]:
        """Plain dicts, lists and strings (decimals as strings, exact), ready for a JSON column."""
        return {
            "orders": [o.to_json() for o in self.orders],
            "equity": str(self.equity),
            "cash_before": str(self.cash_before),
            "estimated_cash_after": str(self.estimated_cash_after),
            "skipped": [s.to_json() for s in self.skipped],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Gap:
    """One name's distance from its target, in shares (positive: buy)."""

    ticker: str
    held: Decimal
    weight: Decimal
    price: Decimal
    shares: Decimal
    exiting: bool  # the strategy wants none of it: a paced sale rounds up, not down

    @property
    def is_full_exit(self) -> bool:
        return self.weight == 0 and self.held > 0


def plan_orders(
    target_weights: Mapping[str, float],
    positions: Mapping[str, Decimal],
    cash: Decimal,
    prices: Mapping[str, Decimal],
    *,
    fractional: bool,
    min_order_value: Decimal,
    cash_buffer: float,
    quantity_places: int = QUANTITY_PLACES,
    exits: Collection[str] = (),
    frozen: Mapping[str, str] | None = None,
) -> OrderPlan:
    """Orders that move `positions` (shares) and `cash` to `target_weights` (fractions of equity
    valued at `prices`). A held name missing from the target is sold. Quantities round down, in
    whole shares unless `fractional` (then to `quantity_places` decimals), except that a full exit
    sells exactly what is held, whatever its size. Other trades worth less than `min_order_value`
    are skipped. Buys spend at most cash + estimated sale proceeds - `cash_buffer` x equity; if
    they would spend more, every buy shrinks by the same factor.

    No dust: a holding whose target is worth less than `min_order_value`, or that a sale would
    leave worth less than it, is sold in full; a sale of a name in `exits` (the strategy wants none
    of it, the turnover cap only paces its sale) rounds up, so that whole shares cannot strand a
    last one. A name whose target is zero ends at zero. Names in `frozen` (ticker -> why, e.g. no
    bar today) are never traded: they are valued at their price and skipped with the reason."""
    _check_rules(min_order_value, cash_buffer, quantity_places)
    frozen = frozen or {}
    with localcontext(PLANNING_CONTEXT):
        weights = _validated_weights(target_weights)
        held = _validated_positions(positions)
        cash = _finite("cash", cash)
        equity = _equity(cash, held, prices)
        gaps = _gaps(weights, held, prices, equity, min_order_value, set(exits), frozen)
        step = Decimal(1).scaleb(-quantity_places) if fractional else Decimal(1)

        sells, skipped_sells = _plan_sales(gaps, step, min_order_value)
        skipped_sells += [
            SkippedOrder(t, OrderSide.SELL, f"not traded today: {why}")
            for t, why in sorted(frozen.items())
            if t in held or t in weights
        ]
        proceeds = _total(sells)
        buffer = Decimal(repr(cash_buffer)) * equity
        available = cash + proceeds - buffer
        wanted_buys, skipped_buys = _plan_buys(gaps, step, min_order_value)
        buys, capped, factor = _fit_buys_to_cash(wanted_buys, available, step, min_order_value)
        notes: tuple[str, ...] = ()
        if factor is not None:
            notes = (_cash_cap_note(factor, _total(wanted_buys), cash, proceeds, buffer),)
            logger.info("order plan: %s", notes[0])

        plan = OrderPlan(
            orders=tuple(sells) + tuple(buys),
            equity=equity,
            cash_before=cash,
            estimated_cash_after=cash + proceeds - _total(buys),
            skipped=tuple(
                sorted(skipped_sells + skipped_buys + capped, key=lambda s: (s.side is not OrderSide.SELL, s.ticker))
            ),
            notes=notes,
        )
    logger.info(
        "order plan: %d sells, %d buys, %d skipped; equity %s, estimated cash after %s",
        len(sells),
        len(buys),
        len(plan.skipped),
        _usd(equity),
        _usd(plan.estimated_cash_after),
    )
    return plan


def _check_rules(min_order_value: Decimal, cash_buffer: float, quantity_places: int) -> None:
    if not min_order_value.is_finite() or min_order_value < 0:
        raise ValueError(f"min_order_value must be a finite amount >= 0, got {min_order_value}")
    if not math.isfinite(cash_buffer) or not 0 <= cash_buffer < 1:
        raise ValueError(f"cash_buffer must be a fraction of equity in [0, 1), got {cash_buffer}")
    if quantity_places < 0:
        raise ValueError(f"quantity_places must be >= 0, got {quantity_places}")


def _validated_weights(target_weights: Mapping[str, float]) -> dict[str, Decimal]:
    for ticker, weight in target_weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"target weight of {ticker} must be finite and >= 0, got {weight}")
    total = math.fsum(target_weights.values())
    if total > 1 + WEIGHT_SUM_TOLERANCE:
        largest = sorted(target_weights, key=lambda t: -target_weights[t])[:3]
        names = ", ".join(f"{t} {target_weights[t]:.4f}" for t in largest)
        raise ValueError(f"target weights sum to {total:.6f} > 1 (no leverage); largest: {names}")
    # repr is the shortest string that round-trips, so 0.1 becomes Decimal("0.1"), not its binary expansion.
    return {ticker: Decimal(repr(weight)) for ticker, weight in target_weights.items()}


def _validated_positions(positions: Mapping[str, Decimal]) -> dict[str, Decimal]:
    for ticker, quantity in positions.items():
        if not quantity.is_finite() or quantity < 0:
            raise ValueError(f"position in {ticker} must be a finite quantity >= 0 (no shorts), got {quantity}")
    return {ticker: quantity for ticker, quantity in positions.items() if quantity != 0}


def _finite(name: str, amount: Decimal) -> Decimal:
    if not amount.is_finite():
        raise ValueError(f"{name} must be finite, got {amount}")
    return amount


def _price_of(ticker: str, prices: Mapping[str, Decimal], why: str) -> Decimal:
    price = prices.get(ticker)
    if price is None:
        raise ValueError(f"no price for {ticker} ({why}): nothing planned")
    if not price.is_finite() or price <= 0:
        raise ValueError(f"price of {ticker} must be finite and > 0, got {price}")
    return price


def _equity(cash: Decimal, held: Mapping[str, Decimal], prices: Mapping[str, Decimal]) -> Decimal:
    equity = cash + sum(
        (quantity * _price_of(ticker, prices, "held, needed to value equity") for ticker, quantity in held.items()),
        Decimal(0),
    )
    if equity <= 0:
        raise ValueError(f"equity is {_usd(equity)} (cash {_usd(cash)}): target weights cannot be sized")
    return equity


def _gaps(
    weights: Mapping[str, Decimal],
    held: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    equity: Decimal,
    min_order_value: Decimal,
    exits: set[str],
    frozen: Mapping[str, str],
) -> list[_Gap]:
    """Every name that needs a trade, by ticker; unchanged names (a gap under a cent) are left out."""
    gaps = []
    for ticker in sorted(set(held) | {t for t, w in weights.items() if w > 0}):
        if ticker in frozen:
            continue
        weight = weights.get(ticker, Decimal(0))
        owned = held.get(ticker, Decimal(0))
        price = _price_of(ticker, prices, "it needs an order")
        if 0 < weight * equity < min(min_order_value, owned * price):
            weight = Decimal(0)  # cut to less than any later order could sell: dust, so sell it all now
        shares = weight * equity / price - owned
        gap = _Gap(ticker, owned, weight, price, shares, ticker in exits)
        if gap.is_full_exit or abs(shares) * price >= NEGLIGIBLE_VALUE:
            gaps.append(gap)
    return gaps


def _plan_sales(
    gaps: Iterable[_Gap], step: Decimal, min_order_value: Decimal
) -> tuple[list[PlannedOrder], list[SkippedOrder]]:
    orders: list[PlannedOrder] = []
    skipped: list[SkippedOrder] = []
    for gap in gaps:
        if gap.shares >= 0:
            continue
        if gap.is_full_exit:
            # Exact, and exempt from the minimum: a whole-share broker cannot hold a fraction, and a
            # small remainder skipped today would be skipped every day.
            orders.append(_order(gap.ticker, OrderSide.SELL, gap.held, gap.price))
            continue
        rounding = ROUND_UP if gap.exiting else ROUND_DOWN
        sale = _sized(gap.ticker, OrderSide.SELL, -gap.shares, gap.price, step, min_order_value, rounding)
        sold = sale.quantity if isinstance(sale, PlannedOrder) else Decimal(0)
        if (gap.held - sold) * gap.price < min_order_value:
            # What the sale would leave could never be sold on its own: sell it all.
            orders.append(_order(gap.ticker, OrderSide.SELL, gap.held, gap.price))
            continue
        _sort(sale, orders, skipped)
    return orders, skipped


def _plan_buys(
    gaps: Iterable[_Gap], step: Decimal, min_order_value: Decimal
) -> tuple[list[PlannedOrder], list[SkippedOrder]]:
    orders: list[PlannedOrder] = []
    skipped: list[SkippedOrder] = []
    for gap in gaps:
        if gap.shares > 0:
            _sort(_sized(gap.ticker, OrderSide.BUY, gap.shares, gap.price, step, min_order_value), orders, skipped)
    return orders, skipped


def _fit_buys_to_cash(
    buys: list[PlannedOrder], available: Decimal, step: Decimal, min_order_value: Decimal
) -> tuple[list[PlannedOrder], list[SkippedOrder], Decimal | None]:
    """Shrinks every buy by one factor (returned; None when they fit) so that their cost fits
    `available`. Rounding the factor and the quantities toward zero keeps the total at or below
    `available` exactly, not approximately."""
    cost = _total(buys)
    if not buys or cost <= available:
        return buys, [], None
    orders: list[PlannedOrder] = []
    skipped: list[SkippedOrder] = []
    with localcontext() as floor:
        floor.rounding = ROUND_FLOOR
        factor = max(available, Decimal(0)) / cost
        for buy in buys:
            outcome = _sized(
                buy.ticker, OrderSide.BUY, buy.quantity * factor, buy.reference_price, step, min_order_value
            )
            if isinstance(outcome, SkippedOrder):
                outcome = SkippedOrder(
                    buy.ticker,
                    OrderSide.BUY,
                    f"cash cap: {buy.quantity} shares scaled by {factor:.4f}, {outcome.reason}",
                )
            _sort(outcome, orders, skipped)
    return orders, skipped, factor


def _cash_cap_note(factor: Decimal, cost: Decimal, cash: Decimal, proceeds: Decimal, buffer: Decimal) -> str:
    available = cash + proceeds - buffer
    return (
        f"buys scaled by {factor:.4f}: they would cost {_usd(cost)} but {_usd(available)} is available "
        f"(cash {_usd(cash)} + sales {_usd(proceeds)} - buffer {_usd(buffer)})"
    )


def _sized(
    ticker: str,
    side: OrderSide,
    wanted: Decimal,
    price: Decimal,
    step: Decimal,
    min_order_value: Decimal,
    rounding: str = ROUND_DOWN,
) -> PlannedOrder | SkippedOrder:
    """An order for `wanted` shares rounded (down, unless told) to the broker's step, unless it rounds
    to nothing or is worth less than the minimum."""
    quantity = wanted.quantize(step, rounding=rounding)
    if quantity == 0:
        return SkippedOrder(ticker, side, f"rounds to zero shares: {wanted:.6f} wanted, step {step}")
    order = _order(ticker, side, quantity, price)
    if order.estimated_value < min_order_value:
        reason = f"below the minimum order value: {_usd(order.estimated_value)} < {_usd(min_order_value)}"
        return SkippedOrder(ticker, side, reason)
    return order


def _order(ticker: str, side: OrderSide, quantity: Decimal, price: Decimal) -> PlannedOrder:
    return PlannedOrder(ticker, side, quantity, price, quantity * price)


def _sort(outcome: PlannedOrder | SkippedOrder, orders: list[PlannedOrder], skipped: list[SkippedOrder]) -> None:
    if isinstance(outcome, PlannedOrder):
        orders.append(outcome)
    else:
        skipped.append(outcome)


def _total(orders: Iterable[PlannedOrder]) -> Decimal:
    return sum((o.estimated_value for o in orders), Decimal(0))


def _usd(amount: Decimal) -> str:
    return f"{amount:,.2f} USD"
