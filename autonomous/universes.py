"""Point-in-time universes of the seven strategies at one date: relative size terciles split into
growth and value halves, plus the stable dividend payers, each ranked by the strategy's own score.

How a universe is cut at date t (everything from data known at t's close):

1. Eligible: the caller's stock tickers (never ETFs or indices) with a finite `size` and `mom_63`,
   i.e. at least a quarter of bars up to t.
2. Size: market cap = shares outstanding x raw close at t where the shares are known (fresher than a
   snapshot's market cap, which is only as recent as the snapshot), else the snapshot's market cap.
   It is used when it covers `fundamentals_min_coverage` of the eligible names; the few it misses
   get the cap at their dollar-volume percentile. Otherwise the `size` feature (log 63-session mean
   dollar volume, which tracks cap closely in the cross-section) ranks every name. Terciles are
   RELATIVE to the eligible set: in the S&P 500 every name is large in absolute terms, so
   "small cap" there means the smallest third of the index, not the usual < $2B.
   Known limit: a split after the latest fundamentals snapshot leaves the snapshot's share count
   stale, so shares x close understates that name's cap by the split ratio until the next snapshot.
3. Style within each size tercile: the cheaper half is value, the rest growth. Cheapness is the mean
   percentile of book-to-price and earnings yield (1/P/E, so a loss-maker's negative yield ranks
   least cheap) when fundamentals cover enough names (a name without them falls back to its proxy
   percentile); otherwise a price-based proxy, the mean percentile of trailing dividend yield and
   of the negated 252-session momentum: payers that have lagged are value, non-payers that have
   run are growth.
4. Minimum size: a tercile with fewer than 2 x `min_bucket_size` names is widened to that many by
   the nearest names in size rank, so both style halves reach the minimum and never overlap
   (widened terciles of different sizes may share names). With fewer eligible names than that,
   the six size/style universes are unavailable, with a reason; nothing raises at decision time.
5. Dividend: payers with a two-year record whose trailing-year dividends are at least
   `dividend_min_stability` of the year before's (no cut) and whose 60-session volatility is not
   above the `dividend_max_vol_quantile` of the eligible names (yield traps); the highest trailing
   yields among them, `dividend_top_fraction` of the eligible names and at least the minimum.
   A special dividend inflates the trailing yield for a year and passes the filter (it looks like
   a raise); a cut shows only as the trailing year rolls past the last higher payment.

Ranking scores (higher is better; percentiles over the eligible names): growth universes by
momentum quality (mean percentile of 12-1 momentum and distance above the SMA200), value universes
by cheapness, dividend by trailing yield. Ties break by ticker, unknown scores rank last.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from autonomous.strategies import SIZE_BUCKETS, STRATEGY_BY_NAME, SizeBucket, Strategy
from trading.errors import DataError
from trading.settings import UniverseSettings

logger = logging.getLogger(__name__)

SizeSource = Literal["market_cap", "dollar_volume_proxy"]
StyleSource = Literal["fundamentals", "price_proxy", "trailing_dividends"]

REQUIRED_FEATURES: tuple[str, ...] = (
    "size",
    "mom_63",
    "mom_252",
    "mom_12_1",
    "dist_sma200",
    "vol_60",
    "div_yield_ttm",
    "div_stability",
)
# Preferred first: the synthetic market's exact count, then the real snapshot's estimate (cap / price).
SHARES_FIELDS: tuple[str, ...] = ("shares_outstanding", "shares_outstanding_est")


@dataclass(frozen=True, eq=False)
class Universe:
    """The names one strategy may hold at a date, best first by its score, and how they were chosen."""

    strategy: str
    tickers: tuple[str, ...]
    scores: pd.Series  # the strategy's score by ticker, in the order of `tickers` (NaN: unknown)
    size_source: SizeSource | None  # None for the dividend universe, which spans every size
    style_source: StyleSource
    available: bool
    reason: str


@dataclass(frozen=True, eq=False)
class SizeMeasure:
    """Bigger is larger, by eligible ticker: log market cap, or log dollar volume as the proxy."""

    values: pd.Series
    source: SizeSource
    note: str  # how it was measured, for the universes' reasons


@dataclass(frozen=True, eq=False)
class Cheapness:
    """Higher is cheaper (value), by eligible ticker, in [0, 1]; NaN where nothing is known."""

    values: pd.Series
    source: Literal["fundamentals", "price_proxy"]
    note: str


def build_universes(
    cross_section: pd.DataFrame,
    *,
    stocks: Iterable[str],
    close: pd.Series | None,
    fundamentals: pd.DataFrame,
    settings: UniverseSettings | None = None,
) -> dict[str, Universe]:
    """All seven universes at one date, keyed by strategy name in the order of settings.STRATEGIES.

    `cross_section`: features at t (tickers x REQUIRED_FEATURES at least); `stocks`: which tickers are
    stocks; `close`: raw close at t by ticker (None when unknown); `fundamentals`: tickers x fields as
    known at t (`fundamentals_as_of`), possibly empty.
    """
    settings = settings or UniverseSettings()
    _check_inputs(cross_section, close, fundamentals)
    features = cross_section.loc[eligible_stocks(cross_section, stocks), list(REQUIRED_FEATURES)].astype(np.float64)
    size = size_measure(features, close, fundamentals, settings.fundamentals_min_coverage)
    cheapness = cheapness_measure(features, fundamentals, settings.fundamentals_min_coverage)
    scores = strategy_scores(features, cheapness)
    size_order = _best_first(size.values).index
    universes = {}
    for strategy in STRATEGY_BY_NAME.values():
        if strategy.size is None:
            universes[strategy.name] = _dividend_universe(strategy, features, scores[strategy.score], settings)
        else:
            universes[strategy.name] = _style_universe(
                strategy, strategy.size, size, size_order, cheapness, scores[strategy.score], settings.min_bucket_size
            )
    logger.debug(
        "universes of %d eligible stocks (size: %s, style: %s): %s",
        len(features),
        size.source,
        cheapness.source,
        {name: len(universe.tickers) for name, universe in universes.items()},
    )
    return universes


def eligible_stocks(cross_section: pd.DataFrame, stocks: Iterable[str]) -> pd.Index:
    """Stock tickers with a usable feature row at t (finite size and 63-session momentum), sorted."""
    usable = np.isfinite(cross_section[["size", "mom_63"]].to_numpy(dtype=np.float64)).all(axis=1)
    is_stock = cross_section.index.isin(list(stocks))
    tickers: list[str] = sorted(map(str, cross_section.index[usable & is_stock]))
    return pd.Index(tickers, dtype=object)


def size_measure(
    features: pd.DataFrame, close: pd.Series | None, fundamentals: pd.DataFrame, min_coverage: float
) -> SizeMeasure:
    """Log market cap when it covers enough eligible names, else log dollar volume for all (module doc)."""
    eligible = features.index
    log_cap = np.log(_market_cap(eligible, close, fundamentals))
    proxy = features["size"]
    coverage = float(log_cap.notna().mean()) if len(eligible) else 0.0
    if len(eligible) == 0 or coverage < min_coverage:
        note = f"dollar-volume proxy (market cap known for {coverage:.0%} of eligible names, below {min_coverage:.0%})"
        return SizeMeasure(proxy, "dollar_volume_proxy", note)
    missing = log_cap.isna()
    if missing.any():
        # A name without a cap keeps its place in the dollar-volume ranking, mapped onto the cap scale.
        percentile = proxy.rank(pct=True)[missing].to_numpy()
        log_cap[missing] = np.quantile(log_cap.dropna().to_numpy(), percentile)
    note = "market cap" + (f" ({int(missing.sum())} names placed by dollar volume)" if missing.any() else "")
    return SizeMeasure(log_cap, "market_cap", note)


def size_terciles(size: pd.Series) -> pd.Series:
    """Each name's size tercile (large, mid or small) by rank, ties by ticker: a partition into thirds."""
    order = _best_first(size).index
    labels = np.empty(len(order), dtype=object)
    for bucket in SIZE_BUCKETS:
        start, stop = _tercile_bounds(len(order), bucket)
        labels[start:stop] = bucket
    return pd.Series(labels, index=order, dtype=object).reindex(size.index)


