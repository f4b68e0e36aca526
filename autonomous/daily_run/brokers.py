"""Which broker a run trades through: the database paper broker for dry runs and paper runs.
Live adapters (Schwab, Alpaca) plug in here; until they exist, live mode stops with a clear error."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from autonomous.daily_run.run import BrokerFactory, RunMode
from trading.brokers.base import Broker
from trading.brokers.paper import PaperBroker
from trading.errors import ConfigurationError
from trading.execution.costs import CostModels
from trading.settings import FundSettings


class NoLiveBroker(ConfigurationError):
    """Live mode was armed but no live broker adapter is configured."""


def broker_factory(engine: Engine, settings: FundSettings, mode: RunMode, account_id: str) -> BrokerFactory:
    if mode is RunMode.LIVE:
        raise NoLiveBroker(
            f"no live broker is configured for account {account_id}: this version trades only the database "
            "paper broker (--paper-trading) or plans without sending (--dry-run)"
        )
    costs = CostModels.from_settings(settings.execution)
    benchmark = settings.data.benchmark_ticker

    def paper_broker(session: date) -> Broker:
        return PaperBroker(engine, account_id, session=session, costs=costs, benchmark=benchmark)

    return paper_broker
