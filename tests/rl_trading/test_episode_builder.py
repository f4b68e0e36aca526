"""Episodes from the database (rl_trading/episode_builder.py): the strategy's point-in-time universe
scored by a ranker, nothing read after the window, and errors that name what is missing.

The ranker here is a small booster fitted in memory on made-up rows (momentum up, volatility down):
what is tested is how the episodes use a ranker, not how good it is."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from sqlalchemy import Engine, select, update

from autonomous.marketview.database import market_state_on
from autonomous.ranking.dataset import ranker_inputs
from autonomous.ranking.xgb import RankerModel, booster_from_bytes, booster_to_bytes, predict
from rl_trading.episode_builder import load_episode_data
from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from rl_trading.market_features import MARKET_FEATURES
from rl_trading.slots import SLOT_FEATURES, assign_slots, candidate_features, rank_candidates
from tests.factories import import_synthetic_market
from tests.rl_trading.market import (
    low_volatility_booster,
    momentum_booster,
    pessimist_booster,
    ranking_booster,
)
from trading.db.schema import PriceBar
from trading.errors import DataError
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.reference_import import import_fundamentals
from trading.settings import FundSettings, load_settings

STRATEGY = "growth_midcap"
TOP_N = 4
# The synthetic market runs 2012-01-03..2015-01-02; its universes fill from April 2012, the
# dividend one (ten stable payers) only from 2013-01-30.
START, END = date(2013, 5, 1), date(2013, 5, 31)
FloatArray = npt.NDArray[np.float64]


@pytest.fixture
def own_market(engine: Engine, tmp_path: Path) -> Engine:
    """The synthetic market in a database of the test's own, for a test that changes it."""
    import_synthetic_market(engine, tmp_path)
    return engine


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    monkeypatch.setenv("FUND_STRATEGY__TOP_N", str(TOP_N))
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    return load_settings(None)


@pytest.fixture(scope="module")
def ranker() -> Any:
    return momentum_booster()


@pytest.fixture(scope="module")
def pessimist() -> Any:
    return pessimist_booster()


@pytest.fixture(scope="module")
def episodes(shared_market: Engine, ranker: Any) -> EpisodeData:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUND_STRATEGY__TOP_N", str(TOP_N))
        patch.delenv("FUND_CONFIG_FILE", raising=False)
        settings = load_settings(None)
    return load_episode_data(shared_market, settings, STRATEGY, ranker, START, END)


def ranked_names(data: EpisodeData, row: int) -> list[str]:
    return [data.tickers[index] for index in data.ranked_tickers[row] if index != EMPTY_SLOT]


def sessions_of(engine: Engine) -> list[date]:
    return [stamp.date() for stamp in TradingCalendar.from_database(engine, "SPY").history]


