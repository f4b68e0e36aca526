"""How the paper venue moves an account through sessions: pure Decimal state in, the venue's records out.

For each session after the last settled one, in order:
1. splits on held positions (a whole-share account is paid cash in lieu of a fraction, at the
   session's close), and on the orders about to fill (exchanges adjust resting orders);
2. cash dividends on held positions;
3. the orders sent after the previous close fill at this session's open, sales first, then buys,
   each by id (trading/execution/fills.py prices them, as it does for the backtest); an order whose
   ticker has no bar that session expires, as a day order would;
4. a held ticker with no bar for `delisted_after` sessions is delisted: the position is closed at
   its last close, in cash.

A bar with no raw open or close but an adjusted close (vendors that ship adjusted series only, GLD in
the shared data) is an adjusted-only bar: an order fills at its adjusted close, flagged, positions are
marked at it, and it books no split or dividend, since the adjusted series already holds them (paying
them too would count them twice). Known limit: a series that switches from raw to adjusted-only bars
(SPY in the shared data after 2020-04-22) jumps in marked value by the adjustment factor at the switch.

No database here: the venue (venue.py) loads the inputs and writes what `settle` records, and the
backtest can run the same function over arrays in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal

from trading.brokers.base import VenueEvent, VenueEventKind
from trading.errors import OrderRejected
from trading.execution.costs import CostModels, round_money, round_quantity
from trading.execution.fills import (
    BarPrices,
    Fill,
    apply_fill_to_position,
    apply_split,
    cash_after_fill,
    dividend_cash,
    fill_market_order,
    fraction_in_lieu,
)
from trading.orders import OrderSide, OrderStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DayBar:
    """The fields of one ticker's bar that the venue uses: raw (as-traded) open and close, the
    dividend and split of the day, and the adjusted close, which counts only when the raw prices
    are both missing (`adjusted_only`)."""

    open: Decimal | None
    close: Decimal | None
    dividend: Decimal
    split_coef: Decimal
    adj_close: Decimal | None = None

    @property
    def adjusted_only(self) -> bool:
        """No raw open or close, only the adjusted close: splits and dividends are inside it."""
        return self.open is None and self.close is None and self.adj_close is not None

    @property
    def mark(self) -> Decimal | None:
        """The price the venue marks a position at: the raw close, or the adjusted close of an
        adjusted-only bar; None for a bar without either (an open alone marks nothing)."""
        return self.adj_close if self.adjusted_only else self.close


@dataclass
class Holding:
    """A position while the venue walks forward; `last_bar`/`last_close` are the ticker's newest bar and
    its mark (`DayBar.mark`: the raw close, or the adjusted close of an adjusted-only series)."""

    quantity: Decimal
    average_price: Decimal
    last_bar: date | None
    last_close: Decimal | None


@dataclass(frozen=True)
class OpenOrder:
    """An order in the venue's book that has not filled yet."""

    id: int
    client_order_id: str
    ticker: str
    side: OrderSide
    quantity: Decimal
    fill_session: date | None  # the first session after the close it was sent at


@dataclass(frozen=True)
class FillRecord:
    order_id: int
    fill: Fill


@dataclass(frozen=True)
class CashEntry:
    session: date
    kind: str  # a paper_cash_journal kind
    amount: Decimal  # signed: money in is positive
    ticker: str | None
    description: str
    fill_index: int | None = None  # which of the settlement's fills it belongs to


@dataclass(frozen=True)
class PositionChange:
    session: date
    ticker: str
    kind: str  # a paper_position_changes kind
    quantity: Decimal  # signed
    description: str
    split_coef: Decimal | None = None


@dataclass(frozen=True)
class OrderUpdate:
    status: OrderStatus
    reason: str | None
    quantity: Decimal | None = None  # a split-adjusted quantity
    fill_index: int | None = None


@dataclass
class Ledger:
    """The account while a settlement walks forward, and everything the walk records."""

    cash: Decimal
    holdings: dict[str, Holding]
    fractional: bool
    fills: list[FillRecord] = field(default_factory=list)
    cash_entries: list[CashEntry] = field(default_factory=list)
    position_changes: list[PositionChange] = field(default_factory=list)
    order_updates: dict[int, OrderUpdate] = field(default_factory=dict)
    events: list[VenueEvent] = field(default_factory=list)

    def credit(self, entry: CashEntry) -> None:
        self.cash += entry.amount
        self.cash_entries.append(entry)

    def event(self, session: date, kind: VenueEventKind, ticker: str | None, detail: str) -> None:
        self.events.append(VenueEvent(session, kind, ticker, detail))


def plain(value: Decimal) -> str:
    """A decimal as a person writes it: 1.5, 16, 0.000001 (no exponent, no trailing zeros)."""
    return f"{value.normalize():f}"


