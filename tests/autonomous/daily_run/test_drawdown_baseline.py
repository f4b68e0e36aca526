"""The drawdown is measured from the peak since the latest resume, also while a second halt is active."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine

from autonomous.daily_run.journal import DatabaseJournal
from autonomous.daily_run.request import RunMode, RunRequest
from autonomous.daily_run.steps import AccountState, EarlierAttempts, Valuation, risk_context
from trading.brokers.base import SyncReport
from trading.marketdata.calendar import TradingCalendar
from trading.store.accounts import create_paper_account, record_equity
from trading.store.risk_halts import active_halt, open_halt, resume_halt

D = Decimal
ACCOUNT = "HALTED"
# XNYS sessions of March 2024.
DAYS = [date(2024, 3, d) for d in (4, 5, 6, 7, 8, 11, 12)]


def _state(equity: str) -> AccountState:
    return AccountState(D(equity), D(equity), {}, SyncReport(DAYS[-1]))


def test_a_second_halt_measures_its_drawdown_from_the_peak_since_the_first_halt_was_lifted(engine: Engine) -> None:
    create_paper_account(engine, ACCOUNT, D("100000"))
    journal = DatabaseJournal(engine, lock_wait_seconds=0)
    for day, equity in zip(DAYS[:6], ("100000", "80000", "82000", "90000", "85000", "75000"), strict=True):
        record_equity(engine, ACCOUNT, day, cash=D(equity), positions_value=D(0))
    open_halt(engine, ACCOUNT, DAYS[1], 0.2, D("80000"), D("100000"), "first breach")
    resume_halt(engine, ACCOUNT, "a person", "reviewed", at=datetime(2024, 3, 6, 21, 0, tzinfo=UTC))
    open_halt(engine, ACCOUNT, DAYS[5], 0.1667, D("75000"), D("90000"), "second breach")
    assert active_halt(engine, ACCOUNT) is not None

    context = risk_context(
        journal,
        TradingCalendar.from_database(engine, "SPY"),
        RunRequest(ACCOUNT, RunMode.PAPER, DAYS[6]),
        _state("76000"),
        EarlierAttempts(),
        Valuation({}, {}),
    )

    # From the resume on 6 March: 82,000, 90,000, 85,000, 75,000 and today's 76,000. Not the 100,000 of
    # before the first halt, which would keep the account halted on a drawdown it was forgiven.
    assert context.peak == D("90000")
    assert context.halt is not None
    assert context.sessions_since_halt == 1
