"""EpisodeData from the database: for every session of a window, the strategy's point-in-time
universe scored by its ranker, the top N positive names in the slots, their slot features, and
each selected name's return to the next session.

A window [start, end] yields the sessions start..end whose next session is also inside the window
(the last session has no next return): nothing after `end` is read.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from autonomous.market_state import FEATURE_HISTORY_SESSIONS
from autonomous.ranking.dataset import build_ranker_data
from autonomous.ranking.xgb import predict
from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from rl_trading.slots import SLOT_FEATURES, select_top_positive, slot_features
from trading.errors import DataError
from trading.marketdata.decision_view import DecisionMarket, history_start, load_decision_market
from trading.marketdata.reference_import import FundamentalsTimeline
from trading.settings import FundSettings
from trading.store.membership import MembershipTimeline, MembersOn

if TYPE_CHECKING:
    import xgboost

logger = logging.getLogger(__name__)


def load_episode_data(
    engine: Engine, settings: FundSettings, strategy: str, ranker: xgboost.Booster, start: date, end: date
) -> EpisodeData:
    market = load_decision_market(engine, end, start=history_start(start, FEATURE_HISTORY_SESSIONS), data=settings.data)
    # The agent learns on the universes the daily run would have built: members only, where membership is known.
    members = MembershipTimeline.load(engine).members_filter
    return build_episode_data(
        market,
        FundamentalsTimeline.load(engine, end),
        strategy,
        ranker,
        start,
        end,
        settings=settings,
        index_members=members,
    )


def build_episode_data(
    market: DecisionMarket,
    fundamentals: FundamentalsTimeline,
    strategy: str,
    ranker: xgboost.Booster,
    start: date,
    end: date,
    *,
    settings: FundSettings,
    index_members: MembersOn | None = None,
) -> EpisodeData:
    slots = settings.strategy.top_n
    # Every session is a decision; the horizon only shapes labels, which the episodes do not use.
    try:
        data = build_ranker_data(
            market,
            fundamentals,
            start,
            end,
            horizon=1,
            step=1,
            universe_settings=settings.universe,
            index_members=index_members,
        )
    except DataError as exc:
        raise DataError(f"{strategy}: {exc}") from exc
    members = data.members.get(strategy)
    if members is None or len(members) == 0:
        raise DataError(f"{strategy}: its universe is empty on every session of {start}..{end}")
    scores = predict(ranker, data.inputs.loc[members])
    sessions = pd.DatetimeIndex(data.inputs.index.get_level_values("date").unique().sort_values())
    # The last loaded session has no next bar inside the window: it is not a decision of the episodes.
    sessions = sessions[sessions < market.benchmark.dropna().index.max()]
    if len(sessions) < 2:
        raise DataError(f"{strategy}: {start}..{end} holds fewer than 3 sessions, too few for an episode window")
    by_date = {stamp: group.droplevel("date") for stamp, group in scores.groupby(level="date")}
    # A session on which the universe is empty (too little history yet) has empty slots.
    nothing = pd.Series(dtype=np.float64)
    chosen = {stamp: select_top_positive(by_date.get(stamp, nothing), slots) for stamp in sessions}
    tickers = sorted({ticker for names in chosen.values() for ticker in names.index})
    if not tickers:
        raise DataError(f"{strategy}: the ranker predicts no positive excess return on any session of {start}..{end}")
    column = {ticker: i for i, ticker in enumerate(tickers)}
    slot_tickers = np.full((len(sessions), slots), EMPTY_SLOT, dtype=np.intp)
    features = np.zeros((len(sessions), slots, len(SLOT_FEATURES)), dtype=np.float64)
    # One split of the inputs by date, not an index search of the whole frame per session.
    inputs_by_date = {stamp: group.droplevel("date") for stamp, group in data.inputs.groupby(level="date")}
    for row, stamp in enumerate(sessions):
        names = chosen[stamp]
        slot_tickers[row, : len(names)] = [column[ticker] for ticker in names.index]
        features[row] = slot_features(names, inputs_by_date[stamp], slots)
    returns, close = _next_returns(market, sessions, tickers)
    logger.info(
        "%s episodes %s..%s: %d sessions, %d names ever selected, %.1f filled slots on average",
        strategy,
        sessions[0].date(),
        sessions[-1].date(),
        len(sessions),
        len(tickers),
        float((slot_tickers != EMPTY_SLOT).sum(axis=1).mean()),
    )
    return EpisodeData(
        dates=tuple(stamp.date() for stamp in sessions),
        tickers=tuple(tickers),
        feature_names=SLOT_FEATURES,
        slot_tickers=slot_tickers,
        slot_features=features,
        next_returns=returns,
        close=close,
    )


def _next_returns(
    market: DecisionMarket, sessions: pd.DatetimeIndex, tickers: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    calendar = pd.DatetimeIndex(market.benchmark.dropna().index)
    adjusted = market.panel.adj_close[tickers].reindex(calendar)
    forward = (adjusted.shift(-1) / adjusted - 1.0).reindex(sessions)
    # A name without a next bar (halted, delisted) is held flat for the step: no invented move.
    returns = forward.replace([np.inf, -np.inf], np.nan).fillna(0.0).clip(lower=-0.99)
    close = market.panel["close"][tickers].reindex(sessions)
    return returns.to_numpy(dtype=np.float64), close.to_numpy(dtype=np.float64)
