"""Drawdown halts: open one when an account breaches its drawdown limit, read the active one,
and lift it (by a person, or by an automatic resume policy). The database keeps one active halt per account."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_args

from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from trading.db.schema import RiskHalt
from trading.errors import FundError
from trading.settings import DrawdownResume
from trading.store import Bind, connection_for

log = logging.getLogger(__name__)

ResumePolicy = DrawdownResume
RESUME_POLICIES: tuple[str, ...] = get_args(ResumePolicy)

_ACTIVE = RiskHalt.resumed_at.is_(None)


class NoActiveHalt(FundError):
    """A resume was asked for an account that is not halted."""


@dataclass(frozen=True)
class HaltRecord:
    """One row of risk_halts, detached from any session."""

    id: int
    account_id: str
    triggered_on: date
    drawdown: float
    equity: Decimal
    peak_equity: Decimal
    reason: str
    created_at: datetime
    resumed_at: datetime | None = None
    resumed_by: str | None = None
    resume_reason: str | None = None
    resume_policy: str | None = None

    @property
    def is_active(self) -> bool:
        return self.resumed_at is None


def _record(row: Row[Any]) -> HaltRecord:
    m = row._mapping
    return HaltRecord(
        id=m["id"],
        account_id=m["account_id"],
        triggered_on=m["triggered_on"],
        drawdown=m["drawdown"],
        equity=m["equity"],
        peak_equity=m["peak_equity"],
        reason=m["reason"],
        created_at=m["created_at"],
        resumed_at=m["resumed_at"],
        resumed_by=m["resumed_by"],
        resume_reason=m["resume_reason"],
        resume_policy=m["resume_policy"],
    )


_COLUMNS = tuple(RiskHalt.__table__.columns)


def active_halt(bind: Bind, account_id: str) -> HaltRecord | None:
    """The account's active halt, or None when it may take new risk."""
    with connection_for(bind) as connection:
        row = connection.execute(select(*_COLUMNS).where(RiskHalt.account_id == account_id, _ACTIVE)).one_or_none()
    return None if row is None else _record(row)


def recent_halts(bind: Bind, account_id: str, *, limit: int = 5) -> list[HaltRecord]:
    """The account's newest halts, active or lifted, newest first."""
    query = (
        select(*_COLUMNS)
        .where(RiskHalt.account_id == account_id)
        .order_by(RiskHalt.triggered_on.desc(), RiskHalt.id.desc())
        .limit(limit)
    )
    with connection_for(bind) as connection:
        return [_record(row) for row in connection.execute(query)]


def last_resumed_at(bind: Bind, account_id: str) -> datetime | None:
    """When the account's most recently lifted halt was lifted (None if none ever was): the drawdown
    is measured from the peak since then, whether or not another halt is active now."""
    with connection_for(bind) as connection:
        return connection.execute(
            select(func.max(RiskHalt.resumed_at)).where(RiskHalt.account_id == account_id)
        ).scalar_one()


def _require_text(value: str, field: str) -> str:
    if not value.strip():
        raise ValueError(f"risk halt: {field} must not be empty")
    return value


def _check_breach(account_id: str, triggered_on: date, drawdown: float, equity: Decimal, peak: Decimal) -> None:
    where = f"risk halt for account {account_id!r} on {triggered_on}"
    if not math.isfinite(drawdown) or not 0 <= drawdown <= 1:
        raise ValueError(f"{where}: drawdown {drawdown!r} is not a fraction in [0, 1]")
    if not equity.is_finite() or not peak.is_finite() or equity < 0 or peak < equity:
        raise ValueError(f"{where}: equity {equity} and peak equity {peak} must satisfy 0 <= equity <= peak")


def _insert_unless_halted(connection: Connection, values: dict[str, Any]) -> bool:
    if connection.dialect.name == "postgresql":
        pg_statement = postgresql.insert(RiskHalt).values(values)
        result = connection.execute(
            pg_statement.on_conflict_do_nothing(index_elements=["account_id"], index_where=_ACTIVE)
        )
    else:
        lite_statement = sqlite.insert(RiskHalt).values(values)
        result = connection.execute(
            lite_statement.on_conflict_do_nothing(index_elements=["account_id"], index_where=_ACTIVE)
        )
    return result.rowcount == 1


def open_halt(
    bind: Bind,
    account_id: str,
    triggered_on: date,
    drawdown: float,
    equity: Decimal,
    peak_equity: Decimal,
    reason: str,
) -> HaltRecord:
    """Halt the account, or return its active halt unchanged if it is already halted.

    One INSERT ... ON CONFLICT DO NOTHING against the one-active-halt index, so two runs racing
    to open a halt both get the same one instead of an IntegrityError.
    """
    _check_breach(account_id, triggered_on, drawdown, equity, peak_equity)
    values = {
        "account_id": _require_text(account_id, "account_id"),
        "triggered_on": triggered_on,
        "drawdown": float(drawdown),
        "equity": equity,
        "peak_equity": peak_equity,
        "reason": _require_text(reason, "reason"),
    }
    with connection_for(bind) as connection:
        inserted = _insert_unless_halted(connection, values)
        halt = active_halt(connection, account_id)
    assert halt is not None, "the insert or the conflicting row leaves an active halt"
    if inserted:
        log.warning("account %s halted on %s: drawdown %.2f%% (%s)", account_id, triggered_on, drawdown * 100, reason)
    else:
        log.info("account %s is already halted since %s; kept that halt", account_id, halt.triggered_on)
    return halt


def resume_halt(
    bind: Bind,
    account_id: str,
    resumed_by: str,
    reason: str,
    policy: ResumePolicy = "manual",
    *,
    at: datetime,
) -> HaltRecord:
    """Lift the account's active halt and return it as lifted.

    `at` is a timezone-aware time (the simulated clock in a backtest). Raises NoActiveHalt when
    the account is not halted.
    """
    if policy not in RESUME_POLICIES:
        raise ValueError(f"unknown resume policy {policy!r}; expected one of {RESUME_POLICIES}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"resume time {at!r} must be timezone-aware")
    changes = {
        "resumed_at": at,
        "resumed_by": _require_text(resumed_by, "resumed_by"),
        "resume_reason": _require_text(reason, "reason"),
        "resume_policy": policy,
    }
    with connection_for(bind) as connection:
        halt = active_halt(connection, account_id)
        if halt is None:
            raise NoActiveHalt(f"account {account_id!r} has no active risk halt to resume")
        if at.date() < halt.triggered_on:
            raise ValueError(f"cannot resume account {account_id!r} at {at}: its halt began on {halt.triggered_on}")
        # The id and the active condition together: a concurrent resume makes this touch no row.
        lifted = connection.execute(update(RiskHalt).where(RiskHalt.id == halt.id, _ACTIVE).values(changes))
        if lifted.rowcount != 1:
            raise NoActiveHalt(f"account {account_id!r}: its risk halt was resumed by someone else meanwhile")
        row = connection.execute(select(*_COLUMNS).where(RiskHalt.id == halt.id)).one()
    log.info("account %s resumed by %s (%s): %s", account_id, resumed_by, policy, reason)
    return _record(row)
