"""The paper venue: a Broker whose books are database tables of its own (paper_orders, paper_fills,
paper_cash_journal, paper_position_changes, with the account and its marked positions), apart from
the fund's record of what it planned and sent. The fund learns fills only through this interface.

Time moves with the bars, not the wall clock. `sync(session)` brings the account up to that
session's close (settlement.py says how) and marks positions at their last close (the adjusted close of
a series shipped as adjusted closes only); orders submitted
afterwards arrive after that close and fill at the next session's open. A read-only venue (a dry
run) computes the same settlement in memory and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Row

from trading.brokers.base import BrokerCapabilities, SyncReport
from trading.brokers.paper import books
from trading.brokers.paper.settlement import (
    Holding,
    Ledger,
    OpenOrder,
    SettlementRules,
    order_refusal,
    plain,
    settle,
)
from trading.db.schema import utcnow
from trading.errors import BrokerError, DataError, FundError, OrderNotFound, OrderRejected
from trading.execution.costs import CostModels, round_money
from trading.marketdata.calendar import TradingCalendar
from trading.orders import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    AccountSnapshot,
    BrokerOrder,
    BrokerPosition,
    OrderRequest,
    OrderSide,
    OrderStatus,
)
from trading.store.accounts import PaperAccountRecord, get_paper_account

logger = logging.getLogger(__name__)

BROKER_NAME = "paper"


class LedgerAhead(FundError):
    """The paper venue has already settled a later session than the one asked for."""


class ReadOnlyVenue(BrokerError):
    """A dry run's venue was asked to change something."""


@dataclass(frozen=True)
class VenueState:
    """The account at the close of the session it was last synced to."""

    session: date
    cash: Decimal
    positions: tuple[books.Marked, ...]

    @property
    def equity(self) -> Decimal:
        return self.cash + sum((p.market_value for p in self.positions), Decimal(0))


