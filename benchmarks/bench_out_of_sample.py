"""The out-of-sample judgment of the generators (issue 15), from stored walk-forward backtests: every
variant of the given runs over one held-out window, with the same figures for each.

The backtests are made first with `fund backtest run` (benchmarks/README.md gives the two commands); this
script only reads `backtest_equity`, where each run keeps the benchmark beside its variants, so it can
re-cut a run to a window where every model was in force (a walk-forward run's first retraining has no
agent yet, for example).

For each variant, over the window's sessions: Sharpe and CAGR with 95% stationary block-bootstrap
intervals (backtesting/statistics.py, the tear sheet's), annual turnover, the average cash share of
equity, the costs paid, the maximum drawdown, and the deflated Sharpe ratio given every configuration in
the table (plus `--extra-trials` tried elsewhere, e.g. a sweep's size): the probability that the
variant's true Sharpe is positive although it was picked as the best of that many. Then the paired
Sharpe difference of each variant against `--reference` (the default generator), with its interval.

    .venv/bin/python -m benchmarks.bench_out_of_sample --database-url URL --runs 1 2 \\
        --start 2015-01-02 --end 2021-04-20
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from backtesting.statistics import (
    annualised_sharpe,
    cagr_interval,
    deflated_sharpe_ratio,
    difference_interval,
    per_period_sharpe,
    sharpe_interval,
)
from trading.db.engine import make_engine

SESSIONS_PER_YEAR = 252
BENCHMARK = "benchmark"


@dataclass(frozen=True)
class Series:
    """One variant's daily figures on the window: returns, and what it traded and held."""

    label: str
    returns: pd.Series
    turnover: pd.Series
    cash_share: pd.Series
    costs: float


def variant_series(engine: Engine, run_id: int, start: date, end: date) -> list[Series]:
    """Each variant of a stored run, cut to [start, end]; the first return is from the last session before."""
    query = text(
        "SELECT variant, session, equity, cash, turnover, commission + slippage AS costs "
        "FROM backtest_equity WHERE run_id = :run AND session <= :end ORDER BY variant, session"
    )
    frame = pd.read_sql(query, engine, params={"run": run_id, "end": end}, parse_dates=["session"])
    if frame.empty:
        raise SystemExit(f"backtest run {run_id} has no equity up to {end}")
    found = []
    for variant, rows in frame.groupby("variant", sort=False):
        rows = rows.set_index("session")
        equity = rows["equity"].astype(np.float64)
        inside = rows.index >= pd.Timestamp(start)
        if not inside.any():
            raise SystemExit(f"run {run_id}'s {variant} has no session in {start}..{end}")
        returns = equity.pct_change().loc[inside]
        if returns.isna().iloc[0]:  # the run starts inside the window: its first session has no return
            returns = returns.iloc[1:]
        window = rows.loc[inside]
        found.append(
            Series(
                f"{variant} (run {run_id})",
                returns,
                window["turnover"].astype(np.float64),
                (window["cash"].astype(np.float64) / window["equity"].astype(np.float64)),
                float(window["costs"].astype(np.float64).sum()),
            )
        )
    return found


def max_drawdown(returns: pd.Series) -> float:
    wealth = (1.0 + returns.fillna(0.0)).cumprod()
    return float((wealth / wealth.cummax() - 1.0).min())


def on_common_sessions(series: list[Series]) -> list[Series]:
    """Every series on the sessions all of them have a return for (runs that start on different days)."""
    common = series[0].returns.dropna().index
    for item in series[1:]:
        common = common.intersection(item.returns.dropna().index)
    return [
        Series(
            item.label,
            item.returns.reindex(common),
            item.turnover.reindex(common).fillna(0.0),
            item.cash_share.reindex(common),
            item.costs,
        )
        for item in series
    ]


def table(series: list[Series], reference: str, extra_trials: int, seed: int) -> list[str]:
    series = on_common_sessions(series)
    sessions = series[0].returns.index
    # The configurations tried: every variant, not the benchmark (bought and held, nothing chosen).
    trials = [
        float(per_period_sharpe(item.returns.to_numpy()))
        for item in series
        if not item.label.startswith(f"{BENCHMARK} ")
    ]
    # Trials tried elsewhere are unknown one by one: they enter as the table's own spread of Sharpes.
    spread = [*trials, *np.resize(np.asarray(trials), extra_trials).tolist()] if extra_trials else trials
    years = len(sessions) / SESSIONS_PER_YEAR
    lines = [
        f"{len(sessions)} sessions {sessions[0].date()}..{sessions[-1].date()} ({years:.1f} years); "
        f"deflated Sharpe over {len(spread)} configurations",
        f"{'variant':<34}{'Sharpe [95%]':>22}{'CAGR [95%]':>24}{'max DD':>8}{'turnover/yr':>12}"
        f"{'cash':>7}{'costs':>9}{'DSR':>6}",
    ]
    for item in series:
        values = item.returns.to_numpy()
        sharpe = sharpe_interval(values, seed=seed)
        cagr = cagr_interval(values, seed=seed)
        dsr = deflated_sharpe_ratio(values, spread)
        lines.append(
            f"{item.label:<34}{sharpe.point:>6.2f} [{sharpe.low:>5.2f}, {sharpe.high:>5.2f}]   "
            f"{cagr.point:>+7.1%} [{cagr.low:>+6.1%}, {cagr.high:>+6.1%}]{max_drawdown(item.returns):>8.1%}"
            f"{item.turnover.sum() / years:>12.0%}{item.cash_share.mean():>7.1%}{item.costs:>9,.0f}{dsr:>6.2f}"
        )
    anchor = next((item for item in series if item.label.startswith(f"{reference} ")), None)
    if anchor is not None:
        lines.append(f"Sharpe minus {anchor.label}'s, paired block bootstrap, 95%:")
        for item in series:
            if item is anchor:
                continue
            gap = difference_interval(
                item.returns.to_numpy(), anchor.returns.to_numpy(), annualised_sharpe(), seed=seed
            )
            verdict = "includes zero" if gap.low <= 0.0 <= gap.high else "excludes zero"
            lines.append(f"  {item.label:<32}{gap.point:>+6.2f} [{gap.low:+.2f}, {gap.high:+.2f}] ({verdict})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="the database holding the stored backtests")
    parser.add_argument("--runs", type=int, nargs="+", required=True, help="stored backtest run ids")
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first session of the window")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last session of the window")
    parser.add_argument("--reference", default="mock", help="the variant others are compared with (default mock)")
    parser.add_argument("--extra-trials", type=int, default=0, help="configurations tried outside these runs")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    args = parser.parse_args(argv)
    if args.start >= args.end:
        parser.error("--start must be before --end")
    engine = make_engine(args.database_url)
    series = [item for run in args.runs for item in variant_series(engine, run, args.start, args.end)]
    # Each run stores the benchmark bought and held beside its variants: one copy is enough.
    benchmarks = [item for item in series if item.label.startswith(f"{BENCHMARK} ")]
    series = [item for item in series if item not in benchmarks[1:]]
    if any(not math.isfinite(float(item.returns.sum())) for item in series):
        print("a variant's returns are not finite on the window", file=sys.stderr)
        return 1
    print("\n".join(table(series, args.reference, args.extra_trials, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
