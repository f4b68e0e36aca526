"""The database paper broker: a Broker whose account, positions and orders are rows in
paper_accounts, paper_positions and trade_executions.

Time moves with the bars, not the wall clock. A broker is opened for one session (the close the
daily run decides at); `settle()` first brings the ledger up to that close:

- for each benchmark session after the last settled one, in order: splits on held positions (and
  on orders about to fill), then cash dividends on held positions, then the orders sent after the
  previous close fill at this session's open (sells first, then buys, each by id);
- then every position is marked at the session's close.

A buy that would take cash below zero is rejected with the numbers; an order whose ticker has no
bar on its fill session (halted, delisted) expires, as a day order would. Fills use
trading/execution/fills.py, the same code the backtest uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row, and_, delete, func, insert, select, update

from trading.brokers.base import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    AccountSnapshot,
    BrokerCapabilities,
    BrokerOrder,
    BrokerPosition,
    OrderRequest,
    OrderSide,
    OrderStatus,
)
from trading.db.schema import PaperAccount, PaperPosition, PriceBar, TradeExecution, utcnow
from trading.errors import DataError, FundError, OrderNotFound, OrderRejected
from trading.execution.costs import CostModels, round_money, round_quantity
from trading.execution.fills import (
    BarPrices,
    apply_fill_to_position,
    apply_split,
    cash_after_fill,
    dividend_cash,
    fill_market_order,
)
from trading.store.accounts import get_paper_account, paper_positions

logger = logging.getLogger(__name__)

BROKER_NAME = "paper"
EXCHANGE_TIME_ZONE = ZoneInfo("America/New_York")
OPEN_STATUSES = (OrderStatus.SUBMITTED.value, OrderStatus.PARTIALLY_FILLED.value)
# How far back a held ticker's close is first looked for (_closes); older ones are found too, more slowly.
RECENT_CLOSE_WINDOW = timedelta(days=10)


class LedgerAhead(FundError):
    """The paper ledger has already settled a later session than the one asked for."""


def session_open_utc(day: date) -> datetime:
    """09:30 New York time on `day`, in UTC: when a paper order sent after the previous close fills."""
    return datetime.combine(day, time(9, 30), EXCHANGE_TIME_ZONE).astimezone(UTC)


@dataclass(frozen=True)
class Settlement:
    """What bringing the ledger up to a session's close did."""

    account_id: str
    session: date
    sessions_applied: tuple[date, ...] = ()
    fills: tuple[str, ...] = ()  # client order ids
    rejected: tuple[tuple[str, str], ...] = ()  # (client order id, reason)
    expired: tuple[tuple[str, str], ...] = ()
    splits: tuple[tuple[date, str, Decimal], ...] = ()
    dividends: tuple[tuple[date, str, Decimal], ...] = ()  # cash credited
    cash: Decimal = Decimal(0)
    positions_value: Decimal = Decimal(0)

    @property
    def equity(self) -> Decimal:
        return self.cash + self.positions_value

    def describe(self) -> str:
        return (
            f"settled {self.account_id} through {self.session}: {len(self.fills)} fills, "
            f"{len(self.rejected)} rejected, {len(self.expired)} expired, "
            f"{len(self.splits)} splits, {len(self.dividends)} dividends; "
            f"equity {self.equity:,.2f} (cash {self.cash:,.2f})"
        )


@dataclass
class _Holding:
    quantity: Decimal
    average_price: Decimal


@dataclass
class _Ledger:
    """The account's state while a settlement walks forward through sessions."""

    cash: Decimal
    holdings: dict[str, _Holding]
    fills: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    expired: list[tuple[str, str]] = field(default_factory=list)
    splits: list[tuple[date, str, Decimal]] = field(default_factory=list)
    dividends: list[tuple[date, str, Decimal]] = field(default_factory=list)
    order_changes: dict[int, dict[str, Any]] = field(default_factory=dict)