def cheapness_measure(features: pd.DataFrame, fundamentals: pd.DataFrame, min_coverage: float) -> Cheapness:
    """Value-ness of each eligible name: fundamentals where coverage allows, else the price proxy."""
    eligible = features.index
    proxy = _mean_percentile(features["div_yield_ttm"], -features["mom_252"])
    book_to_price = _reciprocal(_field(fundamentals, "price_to_book", eligible))
    earnings_yield = _reciprocal(_field(fundamentals, "pe_ratio", eligible))
    known = book_to_price.notna() | earnings_yield.notna()
    coverage = float(known.mean()) if len(eligible) else 0.0
    if len(eligible) == 0 or coverage < min_coverage:
        note = (
            "price proxy: dividend yield and low 252-session momentum "
            f"(fundamentals for {coverage:.0%} of eligible names, below {min_coverage:.0%})"
        )
        return Cheapness(proxy, "price_proxy", note)
    from_fundamentals = _mean_percentile(book_to_price, earnings_yield)
    note = "book-to-price and earnings yield" + (
        f" ({int((~known).sum())} names by the price proxy)" if not known.all() else ""
    )
    return Cheapness(from_fundamentals.where(known, proxy), "fundamentals", note)


def strategy_scores(features: pd.DataFrame, cheapness: Cheapness) -> pd.DataFrame:
    """Each ranking score (strategies.Score) by eligible ticker; higher is better, NaN unknown."""
    return pd.DataFrame(
        {
            "momentum_quality": _mean_percentile(features["mom_12_1"], features["dist_sma200"]),
            "cheapness": cheapness.values,
            "trailing_yield": features["div_yield_ttm"],
        },
        index=features.index,
    )


