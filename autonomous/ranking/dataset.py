"""The rankers' data: inputs, labels and point-in-time universe membership over a window, built
once and shared by the seven strategies.

Inputs. Each feature of autonomous/features.py, as its cross-sectional percentile rank among the
stocks eligible for a universe at that date (autonomous/universes.eligible_stocks). Ranks make a
model trained in 2005 readable in 2021: the level of volatility or dollar volume drifts over the
years, a name's place in the cross-section does not. A missing feature stays missing (XGBoost
learns a direction for it). The daily run computes the same inputs with `ranker_inputs`.

Label. The forward `horizon`-session return of the stock (adjusted close, so dividends and splits
are in it) minus the benchmark's over the same sessions:

    label(t) = adj(t + h) / adj(t) - bench(t + h) / bench(t)

where t + h counts sessions of the benchmark calendar. A prediction above zero says "expected to
beat the benchmark over the next h sessions". A label needs the bar h sessions after t, so the
last h sessions of a window have none: training never reads a bar after the window's end.

Rows. Training dates are every `step`-th session from the first session of the window; a row is a
(date, ticker) of a stock eligible that date, and a strategy trains on the rows of the stocks in
its universe that date (the universe built from data known at t, as the daily run builds it).
Where the database holds index membership (trading/store/membership.py), only the members at t are
eligible, exactly as in the daily run's universes; without it, every stock with bars.

Late joiners. Each row also says whether its name had a fundamentals row dated on or before t
(`has_fundamentals`, point in time). On data whose universe is a later index projected back and whose
fundamentals snapshot was taken after the window, the names without a row are mostly the ones that
joined the index later, chosen because they had done well: the evaluations report every IC with and
without them (autonomous/ranking/late_joiners.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from autonomous.features import FEATURE_NAMES, FeaturePanel
from autonomous.market_state import FEATURE_HISTORY_SESSIONS, market_features
from autonomous.universes import build_universes, eligible_stocks
from trading.errors import DataError
from trading.marketdata.decision_view import DecisionMarket, history_start, load_decision_market
from trading.marketdata.reference_import import FundamentalsTimeline
from trading.settings import FundSettings, UniverseSettings
from trading.store.membership import MembershipTimeline, MembersOn

logger = logging.getLogger(__name__)

RANKER_FEATURES: tuple[str, ...] = tuple(f"{name}_rank" for name in FEATURE_NAMES)


def ranker_inputs(cross_section: pd.DataFrame, stocks: Iterable[str]) -> pd.DataFrame:
    """The ranker's inputs at one date: eligible stocks x RANKER_FEATURES, percentile ranks in (0, 1]."""
    eligible = eligible_stocks(cross_section, stocks)
    values = cross_section.loc[eligible, list(FEATURE_NAMES)].astype(np.float64)
    ranked = values.rank(pct=True)
    ranked.columns = pd.Index(RANKER_FEATURES)
    return ranked


def forward_excess_returns(adj_close: pd.DataFrame, benchmark: pd.Series, horizon: int) -> pd.DataFrame:
    """label(t) per ticker on the benchmark's sessions (module doc); NaN where t + h is not loaded."""
    if horizon < 1:
        raise ValueError(f"the label horizon must be at least 1 session, got {horizon}")
    sessions = benchmark.dropna().index
    prices = adj_close.reindex(sessions).astype(np.float64)
    bench = benchmark.reindex(sessions).astype(np.float64)
    stock_forward = prices.shift(-horizon) / prices - 1.0
    bench_forward = bench.shift(-horizon) / bench - 1.0
    excess = stock_forward.sub(bench_forward, axis=0)
    return excess.replace([np.inf, -np.inf], np.nan)


def sample_sessions(sessions: pd.DatetimeIndex, start: date, end: date, step: int) -> pd.DatetimeIndex:
    """Every `step`-th session in [start, end], counted from the first one."""
    if step < 1:
        raise ValueError(f"the sample step must be at least 1 session, got {step}")
    inside = sessions[(sessions >= pd.Timestamp(start)) & (sessions <= pd.Timestamp(end))]
    return pd.DatetimeIndex(inside[::step])