def test_the_candidates_are_the_head_of_the_rankers_ranking_and_an_empty_portfolio_gets_the_positive_ones(
    shared_market: Engine, settings: FundSettings, ranker: Any, episodes: EpisodeData
) -> None:
    data = episodes  # 2013-05-01..2013-05-31
    band = TOP_N * settings.models.agent.slot_band
    nobody = np.zeros(band, dtype=np.bool_)
    filled = np.array([len(assign_slots(data.ranked_predictions[row], nobody, TOP_N)) for row in range(data.sessions)])
    assert (data.slots, data.candidates) == (TOP_N, band)
    assert data.feature_names == SLOT_FEATURES
    assert data.market_names == MARKET_FEATURES
    assert filled.max() == TOP_N, "the test needs sessions with every slot filled"
    assert filled.min() < TOP_N, "and sessions with empty slots"

    for row in (0, data.sessions // 2, int(np.argmin(filled)), data.sessions - 1):
        day = data.dates[row]
        state = market_state_on(shared_market, settings, day)
        universe = state.universes[STRATEGY]
        inputs = ranker_inputs(state.cross_section, state.stocks)
        scores = predict(ranker, inputs.loc[[ticker for ticker in universe.tickers if ticker in inputs.index]])
        ordered = sorted(scores.index, key=lambda ticker: (-scores[ticker], ticker))
        names = ranked_names(data, row)
        assert set(names) <= set(universe.tickers), day
        assert names == ordered[:band], day
        np.testing.assert_allclose(data.ranked_features[row], candidate_features(scores[names], inputs, band))
        slots = assign_slots(data.ranked_predictions[row], nobody, TOP_N)
        positive = [ticker for ticker in ordered if scores[ticker] > 0]
        assert [names[i] for i in slots] == positive[:TOP_N], day
        assert rank_candidates(scores, band).index.tolist() == names


def test_a_ranking_models_candidates_are_its_top_names_by_score_and_every_one_may_enter_whatever_the_sign(
    shared_market: Engine, settings: FundSettings
) -> None:
    booster = ranking_booster()  # every score below zero: a regression's scores would leave all slots empty
    data = load_episode_data(shared_market, settings, STRATEGY, booster, START, END)
    band = TOP_N * settings.models.agent.slot_band
    nobody = np.zeros(band, dtype=np.bool_)

    for row in (0, data.sessions - 1):
        state = market_state_on(shared_market, settings, data.dates[row])
        inputs = ranker_inputs(state.cross_section, state.stocks)
        members = [ticker for ticker in state.universes[STRATEGY].tickers if ticker in inputs.index]
        scores = predict(booster, inputs.loc[members])
        assert (scores < 0).all()
        ordered = sorted(scores.index, key=lambda ticker: (-scores[ticker], ticker))
        names = ranked_names(data, row)
        assert names == ordered[:band]
        # The scores as percentile ranks among the universe's names: all positive, the best 1.
        assert data.ranked_predictions[row][0] == 1.0
        assert (np.diff(data.ranked_predictions[row][: len(names)]) <= 0).all()
        slots = assign_slots(data.ranked_predictions[row], nobody, TOP_N)
        assert [names[i] for i in slots] == ordered[:TOP_N]


def test_an_ensemble_loaded_from_its_artifact_ranks_the_candidates_by_its_members_mean_prediction(
    shared_market: Engine, settings: FundSettings
) -> None:
    members = (momentum_booster(), low_volatility_booster())
    model = booster_from_bytes(booster_to_bytes(RankerModel(members, "reg:squarederror")))
    data = load_episode_data(shared_market, settings, STRATEGY, model, START, END)
    band = TOP_N * settings.models.agent.slot_band

    state = market_state_on(shared_market, settings, data.dates[0])
    inputs = ranker_inputs(state.cross_section, state.stocks)
    universe = [ticker for ticker in state.universes[STRATEGY].tickers if ticker in inputs.index]
    mean = (predict(members[0], inputs.loc[universe]) + predict(members[1], inputs.loc[universe])) / 2
    names = ranked_names(data, 0)
    assert names == sorted(mean.index, key=lambda ticker: (-mean[ticker], ticker))[:band]
    np.testing.assert_allclose(data.ranked_predictions[0][: len(names)], mean[names].to_numpy(), rtol=1e-6)


def test_the_fill_is_at_the_next_sessions_open_and_the_gap_runs_to_it_in_adjusted_terms(
    shared_market: Engine, episodes: EpisodeData
) -> None:
    data = episodes
    decision, following = data.dates[3], data.dates[4]
    with shared_market.connect() as connection:
        rows = connection.execute(
            select(PriceBar.ticker, PriceBar.date, PriceBar.open, PriceBar.close, PriceBar.adj_close).where(
                PriceBar.ticker.in_(data.tickers), PriceBar.date.in_([decision, following])
            )
        ).all()
    bars = pd.DataFrame(rows, columns=["ticker", "date", "open", "close", "adj_close"]).set_index(["date", "ticker"])
    bars = bars.astype(float)
    today, tomorrow = bars.loc[decision].reindex(data.tickers), bars.loc[following].reindex(data.tickers)
    np.testing.assert_allclose(data.fill_price[3], tomorrow["open"].to_numpy(), rtol=1e-12)
    adjusted_open = tomorrow["open"] * tomorrow["adj_close"] / tomorrow["close"]
    np.testing.assert_allclose(data.gap_returns[3], (adjusted_open / today["adj_close"] - 1.0).to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(data.market_volatility, data.market_volatility.clip(min=0.0))
    assert (data.market_features[:, : len(MARKET_FEATURES) - 2].sum(axis=1) == 1.0).all(), "one regime label a day"


def test_no_session_after_the_window_is_read_and_the_last_decision_earns_the_return_to_its_end(
    shared_market: Engine, episodes: EpisodeData
) -> None:
    data = episodes
    inside = [day for day in sessions_of(shared_market) if START <= day <= END]
    assert list(data.dates) == inside[:-1], "every session but the window's last one is a decision"

    with shared_market.connect() as connection:
        rows = connection.execute(
            select(PriceBar.ticker, PriceBar.date, PriceBar.adj_close).where(
                PriceBar.ticker.in_(data.tickers), PriceBar.date.in_(inside[-2:])
            )
        ).all()
    adjusted = pd.DataFrame(rows, columns=["ticker", "date", "adj_close"]).astype({"adj_close": float})
    table = adjusted.pivot(index="date", columns="ticker", values="adj_close")[list(data.tickers)]
    expected = table.loc[inside[-1]] / table.loc[inside[-2]] - 1.0
    np.testing.assert_allclose(data.next_returns[-1], expected.to_numpy(), rtol=1e-9)


def test_bars_and_fundamentals_after_the_window_change_nothing_in_its_episodes(
    own_market: Engine, settings: FundSettings, ranker: Any, tmp_path: Path
) -> None:
    market = own_market
    start, end = date(2013, 5, 13), date(2013, 5, 31)
    before = load_episode_data(market, settings, STRATEGY, ranker, start, end)

    with market.begin() as connection:
        changed = connection.execute(
            update(PriceBar)
            .where(PriceBar.date > end)
            .values(
                open=PriceBar.open * 3,
                high=PriceBar.high * 3,
                low=PriceBar.low * 3,
                close=PriceBar.close * 3,
                adj_close=PriceBar.adj_close * 3,
                volume=PriceBar.volume * 7,
            )
        ).rowcount
    assert changed > 10_000
    later = tmp_path / "later.csv"
    pd.DataFrame(
        {
            "ticker": list(before.tickers[:2]),
            "market_cap": [1e15, 1.0],
            "price_to_book": [0.01, 900.0],
            "pe_ratio": [1.0, 500.0],
        }
    ).to_csv(later, index=False)
    import_fundamentals(market, later, date(2013, 6, 3), strict=True)

    after = load_episode_data(market, settings, STRATEGY, ranker, start, end)
    assert after.dates == before.dates
    assert after.tickers == before.tickers
    fields = ("ranked_tickers", "ranked_predictions", "ranked_features", "next_returns", "gap_returns", "fill_price")
    for name in (*fields, "market_features", "market_volatility"):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name), err_msg=name)


