"""What the dashboard shows, as frames and plain values read through the project's store: no Streamlit here,
so each query is tested on its own, and everything shown is what SQL on the same tables gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from trading.db.schema import PriceBar, RebalancingLog
from trading.marketdata.decision_view import security_master
from trading.marketdata.view import adjusted_closes
from trading.store import connection_for
from trading.store.accounts import equity_history, list_paper_accounts, paper_positions
from trading.store.backtests import backtest_equity, list_backtests
from trading.store.models import list_models
from trading.store.rebalances import list_approvals, recent_runs, run_orders, run_steps
from trading.store.reconciliations import recent_reconciliations
from trading.store.risk_halts import active_halt


def accounts(engine: Engine) -> list[str]:
    return [record.account_id for record in list_paper_accounts(engine)]


@dataclass(frozen=True)
class Overview:
    curve: pd.DataFrame  # by day: equity, benchmark (the same money in it), drawdown
    cash: float | None
    equity: float | None
    drawdown: float | None
    halt: str | None
    runs: pd.DataFrame
    pending_approvals: int
    last_bar: date | None


def overview(engine: Engine, account_id: str, benchmark: str) -> Overview:
    history = equity_history(engine, account_id)
    curve = pd.DataFrame(
        {"equity": [float(r.equity) for r in history], "peak": [float(r.peak_equity) for r in history]},
        index=pd.DatetimeIndex([pd.Timestamp(r.day) for r in history], name="day"),
    )
    if len(curve):
        closes = adjusted_closes(engine, benchmark, history[0].day, history[-1].day).reindex(curve.index).ffill()
        first = closes.dropna()
        curve["benchmark"] = closes * (curve["equity"].iloc[0] / first.iloc[0]) if len(first) else float("nan")
        curve["drawdown"] = curve["equity"] / curve["peak"] - 1
    halt = active_halt(engine, account_id)
    runs = pd.DataFrame(
        [
            {
                "run": r.id,
                "session": r.rebalance_date,
                "mode": r.mode,
                "status": r.status,
                "regime": r.regime,
                "strategy": r.strategy,
                "risk": r.risk_verdict,
                "error": r.error,
            }
            for r in recent_runs(engine, account_id, limit=10)
        ]
    )
    pending = [a for a in list_approvals(engine, pending_only=True) if a.account_id == account_id]
    last = history[-1] if history else None
    return Overview(
        curve=curve,
        cash=float(last.cash) if last else None,
        equity=float(last.equity) if last else None,
        drawdown=float(curve["drawdown"].iloc[-1]) if len(curve) else None,
        halt=f"since {halt.triggered_on}: {halt.reason}" if halt else None,
        runs=runs,
        pending_approvals=len(pending),
        last_bar=last_bar(engine, benchmark),
    )


def last_bar(engine: Engine, ticker: str) -> date | None:
    with connection_for(engine) as connection:
        found = connection.execute(
            select(PriceBar.date).where(PriceBar.ticker == ticker).order_by(PriceBar.date.desc()).limit(1)
        ).scalar_one_or_none()
    return found


def positions(engine: Engine, account_id: str, sector_cap: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Held positions with their weight of the account, and the weight by sector against the cap."""
    held = paper_positions(engine, account_id)
    history = equity_history(engine, account_id)
    equity = float(history[-1].equity) if history else sum(float(p.market_value) for p in held)
    sectors = security_master(engine)["sector"].to_dict()
    frame = pd.DataFrame(
        [
            {
                "ticker": p.ticker,
                "quantity": float(p.quantity),
                "average price": float(p.average_price),
                "market value": float(p.market_value),
                "weight": float(p.market_value) / equity if equity else 0.0,
                "sector": sectors.get(p.ticker) or "unknown",
            }
            for p in held
        ]
    )
    if frame.empty:
        return frame, pd.DataFrame()
    by_sector = frame.groupby("sector")["weight"].sum().sort_values(ascending=False).to_frame()
    by_sector["cap"] = sector_cap
    by_sector["over the cap"] = by_sector["weight"] > sector_cap
    return frame.sort_values("weight", ascending=False), by_sector


def orders(engine: Engine, account_id: str, runs: int = 5) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for run in recent_runs(engine, account_id, limit=runs):
        for order in run_orders(engine, run.id):
            rows.append(
                {
                    "session": run.rebalance_date,
                    "run": run.id,
                    "ticker": order.ticker,
                    "side": order.side,
                    "quantity": float(order.quantity),
                    "status": order.status,
                    "filled": float(order.filled_quantity) if order.filled_quantity is not None else None,
                    "price": float(order.price) if order.price is not None else None,
                    "reason": order.reason,
                }
            )
    return pd.DataFrame(rows)


