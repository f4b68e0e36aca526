"""Per-ticker features over the whole panel (dates x tickers), shared by the regime detector, the
universes, the ranker, the RL environment and backtests: one definition of "momentum" everywhere.

Every window is trailing, so a value at date t uses bars up to and including t only (a test
rewrites every later bar and checks). Missing inputs give NaN, never an exception: adjusted-close
only series (most ETFs) simply have NaN volume-based features.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import numpy as np
import pandas as pd

Series_or_Frame = TypeVar("Series_or_Frame", pd.Series, pd.DataFrame)

SESSIONS_PER_YEAR = 252
MOMENTUM_WINDOWS = (21, 63, 126, 252)
# 12-1 momentum skips the last month, whose short-term reversal would otherwise blur the signal.
SKIP_MONTH = 21

FEATURE_NAMES: tuple[str, ...] = (
    "mom_21",
    "mom_63",
    "mom_126",
    "mom_252",
    "mom_12_1",
    "vol_20",
    "vol_60",
    "drawdown_52w",
    "rsi_14",
    "dist_sma50",
    "dist_sma200",
    "volume_z_20",
    "dollar_volume_20",
    "size",
    "beta_252",
    "div_yield_ttm",
    "div_stability",
)


@dataclass(frozen=True)
class FeaturePanel:
    """One wide frame per feature, all with the panel's dates and tickers."""

    frames: Mapping[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(next(iter(self.frames.values())).index)

    def cross_section(self, day: date | pd.Timestamp) -> pd.DataFrame:
        """Tickers x features at one date (the row the decision of that date may use)."""
        stamp = pd.Timestamp(day)
        if stamp not in self.dates:
            raise KeyError(f"no features for {stamp.date()}: it is not a session of the panel")
        return pd.DataFrame({name: frame.loc[stamp] for name, frame in self.frames.items()})

    def cross_sections(self) -> CrossSections:
        """Every date's cross-section from one array built now: for a replay of many dates, where building
        each row from the wide frames costs more than the decision that reads it."""
        return CrossSections(self)

    def stacked(self) -> pd.DataFrame:
        """Long form indexed by (date, ticker), one column per feature; rows with every feature NaN dropped."""
        columns = {name: frame.stack(future_stack=True) for name, frame in self.frames.items()}
        long = pd.DataFrame(columns)
        return long.dropna(how="all")


class CrossSections:
    """A FeaturePanel as a (dates, tickers, features) array; `at(day)` is `FeaturePanel.cross_section(day)`."""

    def __init__(self, panel: FeaturePanel) -> None:
        frames = list(panel.frames.values())
        self._names = list(panel.frames)
        self._tickers = frames[0].columns
        self._row = {stamp: i for i, stamp in enumerate(panel.dates)}
        self._cube = np.stack([frame.to_numpy(np.float64) for frame in frames], axis=2)

    def at(self, day: date | pd.Timestamp) -> pd.DataFrame:
        row = self._row.get(pd.Timestamp(day))
        if row is None:
            raise KeyError(f"no features for {pd.Timestamp(day).date()}: it is not a session of the panel")
        return pd.DataFrame(self._cube[row], index=self._tickers, columns=self._names)


def daily_returns(prices: Series_or_Frame) -> Series_or_Frame:
    # No fill: a gap stays a gap, instead of a fake zero return followed by a two-day jump.
    returns: Series_or_Frame = prices.pct_change(fill_method=None)
    return returns


def momentum(prices: pd.DataFrame, window: int, skip: int = 0) -> pd.DataFrame:
    """Simple return from t - window to t - skip."""
    return prices.shift(skip) / prices.shift(window) - 1.0


def realized_volatility(returns: Series_or_Frame, window: int) -> Series_or_Frame:
    """Annualised standard deviation of daily returns; needs 3/4 of the window present."""
    annualised: Series_or_Frame = returns.rolling(window, min_periods=_min_periods(window)).std() * np.sqrt(
        SESSIONS_PER_YEAR
    )
    return annualised


def simple_moving_average(prices: Series_or_Frame, window: int) -> Series_or_Frame:
    return prices.rolling(window, min_periods=_min_periods(window)).mean()


def rolling_high(prices: pd.DataFrame, window: int = SESSIONS_PER_YEAR) -> pd.DataFrame:
    return prices.rolling(window, min_periods=1).max()


def rolling_low(prices: pd.DataFrame, window: int = SESSIONS_PER_YEAR) -> pd.DataFrame:
    return prices.rolling(window, min_periods=1).min()


def relative_strength_index(prices: pd.DataFrame, window: int = 14) -> pd.DataFrame:
    """Wilder's RSI: exponential averages of gains and losses with alpha = 1/window."""
    change = prices.diff()
    gains = change.clip(lower=0.0).ewm(alpha=1.0 / window, min_periods=window, adjust=False, ignore_na=True).mean()
    losses = (-change.clip(upper=0.0)).ewm(alpha=1.0 / window, min_periods=window, adjust=False, ignore_na=True).mean()
    total = gains + losses
    # A flat window (no gains, no losses) is neutral, not a division by zero.
    rsi = 100.0 * gains / total.where(total > 0)
    return rsi.where(total > 0, 50.0).where(gains.notna())


def rolling_beta(returns: pd.DataFrame, benchmark_returns: pd.Series, window: int) -> pd.DataFrame:
    """Cov(r, r_b) / Var(r_b) over a trailing window, from rolling means (no per-ticker loop)."""
    periods = _min_periods(window)
    bench = benchmark_returns.reindex(returns.index)
    # Use only dates where both are present, so the moments are of the same sample.
    both = returns.notna() & bench.notna().to_numpy()[:, None]
    r = returns.where(both)
    b = pd.DataFrame(np.where(both, bench.to_numpy()[:, None], np.nan), index=returns.index, columns=returns.columns)
    mean_rb = (r * b).rolling(window, min_periods=periods).mean()
    mean_r = r.rolling(window, min_periods=periods).mean()
    mean_b = b.rolling(window, min_periods=periods).mean()
    mean_bb = (b * b).rolling(window, min_periods=periods).mean()
    variance = mean_bb - mean_b * mean_b
    return (mean_rb - mean_r * mean_b) / variance.where(variance > 1e-12)


def _min_periods(window: int) -> int:
    return max(2, (window * 3) // 4)


def _volume_features(close: pd.DataFrame, volume: pd.DataFrame) -> dict[str, pd.DataFrame]:
    # Dollar volume uses raw close x raw volume: both as traded on the day, so splits cancel.
    dollar_volume = close * volume
    mean_volume = volume.rolling(20, min_periods=15).mean()
    std_volume = volume.rolling(20, min_periods=15).std()
    dollar_63 = dollar_volume.rolling(63, min_periods=_min_periods(63)).mean()
    return {
        "volume_z_20": (volume - mean_volume) / std_volume.where(std_volume > 0),
        "dollar_volume_20": dollar_volume.rolling(20, min_periods=15).mean(),
        # Log dollar volume tracks market cap closely in the cross-section and needs no fundamentals.
        "size": pd.DataFrame(np.log(dollar_63.where(dollar_63 > 0)), index=close.index, columns=close.columns),
    }


def _dividend_features(
    close: pd.DataFrame, dividend: pd.DataFrame, split_coef: pd.DataFrame | None
) -> dict[str, pd.DataFrame]:
    # A missing dividend cell on a day with a bar means "no dividend that day".
    paid = dividend.fillna(0.0).where(close.notna(), 0.0)
    # Dividends are per share as of their ex-date: after a 4:1 split, an earlier 0.82 is 0.205 per
    # today's share. Scale each payment by the splits since (up to t only, a cumulative product).
    splits = 1.0 if split_coef is None else split_coef.where(split_coef > 0).fillna(1.0).cumprod()
    in_base_shares = paid * splits
    trailing = in_base_shares.rolling(SESSIONS_PER_YEAR, min_periods=1).sum() / splits
    # The year before the trailing year, in today's shares too: the stability filter compares the two.
    earlier = in_base_shares.rolling(SESSIONS_PER_YEAR, min_periods=1).sum().shift(SESSIONS_PER_YEAR) / splits
    history = close.notna().cumsum()
    trailing = trailing.where(history >= SESSIONS_PER_YEAR // 2)
    return {
        "div_yield_ttm": trailing / close,
        "div_stability": trailing / earlier.where(earlier > 0),
    }


def compute_features(
    adj_close: pd.DataFrame,
    *,
    benchmark: pd.Series,
    close: pd.DataFrame | None = None,
    volume: pd.DataFrame | None = None,
    dividend: pd.DataFrame | None = None,
    split_coef: pd.DataFrame | None = None,
) -> FeaturePanel:
    """All features over the panel. `adj_close` (dates x tickers) drives returns; raw `close`,
    `volume`, `dividend` and `split_coef` (same shape, optional) drive dollar volume, size and
    yield; `benchmark` is the benchmark's adjusted close (for beta)."""
    prices = adj_close.astype(np.float64)
    _check_aligned(prices, {"close": close, "volume": volume, "dividend": dividend, "split_coef": split_coef})
    returns = daily_returns(prices)
    nan_frame = pd.DataFrame(np.nan, index=prices.index, columns=prices.columns)
    raw_close = nan_frame if close is None else close.astype(np.float64)
    frames: dict[str, pd.DataFrame] = {f"mom_{w}": momentum(prices, w) for w in MOMENTUM_WINDOWS}
    frames["mom_12_1"] = momentum(prices, SESSIONS_PER_YEAR, skip=SKIP_MONTH)
    frames["vol_20"] = realized_volatility(returns, 20)
    frames["vol_60"] = realized_volatility(returns, 60)
    frames["drawdown_52w"] = prices / rolling_high(prices) - 1.0
    frames["rsi_14"] = relative_strength_index(prices)
    frames["dist_sma50"] = prices / simple_moving_average(prices, 50) - 1.0
    frames["dist_sma200"] = prices / simple_moving_average(prices, 200) - 1.0
    frames |= _volume_features(raw_close, nan_frame if volume is None else volume.astype(np.float64))
    frames["beta_252"] = rolling_beta(returns, daily_returns(benchmark), SESSIONS_PER_YEAR)
    if dividend is None:  # no dividend column is "unknown", not "pays nothing"
        frames |= {"div_yield_ttm": nan_frame, "div_stability": nan_frame}
    else:
        splits = None if split_coef is None else split_coef.astype(np.float64)
        frames |= _dividend_features(raw_close, dividend.astype(np.float64), splits)
    return FeaturePanel(frames={name: frames[name].replace([np.inf, -np.inf], np.nan) for name in FEATURE_NAMES})


def _check_aligned(prices: pd.DataFrame, others: Mapping[str, pd.DataFrame | None]) -> None:
    for name, frame in others.items():
        if frame is None:
            continue
        if not frame.index.equals(prices.index) or not frame.columns.equals(prices.columns):
            raise ValueError(f"the {name} frame is not aligned with adj_close (same dates and tickers expected)")
