"""Performance metrics of one backtest's equity curve (return, risk, costs, benchmark-relative) and
their attribution to years, regimes or selected strategies; pure functions, NaN where undefined.

Conventions shared by every function here:

* Returns are simple session-over-session returns of the equity (`returns.simple_returns`); a curve
  of n sessions has n - 1 returns. Ratios use no risk-free rate.
* Annualisation: means scale by `periods_per_year`, dispersions by its square root; CAGR takes
  (number of returns) / periods_per_year as the years elapsed, exactly as empyrical's `cagr` does.
* Sample standard deviations use ddof=1. A standard deviation below 1e-12 is treated as zero (the
  rounding residue of a constant series), so the ratio it divides is NaN, never a huge number.
* Signs: max_drawdown, var_95 and cvar_95 are negative fractions for a loss (empyrical's signs).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from backtesting.returns import SESSIONS_PER_YEAR, drawdown, simple_returns

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# The tail that VaR and CVaR describe: the worst 5% of sessions, as empyrical's default cutoff.
VAR_CUTOFF = 0.05
# A sample standard deviation this small is rounding residue of a constant series, not dispersion.
ZERO_DISPERSION = 1e-12

ATTRIBUTION_COLUMNS = (
    "sessions",
    "share",
    "compounded_return",
    "annualised_return",
    "volatility",
    "sharpe",
    "hit_rate",
    "benchmark_return",
    "excess_return",
)


@dataclass(frozen=True)
class Metrics:
    """Summary of one equity curve. Floats are NaN where undefined (too few sessions, no dispersion,
    input not given); `as_dict` turns them into None for JSON."""

    sessions: int
    start: date
    end: date
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_sessions: int
    hit_rate: float
    turnover: float
    annual_turnover: float
    costs_paid: float
    costs_fraction: float
    exposure: float
    cash: float
    benchmark_return: float
    information_ratio: float
    tracking_error: float
    beta: float
    alpha: float
    var_95: float
    cvar_95: float

    def as_dict(self) -> dict[str, float | int | str | None]:
        """JSON-safe mapping: NaN and infinities become None, dates ISO strings."""
        return {field.name: _json_value(getattr(self, field.name)) for field in fields(self)}


@dataclass(frozen=True)
class _Relative:
    """The benchmark-relative part of Metrics (all NaN without a benchmark)."""

    benchmark_return: float = math.nan
    information_ratio: float = math.nan
    tracking_error: float = math.nan
    beta: float = math.nan
    alpha: float = math.nan


def _json_value(value: Any) -> float | int | str | None:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | np.integer):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


# --- kernels: reduce the last axis, so they serve one series and a (samples, n) bootstrap matrix alike ---


def sharpe_ratio(returns: FloatArray, periods_per_year: float) -> FloatArray:
    """Sharpe ratio along the last axis: mean / std(ddof=1) * sqrt(periods_per_year).

    NaN with fewer than two returns or no dispersion. Pass periods_per_year=1 for the per-period ratio."""
    if returns.shape[-1] < 2:
        return np.full(returns.shape[:-1], np.nan)
    std = returns.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = returns.mean(axis=-1) / std * math.sqrt(periods_per_year)
    return np.where(std > ZERO_DISPERSION, ratio, np.nan)


def compound_annual_growth(returns: FloatArray, periods_per_year: float) -> FloatArray:
    """CAGR along the last axis, taking (number of returns) / periods_per_year as the years elapsed."""
    if returns.shape[-1] < 1:
        return np.full(returns.shape[:-1], np.nan)
    # Mean log growth avoids overflowing a product of thousands of factors; log1p(-1) = -inf gives CAGR -1.
    with np.errstate(divide="ignore"):
        growth = np.log1p(returns).mean(axis=-1)
    return np.asarray(np.expm1(growth * periods_per_year), dtype=np.float64)


def _scalar(values: FloatArray) -> float:
    return float(values)


def _std(values: FloatArray) -> float:
    return float(values.std(ddof=1)) if values.size >= 2 else math.nan


def _divide(numerator: float, dispersion: float) -> float:
    """numerator / dispersion, NaN unless the dispersion is a real, non-zero spread."""
    if not math.isfinite(dispersion) or dispersion <= ZERO_DISPERSION:
        return math.nan
    return numerator / dispersion


# --- the pieces of compute_metrics ---


def _on_sessions(series: pd.Series, name: str) -> pd.Series:
    """The series with a DatetimeIndex (dates and timestamps alike), checked to run forward in time."""
    converted = series.astype(np.float64)
    converted.index = pd.DatetimeIndex(pd.to_datetime(series.index))
    if not converted.index.is_monotonic_increasing:
        raise ValueError(f"{name} must be indexed by session in increasing order")
    return converted


def _sortino(returns: FloatArray, periods_per_year: int) -> float:
    """Annualised mean over annualised downside deviation (below 0, averaged over all sessions), as empyrical."""
    if returns.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return _divide(float(returns.mean()) * periods_per_year, downside * math.sqrt(periods_per_year))


def longest_drawdown(equity: pd.Series) -> int:
    """The most consecutive sessions spent below a previous high, from the session after the peak up to
    the session before the recovery (or to the last session when never recovered).

    Example: equity 100, 90, 95, 100, 99 has stretches of 2 (90, 95) and 1 (99), so the answer is 2."""
    underwater = (drawdown(equity) < 0).to_numpy()
    if not underwater.any():
        return 0
    # Every session at a high closes a stretch: label each session by the highs seen so far and count.
    stretch = np.cumsum(~underwater)
    return int(np.bincount(stretch[underwater]).max())


def _calmar(cagr: float, max_drawdown: float) -> float:
    if not max_drawdown < 0:
        return math.nan
    ratio = cagr / abs(max_drawdown)
    return ratio if math.isfinite(ratio) else math.nan


def _value_at_risk(returns: FloatArray) -> tuple[float, float]:
    """Historical one-session VaR (the cutoff percentile, linear interpolation) and CVaR (mean of the
    worst int((n - 1) * cutoff) + 1 returns), both as returns: negative for a loss, as empyrical."""
    if returns.size < 1:
        return math.nan, math.nan
    var = float(np.percentile(returns, 100 * VAR_CUTOFF))
    tail = int((returns.size - 1) * VAR_CUTOFF)
    cvar = float(np.partition(returns, tail)[: tail + 1].mean())
    return var, cvar


def _mean_on_sessions(values: pd.Series | None, index: pd.Index, missing: float | None) -> float:
    """Mean of `values` over the equity's sessions; a missing session counts as `missing`, or is
    left out when `missing` is None. NaN when not given."""
    if values is None:
        return math.nan
    aligned = _on_sessions(values, "a per-session series").reindex(index)
    if missing is not None:
        aligned = aligned.fillna(missing)
    return float(aligned.mean()) if aligned.notna().any() else math.nan


def _costs_paid(costs: pd.Series | None, index: pd.Index) -> float:
    if costs is None:
        return math.nan
    return float(_on_sessions(costs, "costs").reindex(index).fillna(0.0).sum())


def benchmark_returns(benchmark: pd.Series | None, index: pd.Index) -> pd.Series | None:
    """The benchmark's simple returns on the equity's sessions (`index[1:]`).

    The benchmark is reindexed to the equity's sessions and forward-filled (a session without a
    benchmark print leaves it unchanged); before its first value the returns are NaN."""
    if benchmark is None:
        return None
    levels = _on_sessions(benchmark, "benchmark").reindex(index).ffill()
    if (levels <= 0).any():
        raise ValueError("a benchmark must stay positive to have returns")
    return levels.pct_change(fill_method=None).iloc[1:]


def _relative(returns: pd.Series, bench: pd.Series | None, periods_per_year: int) -> _Relative:
    """Benchmark-relative metrics over the sessions where both returns are known."""
    if bench is None:
        return _Relative()
    both = pd.concat([returns, bench], axis=1, join="inner").dropna().to_numpy(dtype=np.float64)
    if len(both) < 2:
        return _Relative(benchmark_return=float(np.prod(1.0 + both[:, 1]) - 1.0) if len(both) else math.nan)
    own, market = both[:, 0], both[:, 1]
    active = own - market
    active_std = _std(active)
    centred = market - market.mean()
    variance = float(np.mean(centred**2))
    # Beta as empyrical: population covariance over population variance (the ddof cancels).
    beta = float(np.mean(centred * own)) / variance if variance > ZERO_DISPERSION**2 else math.nan
    return _Relative(
        benchmark_return=float(np.prod(1.0 + market) - 1.0),
        information_ratio=_divide(float(active.mean()), active_std) * math.sqrt(periods_per_year),
        tracking_error=active_std * math.sqrt(periods_per_year),
        beta=beta,
        # Jensen's alpha annualised by compounding the mean daily residual, as empyrical's alpha.
        alpha=float((1.0 + np.mean(own - beta * market)) ** periods_per_year - 1.0),
    )


def compute_metrics(
    equity: pd.Series,
    *,
    benchmark: pd.Series | None = None,
    turnover: pd.Series | None = None,
    costs: pd.Series | None = None,
    exposure: pd.Series | None = None,
    cash: pd.Series | None = None,
    periods_per_year: int = SESSIONS_PER_YEAR,
) -> Metrics:
    """Metrics of a positive equity curve indexed by session (DatetimeIndex or datetime.date).

    CAGR uses (number of returns = sessions - 1) / periods_per_year as the years; volatility, Sharpe,
    Sortino, tracking error and information ratio are annualised with sqrt(periods_per_year). The
    benchmark (a positive price or value series) is aligned on the equity's sessions (forward-filled).
    `turnover` (traded value / equity) and `costs` (money) treat a missing session as zero;
    `exposure` and `cash` (fractions of equity) average over the sessions they cover. A flat or
    one-session curve gives NaN ratios, never an exception; an empty curve raises ValueError."""
    if equity.empty:
        raise ValueError("compute_metrics needs at least one session of equity")
    curve = _on_sessions(equity, "equity")
    if curve.isna().any():
        raise ValueError("equity has sessions without a value; drop or fill them first")
    returns_series = simple_returns(curve)
    returns = returns_series.to_numpy(dtype=np.float64)
    total_return = float(curve.iloc[-1] / curve.iloc[0] - 1.0)
    cagr = _scalar(compound_annual_growth(returns, periods_per_year))
    max_drawdown = float(drawdown(curve).min())
    mean_turnover = _mean_on_sessions(turnover, curve.index, missing=0.0)
    costs_paid = _costs_paid(costs, curve.index)
    var_95, cvar_95 = _value_at_risk(returns)
    relative = _relative(returns_series, benchmark_returns(benchmark, curve.index), periods_per_year)
    return Metrics(
        sessions=len(curve),
        start=curve.index[0].date(),
        end=curve.index[-1].date(),
        total_return=total_return,
        cagr=cagr,
        volatility=_std(returns) * math.sqrt(periods_per_year),
        sharpe=_scalar(sharpe_ratio(returns, periods_per_year)),
        sortino=_sortino(returns, periods_per_year),
        calmar=_calmar(cagr, max_drawdown),
        max_drawdown=max_drawdown,
        max_drawdown_sessions=longest_drawdown(curve),
        hit_rate=float((returns > 0).mean()) if returns.size else math.nan,
        turnover=mean_turnover,
        annual_turnover=mean_turnover * periods_per_year,
        costs_paid=costs_paid,
        costs_fraction=costs_paid / float(curve.mean()),
        exposure=_mean_on_sessions(exposure, curve.index, missing=None),
        cash=_mean_on_sessions(cash, curve.index, missing=None),
        benchmark_return=relative.benchmark_return,
        information_ratio=relative.information_ratio,
        tracking_error=relative.tracking_error,
        beta=relative.beta,
        alpha=relative.alpha,
        var_95=var_95,
        cvar_95=cvar_95,
    )


# --- attribution ---


def _attribution(returns: pd.Series, labels: pd.Series, bench: pd.Series | None, periods_per_year: int) -> pd.DataFrame:
    """One row per label over the returns attributed to it (labels aligned with returns, row by row)."""
    values = returns.to_numpy(dtype=np.float64)
    frame = pd.DataFrame(
        {
            "label": labels.to_numpy(),
            "ret": values,
            "log_growth": np.log1p(values),
            "hit": values > 0,
            "bench_growth": np.nan if bench is None else np.log1p(bench.to_numpy(dtype=np.float64)),
        }
    )
    grouped = frame.groupby("label", sort=True)
    table = grouped.agg(
        sessions=("ret", "size"),
        mean=("ret", "mean"),
        std=("ret", "std"),
        log_growth=("log_growth", "sum"),
        hit_rate=("hit", "mean"),
        bench_growth=("bench_growth", "sum"),
        bench_known=("bench_growth", "count"),
    )
    std = table["std"].to_numpy(dtype=np.float64)
    scale = math.sqrt(periods_per_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > ZERO_DISPERSION, table["mean"].to_numpy() / std * scale, np.nan)
    result = pd.DataFrame(index=table.index)
    result["sessions"] = table["sessions"].astype(int)
    result["share"] = table["sessions"] / max(len(frame), 1)
    result["compounded_return"] = np.expm1(table["log_growth"])
    result["annualised_return"] = table["mean"] * periods_per_year
    result["volatility"] = table["std"] * scale
    result["sharpe"] = sharpe
    result["hit_rate"] = table["hit_rate"].astype(np.float64)
    result["benchmark_return"] = np.expm1(table["bench_growth"]).where(table["bench_known"] > 0)
    result["excess_return"] = result["compounded_return"] - result["benchmark_return"]
    return result


def metrics_by_group(
    equity: pd.Series,
    groups: pd.Series,
    *,
    benchmark: pd.Series | None = None,
    periods_per_year: int = SESSIONS_PER_YEAR,
) -> pd.DataFrame:
    """Attribution of the equity's returns to the labels in `groups` (a label per session: a regime,
    the selected strategy, ...), one row per label in sorted order, columns ATTRIBUTION_COLUMNS.

    Attribution convention: the return of session t (close t-1 to close t) belongs to the label of
    session t-1, because the decision taken at the close of t-1 earned it. A session without a
    label (missing or NaN) attributes its next return to no row. `share` is the fraction of all
    returns; `compounded_return` and `benchmark_return` compound over the label's sessions only
    (not necessarily contiguous); `annualised_return` is mean * periods_per_year; `volatility` and
    `sharpe` are annualised with sqrt(periods_per_year); `excess_return` is the difference of the
    two compounded returns."""
    curve = _on_sessions(equity, "equity")
    labels = groups.copy()
    labels.index = pd.DatetimeIndex(pd.to_datetime(groups.index))
    labels = labels.reindex(curve.index)
    returns = simple_returns(curve)
    decided_by = pd.Series(labels.to_numpy()[:-1], index=returns.index)
    table = _attribution(returns, decided_by, benchmark_returns(benchmark, curve.index), periods_per_year)
    table.index.name = groups.name or "group"
    return table


def by_year(
    equity: pd.Series,
    benchmark: pd.Series | None = None,
    *,
    periods_per_year: int = SESSIONS_PER_YEAR,
) -> pd.DataFrame:
    """The attribution table by calendar year (columns ATTRIBUTION_COLUMNS).

    Unlike `metrics_by_group`, a return belongs to the year of the session that ends it, so a year's
    compounded return runs from the previous year's last equity to this year's last (the first year:
    from the first equity), matching `returns.monthly_returns`."""
    curve = _on_sessions(equity, "equity")
    returns = simple_returns(curve)
    years = pd.Series(pd.DatetimeIndex(returns.index).year, index=returns.index)
    table = _attribution(returns, years, benchmark_returns(benchmark, curve.index), periods_per_year)
    table.index.name = "year"
    return table
