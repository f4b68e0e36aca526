"""Paper accounts and equity history: create an account, read it and its positions, and record
the end-of-day equity that the drawdown limit measures its peak from."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from trading.db.schema import AccountEquity, BrokerAccount, PaperAccount, PaperCashEntry, PaperOrder, PaperPosition
from trading.errors import FundError
from trading.execution.costs import round_money
from trading.store import Bind, connection_for

logger = logging.getLogger(__name__)

# The account the daily run trades when none is named (the specification's name).
DEFAULT_ACCOUNT_ID = "PAPER_AUTONOMOUS_FUND"
MAX_ACCOUNT_ID_LENGTH = 64


class UnknownAccount(FundError):
    """No paper account has this id."""


class AccountExists(FundError):
    """A paper account with this id already exists."""


@dataclass(frozen=True)
class PaperAccountRecord:
    account_id: str
    cash: Decimal
    buying_power: Decimal
    total_value: Decimal
    peak_value: Decimal
    currency: str
    fractional_shares: bool
    settled_through: date | None
    created_at: datetime


@dataclass(frozen=True)
class PositionRecord:
    ticker: str
    quantity: Decimal
    average_price: Decimal
    market_value: Decimal


@dataclass(frozen=True)
class EquityRecord:
    day: date
    equity: Decimal
    cash: Decimal
    positions_value: Decimal
    peak_equity: Decimal


def _account(row: Row[Any]) -> PaperAccountRecord:
    m = row._mapping
    return PaperAccountRecord(
        account_id=m["account_id"],
        cash=m["cash_balance"],
        buying_power=m["buying_power"],
        total_value=m["total_value"],
        peak_value=m["peak_value"],
        currency=m["currency"],
        fractional_shares=bool(m["fractional_shares"]),
        settled_through=m["settled_through"],
        created_at=m["created_at"],
    )


def validate_account_id(account_id: str) -> str:
    if not account_id or account_id != account_id.strip() or len(account_id) > MAX_ACCOUNT_ID_LENGTH:
        raise ValueError(
            f"account id {account_id!r} must be 1 to {MAX_ACCOUNT_ID_LENGTH} characters without surrounding spaces"
        )
    return account_id


def create_paper_account(
    bind: Bind, account_id: str, cash: Decimal, *, fractional_shares: bool = False, currency: str = "USD"
) -> PaperAccountRecord:
    """A new paper account holding `cash` and nothing else; AccountExists if the id is taken."""
    validate_account_id(account_id)
    if not isinstance(cash, Decimal) or not cash.is_finite() or cash < 0:
        raise ValueError(f"account {account_id}: starting cash must be a finite, non-negative amount, got {cash!r}")
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"account {account_id}: currency must be a three-letter code, got {currency!r}")
    amount = round_money(cash)
    with connection_for(bind) as connection:
        if connection.execute(select(PaperAccount.account_id).where(PaperAccount.account_id == account_id)).first():
            raise AccountExists(f"paper account {account_id!r} already exists: `fund accounts show --account-id ...`")
        if connection.execute(select(BrokerAccount.broker).where(BrokerAccount.account_id == account_id)).first():
            raise AccountExists(f"account {account_id!r} is linked to a live broker; choose another id")
        connection.execute(
            insert(PaperAccount).values(
                account_id=account_id,
                cash_balance=amount,
                buying_power=amount,
                total_value=amount,
                peak_value=amount,
                currency=currency.upper(),
                fractional_shares=fractional_shares,
            )
        )
        # The venue's cash journal starts with the deposit: its entries always sum to the balance.
        connection.execute(
            insert(PaperCashEntry).values(
                account_id=account_id, session=None, kind="deposit", amount=amount, description="opening deposit"
            )
        )
        record = get_paper_account(connection, account_id)
    logger.info("created paper account %s with %s %s", account_id, amount, record.currency)
    return record


def get_paper_account(bind: Bind, account_id: str, *, for_update: bool = False) -> PaperAccountRecord:
    """The account, or UnknownAccount naming the accounts that do exist.

    `for_update` locks the row until the caller's transaction ends (PostgreSQL; SQLite serialises
    writers by itself), so two writers of one ledger cannot interleave.
    """
    query = select(PaperAccount.__table__).where(PaperAccount.account_id == account_id)
    if for_update:
        query = query.with_for_update()
    with connection_for(bind) as connection:
        row = connection.execute(query).one_or_none()
        if row is None:
            known = connection.execute(select(PaperAccount.account_id).order_by(PaperAccount.account_id)).scalars()
            names = ", ".join(known) or "none"
            raise UnknownAccount(
                f"no paper account {account_id!r} (existing: {names}); "
                f"create it with `fund accounts create --account-id {account_id} --cash AMOUNT`"
            )
    return _account(row)


def list_paper_accounts(bind: Bind) -> list[PaperAccountRecord]:
    with connection_for(bind) as connection:
        rows = connection.execute(select(PaperAccount.__table__).order_by(PaperAccount.account_id)).all()
    return [_account(row) for row in rows]


def paper_positions(bind: Bind, account_id: str) -> list[PositionRecord]:
    """Open positions (quantity above zero), by ticker."""
    query = (
        select(PaperPosition.ticker, PaperPosition.quantity, PaperPosition.avg_price, PaperPosition.market_value)
        .where(PaperPosition.account_id == account_id, PaperPosition.quantity > 0)
        .order_by(PaperPosition.ticker)
    )
    with connection_for(bind) as connection:
        return [PositionRecord(*row) for row in connection.execute(query)]


def waiting_orders(bind: Bind, account_id: str) -> dict[str, Decimal]:
    """Shares the paper venue will trade at the next open, by ticker (buys positive, sales negative)."""
    signed = case((PaperOrder.side == "buy", 1), else_=-1) * (PaperOrder.quantity - PaperOrder.filled_quantity)
    query = (
        select(PaperOrder.ticker, func.sum(signed))
        .where(PaperOrder.account_id == account_id, PaperOrder.status.in_(("submitted", "partially_filled")))
        .group_by(PaperOrder.ticker)
    )
    with connection_for(bind) as connection:
        return {ticker: Decimal(quantity) for ticker, quantity in connection.execute(query) if quantity}


def _upsert_equity(connection: Connection, values: dict[str, Any]) -> None:
    key = ["account_id", "date"]
    changes = ("equity", "cash", "positions_value", "peak_equity")
    if connection.dialect.name == "postgresql":
        pg_insert = postgresql.insert(AccountEquity).values(values)
        connection.execute(
            pg_insert.on_conflict_do_update(index_elements=key, set_={c: pg_insert.excluded[c] for c in changes})
        )
    else:
        lite_insert = sqlite.insert(AccountEquity).values(values)
        connection.execute(
            lite_insert.on_conflict_do_update(index_elements=key, set_={c: lite_insert.excluded[c] for c in changes})
        )


def record_equity(bind: Bind, account_id: str, day: date, *, cash: Decimal, positions_value: Decimal) -> EquityRecord:
    """Write (or overwrite) the account's equity at the close of `day`; the peak is the highest
    equity on any earlier day or today, and later days' peaks rise to it if a back-filled day exceeds them."""
    equity = round_money(cash + positions_value)
    with connection_for(bind) as connection:
        earlier = connection.execute(
            select(func.max(AccountEquity.equity)).where(
                AccountEquity.account_id == account_id, AccountEquity.date < day
            )
        ).scalar_one()
        peak = max(equity, Decimal(earlier)) if earlier is not None else equity
        record = EquityRecord(day, equity, round_money(cash), round_money(positions_value), round_money(peak))
        _upsert_equity(
            connection,
            {
                "account_id": account_id,
                "date": day,
                "equity": record.equity,
                "cash": record.cash,
                "positions_value": record.positions_value,
                "peak_equity": record.peak_equity,
            },
        )
        connection.execute(
            update(AccountEquity)
            .where(
                AccountEquity.account_id == account_id,
                AccountEquity.date > day,
                AccountEquity.peak_equity < record.equity,
            )
            .values(peak_equity=record.equity)
        )
    return record


def peak_equity_between(bind: Bind, account_id: str, start: date | None, end: date) -> Decimal | None:
    """The highest recorded equity on days in [start, end] (from the first record when start is None)."""
    query = select(func.max(AccountEquity.equity)).where(
        AccountEquity.account_id == account_id, AccountEquity.date <= end
    )
    if start is not None:
        query = query.where(AccountEquity.date >= start)
    with connection_for(bind) as connection:
        peak = connection.execute(query).scalar_one()
    return None if peak is None else Decimal(peak)


def equity_history(bind: Bind, account_id: str) -> list[EquityRecord]:
    query = (
        select(
            AccountEquity.date,
            AccountEquity.equity,
            AccountEquity.cash,
            AccountEquity.positions_value,
            AccountEquity.peak_equity,
        )
        .where(AccountEquity.account_id == account_id)
        .order_by(AccountEquity.date)
    )
    with connection_for(bind) as connection:
        return [EquityRecord(*row) for row in connection.execute(query)]
