"""`fund replay`: the daily run over the last N sessions of the data, one run per session in order,
as cron would have run it. The demo uses it; so can anyone who wants to watch the fund trade
before trusting it with money (the backtests later replay the same run with retrained models)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import click
import pandas as pd

from autonomous.cli.context import AppContext, enable_model_generators, fails_cleanly, pass_app
from autonomous.daily_run.brokers import broker_factory
from autonomous.daily_run.run import DailyRun, Outcome, RunMode, RunRequest
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.view import load_panel
from trading.store.accounts import equity_history, get_paper_account


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
    enable_model_generators(use_mock)
    run = DailyRun(engine, app.settings, broker_factory(engine, app.settings, mode, account))
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    with click.progressbar(days, label=f"{account}: {days[0]} .. {days[-1]}", show_pos=True) as bar:
        for day in bar:
            result = run.run(RunRequest(account, mode, day, use_mock=use_mock))
            outcomes[result.outcome.value] += 1
            if result.outcome is Outcome.FAILED:
                click.echo(f"\n{day}: {result.message}", err=True)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    click.echo(f"{len(days)} sessions in {elapsed:.1f} s ({elapsed / len(days):.2f} s per run): {summary}")
    if mode is RunMode.PAPER:
        _equity_versus_benchmark(app, account, window_start, days[-1])
    ctx.exit(1 if outcomes[Outcome.FAILED.value] else 0)


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
