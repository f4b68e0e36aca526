"""Where a command assembles the daily run: the market view, the broker, the journal and the portfolio
generator are chosen here and passed in, so the run itself never checks which it was given. The
hybrid generator lives above autonomous/ in the layers, so it is imported here, lazily."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from autonomous.daily_run.journal import DatabaseJournal
from autonomous.daily_run.request import RunMode, StepHook, no_hook
from autonomous.daily_run.run import DailyRun
from autonomous.generators import GeneratorChoice, MockGenerator
from autonomous.marketview.database import DatabaseMarketView
from trading.brokers.base import Broker
from trading.brokers.paper import PaperVenue
from trading.db.schema import utcnow
from trading.errors import ConfigurationError
from trading.execution.costs import CostModels
from trading.marketdata.calendar import TradingCalendar
from trading.settings import FundSettings


class NoLiveBroker(ConfigurationError):
    """Live mode was armed but no live broker adapter is configured."""


def open_broker(
    engine: Engine, settings: FundSettings, mode: RunMode, account_id: str, calendar: TradingCalendar
) -> Broker:
    """The account's broker for the mode: the database paper venue (read-only for a dry run)."""
    if mode is RunMode.LIVE:
        raise NoLiveBroker(
            f"no live broker is configured for account {account_id}: this version trades only the database "
            "paper venue (--paper-trading) or plans without sending (--dry-run)"
        )
    return PaperVenue(
        engine,
        account_id,
        costs=CostModels.from_settings(settings.execution),
        calendar=calendar,
        benchmark=settings.data.benchmark_ticker,
        delisted_after_sessions=settings.data.delisted_after_sessions,
        read_only=mode is RunMode.DRY_RUN,
    )


def choose_generator(engine: Engine, settings: FundSettings, *, use_mock: bool) -> GeneratorChoice:
    """The mock generator when asked for (`--use-mock`), else the hybrid one (ranker + agent)."""
    if use_mock:
        return GeneratorChoice(MockGenerator(settings), "mock generator (--use-mock)")
    from rl_trading.hybrid import HybridGenerator

    return GeneratorChoice(HybridGenerator(engine, settings), "model generator hybrid")


def assemble_daily_run(
    engine: Engine,
    settings: FundSettings,
    mode: RunMode,
    account_id: str,
    *,
    use_mock: bool,
    clock: Callable[[], datetime] = utcnow,
    after_step: StepHook = no_hook,
) -> DailyRun:
    """The daily run of cron: the database market and journal, the account's broker, the generator."""
    market = DatabaseMarketView(engine, settings)
    return DailyRun(
        settings,
        market=market,
        broker=open_broker(engine, settings, mode, account_id, market.calendar()),
        journal=DatabaseJournal(engine, lock_wait_seconds=settings.run.lock_wait_seconds),
        generator=choose_generator(engine, settings, use_mock=use_mock),
        clock=clock,
        after_step=after_step,
    )
