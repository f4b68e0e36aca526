"""What a backtest's equity curves and decisions say: the comparison table with intervals and the deflated
Sharpe, the verdicts in sentences (did the main variant beat the others; does switching strategies by regime
add anything), the attribution by year, regime and strategy, and the quality of the decisions.

Computed from the stored rows alone (backtest_equity, backtest_decisions), so that the report of a stored
run and the summary printed at the end of the run say the same thing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtesting.metrics import by_year, compute_metrics, metrics_by_group
from backtesting.returns import simple_returns
from backtesting.statistics import (
    Interval,
    PBOResult,
    annualised_cagr,
    annualised_sharpe,
    brier_score,
    cagr_interval,
    calibration_table,
    deflated_sharpe_ratio,
    difference_interval,
    per_period_sharpe,
    probability_of_backtest_overfitting,
    sharpe_interval,
)
from backtesting.variants import BENCHMARK, FIXED_PREFIX, RANDOM

# How far ahead a decision's outcome is judged for the selector's calibration (about a month).
OUTCOME_SESSIONS = 21
BOOTSTRAP_SAMPLES = 1000
RISK_SHIFT_NOTED = 0.05
COMPARISON_COLUMNS = (
    "total_return",
    "cagr",
    "cagr_low",
    "cagr_high",
    "volatility",
    "sharpe",
    "sharpe_low",
    "sharpe_high",
    "deflated_sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_sessions",
    "hit_rate",
    "annual_turnover",
    "costs_paid",
    "exposure",
    "cash",
    "information_ratio",
    "tracking_error",
    "beta",
    "alpha",
    "var_95",
    "cvar_95",
)


@dataclass(frozen=True)
class Analysis:
    comparison: pd.DataFrame  # index variant, COMPARISON_COLUMNS
    verdicts: list[str]
    pbo: PBOResult | None
    by_year: pd.DataFrame
    by_regime: pd.DataFrame
    by_strategy: pd.DataFrame
    decision_quality: pd.DataFrame
    calibration: pd.DataFrame


def analyse(
    curves: pd.DataFrame,
    main: str,
    sessions: Mapping[str, pd.DataFrame],
    decisions: pd.DataFrame,
    *,
    seed: int = 0,
) -> Analysis:
    """`curves`: equity by session, a column per variant and 'benchmark'. `sessions`: each replayed
    variant's session frame (turnover, costs, exposure, cash). `decisions`: the main variant's deciding run
    per session, indexed by session (regime, strategy, confidence, risk_verdict, risk_shift, needed_approval)."""
    benchmark = curves.get(BENCHMARK)
    comparison = comparison_table(curves, main, sessions, seed=seed)
    returns = curves.apply(simple_returns)
    verdicts = verdict_lines(returns, main, seed=seed)
    pbo = overfitting(returns.drop(columns=[BENCHMARK], errors="ignore"))
    if pbo is not None:
        verdicts.append(
            f"Probability of backtest overfitting across the {returns.shape[1] - (benchmark is not None)} "
            f"configurations compared (CSCV, {pbo.combinations} splits): {pbo.pbo:.0%}. Near 50% means picking "
            "the best in-sample configuration says nothing about its rank out of sample."
        )
    equity = curves[main]
    return Analysis(
        comparison=comparison,
        verdicts=verdicts,
        pbo=pbo,
        by_year=by_year(equity, benchmark),
        by_regime=_grouped(equity, decisions, "regime", benchmark),
        by_strategy=_grouped(equity, decisions, "strategy", benchmark),
        decision_quality=decision_quality(decisions),
        calibration=_calibration(curves, main, decisions),
    )


def comparison_table(
    curves: pd.DataFrame, main: str, sessions: Mapping[str, pd.DataFrame], *, seed: int
) -> pd.DataFrame:
    benchmark = curves.get(BENCHMARK)
    returns = curves.apply(simple_returns)
    trials = [float(per_period_sharpe(returns[c].to_numpy())) for c in returns if c != BENCHMARK]
    trials = [t for t in trials if math.isfinite(t)]
    rows = {}
    for name in curves.columns:
        own = sessions.get(name)
        metrics = compute_metrics(
            curves[name],
            benchmark=benchmark if name != BENCHMARK else None,
            turnover=own["turnover"] if own is not None else None,
            costs=own["costs"] if own is not None else None,
            exposure=own["exposure"] if own is not None else None,
            cash=own["cash"] if own is not None else None,
        ).as_dict()
        values = returns[name].to_numpy()
        sharpe = sharpe_interval(values, samples=BOOTSTRAP_SAMPLES, seed=seed)
        cagr = cagr_interval(values, samples=BOOTSTRAP_SAMPLES, seed=seed)
        metrics |= {"sharpe_low": sharpe.low, "sharpe_high": sharpe.high, "cagr_low": cagr.low, "cagr_high": cagr.high}
        metrics["deflated_sharpe"] = (
            deflated_sharpe_ratio(values, trials) if name != BENCHMARK and len(trials) > 1 else math.nan
        )
        rows[name] = metrics
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "variant"
    return table.reindex(columns=list(COMPARISON_COLUMNS)).astype("float64")


def verdict_lines(returns: pd.DataFrame, main: str, *, seed: int) -> list[str]:
    """Sentences: the main variant against each other one (difference of annualised Sharpe and CAGR, with
    paired block-bootstrap intervals), then whether switching strategies by regime added anything."""
    lines = []
    sharpe, cagr = annualised_sharpe(), annualised_cagr()
    differences: dict[str, Interval] = {}
    for other in returns.columns:
        if other == main:
            continue
        a, b = returns[main].to_numpy(), returns[other].to_numpy()
        d_sharpe = difference_interval(a, b, sharpe, samples=BOOTSTRAP_SAMPLES, seed=seed)
        d_cagr = difference_interval(a, b, cagr, samples=BOOTSTRAP_SAMPLES, seed=seed)
        differences[other] = d_sharpe
        word = "beat" if d_sharpe.point > 0 else "trailed"
        sure = which_exclude_zero(d_sharpe, d_cagr)
        lines.append(
            f"{main} {word} {other}: Sharpe {d_sharpe.point:+.2f} [{d_sharpe.low:+.2f}, {d_sharpe.high:+.2f}], "
            f"CAGR {d_cagr.point:+.1%} [{d_cagr.low:+.1%}, {d_cagr.high:+.1%}] (95%; {sure})."
        )
    lines.extend(_switching_lines(main, differences))
    return lines


def which_exclude_zero(sharpe: Interval, cagr: Interval) -> str:
    """Which of the two paired intervals exclude zero, in words (the verdict is the Sharpe's)."""
    sharpe_sure, cagr_sure = _excludes_zero(sharpe), _excludes_zero(cagr)
    if sharpe_sure and cagr_sure:
        return "both intervals exclude zero"
    if sharpe_sure:
        return "the Sharpe interval excludes zero, the CAGR interval does not"
    if cagr_sure:
        return "the CAGR interval excludes zero, the Sharpe interval does not"
    return "both intervals include zero: not distinguishable"


def _excludes_zero(interval: Interval) -> bool:
    return interval.low > 0 or interval.high < 0


def _switching_lines(main: str, differences: dict[str, Interval]) -> list[str]:
    fixed = {n: d for n, d in differences.items() if n.startswith(FIXED_PREFIX)}
    lines = []
    if fixed:
        beaten = [n for n, d in fixed.items() if d.point > 0]
        surely = [n for n, d in fixed.items() if d.low > 0]
        worse = [n for n, d in fixed.items() if d.high < 0]
        lines.append(
            f"Switching by regime: the selector's Sharpe beat {len(beaten)} of the {len(fixed)} strategies held "
            f"throughout ({len(surely)} with an interval above zero, {len(worse)} below it)."
        )
    if RANDOM in differences:
        d = differences[RANDOM]
        answer = "adds something" if d.low > 0 else "hurts" if d.high < 0 else "is not distinguishable from chance"
        lines.append(
            f"Against a random strategy switched on the same sessions, the selector's choice {answer} "
            f"(Sharpe difference {d.point:+.2f} [{d.low:+.2f}, {d.high:+.2f}])."
        )
    return lines


def overfitting(returns: pd.DataFrame) -> PBOResult | None:
    """CSCV across the configurations compared, when there are several and enough sessions to split."""
    if returns.shape[1] < 2:
        return None
    partitions = min(16, 2 * (len(returns) // 40))
    if partitions < 4:
        return None
    return probability_of_backtest_overfitting(returns, partitions=partitions)


def _grouped(equity: pd.Series, decisions: pd.DataFrame, column: str, benchmark: pd.Series | None) -> pd.DataFrame:
    if decisions.empty or column not in decisions:
        return pd.DataFrame()
    labels = decisions[column].astype("object")
    labels.index = pd.DatetimeIndex(pd.to_datetime(labels.index))
    labels.name = column
    return metrics_by_group(equity, labels, benchmark=benchmark)


def decision_quality(decisions: pd.DataFrame) -> pd.DataFrame:
    """How often the risk manager changed or blocked the target and why, how many plans needed approval."""
    if decisions.empty:
        return pd.DataFrame(columns=["value"])
    count = len(decisions)
    # Scaling every weight down for the minimum cash moves a little weight on every plan: count a change
    # only when the risk manager moved more than RISK_SHIFT_NOTED of equity.
    shifted = decisions["risk_shift"].fillna(0.0) > RISK_SHIFT_NOTED
    verdicts = decisions["risk_verdict"].fillna("none").value_counts()
    moved = bool(shifted.any())
    rows: list[tuple[str, str]] = [
        ("sessions decided", f"{count}"),
        (
            f"target moved more than {RISK_SHIFT_NOTED:.0%} by the risk manager",
            f"{int(shifted.sum())} ({shifted.mean():.0%})",
        ),
        ("mean weight moved when changed", f"{decisions.loc[shifted, 'risk_shift'].mean():.1%}" if moved else "-"),
        ("plans that needed approval", f"{int(decisions['needed_approval'].sum())}"),
        ("failed runs", f"{int((decisions['status'] == 'failed').sum())}"),
    ]
    rows += [(f"risk verdict {name}", f"{n} ({n / count:.0%})") for name, n in verdicts.items()]
    rows += [(f"reason: {rule}", f"{n}") for rule, n in _reason_counts(decisions["risk_reasons"]).items()]
    return pd.DataFrame({"value": [v for _, v in rows]}, index=pd.Index([k for k, _ in rows], name="measure"))


def _reason_counts(reasons: pd.Series) -> pd.Series:
    rules = [str(r).split(":", 1)[0] for listed in reasons.dropna() for r in (listed or [])]
    return pd.Series(rules, dtype="object").value_counts().head(8)


def _calibration(curves: pd.DataFrame, main: str, decisions: pd.DataFrame) -> pd.DataFrame:
    """The selector's confidence against whether the main variant beat the benchmark over the next month."""
    if decisions.empty or BENCHMARK not in curves or "confidence" not in decisions:
        return pd.DataFrame()
    ahead = curves[[main, BENCHMARK]].shift(-OUTCOME_SESSIONS) / curves[[main, BENCHMARK]] - 1.0
    hit = (ahead[main] > ahead[BENCHMARK]).where(ahead[main].notna())
    confidence = decisions["confidence"].astype("float64")
    confidence.index = pd.DatetimeIndex(pd.to_datetime(confidence.index))
    joined = pd.DataFrame({"confidence": confidence, "hit": hit.reindex(confidence.index)}).dropna()
    if len(joined) < 10:
        return pd.DataFrame()
    table = calibration_table(joined["confidence"], joined["hit"].astype(bool))
    table.attrs["brier"] = brier_score(joined["confidence"], joined["hit"].astype(bool))
    return table


def sessions_by_variant(equity_rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each variant's stored equity rows (the benchmark's too) as its session frame."""
    return {str(name): sessions_frame(rows) for name, rows in equity_rows.groupby("variant", sort=False)}


def sessions_frame(equity_rows: pd.DataFrame) -> pd.DataFrame:
    """A variant's stored equity rows as the session frame the analysis and the report read."""
    frame = equity_rows.set_index(pd.DatetimeIndex(pd.to_datetime(equity_rows["session"]), name="session"))
    out = pd.DataFrame(index=frame.index)
    out["equity"] = frame["equity"]
    out["cash"] = frame["cash"] / frame["equity"]
    out["exposure"] = frame["positions_value"] / frame["equity"]
    out["turnover"] = frame["turnover"]
    out["costs"] = frame["commission"] + frame["slippage"]
    return out


def curves_frame(equity_rows: pd.DataFrame, benchmark: pd.Series | None, order: Sequence[str]) -> pd.DataFrame:
    """Equity by session, one column per variant (in `order`), plus the benchmark."""
    wide = equity_rows.pivot(index="session", columns="variant", values="equity")
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="session")
    wide = wide[[v for v in order if v in wide.columns]]
    if benchmark is not None:
        wide[BENCHMARK] = benchmark.reindex(wide.index).to_numpy(np.float64)
    return wide
