"""The paper venue of a backtest: the same settlement engine as the database venue (trading/brokers/paper/
settlement.py: splits, dividends, fills at the next open with the same slippage and commission, delistings),
its books held in memory, its bars read from arrays loaded once for the whole replay."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from trading.brokers.base import BrokerCapabilities, SyncReport
from trading.brokers.paper.settlement import (
    DayBar,
    Ledger,
    OpenOrder,
    OrderUpdate,
    SettlementRules,
    order_refusal,
    plain,
    settle,
)
from trading.errors import FundError, OrderNotFound, OrderRejected
from trading.execution.costs import CostModels, round_money
from trading.marketdata.calendar import TradingCalendar, session_open_utc
from trading.marketdata.view import load_panel
from trading.orders import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    AccountSnapshot,
    BrokerOrder,
    BrokerPosition,
    OrderRequest,
    OrderSide,
    OrderStatus,
)

logger = logging.getLogger(__name__)

BACKTEST_BROKER = "paper"  # the broker a backtest's orders name: the paper venue's engine
FILL_FIELDS = ("open", "close", "adj_close", "dividend", "split_coef")


class FillBars(Mapping[tuple[str, date], DayBar]):
    """Raw bars by (ticker, session) over arrays: the settlement engine's `bars`, without a dict of every bar."""

    def __init__(self, frames: Mapping[str, pd.DataFrame]) -> None:
        close = frames["close"]
        self._dates = pd.DatetimeIndex(close.index)
        # The dates as numpy days and as Python dates, made once: the venue asks for them every session.
        self._days = self._dates.to_numpy().astype("datetime64[D]")
        self._python_dates: list[date] = list(self._dates.date)
        self._row = {day: i for i, day in enumerate(self._python_dates)}
        self._column = {str(t): j for j, t in enumerate(close.columns)}
        columns = close.columns

        def values(name: str, fill: float) -> np.ndarray:
            return frames[name].reindex(index=self._dates, columns=columns).to_numpy(np.float64, na_value=fill)

        self._open = values("open", np.nan)
        self._close = values("close", np.nan)
        self._dividend = values("dividend", 0.0)
        self._split = values("split_coef", 1.0)
        self._adj_close = values("adj_close", np.nan)
        # A bar exists where the vendor gave any price for the day.
        self._exists = ~np.isnan(self._close) | ~np.isnan(self._adj_close)
        # The mark (DayBar.mark): the raw close, or the adjusted close of a bar without any raw price (a
        # series shipped as adjusted closes only); the last one on or before each day, for marking and refusals.
        adjusted_only = np.isnan(self._open) & np.isnan(self._close) & ~np.isnan(self._adj_close)
        self._mark = np.where(adjusted_only, self._adj_close, self._close)
        last_row = np.where(~np.isnan(self._mark), np.arange(len(self._dates))[:, None], -1)
        self._last_row = np.maximum.accumulate(last_row, axis=0)
        self._cache: dict[tuple[str, date], DayBar] = {}
        self._cache_day: date | None = None

    @classmethod
    def load(cls, engine: Engine, first: date, last: date) -> FillBars:
        return cls(load_panel(engine, last, start=first, fields=FILL_FIELDS).frames)

    def _position(self, ticker: str, day: date) -> tuple[int, int] | None:
        row, column = self._row.get(day), self._column.get(ticker)
        return None if row is None or column is None else (row, column)

    def __getitem__(self, key: tuple[str, date]) -> DayBar:
        # The settlement asks for each held name's bar several times a session: build each DayBar once.
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if key[1] != self._cache_day:
            self._cache, self._cache_day = {}, key[1]
        bar = self._bar(key)
        self._cache[key] = bar
        return bar

    def _bar(self, key: tuple[str, date]) -> DayBar:
        found = self._position(*key)
        if found is None or not self._exists[found]:
            raise KeyError(key)
        return DayBar(
            _decimal(self._open[found]),
            _decimal(self._close[found]),
            Decimal(repr(float(self._dividend[found]))),
            Decimal(repr(float(self._split[found]))),
            _decimal(self._adj_close[found]),
        )

    def __iter__(self) -> Iterator[tuple[str, date]]:
        tickers = list(self._column)
        for i, j in zip(*np.nonzero(self._exists), strict=True):
            yield tickers[j], self._python_dates[i]

    def __len__(self) -> int:
        return int(self._exists.sum())

    def latest_close(self, ticker: str, day: date) -> tuple[date, Decimal] | None:
        """The ticker's last mark on or before `day` (within the loaded span): its raw close, or the adjusted
        close of a bar without raw prices."""
        column = self._column.get(ticker)
        if column is None:
            return None
        row = int(np.searchsorted(self._days, np.datetime64(day, "D"), side="right")) - 1
        if row < 0 or self._last_row[row, column] < 0:
            return None
        last = int(self._last_row[row, column])
        return self._python_dates[last], Decimal(repr(float(self._mark[last, column])))