@dataclass(frozen=True, eq=False)
class RankerData:
    """Rows of every eligible stock on every sample date, and who belonged to which universe.

    `inputs`: (date, ticker) x RANKER_FEATURES. `labels`: the forward excess return by (date,
    ticker), NaN where the window ends before the label does. `members`: strategy -> (date, ticker)
    index of its universe's rows. `universe_scores`: strategy -> the score its universe ranks by
    (autonomous/universes.py), on the same index as `members`, as `build_universes` gave it that date:
    the strategy's own baseline in `autonomous/ranking/baselines.py`. `sessions`: the benchmark
    calendar of the loaded bars. `has_fundamentals`: on the inputs' index, whether the name had a
    fundamentals row dated on or before the row's date (module doc: late joiners).
    """

    start: date
    end: date
    horizon: int
    step: int
    sessions: pd.DatetimeIndex
    inputs: pd.DataFrame
    labels: pd.Series
    members: Mapping[str, pd.MultiIndex]
    universe_scores: Mapping[str, pd.Series]
    has_fundamentals: pd.Series

    def rows_of(self, strategy: str, *, labelled_only: bool = True) -> tuple[pd.DataFrame, pd.Series]:
        """The strategy's inputs and labels; by default only rows whose label is known."""
        if strategy not in self.members:
            raise KeyError(f"no universe rows for {strategy!r}")
        index = self.members[strategy]
        inputs, labels = self.inputs.loc[index], self.labels.loc[index]
        if labelled_only:
            known = labels.notna().to_numpy()
            inputs, labels = inputs[known], labels[known]
        return inputs, labels

    def universe_score_of(self, strategy: str, index: pd.Index) -> pd.Series:
        """The strategy's universe score on `index` (rows of its universe); NaN where unknown."""
        if strategy not in self.universe_scores:
            raise KeyError(f"no universe scores for {strategy!r}")
        return self.universe_scores[strategy].reindex(index)

    def has_fundamentals_on(self, index: pd.Index) -> pd.Series:
        """`has_fundamentals` on `index` (rows of the inputs); a row outside them has none."""
        return self.has_fundamentals.reindex(index, fill_value=False).astype(bool)


def load_ranker_data(
    engine: Engine, settings: FundSettings, start: date, end: date, *, horizon: int, step: int
) -> RankerData:
    """Reads bars up to `end` only (never later) and builds the rows of [start, end]."""
    if start > end:
        raise ValueError(f"the window starts ({start}) after it ends ({end})")
    market = load_decision_market(engine, end, start=history_start(start, FEATURE_HISTORY_SESSIONS), data=settings.data)
    fundamentals = FundamentalsTimeline.load(engine, end)
    data = build_ranker_data(
        market,
        fundamentals,
        start,
        end,
        horizon=horizon,
        step=step,
        universe_settings=settings.universe,
        index_members=MembershipTimeline.load(engine).members_filter,
    )
    logger.info(
        "ranker data %s..%s: %d sample dates, %d rows, %s",
        start,
        end,
        data.inputs.index.get_level_values("date").nunique(),
        len(data.inputs),
        {name: len(index) for name, index in data.members.items()},
    )
    return data


