"""Where a command assembles the daily run: the market view, the broker, the journal and the portfolio
generator are chosen here and passed in, so the run itself never checks which it was given. The
hybrid generator lives above autonomous/ in the layers, so it is imported here, lazily."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

if TYPE_CHECKING:
    from trading.brokers.schwab.tokens import TokenFile

from autonomous.daily_run.journal import DatabaseJournal
from autonomous.daily_run.request import Reconciler, RunMode, RunRequest, StepHook, no_hook
from autonomous.daily_run.run import DailyRun
from autonomous.factor_portfolio import FACTOR_GENERATOR_PREFIX
from autonomous.generators import FactorGenerator, GeneratorChoice, MockGenerator
from autonomous.marketview.database import DatabaseMarketView
from autonomous.mock_portfolio import MOCK_GENERATOR
from trading.brokers.base import Broker
from trading.brokers.paper import PaperVenue
from trading.brokers.read_only import DryRunBroker
from trading.db.schema import utcnow
from trading.errors import ConfigurationError
from trading.execution.costs import CostModels
from trading.marketdata.calendar import TradingCalendar
from trading.reconciliation import ReconciliationStopped, reconcile_account
from trading.settings import FundSettings, default_data_dir
from trading.store.broker_accounts import PAPER_VENUE, BrokerAccountRecord, broker_account


class NoLiveBroker(ConfigurationError):
    """Live mode was asked of an account that no live broker holds."""


def open_broker(
    engine: Engine, settings: FundSettings, mode: RunMode, account_id: str, calendar: TradingCalendar
) -> Broker:
    """The account's broker for the mode. An account linked to a live broker (`broker_accounts`) trades
    there: Alpaca's paper environment in paper mode, its live one in live mode; Schwab only live, as
    it has no paper environment. Any other account is a database paper account, at the paper venue.
    A dry run gets the same broker, read-only."""
    link = broker_account(engine, account_id)
    if link is None:
        if mode is RunMode.LIVE:
            raise NoLiveBroker(
                f"no live broker is configured for account {account_id}: it is a database paper account. Link an "
                "account held at a broker with `fund accounts create --broker alpaca|schwab --account-id ...`"
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
    broker = live_broker(engine, link, settings, mode)
    return DryRunBroker(broker) if mode is RunMode.DRY_RUN else broker


def live_broker(engine: Engine, link: BrokerAccountRecord, settings: FundSettings, mode: RunMode) -> Broker:
    """The broker holding a linked account, for the mode's environment (never wrapped for a dry run)."""
    if link.broker == "alpaca":
        from trading.brokers.alpaca import AlpacaBroker, trading_client

        dry_paper = mode is RunMode.DRY_RUN and settings.brokers.alpaca_dry_run_endpoint == "paper"
        client = trading_client(settings.brokers, paper=mode is RunMode.PAPER or dry_paper)
        return AlpacaBroker(client, link.account_id, external_account=link.external_account)
    if mode is RunMode.PAPER:
        raise ConfigurationError(
            f"account {link.account_id} is held at Schwab, which has no paper environment: use --dry-run to read "
            "the real account without sending, or a database paper account (`fund accounts create --cash ...`) "
            "for paper trading"
        )
    from trading.brokers.schwab import OrderThrottle, SchwabBroker, schwab_client

    assert link.external_account is not None  # a Schwab link always has its account number
    tokens = schwab_token_file(settings)
    return SchwabBroker(
        schwab_client(settings.brokers, tokens),
        engine,
        link.account_id,
        link.external_account,
        tokens=tokens,
        throttle=OrderThrottle(settings.brokers.schwab_orders_per_minute),
    )


def schwab_token_file(settings: FundSettings) -> TokenFile:
    """Where Schwab's token lives: `schwab_token_path`, else beside the embedded database's default place."""
    from trading.brokers.schwab.tokens import TokenFile

    return TokenFile.from_settings(settings.brokers.schwab_token_path, default_data_dir())


def choose_generator(engine: Engine, settings: FundSettings, *, use_mock: bool) -> GeneratorChoice:
    """The mock generator when asked for (`--use-mock`), else the one `models.generator` names: the
    mock (the default, which the evidence supports: README), a single factor, or the models (the
    ranker with equal weights, or the hybrid: ranker + agent)."""
    if use_mock:
        return GeneratorChoice(MockGenerator(settings), "mock generator (--use-mock)")
    name = settings.models.generator
    if name == MOCK_GENERATOR:
        return GeneratorChoice(MockGenerator(settings), "mock generator (models.generator)")
    if name.startswith(FACTOR_GENERATOR_PREFIX):
        factor = name.removeprefix(FACTOR_GENERATOR_PREFIX)
        return GeneratorChoice(FactorGenerator(settings, factor), f"factor generator {name} (models.generator)")
    from rl_trading.hybrid import HYBRID_GENERATOR, HybridGenerator

    return GeneratorChoice(
        HybridGenerator(engine, settings, agents=name == HYBRID_GENERATOR), f"model generator {name}"
    )


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
    broker = open_broker(engine, settings, mode, account_id, market.calendar())
    # open_broker read the account's link: any broker but the database venue is a live one.
    live = broker.name != PAPER_VENUE
    return DailyRun(
        settings,
        market=market,
        broker=broker,
        journal=DatabaseJournal(engine, lock_wait_seconds=settings.run.lock_wait_seconds),
        generator=choose_generator(engine, settings, use_mock=use_mock),
        clock=clock,
        after_step=after_step,
        reconciler=start_up_reconciliation(engine, broker, settings, clock) if live else None,
    )


def start_up_reconciliation(
    engine: Engine, broker: Broker, settings: FundSettings, clock: Callable[[], datetime]
) -> Reconciler:
    """The check a run of a live broker's account makes before it plans (trading/reconciliation.py)."""

    def reconcile(request: RunRequest) -> str:
        result = reconcile_account(
            engine,
            broker,
            request.account_id,
            request.mode.value,
            request.session,
            cash_tolerance=settings.brokers.reconcile_cash_tolerance,
            now=clock(),
        )
        if result.outcome == "stopped":
            raise ReconciliationStopped(
                f"{request.account_id} at {broker.name} differs from the ledger; nothing was sent:\n{result.table()}\n"
                f"If the broker is right (a deposit, a trade made by hand), record it: `fund accounts reconcile "
                f"--account-id {request.account_id} --mode {request.mode.value} --accept --by NAME --reason TEXT`"
            )
        return f"reconciled with {broker.name}: {result.outcome}"

    return reconcile
