"""Fixtures of the daily-run tests: the synthetic market with a funded paper account, and a run factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from autonomous.cli.assembly import assemble_daily_run
from autonomous.daily_run.run import DailyRun, RunMode, RunRequest, Step
from trading.db.schema import PaperPosition, TradeExecution, utcnow
from trading.marketdata.calendar import TradingCalendar
from trading.settings import FundSettings, load_settings
from trading.store.accounts import create_paper_account, get_paper_account

ACCOUNT = "TEST_FUND"


@pytest.fixture
def settings(market: Engine) -> FundSettings:
    # Read after the `market` fixture has set its environment (the shorter volatility window).
    return load_settings(None)


@pytest.fixture
def funded(market: Engine) -> Engine:
    create_paper_account(market, ACCOUNT, Decimal("100000"))
    return market


@pytest.fixture
def sessions(market: Engine) -> list[date]:
    return [stamp.date() for stamp in TradingCalendar.from_database(market, "SPY").history]


RunFactory = Callable[..., DailyRun]


@pytest.fixture
def make_run(funded: Engine, settings: FundSettings) -> RunFactory:
    def make(
        mode: RunMode = RunMode.PAPER,
        after_step: Callable[[Step], None] = lambda _step: None,
        clock: Callable[[], datetime] = utcnow,
        with_settings: FundSettings | None = None,
    ) -> DailyRun:
        chosen = with_settings or settings
        return assemble_daily_run(funded, chosen, mode, ACCOUNT, use_mock=True, after_step=after_step, clock=clock)

    return make


def request(day: date, mode: RunMode = RunMode.PAPER, **kwargs: bool) -> RunRequest:
    return RunRequest(ACCOUNT, mode, day, **kwargs)


def orders_per_intent(engine: Engine) -> dict[tuple[date | None, str, str], int]:
    """How many orders reached the broker for each (session, ticker, side): never more than one."""
    query = (
        select(TradeExecution.session_date, TradeExecution.ticker, TradeExecution.side, func.count())
        .where(TradeExecution.order_id.is_not(None))
        .group_by(TradeExecution.session_date, TradeExecution.ticker, TradeExecution.side)
    )
    with engine.connect() as connection:
        return {(d, t, s): n for d, t, s, n in connection.execute(query)}


def ledger_is_consistent(engine: Engine) -> None:
    """Cash is never negative and the account's equity is its cash plus its marked positions."""
    account = get_paper_account(engine, ACCOUNT)
    with engine.connect() as connection:
        value = connection.execute(
            select(func.coalesce(func.sum(PaperPosition.market_value), 0)).where(PaperPosition.account_id == ACCOUNT)
        ).scalar_one()
    assert account.cash >= 0
    assert account.total_value == account.cash + Decimal(value)
