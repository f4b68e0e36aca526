"""Point-in-time universes of the seven strategies at one date: relative size terciles split into
growth and value halves, plus the stable dividend payers, each ranked by the strategy's own score.

How a universe is cut at date t (everything from data known at t's close):

1. Eligible: the caller's stock tickers (never ETFs or indices) with a finite `size` and `mom_63`,
   i.e. at least a quarter of bars up to t. In data without volume (no stock has a finite `size`,
   the dollar-volume feature), a name with a market cap by 2a or 2c below stands in for it. Known
   limit: in data mixing names with and without volume, those without stay ineligible.
2. Size, by the first of these measures that covers `fundamentals_min_coverage` of the eligible names
   (none does: the one that covers most, dollar volume on a tie); a name the chosen measure misses is
   placed at its percentile in the next measure that knows it, mapped onto the chosen one's scale:
   a. market cap at t, point in time: shares outstanding x raw close at t where both are known
      (fresher than the snapshot's cap); else the latest snapshot's cap carried to t by the change in
      the price since the snapshot date (cap x price_t / price_snapshot; both adjusted closes for a
      series priced at its adjusted close, which has no raw close to multiply shares by); else the
      snapshot's cap as it was;
   b. the `size` feature: log 63-session mean dollar volume, which tracks cap closely in the
      cross-section (none without volume);
   c. market cap carried BACK from the earliest later snapshot (cap x price_t / price_snapshot), for
      a date before any snapshot of the name: a look-ahead of the share count (buybacks and issues
      between t and the snapshot are unknown at t), taken only when no point-in-time measure covers
      enough names (data without volume and before the first snapshot), and named in the reason
      ("market cap carried back from the 2018-02-08 snapshot") and in `size_source`.
   Terciles are RELATIVE to the eligible set: in the S&P 500 every name is large in absolute terms,
   so "small cap" there means the smallest third of the index, not the usual < $2B.
   Known limits: a split after the latest snapshot leaves its share count stale, so shares x raw close
   (and a raw-close carry) understates that name's cap by the split ratio until the next snapshot; a
   carry by adjusted closes counts dividends since the snapshot as growth (a yield's worth a year).
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from autonomous.strategies import SIZE_BUCKETS, STRATEGY_BY_NAME, SizeBucket, Strategy
from trading.errors import DataError
from trading.marketdata.decision_view import priced_at_adjusted_close
from trading.marketdata.reference_import import KNOWN_CAP, LATER_CAP, CapColumns, later_market_caps
from trading.settings import UniverseSettings

logger = logging.getLogger(__name__)

# market_cap: point in time (module doc 2a); market_cap_carried_back: the stated look-ahead (2c).
SizeSource = Literal["market_cap", "dollar_volume_proxy", "market_cap_carried_back"]
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

    def __reduce__(self) -> tuple[Any, ...]:
        # A backtest sends every session's universes between processes (backtesting/prefetch.py): the
        # scores travel as an array beside the tickers they are indexed by, since a pickled Series costs
        # several times more to read back than to build again.
        values = self.scores.to_numpy(dtype=np.float64)
        parts = (self.size_source, self.style_source, self.available, self.reason)
        return (_universe, (self.strategy, self.tickers, values, self.scores.name, *parts))


def _universe(
    strategy: str,
    tickers: tuple[str, ...],
    values: np.ndarray,
    score: str | None,
    size_source: SizeSource | None,
    style_source: StyleSource,
    available: bool,
    reason: str,
) -> Universe:
    scores = pd.Series(values, index=pd.Index(tickers, dtype=object), name=score)
    return Universe(strategy, tickers, scores, size_source, style_source, available, reason)


# Arrays over the eligible tickers, in their (sorted) order: a session's universes are many small
# computations over ~500 names, where pandas' per-call overhead cost more than the arithmetic.
Floats = np.ndarray


@dataclass(frozen=True, eq=False)
class SizeMeasure:
    """Bigger is larger, by eligible ticker: log market cap, or log dollar volume as the proxy."""

    values: Floats
    source: SizeSource
    note: str  # how it was measured, for the universes' reasons


@dataclass(frozen=True, eq=False)
class SizeCandidate:
    """One way to measure size (module doc 2), by ticker: log values (NaN where it does not know the name)
    and, where a value is a snapshot's cap carried to t, that snapshot's date as an ordinal (else NaN)."""

    values: Floats
    source: SizeSource
    carried_from: Floats

    def among(self, positions: np.ndarray) -> SizeCandidate:
        return SizeCandidate(self.values[positions], self.source, self.carried_from[positions])

    @property
    def label(self) -> str:
        """How a reason names it: 'dollar volume', 'market cap carried back from the 2018-02-08 snapshot'."""
        if self.source == "market_cap_carried_back":
            return f"market cap carried back from {_snapshots(self.carried_from)}"
        return "dollar volume" if self.source == "dollar_volume_proxy" else "market cap"

    @property
    def name(self) -> str:
        """How a reason names it when it is the measure, with how its values were found."""
        if self.source == "dollar_volume_proxy":
            return "dollar-volume proxy"
        if self.source == "market_cap_carried_back":
            return f"{self.label}, by the change in the price since (a look-ahead of that snapshot's share count)"
        carried = int((~np.isnan(self.carried_from)).sum())
        if not carried:
            return "market cap"
        where = _snapshots(self.carried_from)
        return f"market cap ({carried} names carried forward from {where} by the change in the price since)"


@dataclass(frozen=True, eq=False)
class Cheapness:
    """Higher is cheaper (value), by eligible ticker, in [0, 1]; NaN where nothing is known."""

    values: Floats
    source: Literal["fundamentals", "price_proxy"]
    note: str


@dataclass(frozen=True, eq=False)
class Eligible:
    """The eligible tickers (sorted) and their features, as arrays in that order."""

    tickers: np.ndarray  # object: the names as the caller gave them
    names: np.ndarray  # str: the same, for sorting ties by ticker
    features: dict[str, Floats]

    def __len__(self) -> int:
        return len(self.tickers)

    def universe(self, strategy: Strategy, positions: np.ndarray, score: Floats) -> tuple[tuple[str, ...], pd.Series]:
        """The tickers at `positions` (best first) and their scores, as a Universe holds them."""
        chosen = self.tickers[positions]
        scores = pd.Series(score[positions], index=pd.Index(chosen, dtype=object), name=strategy.score)
        return tuple(chosen), scores


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
    stocks; `close`: close at t by ticker (None when unknown), raw or, for the tickers it names
    (`priced_at_adjusted_close`), adjusted; `fundamentals`: tickers x fields as known at t
    (`fundamentals_as_of`: with the KNOWN_CAP columns, and the later caps attached for 2c), possibly empty.
    """
    settings = settings or UniverseSettings()
    _check_inputs(cross_section, close, fundamentals)
    candidates = size_candidates(cross_section, close, fundamentals)
    sized = np.asarray(np.column_stack([~np.isnan(c.values) for c in candidates]).any(axis=1), dtype=np.bool_)
    tickers = eligible_stocks(cross_section, stocks, sized=cross_section.index[sized])
    positions = cross_section.index.get_indexer(tickers)
    eligible = Eligible(
        tickers.to_numpy(dtype=object),
        tickers.to_numpy(dtype=str),
        {
            name: cross_section[name].to_numpy(dtype=np.float64, na_value=np.nan)[positions]
            for name in REQUIRED_FEATURES
        },
    )
    size = size_measure([c.among(positions) for c in candidates], settings.fundamentals_min_coverage)
    cheapness = cheapness_measure(eligible, fundamentals, tickers, settings.fundamentals_min_coverage)
    scores = strategy_scores(eligible.features, cheapness)
    size_order = _best_first(size.values, eligible.names)
    universes = {}
    for strategy in STRATEGY_BY_NAME.values():
        if strategy.size is None:
            universes[strategy.name] = _dividend_universe(strategy, eligible, scores[strategy.score], settings)
        else:
            universes[strategy.name] = _style_universe(
                strategy, strategy.size, eligible, size, size_order, cheapness, scores[strategy.score], settings
            )
    logger.debug(
        "universes of %d eligible stocks (size: %s, style: %s): %s",
        len(eligible),
        size.source,
        cheapness.source,
        {name: len(universe.tickers) for name, universe in universes.items()},
    )
    return universes


