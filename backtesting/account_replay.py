"""`fund backtest replay-account`: the sessions a paper account traded, replayed in memory from the same
starting cash with the same code, and compared session by session with what the account did: where the
orders sent and the equity at the close diverge. A replay of unchanged code over unchanged data matches the
account exactly; a divergence points at a changed bar, a person's approval or halt decision, or a change of
code or settings since."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, select

from autonomous.generators import GeneratorChoice
from backtesting.engine import ReplaySetup, SessionClose, replay
from backtesting.job import load_span, strategy_evidence_rows
from backtesting.variants import SelectorRecord, Variant
from trading.db.schema import PaperCashEntry, PaperPositionChange, RebalancingLog, TradeExecution
from trading.errors import DataError
from trading.marketdata.calendar import TradingCalendar
from trading.orders import BrokerOrder
from trading.settings import FundSettings
from trading.store import connection_for
from trading.store.accounts import EquityRecord, equity_history, get_paper_account

logger = logging.getLogger(__name__)

OrderKey = tuple[str, str, Decimal]  # ticker, side, quantity


@dataclass(frozen=True)
class SessionComparison:
    session: date
    paper_equity: Decimal | None
    replay_equity: Decimal
    only_paper: tuple[OrderKey, ...]
    only_replay: tuple[OrderKey, ...]

    @property
    def equity_gap(self) -> Decimal | None:
        return None if self.paper_equity is None else self.replay_equity - self.paper_equity

    @property
    def diverged(self) -> bool:
        gap = self.equity_gap
        return bool(self.only_paper or self.only_replay) or (gap is not None and abs(gap) > Decimal("0.01"))


@dataclass(frozen=True)
class AccountReplay:
    account_id: str
    capital: Decimal
    sessions: list[SessionComparison]

    @property
    def diverged(self) -> list[SessionComparison]:
        return [s for s in self.sessions if s.diverged]


def replay_account(
    engine: Engine, settings: FundSettings, account_id: str, generator: GeneratorChoice
) -> AccountReplay:
    """Replay `account_id`'s paper sessions from its opening cash with `generator`, and compare."""
    account = get_paper_account(engine, account_id)
    history = equity_history(engine, account_id)
    if not history:
        raise DataError(f"paper account {account_id} has no recorded session yet: nothing to replay")
    capital = opening_cash(engine, account_id)
    first, last = history[0].day, history[-1].day
    calendar = TradingCalendar.from_database(engine, settings.data.benchmark_ticker, settings.data.exchange_calendar)
    sessions = [s.date() for s in calendar.sessions_in(first, last) if s in calendar.history]
    market, bars = load_span(engine, settings, first, last, calendar.next_session(last) or last)
    setup = ReplaySetup(market, bars, settings, capital, account.fractional_shares, "approve")
    variant = Variant("replay", generator, SelectorRecord(), f"{account_id} replayed")
    (one,) = replay(setup, [variant], sessions, evidence_rows=strategy_evidence_rows(engine))
    return AccountReplay(account_id, capital, _compare(engine, account_id, history, one.closes, one.venue.book()))


def opening_cash(engine: Engine, account_id: str) -> Decimal:
    """The account's deposits: a replay starts from them, so the account must have started in cash."""
    with connection_for(engine) as connection:
        entries = connection.execute(
            select(PaperCashEntry.kind, PaperCashEntry.amount).where(
                PaperCashEntry.account_id == account_id, PaperCashEntry.kind.in_(("deposit", "opening_balance"))
            )
        ).all()
        opened_with_positions = connection.execute(
            select(PaperPositionChange.id).where(
                PaperPositionChange.account_id == account_id, PaperPositionChange.kind == "opening_position"
            )
        ).first()
    if opened_with_positions is not None:
        raise DataError(
            f"paper account {account_id} opened with positions carried over: a replay starts from cash only"
        )
    if not entries:
        raise DataError(f"paper account {account_id} has no deposit in its cash journal: nothing to start from")
    return sum((Decimal(amount) for _, amount in entries), Decimal(0))


def _paper_orders(engine: Engine, account_id: str) -> dict[date, Counter[OrderKey]]:
    query = (
        select(TradeExecution.session_date, TradeExecution.ticker, TradeExecution.side, TradeExecution.quantity)
        .join(RebalancingLog, RebalancingLog.id == TradeExecution.rebalance_id)
        .where(
            TradeExecution.account_id == account_id,
            RebalancingLog.mode == "paper",
            TradeExecution.order_id.is_not(None),  # reached the venue
        )
    )
    sent: dict[date, Counter[OrderKey]] = {}
    with connection_for(engine) as connection:
        for day, ticker, side, quantity in connection.execute(query):
            sent.setdefault(day, Counter())[(ticker, side, Decimal(quantity).normalize())] += 1
    return sent


def _compare(
    engine: Engine,
    account_id: str,
    history: list[EquityRecord],
    closes: list[SessionClose],
    book: list[tuple[date, BrokerOrder]],
) -> list[SessionComparison]:
    paper = _paper_orders(engine, account_id)
    replayed: dict[date, Counter[OrderKey]] = {}
    for day, order in book:
        key = (order.ticker, order.side.value, order.quantity.normalize())
        replayed.setdefault(day, Counter())[key] += 1
    equity = {record.day: record.equity for record in history}
    rows = []
    for close in closes:
        ours, theirs = replayed.get(close.session, Counter()), paper.get(close.session, Counter())
        rows.append(
            SessionComparison(
                close.session,
                equity.get(close.session),
                close.equity,
                tuple(sorted((theirs - ours).elements())),
                tuple(sorted((ours - theirs).elements())),
            )
        )
    return rows