SessionsSince = Callable[[date, date], int]
"""Sessions s of the exchange with start < s <= end."""


@dataclass(frozen=True)
class SettlementRules:
    costs: CostModels
    delisted_after: int
    sessions_since: SessionsSince


def order_refusal(
    account_id: str,
    ticker: str,
    side: OrderSide,
    quantity: Decimal,
    *,
    session: date,
    fractional: bool,
    has_price: bool,
    available_to_sell: Decimal,
) -> str | None:
    """Why the venue refuses an order sent after `session`'s close, or None when it takes it: a fraction
    of a share on a whole-share account, a ticker without a price by then, a sale of more than is held
    after the sales already waiting."""
    if not fractional and quantity != quantity.to_integral_value():
        return f"{quantity} is not a whole number of shares and account {account_id} is whole-share"
    if not has_price:
        return f"no price data for {ticker} on or before {session}"
    if side is OrderSide.SELL and quantity > available_to_sell:
        held = f"only {available_to_sell.normalize():f} held and not already being sold"
        return f"sell {quantity} {ticker}: {held}"
    return None


def settle(
    ledger: Ledger,
    sessions: Sequence[date],
    bars: Mapping[tuple[str, date], DayBar],
    orders: Sequence[OpenOrder],
    rules: SettlementRules,
) -> None:
    """Walk `ledger` through `sessions` (ascending), recording into it (module docstring)."""
    for day in sessions:
        _apply_splits(ledger, day, bars)
        _apply_dividends(ledger, day, bars)
        due = [o for o in orders if o.fill_session == day and o.id not in ledger.order_updates]
        # Sales first: their proceeds pay for the buys sent after the same close.
        for order in sorted(due, key=lambda o: (o.side is not OrderSide.SELL, o.id)):
            _fill(ledger, order, day, bars.get((order.ticker, day)), rules.costs)
        _note_bars(ledger, day, bars)
        _delist(ledger, day, rules)


def _apply_splits(ledger: Ledger, day: date, bars: Mapping[tuple[str, date], DayBar]) -> None:
    for ticker, holding in ledger.holdings.items():
        # The quantity first: the holdings keep every name ever held, and a bar costs a lookup.
        if holding.quantity <= 0:
            continue
        bar = bars.get((ticker, day))
        if bar is None or bar.split_coef == 1 or bar.adjusted_only:
            continue
        coef = bar.split_coef
        before = holding.quantity
        holding.quantity, holding.average_price = apply_split(before, holding.average_price, coef)
        ledger.position_changes.append(
            PositionChange(day, ticker, "split", holding.quantity - before, f"{plain(coef)} split on {day}", coef)
        )
        shares = f"{plain(before)} -> {plain(holding.quantity)} shares"
        ledger.event(day, VenueEventKind.SPLIT, ticker, f"{plain(coef)} split: {shares}")
        if not ledger.fractional:
            _pay_fraction_in_lieu(ledger, day, ticker, holding, bar, coef)


def _pay_fraction_in_lieu(ledger: Ledger, day: date, ticker: str, holding: Holding, bar: DayBar, coef: Decimal) -> None:
    # The session's close is already in post-split shares; without one, the last close restated
    # (and without any price at all, the cost basis, so that the fraction is never given away).
    price = bar.close or bar.open or (holding.last_close / coef if holding.last_close else holding.average_price)
    whole, fraction, cash = fraction_in_lieu(holding.quantity, price)
    if fraction == 0:
        return
    holding.quantity = whole
    description = f"cash in lieu of {plain(fraction)} {ticker} shares after the {plain(coef)} split, at {plain(price)}"
    ledger.position_changes.append(PositionChange(day, ticker, "cash_in_lieu", -fraction, description))
    ledger.credit(CashEntry(day, "cash_in_lieu", cash, ticker, description))
    ledger.event(day, VenueEventKind.CASH_IN_LIEU, ticker, f"{description}: {plain(cash)}")


def _apply_dividends(ledger: Ledger, day: date, bars: Mapping[tuple[str, date], DayBar]) -> None:
    for ticker, holding in ledger.holdings.items():
        if holding.quantity <= 0:
            continue
        bar = bars.get((ticker, day))
        if bar is None or bar.dividend <= 0 or bar.adjusted_only:
            continue
        amount = dividend_cash(holding.quantity, bar.dividend)
        description = f"dividend {plain(bar.dividend)} a share on {plain(holding.quantity)} {ticker}"
        ledger.credit(CashEntry(day, "dividend", amount, ticker, description))
        ledger.event(day, VenueEventKind.DIVIDEND, ticker, f"{description}: {plain(amount)}")


