"""EpisodeData from the database: for every session of a window, the strategy's point-in-time
universe scored by its ranker, the head of the ranking (the band the slots are filled from) with its
features, the market state, and each candidate's returns to the fill at the next open and to the next
close.

A window [start, end] yields the sessions start..end whose next session is also inside the window
(the last session has no next return): no bar after `end` is read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from autonomous.market_state import FEATURE_HISTORY_SESSIONS, regimes_between
from autonomous.ranking.dataset import build_ranker_data
from autonomous.ranking.xgb import RankerModel, predict
from autonomous.regime import RegimeHistory
from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from rl_trading.market_features import MARKET_FEATURES, daily_volatility, market_features_of_regimes
from rl_trading.slots import SLOT_FEATURES, candidate_features, rank_candidates, scores_as_ranks
from trading.errors import DataError
from trading.marketdata.decision_view import (
    DECISION_FIELDS,
    DecisionMarket,
    history_start,
    load_decision_market,
)
from trading.marketdata.reference_import import FundamentalsTimeline
from trading.settings import FundSettings
from trading.store.membership import MembershipTimeline, MembersOn

if TYPE_CHECKING:
    import xgboost

logger = logging.getLogger(__name__)

# The decision's fields, and the open the next session's fill starts from.
EPISODE_FIELDS = (*DECISION_FIELDS, "open")


def load_episode_data(
    engine: Engine,
    settings: FundSettings,
    strategy: str,
    ranker: RankerModel | xgboost.Booster,
    start: date,
    end: date,
) -> EpisodeData:
    market = load_decision_market(
        engine, end, start=history_start(start, FEATURE_HISTORY_SESSIONS), data=settings.data, fields=EPISODE_FIELDS
    )
    # The agent learns on the universes the daily run would have built: members only, where membership is known.
    members = MembershipTimeline.load(engine).members_filter
    return build_episode_data(
        market,
        FundamentalsTimeline.load(engine, end),
        regimes_between(engine, settings, start, end),
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
    regimes: RegimeHistory,
    strategy: str,
    ranker: RankerModel | xgboost.Booster,
    start: date,
    end: date,
    *,
    settings: FundSettings,
    index_members: MembersOn | None = None,
) -> EpisodeData:
    slots = settings.strategy.top_n
    band = slots * settings.models.agent.slot_band
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
    model = ranker if isinstance(ranker, RankerModel) else RankerModel.of(ranker)
    if not model.predicts_returns:  # a ranking score: each session's top names by score (rl_trading/slots.py)
        scores = scores_as_ranks(scores)
    sessions = pd.DatetimeIndex(data.inputs.index.get_level_values("date").unique().sort_values())
    # The last loaded session has no next bar inside the window: it is not a decision of the episodes.
    sessions = sessions[sessions < market.benchmark.dropna().index.max()]
    if len(sessions) < 2:
        raise DataError(f"{strategy}: {start}..{end} holds fewer than 3 sessions, too few for an episode window")
    by_date = {stamp: group.droplevel("date") for stamp, group in scores.groupby(level="date")}
    # A session on which the universe is empty (too little history yet) ranks nobody.
    nothing = pd.Series(dtype=np.float64)
    ranked = {stamp: rank_candidates(by_date.get(stamp, nothing), band) for stamp in sessions}
    if not any((names > 0).any() for names in ranked.values()):
        raise DataError(f"{strategy}: the ranker predicts no positive excess return on any session of {start}..{end}")
    tickers = sorted({ticker for names in ranked.values() for ticker in names.index})
    column = {ticker: i for i, ticker in enumerate(tickers)}
    ranked_tickers = np.full((len(sessions), band), EMPTY_SLOT, dtype=np.intp)
    predictions = np.full((len(sessions), band), np.nan, dtype=np.float64)
    features = np.zeros((len(sessions), band, len(SLOT_FEATURES)), dtype=np.float64)
    # One split of the inputs by date, not an index search of the whole frame per session.
    inputs_by_date = {stamp: group.droplevel("date") for stamp, group in data.inputs.groupby(level="date")}
    for row, stamp in enumerate(sessions):
        names = ranked[stamp]
        ranked_tickers[row, : len(names)] = [column[ticker] for ticker in names.index]
        predictions[row, : len(names)] = names.to_numpy(dtype=np.float64)
        features[row] = candidate_features(names, inputs_by_date[stamp], band)
    moves = _next_session_moves(market, sessions, tickers)
    state = regimes.frame.reindex(sessions)
    logger.info(
        "%s episodes %s..%s: %d sessions, %d names ever among the first %d, %.1f ranked on average",
        strategy,
        sessions[0].date(),
        sessions[-1].date(),
        len(sessions),
        len(tickers),
        band,
        float((ranked_tickers != EMPTY_SLOT).sum(axis=1).mean()),
    )
    return EpisodeData(
        dates=tuple(stamp.date() for stamp in sessions),
        tickers=tuple(tickers),
        feature_names=SLOT_FEATURES,
        slots=slots,
        ranked_tickers=ranked_tickers,
        ranked_predictions=predictions,
        ranked_features=features,
        next_returns=moves.next_returns,
        gap_returns=moves.gap_returns,
        fill_price=moves.fill_price,
        market_volatility=daily_volatility(state["realized_volatility_20d"].to_numpy(dtype=np.float64)),
        market_names=MARKET_FEATURES,
        market_features=market_features_of_regimes(state),
    )


@dataclass(frozen=True, eq=False)
class _Moves:
    """Each ticker's adjusted returns from t's close to the fill at t + 1 and to t + 1's close, and the
    fill's raw reference price: (sessions, tickers) arrays."""

    next_returns: np.ndarray
    gap_returns: np.ndarray
    fill_price: np.ndarray


def _next_session_moves(market: DecisionMarket, sessions: pd.DatetimeIndex, tickers: list[str]) -> _Moves:
    calendar = pd.DatetimeIndex(market.benchmark.dropna().index)

    def following(field: str) -> pd.DataFrame:
        # Row t holds the next session's value: what the fill decided at t's close meets.
        return market.panel[field][tickers].reindex(calendar).shift(-1).reindex(sessions)

    adjusted = market.panel.adj_close[tickers].reindex(calendar)
    today = adjusted.reindex(sessions)
    next_adjusted, next_open, next_close = following("adj_close"), following("open"), following("close")
    # The fill's reference as the venue takes it: the open, else the close, else the adjusted close.
    fill_price = next_open.where(next_open > 0).fillna(next_close.where(next_close > 0)).fillna(next_adjusted)
    # The open in adjusted terms, by the bar's own adjustment factor (adjusted / raw close): a split or
    # dividend between t and t + 1 is then in the gap, as it is in the close-to-close return.
    factor = next_adjusted / next_close.where(next_close > 0)
    adjusted_fill = (next_open * factor).where(next_open > 0).fillna(next_adjusted)
    forward = next_adjusted / today - 1.0
    gap = adjusted_fill / today - 1.0
    # A name without a next bar (halted, delisted) is held flat for the step: no invented move.
    returns = _finite(forward)
    return _Moves(returns, _finite(gap), fill_price.to_numpy(dtype=np.float64))


def _finite(frame: pd.DataFrame) -> np.ndarray:
    cleaned = frame.replace([np.inf, -np.inf], np.nan).fillna(0.0).clip(lower=-0.99)
    return cleaned.to_numpy(dtype=np.float64)