def eligible_stocks(
    cross_section: pd.DataFrame, stocks: Iterable[str], *, sized: Iterable[str] | None = None
) -> pd.Index:
    """Stock tickers with a usable feature row at t, sorted: a finite 63-session momentum and a finite
    `size` (dollar volume). In data without volume (no such stock has a finite `size`), the size
    requirement falls to `sized` (the names with a market cap), or to nothing when it is not given."""
    candidates = np.isfinite(cross_section["mom_63"].to_numpy(dtype=np.float64))
    candidates &= cross_section.index.isin(list(stocks))
    has_size = np.isfinite(cross_section["size"].to_numpy(dtype=np.float64))
    if not (has_size & candidates).any():
        has_size = np.ones(len(has_size), dtype=np.bool_) if sized is None else cross_section.index.isin(list(sized))
    tickers: list[str] = sorted(map(str, cross_section.index[candidates & has_size]))
    return pd.Index(tickers, dtype=object)


def size_candidates(
    cross_section: pd.DataFrame, close: pd.Series | None, fundamentals: pd.DataFrame
) -> tuple[SizeCandidate, ...]:
    """The size measures of module doc 2 over the cross-section's tickers, in order of preference."""
    index = cross_section.index
    known = fundamentals.reindex(index)
    price = np.full(len(index), np.nan) if close is None else close.reindex(index).to_numpy(dtype=np.float64)
    adjusted = index.isin(list(priced_at_adjusted_close(close))) if close is not None else np.zeros(len(index), bool)
    nowhere = np.full(len(index), np.nan)

    # Point in time (2a): shares x raw close, else the known snapshot's cap carried to t, else that cap.
    # Shares times an adjusted close is no market cap: such a price only measures the change since.
    shares = _column(known, SHARES_FIELDS[0])
    for name in SHARES_FIELDS[1:]:
        shares = np.where(np.isnan(shares), _column(known, name), shares)
    from_shares = _positive(shares * np.where(adjusted, np.nan, price))
    carried, carried_from = _carried_cap(known, KNOWN_CAP, price, adjusted)
    carried_from = np.where(np.isnan(from_shares), carried_from, np.nan)
    cap = _first_known(from_shares, carried, _positive(_column(known, KNOWN_CAP.market_cap)))
    back, back_from = _carried_cap(later_market_caps(fundamentals).reindex(index), LATER_CAP, price, adjusted)

    def candidate(values: Floats, source: SizeSource, days: Floats) -> SizeCandidate:
        with np.errstate(divide="ignore", invalid="ignore"):
            logged = np.log(values) if source != "dollar_volume_proxy" else values
        return SizeCandidate(np.asarray(logged, dtype=np.float64), source, np.asarray(days, dtype=np.float64))

    return (
        candidate(cap, "market_cap", carried_from),
        candidate(cross_section["size"].to_numpy(dtype=np.float64, na_value=np.nan), "dollar_volume_proxy", nowhere),
        candidate(back, "market_cap_carried_back", back_from),
    )