def _decimal(value: float) -> Decimal | None:
    return None if np.isnan(value) else Decimal(repr(float(value)))


@dataclass
class _BookedOrder:
    """One order in the simulated venue's book: what it was asked, and what became of it."""

    open: OpenOrder
    answer: BrokerOrder
    sent_after: date  # the close it was sent after


class SimulatedVenue:
    """The Broker interface over the settlement engine, in memory: one account, starting with `capital`."""

    def __init__(
        self,
        account_id: str,
        capital: Decimal,
        bars: FillBars,
        *,
        calendar: TradingCalendar,
        costs: CostModels,
        delisted_after_sessions: int,
        fractional_shares: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._account_id = account_id
        self._bars = bars
        self._calendar = calendar
        self._rules = SettlementRules(costs, delisted_after_sessions, calendar.sessions_between)
        self._clock = clock
        self.ledger = Ledger(capital, {}, fractional_shares)
        self._book: dict[str, _BookedOrder] = {}
        # The orders not final yet, by id: a ten-year replay books tens of thousands of orders, and every
        # session looks only at the few still open.
        self._open: dict[str, _BookedOrder] = {}
        self._by_client_id: dict[str, str] = {}
        self._settled_through: date | None = None
        self._marked: tuple[date, tuple[BrokerPosition, ...]] | None = None
        self._next_session: tuple[date, date | None] | None = None  # (session, the one after it)
        self._capabilities = BrokerCapabilities(
            fractional_shares=fractional_shares,
            notional_orders=False,
            client_order_ids=True,
            max_client_order_id_length=MAX_CLIENT_ORDER_ID_LENGTH,
        )

    @property
    def name(self) -> str:
        return BACKTEST_BROKER

    @property
    def capabilities(self) -> BrokerCapabilities:
        return self._capabilities

    @property
    def settled_through(self) -> date | None:
        return self._settled_through

    # --- moving to a session's close --------------------------------------------------------------

    def sync(self, session: date) -> SyncReport:
        settled = self._settled_through
        if settled is not None and settled > session:
            raise FundError(f"the backtest venue is settled through {settled}; it cannot go back to {session}")
        events_before = len(self.ledger.events)
        self._marked = None
        if settled is not None and settled < session:
            days = [s.date() for s in self._calendar.sessions_in(settled, session) if s.date() > settled]
            waiting = [b.open for b in self._open.values()]
            settle(self.ledger, days, self._bars, waiting, self._rules)
            self._apply_order_updates(waiting)
            self._open = {k: b for k, b in self._open.items() if not b.answer.status.is_final}
        self._settled_through = session
        return SyncReport(session, tuple(self.ledger.events[events_before:]))

    def _apply_order_updates(self, waiting: Sequence[OpenOrder]) -> None:
        updates, fills = self.ledger.order_updates, self.ledger.fills
        for order in waiting:
            change = updates.get(order.id)
            if change is None:
                continue
            booked = self._book[_order_id(order.id)]
            # One replace (it validates the whole order again): a session updates every order it settles.
            changed: dict[str, Any] = {"status": change.status, "reason": change.reason}
            if change.quantity is not None:
                changed["quantity"] = change.quantity
            if change.fill_index is not None:
                fill = fills[change.fill_index].fill
                changed |= {
                    "filled_quantity": fill.quantity,
                    "average_fill_price": fill.price,
                    "commission": fill.commission,
                    "filled_at": session_open_utc(fill.session),
                }
            booked.answer = replace(booked.answer, **changed)

    # --- the account -------------------------------------------------------------------------------

    def marked_positions(self) -> list[BrokerPosition]:
        """Held positions at their last close on or before the settled session (kept until the next sync:
        the run asks for the account and its positions several times a session, and only a sync moves them)."""
        session = self._require_synced("value the account")
        if self._marked is not None and self._marked[0] == session:
            return list(self._marked[1])
        marked = []
        for ticker, holding in sorted(self.ledger.holdings.items()):
            if holding.quantity <= 0:
                continue
            close = holding.last_close
            if close is None:
                found = self._bars.latest_close(ticker, session)
                if found is None:
                    where = f"backtest account {self._account_id}"
                    raise FundError(f"{where}: no close on or before {session} for {ticker}")
                close = found[1]
            value = round_money(holding.quantity * close)
            marked.append(BrokerPosition(ticker, holding.quantity, holding.average_price, value))
        self._marked = (session, tuple(marked))
        return marked

    def account(self) -> AccountSnapshot:
        cash = round_money(self.ledger.cash)
        value = sum((p.market_value or Decimal(0) for p in self.marked_positions()), Decimal(0))
        return AccountSnapshot(
            account_id=self._account_id, cash=cash, buying_power=cash, equity=cash + value, as_of=self._clock()
        )

    def positions(self) -> Sequence[BrokerPosition]:
        return self.marked_positions()

    # --- orders --------------------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> BrokerOrder:
        session = self._require_synced("submit an order")
        known = self._by_client_id.get(request.client_order_id)
        if known is not None:
            return self._repeat(self._book[known].answer, request)
        problem = order_refusal(
            self._account_id,
            request.ticker,
            request.side,
            request.quantity,
            session=session,
            fractional=self._capabilities.fractional_shares,
            has_price=self._bars.latest_close(request.ticker, session) is not None,
            available_to_sell=self._available_to_sell(request.ticker),
        )
        number = len(self._book) + 1
        order_id = _order_id(number)
        answer = BrokerOrder(
            order_id=order_id,
            client_order_id=request.client_order_id,
            ticker=request.ticker,
            side=request.side,
            quantity=request.quantity,
            filled_quantity=Decimal(0),
            average_fill_price=None,
            status=OrderStatus.REJECTED if problem else OrderStatus.SUBMITTED,
            submitted_at=self._clock(),
            reason=problem,
            commission=Decimal(0),
        )
        opened = OpenOrder(
            number,
            request.client_order_id,
            request.ticker,
            request.side,
            request.quantity,
            self._fill_session(session),
        )
        booked = _BookedOrder(opened, answer, session)
        self._book[order_id] = booked
        if not problem:
            self._open[order_id] = booked
        self._by_client_id[request.client_order_id] = order_id
        if problem:
            raise OrderRejected(
                f"order {request.client_order_id} ({request.side} {request.quantity} {request.ticker}): {problem}"
            )
        return answer

    def _fill_session(self, session: date) -> date | None:
        # The session after the one orders are sent in: asked once per order, looked up once per session.
        if self._next_session is None or self._next_session[0] != session:
            self._next_session = (session, self._calendar.next_session(session))
        return self._next_session[1]

    def _available_to_sell(self, ticker: str) -> Decimal:
        holding = self.ledger.holdings.get(ticker)
        held = holding.quantity if holding is not None else Decimal(0)
        waiting = sum(
            (b.open.quantity for b in self._open.values() if b.open.ticker == ticker and b.open.side is OrderSide.SELL),
            Decimal(0),
        )
        return held - waiting

    @staticmethod
    def _repeat(answer: BrokerOrder, request: OrderRequest) -> BrokerOrder:
        if (answer.ticker, answer.side, answer.quantity) != (request.ticker, request.side, request.quantity):
            raise OrderRejected(
                f"client order id {request.client_order_id} belongs to {answer.side} {plain(answer.quantity)} "
                f"{answer.ticker}, not {request.side} {plain(request.quantity)} {request.ticker}"
            )
        return answer

    def get_order(self, order_id: str) -> BrokerOrder:
        booked = self._book.get(order_id)
        if booked is None:
            raise OrderNotFound(f"backtest account {self._account_id} has no order {order_id}")
        return booked.answer

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        order_id = self._by_client_id.get(client_order_id)
        return None if order_id is None else self._book[order_id].answer

    def cancel(self, order_id: str) -> None:
        booked = self._book.get(order_id)
        if booked is None:
            raise OrderNotFound(f"backtest account {self._account_id} has no order {order_id}")
        if not booked.answer.status.is_final:
            booked.answer = replace(booked.answer, status=OrderStatus.CANCELED, reason="canceled on request")
            # The settlement engine skips an order it has an update for: a canceled one never fills.
            canceled = OrderUpdate(OrderStatus.CANCELED, "canceled on request")
            self.ledger.order_updates.setdefault(booked.open.id, canceled)
            self._open.pop(order_id, None)

    def open_orders(self) -> Sequence[BrokerOrder]:
        return [b.answer for b in self._open.values()]

    def book(self) -> list[tuple[date, BrokerOrder]]:
        """Every order the venue was sent, with the close it was sent after, in the order it was sent."""
        return [(b.sent_after, b.answer) for b in self._book.values()]

    def _require_synced(self, what: str) -> date:
        if self._settled_through is None:
            raise FundError(f"backtest account {self._account_id}: sync it to a session before you {what}")
        return self._settled_through


def _order_id(number: int) -> str:
    return f"sim-{number}"
