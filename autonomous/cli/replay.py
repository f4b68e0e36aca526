"""`fund replay`: the daily run over the last N sessions of the data, one run per session in order,
as cron would have run it. The demo uses it; so can anyone who wants to watch the fund trade
before trusting it with money (the backtests later replay the same run with retrained models).

It prints one line per week (runs and their outcomes, orders sent, equity), the venue's notable
events (delistings, cash in lieu, expired or refused orders) and every failure; the detail of each
run stays in the log and in rebalancing_log."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import click
import pandas as pd

from autonomous.cli.assembly import assemble_daily_run
from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from autonomous.daily_run.request import Outcome, RunMode, RunRequest, RunResult
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.view import load_panel
from trading.store.accounts import equity_history, get_paper_account


@dataclass
class _Week:
    """The runs of one calendar week, for its summary line."""

    monday: date
    outcomes: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, day: date, result: RunResult) -> None:
        self.outcomes[result.outcome.value] += 1
        self.orders += result.orders_sent
        self.notes += [f"{day}: {event}" for event in result.events]
        if result.outcome is Outcome.FAILED:
            self.notes.append(f"{day}: FAILED: {result.message}")

    def line(self, equity: str) -> str:
        runs = sum(self.outcomes.values())
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        return f"week of {self.monday}  {runs} run(s): {summary:<40} {self.orders:>4} orders sent  {equity}"


@click.command()
@click.option("--sessions", "count", type=click.IntRange(min=1), default=60, show_default=True, help="Sessions to run.")
@click.option("--account-id", default=None, help="The paper account (default: settings run.account_id).")
@click.option("--use-mock", is_flag=True, help="Targets from the rule-based mock generator.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Plan each session without trading.")
@pass_app
@click.pass_context
@fails_cleanly
def replay(
    ctx: click.Context, app: AppContext, count: int, account_id: str | None, use_mock: bool, dry_run: bool
) -> None:
    """Run the daily rebalance for each of the last SESSIONS sessions of the data, then summarise."""
    engine = app.migrated_engine()
    account = account_id or app.settings.run.account_id
    mode = RunMode.DRY_RUN if dry_run else RunMode.PAPER
    benchmark = app.settings.data.benchmark_ticker
    days = [stamp.date() for stamp in TradingCalendar.from_database(engine, benchmark).history[-count:]]
    if not days:
        raise click.ClickException(f"no {benchmark} bars: import market data first")
    window_start = days[0]
    settled = get_paper_account(engine, account).settled_through
    if settled is not None and days[-1] >= settled > days[0]:
        # The paper ledger only moves forward: sessions before its last settled one cannot be traded again.
        skipped = sum(1 for day in days if day < settled)
        click.echo(f"{account} is settled through {settled}: skipping the {skipped} sessions before it")
        days = [day for day in days if day >= settled]
    run = assemble_daily_run(engine, app.settings, mode, account, use_mock=use_mock)
    click.echo(f"{account} ({mode.value}): {len(days)} sessions, {days[0]} .. {days[-1]}")
    outcomes = _replay(app, run.run, account, mode, days)
    if mode is RunMode.PAPER:
        _equity_versus_benchmark(app, account, window_start, days[-1])
    ctx.exit(1 if outcomes[Outcome.FAILED.value] else 0)


def _replay(
    app: AppContext, run: Callable[[RunRequest], RunResult], account: str, mode: RunMode, days: list[date]
) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    week: _Week | None = None
    for day in days:
        monday = day.fromordinal(day.toordinal() - day.weekday())
        if week is not None and week.monday != monday:
            _print_week(app, account, week)
            week = None
        week = week or _Week(monday)
        result = run(RunRequest(account, mode, day))
        outcomes[result.outcome.value] += 1
        week.add(day, result)
    if week is not None:
        _print_week(app, account, week)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    click.echo(f"{len(days)} sessions in {elapsed:.1f} s ({elapsed / len(days):.2f} s per run): {summary}")
    return outcomes


def _print_week(app: AppContext, account: str, week: _Week) -> None:
    history = equity_history(app.engine, account)
    equity = f"equity {history[-1].equity:,.2f}" if history else ""
    click.echo(week.line(equity))
    for note in week.notes:
        click.echo(f"    {note}")


def _equity_versus_benchmark(app: AppContext, account: str, first: date, last: date) -> None:
    history = [record for record in equity_history(app.engine, account) if first <= record.day <= last]
    if len(history) < 2:
        return
    benchmark = app.settings.data.benchmark_ticker
    panel = load_panel(app.engine, last, start=first, tickers=[benchmark], fields=("adj_close",))
    prices = panel["adj_close"][benchmark].dropna()
    fund_return = float(history[-1].equity / history[0].equity) - 1
    bench_return = float(prices.iloc[-1] / prices.iloc[0]) - 1 if len(prices) > 1 else float("nan")
    equity = pd.Series([float(r.equity) for r in history])
    drawdown = float((1 - equity / equity.cummax()).max())
    click.echo(f"equity {history[0].day} {history[0].equity:,.2f} -> {history[-1].day} {history[-1].equity:,.2f}")
    click.echo(f"  fund {fund_return:+.2%}  vs  {benchmark} {bench_return:+.2%}  (max drawdown {drawdown:.2%})")