def size_measure(candidates: Sequence[SizeCandidate], min_coverage: float) -> SizeMeasure:
    """The first candidate that covers enough of the (eligible) names, else the one that covers most
    (dollar volume on a tie); names it misses are placed by the others (module doc 2)."""
    measures = [c.values for c in candidates]
    coverage = [float((~np.isnan(m)).mean()) if len(m) else 0.0 for m in measures]
    enough = [i for i, c in enumerate(coverage) if c >= min_coverage]
    by_coverage = sorted(
        range(len(measures)), key=lambda i: (-coverage[i], candidates[i].source != "dollar_volume_proxy")
    )
    chosen = enough[0] if enough else by_coverage[0]
    values = measures[chosen].copy()
    known = values[~np.isnan(values)]
    placed = []
    for other in (i for i in range(len(measures)) if i != chosen):
        missing = np.isnan(values) & ~np.isnan(measures[other])
        if missing.any() and len(known):
            # A name the measure misses keeps its place in the other's ranking, mapped onto this scale.
            values[missing] = np.quantile(known, _percentile_ranks(measures[other])[missing])
            label = candidates[other].among(np.flatnonzero(missing)).label
            placed.append(f"{int(missing.sum())} names placed by {label}")
    note = candidates[chosen].name + (f" ({'; '.join(placed)})" if placed else "")
    if chosen > 0:
        below = ", ".join(f"{candidates[i].label} known for {coverage[i]:.0%}" for i in range(chosen))
        note += f" ({below} of eligible names, below {min_coverage:.0%})"
    return SizeMeasure(values, candidates[chosen].source, note)