def _check_inputs(cross_section: pd.DataFrame, close: pd.Series | None, fundamentals: pd.DataFrame) -> None:
    missing = [name for name in REQUIRED_FEATURES if name not in cross_section.columns]
    if missing:
        raise DataError(f"the cross-section lacks the feature column(s) {', '.join(missing)}")
    for what, index in (
        ("cross-section", cross_section.index),
        ("close", None if close is None else close.index),
        ("fundamentals", fundamentals.index),
    ):
        if index is not None and index.has_duplicates:
            duplicated = sorted(map(str, index[index.duplicated()].unique()))[:5]
            raise DataError(f"the {what} has more than one row for ticker(s) {', '.join(duplicated)}")


def _field(frame: pd.DataFrame, name: str, index: pd.Index) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=index, dtype=np.float64)
    values = frame[name].reindex(index).astype(np.float64)
    return values.where(np.isfinite(values))


def _reciprocal(values: pd.Series) -> pd.Series:
    return 1.0 / values.where(values != 0)


def _market_cap(eligible: pd.Index, close: pd.Series | None, fundamentals: pd.DataFrame) -> pd.Series:
    """Shares x raw close at t where both are known, else the snapshot's cap; NaN unless positive."""
    shares = _field(fundamentals, SHARES_FIELDS[0], eligible)
    for name in SHARES_FIELDS[1:]:
        shares = shares.combine_first(_field(fundamentals, name, eligible))
    price = pd.Series(np.nan, index=eligible) if close is None else close.reindex(eligible).astype(np.float64)
    from_shares = shares * price
    snapshot_cap = _field(fundamentals, "market_cap", eligible)
    cap = from_shares.where(from_shares > 0).combine_first(snapshot_cap.where(snapshot_cap > 0))
    return cap.where(np.isfinite(cap))


def _mean_percentile(*columns: pd.Series) -> pd.Series:
    """Mean of the columns' percentile ranks (ties averaged); a missing column value is skipped."""
    ranks = pd.concat([column.rank(pct=True) for column in columns], axis=1)
    return ranks.mean(axis=1)


def _best_first(scores: pd.Series) -> pd.Series:
    """Sorted by score descending, unknown (NaN) last, ties by ticker: the same order for any input order."""
    values = scores.to_numpy(dtype=np.float64)
    tickers = scores.index.to_numpy(dtype=str)
    # lexsort's last key is the primary one; NaN becomes +inf so it sorts after every real score.
    order = np.lexsort((tickers, np.where(np.isnan(values), np.inf, -values)))
    return scores.iloc[order]