@pytest.mark.parametrize(
    ("scorer", "strategy", "start", "end", "message"),
    [
        pytest.param(
            "pessimist",
            STRATEGY,
            date(2013, 5, 6),
            date(2013, 5, 10),
            f"{STRATEGY}: the ranker predicts no positive excess return on any session of 2013-05-06..2013-05-10",
            id="nothing-positive",
        ),
        pytest.param(
            "ranker",
            STRATEGY,
            date(2013, 5, 6),
            date(2013, 5, 6),
            f"{STRATEGY}: 2013-05-06..2013-05-06 holds fewer than 3 sessions",
            id="one-session",
        ),
        pytest.param(
            "ranker",
            "dividend",
            date(2012, 6, 4),
            date(2012, 6, 8),
            "dividend: its universe is empty on every session of 2012-06-04..2012-06-08",
            id="empty-universe",
        ),
    ],
)
def test_a_window_without_an_episode_is_a_data_error_naming_the_strategy_and_the_window(
    shared_market: Engine,
    settings: FundSettings,
    request: pytest.FixtureRequest,
    scorer: str,
    strategy: str,
    start: date,
    end: date,
    message: str,
) -> None:
    booster = request.getfixturevalue(scorer)
    with pytest.raises(DataError) as raised:
        load_episode_data(shared_market, settings, strategy, booster, start, end)
    assert message in str(raised.value)


def test_a_window_with_no_session_at_all_is_a_data_error_naming_the_strategy(
    shared_market: Engine, settings: FundSettings, ranker: Any
) -> None:
    saturday, sunday = date(2013, 5, 4), date(2013, 5, 5)
    with pytest.raises(DataError) as raised:
        load_episode_data(shared_market, settings, STRATEGY, ranker, saturday, sunday)
    assert "2013-05-04" in str(raised.value)
    assert STRATEGY in str(raised.value)


def test_sessions_on_which_the_strategys_universe_is_empty_rank_nobody(
    shared_market: Engine, settings: FundSettings, ranker: Any
) -> None:
    # The dividend universe needs ten stable payers: it is empty until 2013-01-29 and filled from 2013-01-30.
    start, end = date(2013, 1, 24), date(2013, 2, 5)
    data = load_episode_data(shared_market, settings, "dividend", ranker, start, end)
    assert data.dates[0] == start
    before_universe = [row for row, day in enumerate(data.dates) if day < date(2013, 1, 30)]
    assert (data.ranked_tickers[before_universe] == EMPTY_SLOT).all()
    assert (data.ranked_tickers != EMPTY_SLOT).any()