def reconciliations(engine: Engine, account_id: str) -> pd.DataFrame:
    """The start-up reconciliations of a broker account, the ones that did not match first."""
    frame = pd.DataFrame(recent_reconciliations(engine, account_id, limit=20))
    if frame.empty or "verdict" not in frame:
        return frame
    return frame.sort_values("verdict", key=lambda v: v == "matched", kind="stable")


def decision(engine: Engine, account_id: str) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """The latest run's decision (its record and each step's note), or None without runs."""
    runs = recent_runs(engine, account_id, limit=1)
    if not runs:
        return None, pd.DataFrame()
    run = runs[0]
    steps = pd.DataFrame([{"step": s.get("step"), "note": s.get("message")} for s in run_steps(engine, run.id)])
    return {
        "run": run.id,
        "session": run.rebalance_date,
        "status": run.status,
        "regime": run.regime,
        "strategy": run.strategy,
        "risk verdict": run.risk_verdict,
        "error": run.error,
    }, steps


def approvals(engine: Engine) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "approval": a.id,
                "run": a.rebalance_id,
                "account": a.account_id,
                "session": a.rebalance_date,
                "mode": a.mode,
                "decision": a.decision,
                "expires": a.expires_at,
                "decided by": a.decided_by,
                "reason": a.reason,
            }
            for a in list_approvals(engine, pending_only=False, limit=50)
        ]
    )


def backtests(engine: Engine) -> pd.DataFrame:
    rows = []
    for record in list_backtests(engine, limit=20):
        main = record.metrics.get(record.main_variant, {})
        rows.append(
            {
                "backtest": record.id,
                "name": record.name,
                "span": f"{record.start_date} .. {record.end_date}",
                "main": record.main_variant,
                "CAGR": main.get("cagr"),
                "Sharpe": main.get("sharpe"),
                "max drawdown": main.get("max_drawdown"),
                "deflated Sharpe": main.get("deflated_sharpe"),
                "variants": len(record.variants),
            }
        )
    return pd.DataFrame(rows)


def backtest_curves(engine: Engine, run_id: int) -> pd.DataFrame:
    equity = backtest_equity(engine, run_id)
    if equity.empty:
        return equity
    wide = equity.pivot(index="session", columns="variant", values="equity").astype("float64")
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="session")
    return wide


def models(engine: Engine, today: date) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": m.id,
                "kind": m.kind,
                "strategy": m.strategy,
                "trained on": f"{m.train_start} .. {m.train_end}",
                "age (days)": (today - m.train_end).days,
                "version": m.version,
                "size (KiB)": round(m.size_bytes / 1024, 1),
            }
            for m in list_models(engine)
        ]
    )


def model_runs(engine: Engine, limit: int = 20) -> pd.DataFrame:
    """The recent runs of every account with the models each recorded (rebalancing_log.model_versions): the
    generator, what built the portfolio, and one column per model role (ranker, agent, ...)."""
    query = (
        select(
            RebalancingLog.id,
            RebalancingLog.account_id,
            RebalancingLog.rebalance_date,
            RebalancingLog.mode,
            RebalancingLog.status,
            RebalancingLog.strategy_selected,
            RebalancingLog.model_versions,
        )
        .order_by(RebalancingLog.rebalance_date.desc(), RebalancingLog.id.desc())
        .limit(limit)
    )
    with connection_for(engine) as connection:
        rows = connection.execute(query).all()
    registry = {record.label: record.id for record in list_models(engine)}
    return pd.DataFrame(
        [
            {
                "run": run_id,
                "account": account_id,
                "session": session,
                "mode": mode,
                "status": status,
                "strategy": strategy,
            }
            | _models_used(versions, registry)
            for run_id, account_id, session, mode, status, strategy, versions in rows
        ]
    )


def _models_used(versions: dict[str, Any] | None, registry: dict[str, int]) -> dict[str, Any]:
    """A run's model_versions as columns. A model still in the registry is named by its id there ("model 3",
    the registry table's first column); anything else (a fallback, a deleted model) as the run recorded it.
    A run that stopped before its target recorded none."""
    recorded = versions or {}
    models = recorded.get("models") or {}
    return {"generator": recorded.get("generator"), "portfolio": recorded.get("portfolio")} | {
        str(role): f"model {registry[str(used)]}" if str(used) in registry else str(used)
        for role, used in models.items()
    }


def coverage(engine: Engine, benchmark: str, exchange: str) -> pd.DataFrame:
    from trading.marketdata.quality import data_status

    status = data_status(engine, benchmark, exchange)
    return status.per_ticker.sort_values("last_date")
