"""Markets computed ahead in a second process give the replay exactly the decisions it computes itself."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import Engine

from autonomous.generators import GeneratorChoice, MockGenerator
from autonomous.marketview.preloaded import PreloadedMarketView
from backtesting.engine import ReplaySetup, replay
from backtesting.job import backtest_settings, replay_sessions
from backtesting.prefetch import PrefetchedSessions
from backtesting.results import variant_result
from backtesting.variants import build_variants
from backtesting.venue import FillBars
from tests.autonomous import conftest as market_fixtures
from trading.settings import load_settings

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market


@pytest.mark.parametrize("confirm_sessions", [1, 3])
def test_a_replay_over_prefetched_markets_decides_and_trades_exactly_as_without(
    market: Engine, confirm_sessions: int
) -> None:
    settings = backtest_settings(load_settings(None))
    # With confirmation the other process also hands over the earlier sessions' regimes the selector reads.
    strategy = settings.strategy.model_copy(update={"confirm_sessions": confirm_sessions})
    settings = settings.model_copy(update={"strategy": strategy})
    view = PreloadedMarketView.load(market, settings, date(2013, 9, 3), date(2013, 10, 31))
    sessions = replay_sessions(view.calendar(), date(2013, 9, 3), date(2013, 10, 31))
    bars = FillBars.load(market, sessions[0], date(2013, 11, 1))
    mock = GeneratorChoice(MockGenerator(settings), "mock")

    def replayed(setup: ReplaySetup) -> list[pd.DataFrame]:
        variants = build_variants("mock", ["trend"], lambda _name: mock, settings, seed=3)
        results = [variant_result(one, bars) for one in replay(setup, variants, sessions)]
        decided = [r.decisions.drop(columns=["strategy_reason"]) for r in results]
        return decided + [r.orders for r in results] + [r.equity for r in results]

    direct = replayed(ReplaySetup(view, bars, settings, Decimal(100_000)))
    with PrefetchedSessions(view, sessions) as prefetched:
        ahead = replayed(ReplaySetup(prefetched, bars, settings, Decimal(100_000)))
        assert prefetched.adopted == len(sessions)  # every session's market came from the other process
    assert len(direct) == len(ahead) == 6
    for one, other in zip(direct, ahead, strict=True):
        pd.testing.assert_frame_equal(one, other)
    assert len(direct[2]) > 0  # orders were sent: the comparison compared something