def _fill(ledger: Ledger, order: OpenOrder, day: date, bar: DayBar | None, costs: CostModels) -> None:
    if bar is None or bar.mark is None:
        reason = f"expired: no {order.ticker} bar on {day}, the session after it was sent (halted or delisted)"
        ledger.order_updates[order.id] = OrderUpdate(OrderStatus.EXPIRED, reason)
        ledger.event(day, VenueEventKind.EXPIRED, order.ticker, f"{order.client_order_id} {reason}")
        return
    quantity, note = order.quantity, ""
    if bar.split_coef != 1 and not bar.adjusted_only:
        quantity = _split_adjusted(order.quantity, bar.split_coef, ledger.fractional)
        note = f"quantity adjusted from {plain(order.quantity)} for the {plain(bar.split_coef)} split on {day}; "
        if quantity <= 0:
            _refuse(ledger, order, day, f"{note}nothing left to trade")
            return
    prices = BarPrices(order.ticker, day, bar.open, bar.close, bar.adj_close if bar.adjusted_only else None)
    fill = fill_market_order(order.side, quantity, prices, costs)
    holding = ledger.holdings.get(order.ticker) or Holding(Decimal(0), Decimal(0), None, None)
    try:
        cash = cash_after_fill(ledger.cash, fill)
        quantity_after, average_after = apply_fill_to_position(holding.quantity, holding.average_price, fill)
    except OrderRejected as exc:  # InsufficientFunds too: no margin, no shorts
        _refuse(ledger, order, day, f"{note}{exc}")
        return
    index = len(ledger.fills)
    ledger.fills.append(FillRecord(order.id, fill))
    signed_gross = fill.gross if fill.side is OrderSide.SELL else -fill.gross
    what = f"{fill.side} {plain(fill.quantity)} {fill.ticker} at {plain(fill.price)}"
    ledger.cash_entries.append(CashEntry(day, "fill", signed_gross, fill.ticker, what, index))
    if fill.commission:
        ledger.cash_entries.append(CashEntry(day, "commission", -fill.commission, fill.ticker, f"on {what}", index))
    ledger.cash = cash
    ledger.holdings[order.ticker] = Holding(quantity_after, average_after, holding.last_bar, holding.last_close)
    if fill.at_adjusted_close:
        note += f"filled at the adjusted close: the {day} bar has no raw open or close (an adjusted-only series); "
    elif fill.flagged_no_open:
        note += f"filled at the close: the {day} bar has no open; "
    ledger.order_updates[order.id] = OrderUpdate(
        OrderStatus.FILLED, note.rstrip("; ") or None, quantity=quantity, fill_index=index
    )
    ledger.event(day, VenueEventKind.FILL, order.ticker, f"{order.client_order_id}: {what}")


def _split_adjusted(quantity: Decimal, coef: Decimal, fractional: bool) -> Decimal:
    adjusted = quantity * coef
    return round_quantity(adjusted) if fractional else adjusted.to_integral_value(rounding=ROUND_DOWN)


def _refuse(ledger: Ledger, order: OpenOrder, day: date, reason: str) -> None:
    logger.info("paper order %s rejected at the %s open: %s", order.client_order_id, day, reason)
    ledger.order_updates[order.id] = OrderUpdate(OrderStatus.REJECTED, reason)
    ledger.event(day, VenueEventKind.REJECTED, order.ticker, f"{order.client_order_id}: {reason}")


def _note_bars(ledger: Ledger, day: date, bars: Mapping[tuple[str, date], DayBar]) -> None:
    for ticker, holding in ledger.holdings.items():
        # A name no longer held needs no last close (a purchase notes it the day it fills): skipping it
        # keeps a long replay's sessions from slowing down with every name it ever held.
        if holding.quantity <= 0:
            continue
        bar = bars.get((ticker, day))
        if bar is not None and bar.mark is not None:
            holding.last_bar, holding.last_close = day, bar.mark


def _delist(ledger: Ledger, day: date, rules: SettlementRules) -> None:
    for ticker in sorted(ledger.holdings):
        holding = ledger.holdings[ticker]
        if holding.quantity <= 0 or holding.last_bar is None or holding.last_close is None:
            continue
        missing = rules.sessions_since(holding.last_bar, day)
        if missing < rules.delisted_after:
            continue
        proceeds = round_money(holding.quantity * holding.last_close)
        description = (
            f"delisted: no {ticker} bar for {missing} sessions since {holding.last_bar}; "
            f"{plain(holding.quantity)} shares closed at the last close {plain(holding.last_close)}"
        )
        ledger.position_changes.append(PositionChange(day, ticker, "delisting", -holding.quantity, description))
        ledger.credit(CashEntry(day, "delisting", proceeds, ticker, description))
        ledger.event(day, VenueEventKind.DELISTING, ticker, f"{description}: {plain(proceeds)}")
        holding.quantity = Decimal(0)
