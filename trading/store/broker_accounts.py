"""Accounts linked to a live broker: which broker holds a fund account and under which of its numbers.
An account id with no link is a database paper account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from trading.db.schema import LIVE_BROKERS, BrokerAccount, PaperAccount
from trading.store import Bind, connection_for
from trading.store.accounts import AccountExists, validate_account_id

PAPER_VENUE = "paper"
_COLUMNS = select(
    BrokerAccount.account_id, BrokerAccount.broker, BrokerAccount.external_account, BrokerAccount.created_at
)


@dataclass(frozen=True)
class BrokerAccountRecord:
    account_id: str
    broker: str  # "alpaca" or "schwab"
    external_account: str | None
    created_at: datetime


def link_broker_account(bind: Bind, account_id: str, broker: str, external_account: str | None) -> BrokerAccountRecord:
    """Record that `account_id` is held at `broker` as `external_account`; AccountExists if the id is
    taken by a paper account or another link."""
    validate_account_id(account_id)
    if broker not in LIVE_BROKERS:
        raise ValueError(f"account {account_id}: broker must be one of {', '.join(LIVE_BROKERS)}, got {broker!r}")
    number = (external_account or "").strip() or None
    if broker == "schwab" and number is None:
        raise ValueError(f"account {account_id}: a Schwab account needs its account number (--external-account)")
    if number is not None and len(number) > 64:
        raise ValueError(f"account {account_id}: the external account number has more than 64 characters")
    with connection_for(bind) as connection:
        if connection.execute(select(PaperAccount.account_id).where(PaperAccount.account_id == account_id)).first():
            raise AccountExists(f"{account_id!r} is already a database paper account")
        if connection.execute(select(BrokerAccount.account_id).where(BrokerAccount.account_id == account_id)).first():
            raise AccountExists(f"account {account_id!r} is already linked to a broker")
        connection.execute(insert(BrokerAccount).values(account_id=account_id, broker=broker, external_account=number))
        record = broker_account(connection, account_id)
    assert record is not None
    return record


def broker_account(bind: Bind, account_id: str) -> BrokerAccountRecord | None:
    """The account's link to a live broker, or None for a database paper account."""
    with connection_for(bind) as connection:
        row = connection.execute(_COLUMNS.where(BrokerAccount.account_id == account_id)).first()
    return None if row is None else BrokerAccountRecord(*row)


def list_broker_accounts(bind: Bind) -> list[BrokerAccountRecord]:
    with connection_for(bind) as connection:
        rows = connection.execute(_COLUMNS.order_by(BrokerAccount.account_id)).all()
    return [BrokerAccountRecord(*row) for row in rows]


def broker_of(bind: Bind, account_id: str) -> str:
    """'alpaca', 'schwab', or 'paper' (the database venue) for an account without a link."""
    link = broker_account(bind, account_id)
    return PAPER_VENUE if link is None else link.broker
