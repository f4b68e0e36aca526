"""The market regime of every session in one vectorised pass: volatility class, trend, breadth and
sector momentum, a label such as `bull_low_vol` and a confidence in [0, 1].

Volatility: the benchmark's 20-session realized volatility is ranked (percentile, today included)
against its own trailing `volatility_lookback_sessions`; where the volatility index (VIX) has a
value, its percentile in the same window is averaged in. That score is cut into low / medium /
high / extreme by the settings' cut-offs. Percentiles rather than fixed levels, because "high"
volatility in 2017 and in 2009 are different numbers.

Trend (price p, SMA50 s50, SMA200 s200 of the benchmark), first match wins:
    sideways  |p/s200 - 1| <= band and |s50/s200 - 1| <= band
    bull      p > s200 and s50 > s200
    bear      p < s200 and (s50 < s200 or p < s50)
    sideways  otherwise (the averages disagree)
The bear rule accepts p under both averages before the SMA50 has crossed: a crash (2020-03) is a
bear market weeks before the slow averages cross.

Confidence = 0.5 * trend strength + 0.3 * volatility clarity + 0.2 * breadth agreement, where
    trend strength      bull/bear: min(1, |p/s200 - 1| / full_trend_distance), halved when s50 is on
                        the other side of s200; sideways: 1 - min(1, |p/s200 - 1| / full_trend_distance)
    volatility clarity  distance of the score from the nearest cut-off, over half the width of its
                        class (1 in the middle of a class, 0 on a boundary)
    breadth agreement   b = mean of the trailing share of advancing names and the trailing share of
                        new 52-week highs among new extremes; bull: b, bear: 1 - b,
                        sideways: 1 - 2|b - 0.5|; 0.5 when breadth is unknown.
Each part is in [0, 1], so the confidence is.

Breadth columns: advance_decline_ratio = advancing / declining names on the day (NaN with no
decliners); new_highs_lows_ratio = new 52-week highs / (highs + lows) on the day, in [0, 1] (NaN
with neither), because a plain highs/lows ratio is infinite on most days of a bull market.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from autonomous.features import SESSIONS_PER_YEAR, daily_returns, momentum, realized_volatility, simple_moving_average
from trading.settings import RegimeSettings
from trading.store.regimes import REGIME_FIELDS

VOLATILITY_CLASSES = ("low", "medium", "high", "extreme")
TRENDS = ("bull", "bear", "sideways")
# Sessions of benchmark history before the first date a regime can be stated.
SMA_LONG = 200


@dataclass(frozen=True)
class RegimeSnapshot:
    """The regime of one date, as the selector and the daily run use it."""

    date: date
    trend: str
    volatility: str
    label: str
    confidence: float
    benchmark_below_sma200: bool
    realized_volatility_20d: float
    volatility_score: float
    vix: float | None
    sma_50: float
    sma_200: float
    advance_decline_ratio: float | None
    new_highs_lows_ratio: float | None
    sector_momentum: Mapping[str, float]
    # The benchmark's adjusted close (the agent's observation reads its distance to the SMA200).
    benchmark: float = math.nan

    def describe(self) -> str:
        return (
            f"{self.label} on {self.date} (confidence {self.confidence:.2f}): realized vol "
            f"{self.realized_volatility_20d:.1%} at the {self.volatility_score:.0%} percentile, benchmark "
            f"{'below' if self.benchmark_below_sma200 else 'above'} its SMA200"
        )


@dataclass(frozen=True)
class RegimeHistory:
    """The detector's output: one row per session with enough history, market_regime columns plus
    the internals (benchmark price, volatility score) that a snapshot reports."""

    frame: pd.DataFrame

    def snapshot(self, day: date) -> RegimeSnapshot:
        stamp = pd.Timestamp(day)
        if stamp not in self.frame.index:
            raise KeyError(f"no regime for {day}: not a session with enough history (first: {self.first_date})")
        # A unique DatetimeIndex: one row per date, so .loc gives a Series.
        return _snapshot(stamp, pd.Series(self.frame.loc[stamp]))

    def snapshots_before(self, day: date, sessions: int) -> tuple[RegimeSnapshot, ...]:
        """The regimes of the (at most) `sessions` rows strictly before `day`, oldest first."""
        if sessions <= 0:
            return ()
        end = int(self.frame.index.searchsorted(pd.Timestamp(day), side="left"))
        rows = self.frame.iloc[max(0, end - sessions) : end]
        return tuple(_snapshot(stamp, row) for stamp, row in zip(rows.index, rows.to_dict("records"), strict=True))

    @property
    def first_date(self) -> date | None:
        return None if self.frame.empty else self.frame.index[0].date()

    def table_rows(self) -> pd.DataFrame:
        """Exactly the market_regime columns, indexed by date."""
        return self.frame[list(REGIME_FIELDS)]


def detect_regimes(
    benchmark: pd.Series,
    stocks: pd.DataFrame,
    *,
    sectors: Mapping[str, str],
    settings: RegimeSettings,
    volatility_index: pd.Series | None = None,
) -> RegimeHistory:
    """Regimes for every date of `benchmark` (its adjusted close) with at least 200 sessions of history.

    `stocks` is the universe's adjusted closes (dates x tickers) for breadth and sector momentum;
    `volatility_index` (e.g. ^VIX closes) is optional and may have gaps.
    """
    bench = benchmark.dropna().astype(np.float64)
    universe = stocks.reindex(bench.index).astype(np.float64)
    vix = None if volatility_index is None else volatility_index.reindex(bench.index).astype(np.float64)

    realized = realized_volatility(daily_returns(bench), 20)
    score = _volatility_score(realized, vix, settings)
    volatility, clarity = _volatility_classes(score, settings)
    sma_50 = simple_moving_average(bench, 50)
    sma_200 = simple_moving_average(bench, SMA_LONG)
    trend, strength = _trend(bench, sma_50, sma_200, settings)
    breadth = _breadth(universe, settings.breadth_window_sessions)
    agreement = _breadth_agreement(trend, breadth["breadth_score"])
    confidence = (0.5 * strength + 0.3 * clarity + 0.2 * agreement).clip(0.0, 1.0)

    frame = pd.DataFrame(
        {
            "vix": vix if vix is not None else np.nan,
            "realized_volatility_20d": realized,
            "volatility_regime": volatility,
            "spy_sma_50": sma_50,
            "spy_sma_200": sma_200,
            "trend_regime": trend,
            "advance_decline_ratio": breadth["advance_decline_ratio"],
            "new_highs_lows_ratio": breadth["new_highs_lows_ratio"],
            "sector_momentum": _sector_momentum(universe, sectors, settings.sector_momentum_sessions),
            "regime_label": trend + "_" + volatility + "_vol",
            "regime_confidence": confidence,
            "benchmark": bench,
            "volatility_score": score,
        },
        index=bench.index,
    )
    stated = sma_200.notna() & score.notna()
    return RegimeHistory(frame=frame.loc[stated])


def _volatility_score(realized: pd.Series, vix: pd.Series | None, settings: RegimeSettings) -> pd.Series:
    def trailing_percentile(series: pd.Series) -> pd.Series:
        window, floor = settings.volatility_lookback_sessions, settings.volatility_min_history
        return series.rolling(window, min_periods=min(floor, window)).rank(pct=True)

    realized_pct = trailing_percentile(realized)
    if vix is None or vix.isna().all():
        return realized_pct
    # Where VIX is missing on a day the realized percentile stands alone.
    both = pd.concat([realized_pct, trailing_percentile(vix.dropna()).reindex(realized.index)], axis=1)
    return both.mean(axis=1, skipna=True).where(realized_pct.notna())


def _volatility_classes(score: pd.Series, settings: RegimeSettings) -> tuple[pd.Series, pd.Series]:
    edges = np.array(
        [0.0, settings.low_volatility_below, settings.high_volatility_above, settings.extreme_volatility_above, 1.0]
    )
    values = score.to_numpy()
    index = np.clip(np.searchsorted(edges, np.nan_to_num(values, nan=0.5), side="right") - 1, 0, 3)
    lower, upper = edges[index], edges[index + 1]
    half_width = (upper - lower) / 2.0
    # The outer classes have one real boundary only: 0 and 1 are not cut-offs.
    distance = np.where(
        index == 0, upper - values, np.where(index == 3, values - lower, np.minimum(values - lower, upper - values))
    )
    reach = np.where((index == 0) | (index == 3), 2.0 * half_width, half_width)
    clarity = np.clip(distance / reach, 0.0, 1.0)
    classes = np.array(VOLATILITY_CLASSES, dtype=object)[index]
    return pd.Series(classes, index=score.index), pd.Series(clarity, index=score.index)


def _trend(
    price: pd.Series, sma_50: pd.Series, sma_200: pd.Series, settings: RegimeSettings
) -> tuple[pd.Series, pd.Series]:
    gap = price / sma_200 - 1.0
    fast_gap = sma_50 / sma_200 - 1.0
    band = settings.sideways_band
    sideways = (gap.abs() <= band) & (fast_gap.abs() <= band)
    bull = ~sideways & (price > sma_200) & (sma_50 > sma_200)
    bear = ~sideways & (price < sma_200) & ((sma_50 < sma_200) | (price < sma_50))
    trend = pd.Series(np.select([bull, bear], ["bull", "bear"], default="sideways"), index=price.index, dtype=object)

    distance = (gap.abs() / settings.full_trend_distance).clip(upper=1.0)
    aligned = np.where(trend == "bear", fast_gap < 0, fast_gap > 0)
    directional = distance * np.where(aligned, 1.0, 0.5)
    strength = pd.Series(np.where(trend == "sideways", 1.0 - distance, directional), index=price.index)
    return trend, strength.fillna(0.0)


def _breadth(universe: pd.DataFrame, window: int) -> pd.DataFrame:
    returns = daily_returns(universe)
    advancing = (returns > 0).sum(axis=1).astype(np.float64)
    declining = (returns < 0).sum(axis=1).astype(np.float64)
    full_year = universe.rolling(SESSIONS_PER_YEAR, min_periods=SESSIONS_PER_YEAR)
    highs = (universe >= full_year.max()).sum(axis=1).astype(np.float64)
    lows = (universe <= full_year.min()).sum(axis=1).astype(np.float64)

    advance_share = advancing.rolling(window, min_periods=1).sum() / (
        (advancing + declining).rolling(window, min_periods=1).sum()
    ).where(lambda total: total > 0)
    extremes = (highs + lows).rolling(window, min_periods=1).sum()
    high_share = highs.rolling(window, min_periods=1).sum() / extremes.where(extremes > 0)
    # With no new extremes in the window, the highs/lows half of the score is neutral.
    score = pd.concat([advance_share, high_share.fillna(0.5).where(advance_share.notna())], axis=1).mean(axis=1)
    return pd.DataFrame(
        {
            "advance_decline_ratio": advancing / declining.where(declining > 0),
            "new_highs_lows_ratio": highs / (highs + lows).where(highs + lows > 0),
            "breadth_score": score,
        }
    )


def _breadth_agreement(trend: pd.Series, breadth_score: pd.Series) -> pd.Series:
    agreement = np.select(
        [trend == "bull", trend == "bear"],
        [breadth_score, 1.0 - breadth_score],
        default=1.0 - 2.0 * (breadth_score - 0.5).abs(),
    )
    return pd.Series(agreement, index=trend.index).fillna(0.5).clip(0.0, 1.0)


def _sector_momentum(universe: pd.DataFrame, sectors: Mapping[str, str], window: int) -> pd.Series:
    """Per date, {sector: mean window-session return of its names}; None before any value exists."""
    returns = momentum(universe, window)
    by_sector = {
        sector: returns[[t for t in universe.columns if sectors.get(t) == sector]].mean(axis=1)
        for sector in sorted({sectors[t] for t in universe.columns if sectors.get(t)})
    }
    if not by_sector:
        return pd.Series([None] * len(universe.index), index=universe.index, dtype=object)
    table = pd.DataFrame(by_sector, index=universe.index).round(6)
    records: list[dict[str, float] | None] = [
        {str(sector): float(value) for sector, value in row.items() if np.isfinite(value)} or None
        for row in table.to_dict(orient="records")
    ]
    return pd.Series(records, index=universe.index, dtype=object)


def _snapshot(stamp: pd.Timestamp, row: pd.Series | Mapping[Hashable, Any]) -> RegimeSnapshot:
    def optional(value: Any) -> float | None:
        return None if value is None or pd.isna(value) else float(value)

    return RegimeSnapshot(
        date=stamp.date(),
        trend=str(row["trend_regime"]),
        volatility=str(row["volatility_regime"]),
        label=str(row["regime_label"]),
        confidence=float(row["regime_confidence"]),
        benchmark_below_sma200=bool(row["benchmark"] < row["spy_sma_200"]),
        realized_volatility_20d=float(row["realized_volatility_20d"]),
        volatility_score=float(row["volatility_score"]),
        vix=optional(row["vix"]),
        sma_50=float(row["spy_sma_50"]),
        sma_200=float(row["spy_sma_200"]),
        advance_decline_ratio=optional(row["advance_decline_ratio"]),
        new_highs_lows_ratio=optional(row["new_highs_lows_ratio"]),
        sector_momentum=dict(row["sector_momentum"] or {}),
        benchmark=float(row["benchmark"]),
    )
