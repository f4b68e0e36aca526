"""A finished replay into the backtest tables (one transaction), and each strategy's returns by regime into
strategy_performance, where the selector reads them as tie-break evidence for later decisions."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from backtesting.analysis import Analysis, analyse, curves_frame, sessions_by_variant
from backtesting.job import Replayed, code_version
from backtesting.metrics import compute_metrics
from backtesting.results import VariantResult
from backtesting.variants import BENCHMARK, FIXED_PREFIX
from trading.db.engine import is_postgresql
from trading.settings import DEFENSIVE, STRATEGIES
from trading.store.backtests import BacktestRows, data_fingerprint, save_backtest
from trading.store.performance import PerformanceRow, record_performance

logger = logging.getLogger(__name__)

FILL_TIMING = (
    "Decisions use data up to each session's close; orders fill at the next session's open with the paper "
    "venue's slippage and commission (the same engine as paper trading)."
)

BEST_FACTOR_NOTE = (
    "best-factor holds, for each strategy, the factor with the best mean daily rank IC over the rankers' training "
    "window before each retraining date (labels ending before it); the run's models list each choice and its "
    "evidence, and each decision's model versions the factor in force."
)


def notes_for(replayed: Replayed, *, compared: int) -> list[str]:
    settings = replayed.settings
    costs = settings.execution
    notes = [
        FILL_TIMING,
        f"Costs: slippage {costs.slippage_bps} bps on every fill, commission as configured "
        f"({costs.commission_per_share} a share, minimum {costs.commission_minimum}).",
        replayed.survivorship,
        "The benchmark is bought at the first session's close and held, without costs or risk limits.",
        f"Drawdown halts resume by the policy '{settings.risk.drawdown_resume}' (nobody resumes them by hand).",
        f"Plans needing approval were {_approvals(replayed)}.",
        "A single historical path: the intervals are block-bootstrap intervals of this path, not of the future.",
    ]
    if "best_factor" in replayed.models:
        notes.append(BEST_FACTOR_NOTE)
    if compared > 1:
        notes.append(
            f"{compared} configurations were compared on the same data: the best of them is flattered by the "
            "choice (the deflated Sharpe and the probability of overfitting allow for it)."
        )
    return notes


def _approvals(replayed: Replayed) -> str:
    return "approved at once" if replayed.request.approvals == "approve" else "left to expire"


def store_replay(engine: Engine, replayed: Replayed, *, elapsed: float) -> tuple[int, Analysis]:
    """Write the run and its rows; the analysis its summary printed (the report recomputes the same)."""
    first, last = replayed.sessions[0], replayed.sessions[-1]
    with ThreadPoolExecutor(1) as pool:
        # The data's fingerprint is an aggregate the server computes over every bar of the span: on
        # PostgreSQL it runs there while this process measures the replay and builds its rows.
        if is_postgresql(engine):
            fingerprint: Callable[[], str] = pool.submit(data_fingerprint, engine, first, last).result
        else:
            fingerprint = partial(data_fingerprint, engine, first, last)
        return _store(engine, replayed, elapsed, fingerprint)


def _store(engine: Engine, replayed: Replayed, elapsed: float, fingerprint: Callable[[], str]) -> tuple[int, Analysis]:
    results = replayed.results
    main = results[0]
    equity_rows = [*(_equity_rows(r) for r in results), _benchmark_rows(replayed.benchmark)]
    all_equity = [row for rows in equity_rows for row in rows]
    frame = pd.DataFrame(all_equity)
    money = ["equity", "cash", "positions_value", "turnover", "commission", "slippage"]
    frame[money] = frame[money].astype("float64")  # the analysis reads them as the report will: floats
    curves = curves_frame(frame[frame["variant"] != BENCHMARK], replayed.benchmark, [r.name for r in results])
    decided = decided_frame(main)
    own = sessions_by_variant(frame[frame["variant"] != BENCHMARK])
    analysis = analyse(curves, main.name, own, decided, seed=replayed.request.seed)
    sessions = replayed.sessions
    run = {
        "name": replayed.request.name,
        "start_date": sessions[0],
        "end_date": sessions[-1],
        "sessions": len(sessions),
        "capital": replayed.request.capital,
        "main_variant": main.name,
        "variants": {r.name: r.description for r in results} | {BENCHMARK: "bought and held"},
        "parameters": replayed.request.parameters(),
        "settings": _settings_json(replayed),
        "code_version": code_version(),
        "data_fingerprint": fingerprint(),
        "seed": replayed.request.seed,
        "models": replayed.models,
        "metrics": {
            name: {k: _json(v) for k, v in row.items()} for name, row in analysis.comparison.to_dict("index").items()
        },
        "notes": notes_for(replayed, compared=len(results)),
        "elapsed_seconds": elapsed,
    }
    rows = BacktestRows(
        equity=all_equity,
        decisions=[row for r in results for row in _decision_rows(r)],
        orders=[row for r in results for row in _order_rows(r)],
        fills=[row for r in results for row in _fill_rows(r)],
    )
    run_id = save_backtest(engine, run, rows)
    written = record_performance(engine, performance_rows(replayed))
    logger.info("backtest %d: %d strategy_performance rows", run_id, written)
    return run_id, analysis


def decided_frame(result: VariantResult) -> pd.DataFrame:
    decided = result.decided()
    return decided.rename(columns={"adjusted": "risk_shift"}) if not decided.empty else decided


def _settings_json(replayed: Replayed) -> dict[str, Any]:
    values: dict[str, Any] = replayed.settings.model_dump(mode="json", exclude={"database_url"})
    return {k: v for k, v in values.items() if "secret" not in k and "key" not in k}


def _json(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _money(value: Any) -> Decimal:
    return Decimal(repr(round(float(value), 4)))


def _equity_rows(result: VariantResult) -> list[dict[str, Any]]:
    frame = result.equity
    return [
        {
            "variant": result.name,
            "session": stamp.date(),
            "equity": _money(row.equity),
            "cash": _money(row.cash),
            "positions_value": _money(row.positions_value),
            "turnover": float(row.turnover),  # type: ignore[arg-type]
            "commission": _money(row.commission),
            "slippage": _money(row.slippage),
        }
        for stamp, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]


def _benchmark_rows(benchmark: pd.Series) -> list[dict[str, Any]]:
    zero = Decimal(0)
    stamps = pd.DatetimeIndex(benchmark.index)
    return [
        {
            "variant": BENCHMARK,
            "session": stamp.date(),
            "equity": _money(value),
            "cash": zero,
            "positions_value": _money(value),
            "turnover": 0.0,
            "commission": zero,
            "slippage": zero,
        }
        for stamp, value in zip(stamps, benchmark.to_numpy(), strict=True)
    ]


def _decision_rows(result: VariantResult) -> Iterator[dict[str, Any]]:
    for row in result.decisions.to_dict("records"):
        yield {
            "variant": result.name,
            "session": row["session"],
            "attempt": int(row["attempt"]),
            "status": row["status"],
            "regime": row["regime"],
            "strategy": row["strategy"],
            "confidence": _json(row["confidence"]),
            "strategy_reason": row["strategy_reason"],
            "model_versions": row["model_versions"],
            "risk_verdict": row["risk_verdict"],
            "risk_reasons": row["risk_reasons"],
            "turnover": _json(row["turnover"]),
            "num_buys": int(row["num_buys"] or 0),
            "num_sells": int(row["num_sells"] or 0),
            "needed_approval": bool(row["needed_approval"]),
            "risk_shift": _json(row["adjusted"]),
            "error": row["error"],
        }


def _order_rows(result: VariantResult) -> Iterator[dict[str, Any]]:
    for row in result.orders.to_dict("records"):
        yield {"variant": result.name} | {str(k): v for k, v in row.items() if k != "broker_order_id"}


def _fill_rows(result: VariantResult) -> Iterator[dict[str, Any]]:
    for row in result.fills.to_dict("records"):
        yield {"variant": result.name} | {str(k): v for k, v in row.items()}


def performance_rows(replayed: Replayed) -> list[PerformanceRow]:
    """Each strategy's return over each spell of one regime: from the variants holding one strategy
    throughout when they were compared (every strategy in every regime), else from the main variant's
    spells of (selected strategy, regime)."""
    # One source per generator, not per run: a backtest of the same span again replaces its rows (the table's
    # key includes the source) instead of counting the same periods twice as evidence.
    source = f"backtest:{replayed.request.generator}"
    fixed = [r for r in replayed.results if r.name.startswith(FIXED_PREFIX)]
    main = replayed.results[0]
    regimes = decided_frame(main)["regime"] if not main.decisions.empty else pd.Series(dtype="object")
    rows: list[PerformanceRow] = []
    if fixed:
        for result in fixed:
            strategy = result.name.removeprefix(FIXED_PREFIX)
            labels = pd.Series(strategy, index=regimes.index)
            rows += _spells(result.equity_curve, labels, regimes, source)
    else:
        rows += _spells(main.equity_curve, decided_frame(main)["strategy"], regimes, source)
    return rows


def _spells(equity: pd.Series, strategies: pd.Series, regimes: pd.Series, source: str) -> list[PerformanceRow]:
    """Contiguous sessions with one (strategy, regime): the return from the spell's first close to its last."""
    keys = pd.DataFrame({"strategy": strategies, "regime": regimes}).dropna()
    keys.index = pd.DatetimeIndex(pd.to_datetime(keys.index))
    curve = equity.reindex(keys.index)
    change = (keys != keys.shift()).any(axis=1).cumsum()
    rows = []
    for _, spell in keys.groupby(change):
        strategy, regime = spell.iloc[0]["strategy"], spell.iloc[0]["regime"]
        if strategy not in (*STRATEGIES, DEFENSIVE) or len(spell) < 2:
            continue
        values = curve.loc[spell.index]
        metrics = compute_metrics(values)
        rows.append(
            PerformanceRow(
                strategy=str(strategy),
                regime=str(regime),
                period_start=spell.index[0].date(),
                period_end=spell.index[-1].date(),
                total_return=float(values.iloc[-1] / values.iloc[0] - 1.0),
                source=source,
                sharpe_ratio=metrics.sharpe if math.isfinite(metrics.sharpe) else None,
                max_drawdown=-metrics.max_drawdown if math.isfinite(metrics.max_drawdown) else None,
            )
        )
    return rows