class PaperBroker:
    """The paper account `account_id`, trading after the close of `session`."""

    def __init__(
        self,
        engine: Engine,
        account_id: str,
        *,
        session: date,
        costs: CostModels,
        benchmark: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        record = get_paper_account(engine, account_id)
        self._engine = engine
        self._account_id = account_id
        self._session = session
        self._costs = costs
        self._benchmark = benchmark
        self._clock = clock
        self._check_not_behind(record.settled_through)
        self._capabilities = BrokerCapabilities(
            fractional_shares=record.fractional_shares,
            notional_orders=False,
            client_order_ids=True,
            max_client_order_id_length=MAX_CLIENT_ORDER_ID_LENGTH,
        )

    @property
    def name(self) -> str:
        return BROKER_NAME

    @property
    def capabilities(self) -> BrokerCapabilities:
        return self._capabilities

    @property
    def session(self) -> date:
        return self._session

    # --- settlement ---------------------------------------------------------------------------

    def settle(self) -> Settlement:
        """Apply every session up to this broker's session (see the module docstring), in one transaction."""
        with self._engine.begin() as connection:
            account = get_paper_account(connection, self._account_id, for_update=True)
            self._check_not_behind(account.settled_through)
            self._require_session_bar(connection)
            orders = self._open_order_rows(connection)
            ledger = _Ledger(cash=account.cash, holdings=self._holdings(connection))
            sessions = self._sessions_to_apply(connection, account.settled_through, orders)
            if sessions:
                bars = self._bars(connection, {*ledger.holdings, *(o.ticker for o in orders)}, sessions)
                fill_session = self._fill_sessions(connection, orders)
                for day in sessions:
                    self._apply_session(day, bars, orders, fill_session, ledger)
            closes = self._closes(connection, ledger.holdings)
            positions_value = self._write(connection, account.peak_value, ledger, closes)
        settlement = Settlement(
            account_id=self._account_id,
            session=self._session,
            sessions_applied=tuple(sessions),
            fills=tuple(ledger.fills),
            rejected=tuple(ledger.rejected),
            expired=tuple(ledger.expired),
            splits=tuple(ledger.splits),
            dividends=tuple(ledger.dividends),
            cash=ledger.cash,
            positions_value=positions_value,
        )
        logger.info("%s", settlement.describe())
        return settlement

    def _require_session_bar(self, connection: Connection) -> None:
        """Settling moves `settled_through` forward for good, so it must wait until the session's bars exist:
        an order due at a session settled without its bar would never fill."""
        found = connection.execute(
            select(PriceBar.date).where(PriceBar.ticker == self._benchmark, PriceBar.date == self._session)
        ).first()
        if found is None:
            raise DataError(
                f"paper account {self._account_id}: no {self._benchmark} bar on {self._session} yet; "
                "import the session's bars before settling it"
            )

    def _check_not_behind(self, settled_through: date | None) -> None:
        if settled_through is not None and settled_through > self._session:
            raise LedgerAhead(
                f"paper account {self._account_id} is settled through {settled_through}; "
                f"it cannot trade after the earlier close of {self._session}"
            )

    def _open_order_rows(self, connection: Connection) -> list[Row[Any]]:
        query = (
            select(TradeExecution.__table__)
            .where(
                TradeExecution.broker == BROKER_NAME,
                TradeExecution.account_id == self._account_id,
                TradeExecution.status.in_(OPEN_STATUSES),
            )
            .order_by(TradeExecution.id)
        )
        return list(connection.execute(query).all())

    def _holdings(self, connection: Connection) -> dict[str, _Holding]:
        query = select(PaperPosition.ticker, PaperPosition.quantity, PaperPosition.avg_price).where(
            PaperPosition.account_id == self._account_id, PaperPosition.quantity > 0
        )
        return {ticker: _Holding(quantity, price) for ticker, quantity, price in connection.execute(query)}

    def _benchmark_sessions(self, connection: Connection, after: date, through: date) -> list[date]:
        query = (
            select(PriceBar.date)
            .where(PriceBar.ticker == self._benchmark, PriceBar.date > after, PriceBar.date <= through)
            .order_by(PriceBar.date)
        )
        return list(connection.execute(query).scalars())

    def _sessions_to_apply(self, connection: Connection, settled: date | None, orders: list[Row[Any]]) -> list[date]:
        if settled is None:
            # A new account holds nothing: only orders sent before its first settlement need sessions.
            sent = [o.session_date for o in orders if o.session_date is not None]
            if not sent:
                return []
            settled = min(sent)
        return self._benchmark_sessions(connection, settled, self._session)

    def _fill_sessions(self, connection: Connection, orders: list[Row[Any]]) -> dict[int, date | None]:
        """Each open order's fill session: the first benchmark session after the close it was sent at."""
        result: dict[int, date | None] = {}
        for sent in {o.session_date for o in orders}:
            nxt = None
            if sent is not None:
                nxt = connection.execute(
                    select(func.min(PriceBar.date)).where(PriceBar.ticker == self._benchmark, PriceBar.date > sent)
                ).scalar_one()
            for order in orders:
                if order.session_date == sent:
                    result[order.id] = nxt
        return result

    def _bars(
        self, connection: Connection, tickers: set[str], sessions: list[date]
    ) -> dict[tuple[str, date], Row[Any]]:
        if not tickers:
            return {}
        query = select(
            PriceBar.ticker, PriceBar.date, PriceBar.open, PriceBar.close, PriceBar.dividend, PriceBar.split_coef
        ).where(PriceBar.ticker.in_(sorted(tickers)), PriceBar.date >= sessions[0], PriceBar.date <= sessions[-1])
        return {(row.ticker, row.date): row for row in connection.execute(query)}

    def _apply_session(
        self,
        day: date,
        bars: dict[tuple[str, date], Row[Any]],
        orders: list[Row[Any]],
        fill_session: dict[int, date | None],
        ledger: _Ledger,
    ) -> None:
        for ticker, holding in ledger.holdings.items():
            bar = bars.get((ticker, day))
            if bar is not None and Decimal(bar.split_coef) != 1:
                coef = Decimal(bar.split_coef)
                holding.quantity, holding.average_price = apply_split(holding.quantity, holding.average_price, coef)
                ledger.splits.append((day, ticker, coef))
        for ticker, holding in ledger.holdings.items():
            bar = bars.get((ticker, day))
            if bar is not None and Decimal(bar.dividend) > 0 and holding.quantity > 0:
                amount = dividend_cash(holding.quantity, Decimal(bar.dividend))
                ledger.cash += amount
                ledger.dividends.append((day, ticker, amount))
        due = [o for o in orders if fill_session.get(o.id) == day]
        # Sales first: their proceeds pay for the buys sent after the same close.
        for order in sorted(due, key=lambda o: (o.side != OrderSide.SELL.value, o.id)):
            self._fill(order, day, bars.get((order.ticker, day)), ledger)

    def _fill(self, order: Row[Any], day: date, bar: Row[Any] | None, ledger: _Ledger) -> None:
        side = OrderSide(order.side)
        if bar is None or bar.close is None:
            reason = f"expired: no bar for {order.ticker} on {day}, the session after it was sent (halted or delisted)"
            ledger.expired.append((order.client_order_id, reason))
            ledger.order_changes[order.id] = {"status": OrderStatus.EXPIRED.value, "reason": reason}
            return
        quantity = Decimal(order.quantity)
        note = ""
        coef = Decimal(bar.split_coef)
        if coef != 1:
            # Exchanges adjust resting orders for a split; so does the paper broker.
            quantity = self._split_adjusted(quantity, coef)
            note = f"quantity adjusted from {Decimal(order.quantity).normalize():f} for the {coef} split on {day}; "
            if quantity <= 0:
                self._refuse(order, f"{note}nothing left to trade", ledger)
                return
        open_price = None if bar.open is None else Decimal(bar.open)
        fill = fill_market_order(
            side, quantity, BarPrices(order.ticker, day, open_price, Decimal(bar.close)), self._costs
        )
        holding = ledger.holdings.get(order.ticker, _Holding(Decimal(0), Decimal(0)))
        try:
            cash = cash_after_fill(ledger.cash, fill)
            quantity_after, average_after = apply_fill_to_position(holding.quantity, holding.average_price, fill)
        except OrderRejected as exc:  # InsufficientFunds too: no margin, no shorts
            self._refuse(order, f"{note}{exc}", ledger)
            return
        ledger.cash = cash
        ledger.holdings[order.ticker] = _Holding(quantity_after, average_after)
        ledger.fills.append(order.client_order_id)
        if fill.flagged_no_open:
            note += f"filled at the close: the {day} bar has no open; "
        ledger.order_changes[order.id] = {
            "status": OrderStatus.FILLED.value,
            "price": fill.price,
            "quantity": fill.quantity,  # differs from the order's only after a split adjustment
            "filled_quantity": fill.quantity,
            "commission": fill.commission,
            "filled_at": session_open_utc(day),
            "reason": note.rstrip("; ") or None,
        }

    def _split_adjusted(self, quantity: Decimal, coef: Decimal) -> Decimal:
        adjusted = quantity * coef
        if self._capabilities.fractional_shares:
            return round_quantity(adjusted)
        return adjusted.to_integral_value(rounding=ROUND_DOWN)

    @staticmethod
    def _refuse(order: Row[Any], reason: str, ledger: _Ledger) -> None:
        logger.warning("paper order %s rejected: %s", order.client_order_id, reason)
        ledger.rejected.append((order.client_order_id, reason))
        ledger.order_changes[order.id] = {"status": OrderStatus.REJECTED.value, "reason": reason}

    def _closes(self, connection: Connection, holdings: dict[str, _Holding]) -> dict[str, Decimal]:
        """Each held ticker's latest raw close on or before the session."""
        held = sorted(t for t, h in holdings.items() if h.quantity > 0)
        if not held:
            return {}
        # Nearly always the close is within the last days: searching those first avoids grouping
        # every bar of every held ticker since its listing (about 0.1 s per settle on SQLite).
        closes = self._latest_closes(connection, held, since=self._session - RECENT_CLOSE_WINDOW)
        missing = [ticker for ticker in held if ticker not in closes]
        return closes | (self._latest_closes(connection, missing, since=None) if missing else {})

    def _latest_closes(self, connection: Connection, tickers: list[str], since: date | None) -> dict[str, Decimal]:
        conditions = [PriceBar.ticker.in_(tickers), PriceBar.date <= self._session, PriceBar.close.is_not(None)]
        if since is not None:
            conditions.append(PriceBar.date >= since)
        latest = (
            select(PriceBar.ticker, func.max(PriceBar.date).label("day"))
            .where(*conditions)
            .group_by(PriceBar.ticker)
            .subquery()
        )
        query = select(PriceBar.ticker, PriceBar.close).join(
            latest, and_(PriceBar.ticker == latest.c.ticker, PriceBar.date == latest.c.day)
        )
        return {ticker: Decimal(close) for ticker, close in connection.execute(query)}

    def _write(self, connection: Connection, peak: Decimal, ledger: _Ledger, closes: dict[str, Decimal]) -> Decimal:
        positions_value = Decimal(0)
        connection.execute(delete(PaperPosition).where(PaperPosition.account_id == self._account_id))
        rows = []
        for ticker, holding in sorted(ledger.holdings.items()):
            if holding.quantity <= 0:
                continue
            close = closes.get(ticker)
            if close is None:
                raise FundError(f"paper account {self._account_id}: no close on or before {self._session} for {ticker}")
            value = round_money(holding.quantity * close)
            positions_value += value
            rows.append(
                {
                    "account_id": self._account_id,
                    "ticker": ticker,
                    "quantity": holding.quantity,
                    "avg_price": holding.average_price,
                    "market_value": value,
                }
            )
        if rows:
            connection.execute(insert(PaperPosition), rows)
        now = self._clock()
        for order_id, changes in ledger.order_changes.items():
            connection.execute(
                update(TradeExecution).where(TradeExecution.id == order_id).values(**changes, updated_at=now)
            )
        cash = round_money(ledger.cash)
        ledger.cash = cash
        total = cash + positions_value
        connection.execute(
            update(PaperAccount)
            .where(PaperAccount.account_id == self._account_id)
            .values(
                cash_balance=cash,
                buying_power=cash,
                total_value=total,
                peak_value=max(peak, total),
                settled_through=self._session,
                updated_at=now,
            )
        )
        return positions_value

    # --- the Broker protocol --------------------------------------------------------------------

    def account(self) -> AccountSnapshot:
        record = get_paper_account(self._engine, self._account_id)
        return AccountSnapshot(
            account_id=record.account_id,
            cash=record.cash,
            buying_power=record.buying_power,
            equity=record.total_value,
            as_of=self._clock(),
        )

    def positions(self) -> Sequence[BrokerPosition]:
        return [
            BrokerPosition(p.ticker, Decimal(p.quantity), Decimal(p.average_price), Decimal(p.market_value))
            for p in paper_positions(self._engine, self._account_id)
        ]

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Accept the order for the next session's open; a repeated client id returns the order already sent.

        Refused (OrderRejected, and the row recorded as rejected): a fraction of a share on a
        whole-share account, a ticker without a price by this session, and a sale of more than
        is held after the sales already waiting.
        """
        with self._engine.begin() as connection:
            # A broker opened before another settled a later session would file an order whose fill
            # session has already been settled, so it would never fill.
            self._check_not_behind(get_paper_account(connection, self._account_id, for_update=True).settled_through)
            row = self._row_by_client_id(connection, request.client_order_id)
            intent = (request.ticker, request.side.value, request.quantity)
            if row is not None and (row.ticker, row.side, Decimal(row.quantity)) != intent:
                raise OrderRejected(
                    f"client order id {request.client_order_id} belongs to {row.side} {row.quantity} {row.ticker}, "
                    f"not {request.side} {request.quantity} {request.ticker}"
                )
            if row is not None and row.status != "planned":
                return _broker_order(row)
            problem = self._refusal(connection, request)
            now = self._clock()
            values: dict[str, Any] = {
                "status": OrderStatus.REJECTED.value if problem else OrderStatus.SUBMITTED.value,
                "reason": problem,
                "session_date": self._session,
                "submitted_at": now,
                "updated_at": now,
            }
            if row is None:
                inserted = connection.execute(
                    insert(TradeExecution).values(
                        client_order_id=request.client_order_id,
                        broker=BROKER_NAME,
                        account_id=self._account_id,
                        ticker=request.ticker,
                        side=request.side.value,
                        quantity=request.quantity,
                        order_type=request.order_type,
                        **values,
                    )
                )
                row_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            else:
                row_id = row.id
                connection.execute(update(TradeExecution).where(TradeExecution.id == row_id).values(**values))
            connection.execute(
                update(TradeExecution).where(TradeExecution.id == row_id).values(order_id=f"paper-{row_id}")
            )
            stored = connection.execute(select(TradeExecution.__table__).where(TradeExecution.id == row_id)).one()
        if problem:
            raise OrderRejected(
                f"order {request.client_order_id} ({request.side} {request.quantity} {request.ticker}): {problem}"
            )
        logger.info(
            "paper order %s accepted: %s %s %s", stored.order_id, request.side, request.quantity, request.ticker
        )
        return _broker_order(stored)

    def _refusal(self, connection: Connection, request: OrderRequest) -> str | None:
        if not self._capabilities.fractional_shares and request.quantity != request.quantity.to_integral_value():
            return f"{request.quantity} is not a whole number of shares and account {self._account_id} is whole-share"
        priced = connection.execute(
            select(func.count())
            .select_from(PriceBar)
            .where(PriceBar.ticker == request.ticker, PriceBar.date <= self._session)
        ).scalar_one()
        if not priced:
            return f"no price data for {request.ticker} on or before {self._session}"
        if request.side is OrderSide.SELL:
            held = connection.execute(
                select(PaperPosition.quantity).where(
                    PaperPosition.account_id == self._account_id, PaperPosition.ticker == request.ticker
                )
            ).scalar_one_or_none() or Decimal(0)
            waiting = connection.execute(
                select(func.coalesce(func.sum(TradeExecution.quantity), 0)).where(
                    TradeExecution.broker == BROKER_NAME,
                    TradeExecution.account_id == self._account_id,
                    TradeExecution.ticker == request.ticker,
                    TradeExecution.side == OrderSide.SELL.value,
                    TradeExecution.status.in_(OPEN_STATUSES),
                )
            ).scalar_one()
            available = Decimal(held) - Decimal(waiting)
            if request.quantity > available:
                return (
                    f"sell {request.quantity} {request.ticker}: only {available.normalize():f} held "
                    "and not already being sold"
                )
        return None

    def _row_by_client_id(self, connection: Connection, client_order_id: str) -> Row[Any] | None:
        return connection.execute(
            select(TradeExecution.__table__).where(
                TradeExecution.client_order_id == client_order_id,
                TradeExecution.broker == BROKER_NAME,
                TradeExecution.account_id == self._account_id,
            )
        ).one_or_none()

    def get_order(self, order_id: str) -> BrokerOrder:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(TradeExecution.__table__).where(
                    TradeExecution.broker == BROKER_NAME,
                    TradeExecution.account_id == self._account_id,
                    TradeExecution.order_id == order_id,
                )
            ).one_or_none()
        if row is None:
            raise OrderNotFound(f"paper account {self._account_id} has no order {order_id}")
        return _broker_order(row)

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        with self._engine.connect() as connection:
            row = self._row_by_client_id(connection, client_order_id)
        # A planned row is the ledger's intent, not yet an order the broker received.
        return None if row is None or row.status == "planned" else _broker_order(row)

    def cancel(self, order_id: str) -> None:
        order = self.get_order(order_id)
        if order.status.is_final:
            logger.info("paper order %s is already %s; nothing to cancel", order_id, order.status)
            return
        with self._engine.begin() as connection:
            connection.execute(
                update(TradeExecution)
                .where(
                    TradeExecution.broker == BROKER_NAME,
                    TradeExecution.order_id == order_id,
                    TradeExecution.status.in_(OPEN_STATUSES),
                )
                .values(status=OrderStatus.CANCELED.value, reason="canceled on request", updated_at=self._clock())
            )

    def open_orders(self) -> Sequence[BrokerOrder]:
        with self._engine.connect() as connection:
            return [_broker_order(row) for row in self._open_order_rows(connection)]


def _broker_order(row: Row[Any]) -> BrokerOrder:
    filled = Decimal(row.filled_quantity) if row.filled_quantity is not None else Decimal(0)
    return BrokerOrder(
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        ticker=row.ticker,
        side=OrderSide(row.side),
        quantity=Decimal(row.quantity),
        filled_quantity=filled,
        average_fill_price=Decimal(row.price) if row.price is not None and filled > 0 else None,
        status=OrderStatus(row.status),
        submitted_at=row.submitted_at or row.created_at,
        filled_at=row.filled_at,
        reason=row.reason,
    )