def size_terciles(size: pd.Series) -> pd.Series:
    """Each name's size tercile (large, mid or small) by rank, ties by ticker: a partition into thirds."""
    order = _best_first(size.to_numpy(dtype=np.float64), size.index.to_numpy(dtype=str))
    labels = np.empty(len(order), dtype=object)
    for bucket in SIZE_BUCKETS:
        start, stop = _tercile_bounds(len(order), bucket)
        labels[start:stop] = bucket
    return pd.Series(labels, index=size.index[order], dtype=object).reindex(size.index)


def cheapness_measure(
    eligible: Eligible, fundamentals: pd.DataFrame, tickers: pd.Index, min_coverage: float
) -> Cheapness:
    """Value-ness of each eligible name: fundamentals where coverage allows, else the price proxy."""
    features = eligible.features
    proxy = _mean_percentile(features["div_yield_ttm"], -features["mom_252"])
    book_to_price = _reciprocal(_field(fundamentals, "price_to_book", tickers))
    earnings_yield = _reciprocal(_field(fundamentals, "pe_ratio", tickers))
    known = ~np.isnan(book_to_price) | ~np.isnan(earnings_yield)
    coverage = float(known.mean()) if len(tickers) else 0.0
    if len(tickers) == 0 or coverage < min_coverage:
        note = (
            "price proxy: dividend yield and low 252-session momentum "
            f"(fundamentals for {coverage:.0%} of eligible names, below {min_coverage:.0%})"
        )
        return Cheapness(proxy, "price_proxy", note)
    from_fundamentals = _mean_percentile(book_to_price, earnings_yield)
    note = "book-to-price and earnings yield" + (
        f" ({int((~known).sum())} names by the price proxy)" if not known.all() else ""
    )
    return Cheapness(np.where(known, from_fundamentals, proxy), "fundamentals", note)


def strategy_scores(features: dict[str, Floats], cheapness: Cheapness) -> dict[str, Floats]:
    """Each ranking score (strategies.Score) by eligible ticker; higher is better, NaN unknown."""
    return {
        "momentum_quality": _mean_percentile(features["mom_12_1"], features["dist_sma200"]),
        "cheapness": cheapness.values,
        "trailing_yield": features["div_yield_ttm"],
    }


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


def _field(frame: pd.DataFrame, name: str, index: pd.Index) -> Floats:
    if name not in frame.columns:
        return np.full(len(index), np.nan)
    values = frame[name].reindex(index).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _reciprocal(values: Floats) -> Floats:
    out = np.full(len(values), np.nan)
    np.divide(1.0, values, out=out, where=(values != 0) & ~np.isnan(values))
    return out