def _tercile_bounds(n: int, bucket: SizeBucket) -> tuple[int, int]:
    """Positions [start, stop) of the tercile in the size order; the terciles partition range(n)."""
    third = SIZE_BUCKETS.index(bucket)
    # Position i is in tercile floor(3i / n), so the tercile starts at the first i with 3i >= third * n.
    return -(-third * n // 3), -(-(third + 1) * n // 3)


def _tercile_members(size_order: pd.Index, bucket: SizeBucket, need: int) -> tuple[pd.Index, int]:
    """The tercile's tickers widened to `need` by the nearest size ranks, and its size before widening."""
    n = len(size_order)
    start, stop = _tercile_bounds(n, bucket)
    count = stop - start
    if count < need:
        centre = (start + stop) / 2.0
        start = min(max(math.floor(centre - need / 2.0 + 0.5), 0), n - need)
        stop = start + need
    return size_order[start:stop], count


def _style_universe(
    strategy: Strategy,
    bucket: SizeBucket,
    size: SizeMeasure,
    size_order: pd.Index,
    cheapness: Cheapness,
    score: pd.Series,
    min_bucket_size: int,
) -> Universe:
    need = 2 * min_bucket_size
    n_eligible = len(size.values)
    if n_eligible < need:
        reason = (
            f"only {n_eligible} eligible stocks; the size and style buckets need at least {need} "
            f"(two style halves of min_bucket_size={min_bucket_size})"
        )
        return _unavailable(strategy, size.source, cheapness.source, reason)
    members, tercile_count = _tercile_members(size_order, bucket, need)
    # Unknown cheapness sits in the middle, so such a name lands in a style without skewing either.
    by_cheapness = _best_first(cheapness.values.reindex(members).fillna(0.5)).index
    n_value = len(members) // 2
    chosen = by_cheapness[:n_value] if strategy.style == "value" else by_cheapness[n_value:]
    ranked = _best_first(score.reindex(chosen))
    widened = (
        f"; the tercile had {tercile_count} names, widened to the {len(members)} nearest by size rank"
        if len(members) > tercile_count
        else ""
    )
    half = "cheaper" if strategy.style == "value" else "dearer"
    reason = (
        f"{half} half by {cheapness.note} of the {bucket} tercile by {size.note}: "
        f"{len(ranked)} of {n_eligible} eligible stocks{widened}"
    )
    return Universe(
        strategy.name,
        tuple(ranked.index),
        ranked.rename(strategy.score),
        size.source,
        cheapness.source,
        True,
        reason,
    )


def _dividend_universe(
    strategy: Strategy, features: pd.DataFrame, score: pd.Series, settings: UniverseSettings
) -> Universe:
    n_eligible = len(features)
    stability = features["div_stability"]
    vol = features["vol_60"]
    has_record = stability.notna()
    not_cut = has_record & (stability >= settings.dividend_min_stability)
    vol_ceiling = vol.quantile(settings.dividend_max_vol_quantile) if vol.notna().any() else np.nan
    calm = vol <= vol_ceiling  # NaN volatility (or ceiling) compares False: an unknown risk is excluded
    stable = not_cut & calm & (features["div_yield_ttm"] > 0)
    n_stable = int(stable.sum())
    counts = (
        f"{int((~has_record).sum())} without two years of dividends, {int((has_record & ~not_cut).sum())} cut, "
        f"{int((not_cut & ~calm).sum())} too volatile"
    )
    minimum = settings.min_bucket_size
    if n_stable < minimum:
        reason = f"only {n_stable} stable dividend payers of {n_eligible} eligible stocks (minimum {minimum}): {counts}"
        return _unavailable(strategy, None, "trailing_dividends", reason)
    wanted = max(minimum, math.ceil(settings.dividend_top_fraction * n_eligible))
    ranked = _best_first(score[stable]).iloc[:wanted]
    reason = (
        f"highest trailing yields: {len(ranked)} of {n_stable} stable payers among {n_eligible} eligible stocks "
        f"(left out: {counts})"
    )
    return Universe(
        strategy.name, tuple(ranked.index), ranked.rename(strategy.score), None, "trailing_dividends", True, reason
    )


def _unavailable(
    strategy: Strategy, size_source: SizeSource | None, style_source: StyleSource, reason: str
) -> Universe:
    # Debug, not info: early in a backtest this happens every day; the reason travels with the universe.
    logger.debug("%s universe unavailable: %s", strategy.name, reason)
    empty = pd.Series([], index=pd.Index([], dtype=object), dtype=np.float64, name=strategy.score)
    return Universe(strategy.name, (), empty, size_source, style_source, False, reason)
