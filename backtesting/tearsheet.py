"""A stored backtest run as a tear sheet: everything is read back from the backtest tables and analysed
again (analysis.py), so the report of a run shows what its rows say, not what a process once printed."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine

from backtesting.analysis import Analysis, analyse, curves_frame, sessions_by_variant, sessions_frame
from backtesting.report.sheet import TearSheet
from backtesting.variants import BENCHMARK
from trading.store.backtests import BacktestRecord, backtest_decisions, backtest_equity, get_backtest


def stored_analysis(engine: Engine, run_id: int) -> tuple[BacktestRecord, Analysis, pd.DataFrame, pd.DataFrame]:
    """The run, its analysis, the curves of every variant and the main variant's decided sessions."""
    record = get_backtest(engine, run_id)
    equity = backtest_equity(engine, run_id)
    order = [v for v in record.variants if v != BENCHMARK]
    stored_benchmark = equity[equity["variant"] == BENCHMARK]
    benchmark = None
    if not stored_benchmark.empty:
        benchmark = pd.Series(
            stored_benchmark["equity"].to_numpy(),
            index=pd.DatetimeIndex(pd.to_datetime(stored_benchmark["session"])),
        )
    curves = curves_frame(equity[equity["variant"] != BENCHMARK], benchmark, order)
    main = record.main_variant
    decisions = main_decisions(engine, run_id, main)
    own = sessions_by_variant(equity[equity["variant"] != BENCHMARK])
    return record, analyse(curves, main, own, decisions, seed=record.seed), curves, decisions


def main_decisions(engine: Engine, run_id: int, main: str) -> pd.DataFrame:
    rows = backtest_decisions(engine, run_id)
    if rows.empty:
        return rows
    rows = rows[rows["variant"] == main].sort_values(["session", "attempt"]).drop_duplicates("session")
    return rows.set_index(pd.DatetimeIndex(pd.to_datetime(rows["session"]), name="session"))


def build_tearsheet(engine: Engine, run_id: int) -> TearSheet:
    record, analysis, curves, decisions = stored_analysis(engine, run_id)
    equity = backtest_equity(engine, run_id)
    sessions = sessions_frame(equity[equity["variant"] == record.main_variant])
    sessions["benchmark"] = curves[BENCHMARK] if BENCHMARK in curves else float("nan")
    sessions["regime"] = decisions["regime"].reindex(sessions.index) if not decisions.empty else None
    sessions["strategy"] = decisions["strategy"].reindex(sessions.index) if not decisions.empty else None
    title = f"Backtest {record.id}" + (f": {record.name}" if record.name else "")
    subtitle = (
        f"{record.start_date} to {record.end_date} · {record.sessions} sessions · {record.main_variant} generator · "
        f"capital {record.capital:,.0f}"
    )
    parameters = {str(k): str(v) for k, v in record.parameters.items()} | {
        "code version": record.code_version,
        "data fingerprint": record.data_fingerprint,
        "seed": str(record.seed),
        "replay time": f"{record.elapsed_seconds:.1f} s",
        "slippage (bps)": str(record.settings.get("execution", {}).get("slippage_bps")),
        "risk limits": ", ".join(f"{k}={v}" for k, v in record.settings.get("risk", {}).items()),
    }
    quality = analysis.decision_quality
    brier = analysis.calibration.attrs.get("brier") if not analysis.calibration.empty else None
    if brier is not None:
        quality = pd.concat([quality, pd.DataFrame({"value": [f"{brier:.3f}"]}, index=["Brier score (calibration)"])])
    return TearSheet(
        title=title,
        subtitle=subtitle,
        parameters=parameters,
        notes=list(record.notes),
        main=record.main_variant,
        sessions=sessions,
        equity=curves,
        comparison=analysis.comparison,
        verdicts=analysis.verdicts,
        by_year=analysis.by_year,
        by_regime=analysis.by_regime,
        by_strategy=analysis.by_strategy,
        decision_quality=quality,
        calibration=analysis.calibration,
        generated_at=datetime.now(UTC),
    )