class PaperVenue:
    """The paper account `account_id` at the database venue."""

    def __init__(
        self,
        engine: Engine,
        account_id: str,
        *,
        costs: CostModels,
        calendar: TradingCalendar,
        benchmark: str,
        delisted_after_sessions: int,
        read_only: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        record = get_paper_account(engine, account_id)  # UnknownAccount before anything is written
        self._engine = engine
        self._account_id = account_id
        self._calendar = calendar
        self._benchmark = benchmark
        self._rules = SettlementRules(costs, delisted_after_sessions, calendar.sessions_between)
        self._read_only = read_only
        self._clock = clock
        self._state: VenueState | None = None
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
    def read_only(self) -> bool:
        return self._read_only

    # --- moving to a session's close --------------------------------------------------------------

    def sync(self, session: date) -> SyncReport:
        """Settle every session up to `session` and mark positions at its close, in one transaction
        (computed and discarded by a read-only venue)."""
        with self._engine.connect() as connection, connection.begin():
            account = get_paper_account(connection, self._account_id, for_update=not self._read_only)
            self._check_not_behind(account.settled_through, session)
            self._require_session_bar(connection, session)
            ledger, orders = self._ledger(connection, account, session)
            sessions = self._sessions_to_apply(account.settled_through, session, orders)
            self._require_bars_of(connection, sessions)
            if sessions:
                tickers = {*ledger.holdings, *(o.ticker for o in orders)}
                bars = books.day_bars(connection, tickers, sessions[0], sessions[-1])
                settle(ledger, sessions, bars, orders, self._rules)
            marked = self._marked(connection, ledger, session)
            if not self._read_only:
                books.write_settlement(
                    connection,
                    self._account_id,
                    ledger,
                    marked,
                    session=session,
                    peak=account.peak_value,
                    now=self._clock(),
                )
        self._state = VenueState(session, round_money(ledger.cash), tuple(marked))
        report = SyncReport(session, tuple(ledger.events))
        logger.info("paper account %s %s", self._account_id, report.describe())
        return report

    def _check_not_behind(self, settled_through: date | None, session: date) -> None:
        if settled_through is not None and settled_through > session:
            raise LedgerAhead(
                f"paper account {self._account_id} is settled through {settled_through}; "
                f"it cannot trade after the earlier close of {session}"
            )

    def _require_session_bar(self, connection: Connection, session: date) -> None:
        # Settling moves `settled_through` for good: an order due at a session settled before its
        # bars arrived would never fill.
        if not books.has_bar(connection, self._benchmark, session):
            raise DataError(
                f"paper account {self._account_id}: no {self._benchmark} bar on {session} yet; "
                "import the session's bars before settling it"
            )

    def _require_bars_of(self, connection: Connection, sessions: Sequence[date]) -> None:
        # Every session settled, not only the last: a session settled without its bars would expire the
        # orders due then and count towards a delisting, for good.
        if not sessions:
            return
        present = books.bar_dates(connection, self._benchmark, sessions[0], sessions[-1])
        missing = [day for day in sessions if day not in present]
        if missing:
            shown = ", ".join(str(day) for day in missing[:5])
            raise DataError(
                f"paper account {self._account_id}: no {self._benchmark} bar on {shown} yet; "
                "import the session's bars before settling past it"
            )

    def _ledger(
        self, connection: Connection, account: PaperAccountRecord, session: date
    ) -> tuple[Ledger, list[OpenOrder]]:
        as_of = account.settled_through or session
        holdings = books.holdings(connection, self._account_id, as_of)
        rows = books.open_order_rows(connection, self._account_id)
        fill_sessions = {sent: self._calendar.next_session(sent) for sent in {row.sent_after for row in rows}}
        orders = [
            OpenOrder(
                row.id,
                row.client_order_id,
                row.ticker,
                OrderSide(row.side),
                Decimal(row.quantity) - Decimal(row.filled_quantity),
                fill_sessions[row.sent_after],
            )
            for row in rows
        ]
        return Ledger(account.cash, holdings, account.fractional_shares), orders

    def _sessions_to_apply(self, settled: date | None, session: date, orders: Sequence[OpenOrder]) -> list[date]:
        if settled is None:
            # An account never synced holds nothing of its own; only orders carried over need sessions.
            due = [o.fill_session for o in orders if o.fill_session is not None]
            if not due:
                return []
            settled = self._calendar.previous_session(min(due)) or min(due)
        return [stamp.date() for stamp in self._calendar.sessions_in(settled, session) if stamp.date() > settled]

    def _marked(self, connection: Connection, ledger: Ledger, session: date) -> list[books.Marked]:
        held = {t: h for t, h in sorted(ledger.holdings.items()) if h.quantity > 0}
        unknown = [t for t, h in held.items() if h.last_bar is None]
        found = books.latest_marks(connection, unknown, session) if unknown else {}
        marked = []
        for ticker, holding in held.items():
            day, close = (holding.last_bar, holding.last_close) if holding.last_bar else found.get(ticker, (None, None))
            if day is None or close is None:
                raise FundError(f"paper account {self._account_id}: no close on or before {session} for {ticker}")
            marked.append(_mark(ticker, holding, day, close))
        return marked

    # --- the Broker interface -------------------------------------------------------------------

    def account(self) -> AccountSnapshot:
        state = self._state or self._stored_state()
        return AccountSnapshot(
            account_id=self._account_id,
            cash=state.cash,
            buying_power=state.cash,
            equity=round_money(state.equity),
            as_of=self._clock(),
        )

    def positions(self) -> Sequence[BrokerPosition]:
        state = self._state or self._stored_state()
        return [BrokerPosition(p.ticker, p.quantity, p.average_price, p.market_value) for p in state.positions]

    def _stored_state(self) -> VenueState:
        with self._engine.connect() as connection:
            account = get_paper_account(connection, self._account_id)
            as_of = account.settled_through or self._clock().date()
            holdings = books.holdings(connection, self._account_id, as_of)
        marked = tuple(
            _mark(t, h, h.last_bar, h.last_close) for t, h in sorted(holdings.items()) if h.last_bar and h.last_close
        )
        return VenueState(as_of, account.cash, marked)

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Accept the order for the next session's open; a repeated client id returns the order already there.

        Refused (OrderRejected, and the order kept as rejected in the book): a fraction of a share on
        a whole-share account, a ticker without a price by this session, and a sale of more than is
        held after the sales already waiting.
        """
        session = self._synced_session("submit an order")
        with self._engine.connect() as connection, connection.begin():
            account = get_paper_account(connection, self._account_id, for_update=True)
            if account.settled_through != session:
                # Another process settled on: an order filed against the older close would never fill.
                raise LedgerAhead(
                    f"paper account {self._account_id} is settled through {account.settled_through}, "
                    f"not {session}: sync again before sending"
                )
            existing = books.order_row(connection, self._account_id, client_id=request.client_order_id)
            if existing is not None:
                return self._repeat(existing, request)
            problem = self._refusal(connection, request, session)
            row = books.insert_order(connection, self._order_values(request, session, problem))
        if problem:
            raise OrderRejected(
                f"order {request.client_order_id} ({request.side} {request.quantity} {request.ticker}): {problem}"
            )
        logger.info("paper order %s accepted: %s %s %s", row.order_id, request.side, request.quantity, request.ticker)
        return books.broker_order(row)

    def _synced_session(self, what: str) -> date:
        if self._read_only:
            raise ReadOnlyVenue(f"paper account {self._account_id} is read-only in a dry run: cannot {what}")
        if self._state is None:
            raise FundError(f"paper account {self._account_id}: sync it to a session before you {what}")
        return self._state.session

    @staticmethod
    def _repeat(row: Row[Any], request: OrderRequest) -> BrokerOrder:
        if (row.ticker, row.side, Decimal(row.quantity)) != (request.ticker, request.side.value, request.quantity):
            raise OrderRejected(
                f"client order id {request.client_order_id} belongs to {row.side} {plain(Decimal(row.quantity))} "
                f"{row.ticker}, not {request.side} {plain(request.quantity)} {request.ticker}"
            )
        return books.broker_order(row)

    def _order_values(self, request: OrderRequest, session: date, problem: str | None) -> dict[str, Any]:
        now = self._clock()
        return {
            "account_id": self._account_id,
            "client_order_id": request.client_order_id,
            "ticker": request.ticker,
            "side": request.side.value,
            "quantity": request.quantity,
            "order_type": request.order_type,
            "sent_after": session,
            "status": OrderStatus.REJECTED.value if problem else OrderStatus.SUBMITTED.value,
            "reason": problem,
            "submitted_at": now,
            "updated_at": now,
        }

    def _refusal(self, connection: Connection, request: OrderRequest, session: date) -> str | None:
        available = Decimal(0)
        if request.side is OrderSide.SELL:
            held = books.held_quantity(connection, self._account_id, request.ticker)
            available = held - books.waiting_sales(connection, self._account_id, request.ticker)
        return order_refusal(
            self._account_id,
            request.ticker,
            request.side,
            request.quantity,
            session=session,
            fractional=self._capabilities.fractional_shares,
            has_price=books.has_price_by(connection, request.ticker, session),
            available_to_sell=available,
        )

    def get_order(self, order_id: str) -> BrokerOrder:
        with self._engine.connect() as connection:
            row = books.order_row(connection, self._account_id, order_id=order_id)
        if row is None:
            raise OrderNotFound(f"paper account {self._account_id} has no order {order_id}")
        return books.broker_order(row)

    def find_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        with self._engine.connect() as connection:
            row = books.order_row(connection, self._account_id, client_id=client_order_id)
        return None if row is None else books.broker_order(row)

    def cancel(self, order_id: str) -> None:
        if self._read_only:
            raise ReadOnlyVenue(f"paper account {self._account_id} is read-only in a dry run: cannot cancel {order_id}")
        order = self.get_order(order_id)
        if order.status.is_final:
            logger.info("paper order %s is already %s; nothing to cancel", order_id, order.status)
            return
        with self._engine.connect() as connection, connection.begin():
            # The account row serialises a cancel with a settlement of the same account.
            get_paper_account(connection, self._account_id, for_update=True)
            books.cancel_order(connection, self._account_id, order_id, self._clock())

    def open_orders(self) -> Sequence[BrokerOrder]:
        with self._engine.connect() as connection:
            return [books.broker_order(row) for row in books.open_order_rows(connection, self._account_id)]


def _mark(ticker: str, holding: Holding, day: date, close: Decimal) -> books.Marked:
    return books.Marked(
        ticker=ticker,
        quantity=holding.quantity,
        average_price=holding.average_price,
        close=close,
        close_date=day,
        market_value=round_money(holding.quantity * close),
    )