def _carried_cap(
    known: pd.DataFrame, columns: CapColumns, price: np.ndarray, adjusted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A snapshot's cap x price at t / price on the snapshot date, both raw or, for a name priced at its
    adjusted close, both adjusted (NaN unless positive), and the snapshot's date (ordinal) where it is."""
    at_snapshot = np.where(adjusted, _column(known, columns.adj_close), _column(known, columns.close))
    with np.errstate(divide="ignore", invalid="ignore"):
        carried = _positive(_column(known, columns.market_cap) * price / at_snapshot)
    return carried, np.where(np.isnan(carried), np.nan, _column(known, columns.day))


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    values = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _positive(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _first_known(*options: np.ndarray) -> np.ndarray:
    chosen = options[0]
    for option in options[1:]:
        chosen = np.where(np.isnan(chosen), option, chosen)
    return chosen


def _snapshots(days: Floats) -> str:
    """'the 2018-02-08 snapshot', or 'snapshots of 2012-01-03 to 2014-01-02', from ordinal dates."""
    known = sorted({date.fromordinal(int(day)) for day in np.unique(days[~np.isnan(days)])})
    if not known:
        return "a snapshot"
    return f"the {known[0]} snapshot" if len(known) == 1 else f"snapshots of {known[0]} to {known[-1]}"


def _percentile_ranks(values: Floats) -> Floats:
    """pandas' `rank(pct=True)`: average ranks of ties over the count of known values; NaN stays NaN."""
    ranks = np.full(len(values), np.nan)
    known = ~np.isnan(values)
    if known.any():
        _unique, group, counts = np.unique(values[known], return_inverse=True, return_counts=True)
        last = np.cumsum(counts)  # the 1-based rank of each group's last member
        average = (last - counts + 1 + last) / 2.0
        ranks[known] = average[group] / int(known.sum())
    return ranks


def _mean_percentile(*columns: Floats) -> Floats:
    """Mean of the columns' percentile ranks (ties averaged); a missing column value is skipped."""
    ranks = np.column_stack([_percentile_ranks(column) for column in columns])
    counted = (~np.isnan(ranks)).sum(axis=1)
    total = np.where(np.isnan(ranks), 0.0, ranks).sum(axis=1)
    return np.where(counted > 0, total / np.maximum(counted, 1), np.nan)


def _best_first(scores: Floats, names: np.ndarray) -> np.ndarray:
    """Positions sorted by score descending, unknown (NaN) last, ties by ticker: the same order for any
    input order."""
    # lexsort's last key is the primary one; NaN becomes +inf so it sorts after every real score.
    return np.lexsort((names, np.where(np.isnan(scores), np.inf, -scores)))


def _tercile_bounds(n: int, bucket: SizeBucket) -> tuple[int, int]:
    """Positions [start, stop) of the tercile in the size order; the terciles partition range(n)."""
    third = SIZE_BUCKETS.index(bucket)
    # Position i is in tercile floor(3i / n), so the tercile starts at the first i with 3i >= third * n.
    return -(-third * n // 3), -(-(third + 1) * n // 3)


def _tercile_members(size_order: np.ndarray, bucket: SizeBucket, need: int) -> tuple[np.ndarray, int]:
    """The tercile's positions widened to `need` by the nearest size ranks, and its size before widening."""
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
    eligible: Eligible,
    size: SizeMeasure,
    size_order: np.ndarray,
    cheapness: Cheapness,
    score: Floats,
    settings: UniverseSettings,
) -> Universe:
    min_bucket_size = settings.min_bucket_size
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
    cheap = cheapness.values[members]
    by_cheapness = members[_best_first(np.where(np.isnan(cheap), 0.5, cheap), eligible.names[members])]
    n_value = len(members) // 2
    chosen = by_cheapness[:n_value] if strategy.style == "value" else by_cheapness[n_value:]
    ranked = chosen[_best_first(score[chosen], eligible.names[chosen])]
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
    tickers, scores = eligible.universe(strategy, ranked, score)
    return Universe(strategy.name, tickers, scores, size.source, cheapness.source, True, reason)


def _dividend_universe(strategy: Strategy, eligible: Eligible, score: Floats, settings: UniverseSettings) -> Universe:
    n_eligible = len(eligible)
    stability = eligible.features["div_stability"]
    vol = eligible.features["vol_60"]
    has_record = ~np.isnan(stability)
    not_cut = has_record & (stability >= settings.dividend_min_stability)
    known_vol = vol[~np.isnan(vol)]
    vol_ceiling = np.quantile(known_vol, settings.dividend_max_vol_quantile) if len(known_vol) else np.nan
    calm = vol <= vol_ceiling  # NaN volatility (or ceiling) compares False: an unknown risk is excluded
    stable = not_cut & calm & (eligible.features["div_yield_ttm"] > 0)
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
    payers = np.flatnonzero(stable)
    ranked = payers[_best_first(score[payers], eligible.names[payers])][:wanted]
    reason = (
        f"highest trailing yields: {len(ranked)} of {n_stable} stable payers among {n_eligible} eligible stocks "
        f"(left out: {counts})"
    )
    tickers, scores = eligible.universe(strategy, ranked, score)
    return Universe(strategy.name, tickers, scores, None, "trailing_dividends", True, reason)


def _unavailable(
    strategy: Strategy, size_source: SizeSource | None, style_source: StyleSource, reason: str
) -> Universe:
    # Debug, not info: early in a backtest this happens every day; the reason travels with the universe.
    logger.debug("%s universe unavailable: %s", strategy.name, reason)
    empty = pd.Series([], index=pd.Index([], dtype=object), dtype=np.float64, name=strategy.score)
    return Universe(strategy.name, (), empty, size_source, style_source, False, reason)
