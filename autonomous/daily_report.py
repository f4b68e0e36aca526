"""`fund report daily`: the sentinel report of one session, from what the day's run recorded: a short text
(regime, strategy, trades, equity, drawdown, what changed since the previous run and why) and a PNG chart of
the account's equity against the benchmark bought with the same money on the first recorded day.

Read-only: everything comes from rebalancing_log (the run and its step notes), trade_executions,
account_equity and the benchmark's bars. The CLI writes it to a folder and sends it to the notification
targets (trading/notify.py; a target that cannot take the attachment gets the text).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from trading.errors import DataError
from trading.marketdata.view import adjusted_closes
from trading.settings import FundSettings
from trading.store.accounts import EquityRecord, equity_history
from trading.store.rebalances import OrderRecord, RunRecord, recent_runs, run_orders, run_steps

logger = logging.getLogger(__name__)

# The step notes that say why: what the run read of the market, what it chose and what the risk manager did.
WHY_STEPS = ("regime", "strategy", "risk", "plan")


@dataclass(frozen=True)
class DailyReport:
    account_id: str
    session: date
    title: str
    text: str
    chart_png: bytes | None  # None without two days of equity to draw

    def write(self, folder: Path) -> list[Path]:
        """The text (and the chart) in `folder`, named by account and session; the paths written."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"daily-{self.account_id}-{self.session.isoformat()}"
        written = [folder / f"{stem}.txt"]
        written[0].write_text(f"{self.title}\n\n{self.text}\n")
        if self.chart_png is not None:
            written.append(folder / f"{stem}.png")
            written[1].write_bytes(self.chart_png)
        return written


def build_daily_report(engine: Engine, settings: FundSettings, account_id: str, day: date | None) -> DailyReport:
    """The report of `day` (default: the account's latest run); a DataError naming what is missing."""
    runs = recent_runs(engine, account_id, limit=400)
    if not runs:
        raise DataError(f"account {account_id} has no run recorded: nothing to report (`fund rebalance` first)")
    session = day or runs[0].rebalance_date
    today = [run for run in runs if run.rebalance_date == session]
    if not today:
        raise DataError(f"account {account_id} has no run on {session}; its latest run is on {runs[0].rebalance_date}")
    run = today[0]  # the newest attempt of the day
    previous = next((r for r in runs if r.rebalance_date < session and r.status != "failed"), None)
    equity = [record for record in equity_history(engine, account_id) if record.day <= session]
    benchmark = _benchmark_closes(engine, settings.data.benchmark_ticker, equity)
    lines = [
        _decision_line(run),
        *_change_lines(run, previous),
        *_why_lines(engine, run),
        _trades_line(run_orders(engine, run.id)),
        *_equity_lines(equity, benchmark, settings.data.benchmark_ticker),
    ]
    title = f"Daily report {account_id} {session} ({run.mode}): {run.status}"
    chart = _chart(equity, benchmark, account_id, settings.data.benchmark_ticker) if len(equity) >= 2 else None
    return DailyReport(account_id, session, title, "\n".join(line for line in lines if line), chart)


def _decision_line(run: RunRecord) -> str:
    if run.status == "failed":
        return f"The run failed and traded nothing: {run.error or 'no error recorded'}."
    verdict = f", risk verdict {run.risk_verdict}" if run.risk_verdict else ""
    return f"Regime {run.regime or 'unknown'}; strategy {run.strategy or 'none'}{verdict}; status {run.status}."


def _change_lines(run: RunRecord, previous: RunRecord | None) -> list[str]:
    if previous is None:
        return ["No earlier run to compare with."]
    changes = []
    if previous.regime != run.regime:
        changes.append(f"the regime changed from {previous.regime} to {run.regime}")
    if previous.strategy != run.strategy:
        changes.append(f"the strategy changed from {previous.strategy} to {run.strategy}")
    if not changes:
        return [f"Unchanged since {previous.rebalance_date}: the same regime and strategy."]
    return [f"Since {previous.rebalance_date}: {'; '.join(changes)}."]


def _why_lines(engine: Engine, run: RunRecord) -> list[str]:
    notes = {step.get("step"): step.get("message") for step in run_steps(engine, run.id)}
    return [f"{name.capitalize()}: {notes[name]}" for name in WHY_STEPS if notes.get(name)]


def _trades_line(orders: list[OrderRecord]) -> str:
    if not orders:
        return "Trades: none."
    parts = []
    for side, verb in (("buy", "buys"), ("sell", "sells")):
        tickers = sorted(o.ticker for o in orders if o.side == side)
        if tickers:
            shown = ", ".join(tickers[:8]) + (f" and {len(tickers) - 8} more" if len(tickers) > 8 else "")
            parts.append(f"{len(tickers)} {verb} ({shown})")
    statuses: dict[str, int] = {}
    for order in orders:
        statuses[order.status] = statuses.get(order.status, 0) + 1
    states = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    return f"Trades: {'; '.join(parts)}; {states}."


def _equity_lines(equity: list[EquityRecord], benchmark: pd.Series, ticker: str) -> list[str]:
    if not equity:
        return ["Equity: none recorded yet."]
    first, last = equity[0], equity[-1]
    lines = [f"Equity {last.equity:,.2f} (cash {last.cash:,.2f}) on {last.day}."]
    if len(equity) >= 2:
        before = equity[-2]
        lines.append(f"Change on the day {float(last.equity / before.equity) - 1:+.2%}.")
        since = float(last.equity / first.equity) - 1
        against = ""
        if len(benchmark.dropna()) >= 2:
            bench = float(benchmark.dropna().iloc[-1] / benchmark.dropna().iloc[0]) - 1
            against = f" against {ticker} {bench:+.2%}"
        lines.append(f"Since {first.day}: {since:+.2%}{against}.")
    peak = max(record.peak_equity for record in equity)
    lines.append(f"Drawdown from the peak {peak:,.2f}: {float(1 - last.equity / peak):.2%}.")
    return lines


def _benchmark_closes(engine: Engine, ticker: str, equity: list[EquityRecord]) -> pd.Series:
    if not equity:
        return pd.Series(dtype="float64")
    closes = adjusted_closes(engine, ticker, equity[0].day, equity[-1].day)
    return closes.reindex(pd.DatetimeIndex([pd.Timestamp(record.day) for record in equity])).ffill()


def _chart(equity: list[EquityRecord], benchmark: pd.Series, account_id: str, ticker: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no screen: draw into memory
    from matplotlib import pyplot

    days = pd.DatetimeIndex([pd.Timestamp(record.day) for record in equity]).to_numpy()
    values = [float(record.equity) for record in equity]
    figure, axes = pyplot.subplots(figsize=(8, 4), dpi=100)
    try:
        axes.plot(days, values, label=account_id, color="#1f77b4", linewidth=1.8)
        scaled = benchmark.dropna()
        if len(scaled) >= 2:
            bought = values[0] / float(scaled.iloc[0])
            axes.plot(
                pd.DatetimeIndex([pd.Timestamp(d) for d in scaled.index]).to_numpy(),
                (scaled * bought).to_numpy(),
                label=f"{ticker} (same money)",
                color="#7f7f7f",
                linewidth=1.2,
            )
        axes.set_title(f"{account_id}: equity against {ticker}, to {equity[-1].day}")
        axes.set_ylabel("equity")
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left")
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)