def build_ranker_data(
    market: DecisionMarket,
    fundamentals: FundamentalsTimeline,
    start: date,
    end: date,
    *,
    horizon: int,
    step: int,
    universe_settings: UniverseSettings,
    index_members: MembersOn | None = None,
) -> RankerData:
    """The rows of [start, end] from a loaded market; `index_members` (who was an index member on a day)
    narrows each date's stocks to its members, None leaves every stock with bars."""
    features = market_features(market)
    sessions = pd.DatetimeIndex(market.benchmark.dropna().index)
    dates = sample_sessions(sessions, start, min(end, market.as_of), step)
    if dates.empty:
        raise DataError(f"no session of the benchmark between {start} and {end}: nothing to train on")
    excess = forward_excess_returns(market.panel.adj_close[market.stocks], market.benchmark, horizon)
    inputs, members, scores, known = _rows_by_date(
        market, features, fundamentals, dates, universe_settings, index_members
    )
    labels = _labels_of(excess, inputs.index)
    return RankerData(start, end, horizon, step, sessions, inputs, labels, members, scores, known)


def _rows_by_date(
    market: DecisionMarket,
    features: FeaturePanel,
    fundamentals: FundamentalsTimeline,
    dates: pd.DatetimeIndex,
    universe_settings: UniverseSettings,
    index_members: MembersOn | None,
) -> tuple[pd.DataFrame, dict[str, pd.MultiIndex], dict[str, pd.Series], pd.Series]:
    """Per sample date: the inputs, each universe's rows and scores, and which names had fundamentals."""
    frames: list[pd.DataFrame] = []
    known_flags: list[np.ndarray] = []
    member_pairs: dict[str, list[tuple[pd.Timestamp, str]]] = {}
    member_scores: dict[str, list[float]] = {}
    close = market.panel["close"]
    for stamp in dates:
        cross_section = features.cross_section(stamp)
        stocks = _stocks_on(market.stocks, index_members, stamp.date())
        day_inputs = ranker_inputs(cross_section, stocks)
        if day_inputs.empty:
            continue
        known = fundamentals.as_of(stamp.date())
        universes = build_universes(
            cross_section,
            stocks=stocks,
            close=pd.Series(close.loc[stamp]),
            fundamentals=known,
            settings=universe_settings,
        )
        known_flags.append(day_inputs.index.isin(known.index))
        for name, universe in universes.items():
            member_pairs.setdefault(name, []).extend((stamp, ticker) for ticker in universe.tickers)
            # The universe's scores are in the order of its tickers (universes.Universe).
            member_scores.setdefault(name, []).extend(universe.scores.to_numpy(dtype=np.float64).tolist())
        day_inputs.index = pd.MultiIndex.from_product([[stamp], day_inputs.index], names=["date", "ticker"])
        frames.append(day_inputs)
    if not frames:
        members_too = "" if index_members is None else ", or no index member has bars"
        raise DataError(f"no eligible stock on any sample date: too little history before the window{members_too}")
    inputs = pd.concat(frames)
    members = {
        name: pd.MultiIndex.from_tuples(pairs, names=["date", "ticker"]) if pairs else _empty_index()
        for name, pairs in member_pairs.items()
    }
    scores = {
        name: pd.Series(np.asarray(member_scores[name], dtype=np.float64), index=index, name="universe_score")
        for name, index in members.items()
    }
    has_fundamentals = pd.Series(np.concatenate(known_flags), index=inputs.index, name="has_fundamentals")
    return inputs, members, scores, has_fundamentals


def _stocks_on(stocks: list[str], index_members: MembersOn | None, day: date) -> list[str]:
    """The stocks that may enter a universe on `day`: the index members, where membership is known."""
    if index_members is None:
        return stocks
    on_day = index_members(day)
    return [ticker for ticker in stocks if ticker in on_day]


def _labels_of(excess: pd.DataFrame, index: pd.Index) -> pd.Series:
    dates = index.get_level_values("date")
    tickers = index.get_level_values("ticker")
    rows = excess.index.get_indexer(dates)
    columns = excess.columns.get_indexer(tickers)
    values = np.full(len(index), np.nan)
    found = (rows >= 0) & (columns >= 0)
    values[found] = excess.to_numpy()[rows[found], columns[found]]
    return pd.Series(values, index=index, name="label")


def _empty_index() -> pd.MultiIndex:
    return pd.MultiIndex.from_tuples([], names=["date", "ticker"])
