"""Series derived from an equity curve (one value per session): simple returns, drawdown, rolling
Sharpe and the monthly table. The metrics (metrics.py) and the report's charts both start here."""

from __future__ import annotations

import numpy as np
import pandas as pd

SESSIONS_PER_YEAR = 252


def simple_returns(equity: pd.Series) -> pd.Series:
    """Session-over-session simple returns; the first session has none and is dropped."""
    values = equity.astype(np.float64)
    if (values <= 0).any():
        raise ValueError("an equity curve must stay positive to have returns")
    return values.pct_change().iloc[1:]


def drawdown(equity: pd.Series) -> pd.Series:
    """How far each session's equity is below the highest equity so far (0 at a new high, negative below)."""
    values = equity.astype(np.float64)
    return values / values.cummax() - 1.0


def rolling_sharpe(returns: pd.Series, window: int = 126, periods_per_year: int = SESSIONS_PER_YEAR) -> pd.Series:
    """Annualised Sharpe ratio (no risk-free rate) over a trailing window of `window` sessions."""
    mean = returns.rolling(window).mean()
    std = returns.rolling(window).std(ddof=1)
    sharpe: pd.Series = (mean / std.where(std > 0)) * np.sqrt(periods_per_year)
    return sharpe


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month, years as rows and months (1..12) as columns.

    A month's return runs from the previous month's last equity (the first month: the first equity)."""
    values = equity.astype(np.float64)
    values.index = pd.DatetimeIndex(values.index)
    month_end = values.resample("ME").last().dropna()
    previous = month_end.shift(1)
    previous.iloc[0] = values.iloc[0]
    by_month = month_end / previous - 1.0
    months = pd.DatetimeIndex(by_month.index)
    table = pd.DataFrame({"year": months.year, "month": months.month, "return": by_month.to_numpy()})
    return table.pivot(index="year", columns="month", values="return")
