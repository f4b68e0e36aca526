"""`fund backtest`: replay the daily run over history (run), read stored runs (list, compare), and write a
run's tear sheet (report). The backtesting package sits above this one; it is imported inside each command."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app

logger = logging.getLogger(__name__)

DEFAULT_COMPARE = "benchmark"
# backtesting.variants.GENERATORS (a test checks they agree): spelt out so that `--help` imports nothing heavy.
FACTOR_GENERATORS = ("factor-mom_12_1", "factor-low_vol", "factor-dist_sma200", "factor-universe_score")
GENERATORS = ("hybrid", "ranker-equal", "mock", *FACTOR_GENERATORS, "best-factor")


@click.group()
def backtest() -> None:
    """Replay the daily run over history in memory, and read the stored results."""


@backtest.command("run")
@click.option(
    "--start", "--start-date", "start", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First session."
)
@click.option("--end", "--end-date", "end", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day.")
@click.option("--capital", type=click.FloatRange(min=0, min_open=True), default=100_000, show_default=True)
@click.option(
    "--generator",
    type=click.Choice(GENERATORS),
    default="hybrid",
    show_default=True,
    help="The main variant's portfolio generator. factor-<factor>: equal weight over the strategy's top N by "
    "one factor (mom_12_1, low_vol, dist_sma200, universe_score); best-factor: the factor with the best "
    "mean rank IC over the training window before each retraining date (the first session without "
    "--retrain-every).",
)
@click.option(
    "--compare",
    default=DEFAULT_COMPARE,
    show_default=True,
    help="Variants replayed beside it: any generator, factors (the four factor-* generators), benchmark, "
    "trend, fixed, random, or all.",
)
@click.option(
    "--retrain-every",
    type=click.IntRange(min=1),
    default=None,
    help="Retrain the rankers (and re-choose best-factor's factor) every N sessions.",
)
@click.option("--retrain-agents", is_flag=True, help="With --retrain-every, retrain the PPO agents too.")
@click.option(
    "--train-sessions",
    type=int,
    default=756,
    show_default=True,
    help="Sessions each retrained ranker (and best-factor's choice) learns from (a rolling window before its "
    "date); 0: all before it.",
)
@click.option("--name", default=None, help="A name for the stored run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random variant and the bootstrap.")
@click.option(
    "--approvals",
    type=click.Choice(["approve", "reject"]),
    default="approve",
    show_default=True,
    help="What happens to a plan the risk manager sends for approval.",
)
@click.option("--fractional", is_flag=True, help="Trade fractional shares (default: whole shares).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the run's HTML tear sheet here.",
)
@pass_app
@fails_cleanly
def run(
    app: AppContext,
    start: date,
    end: date,
    capital: float,
    generator: str,
    compare: str,
    retrain_every: int | None,
    retrain_agents: bool,
    train_sessions: int,
    name: str | None,
    seed: int,
    approvals: str,
    fractional: bool,
    report_path: Path | None,
) -> None:
    """Replay the daily run from START to END, compare, store the results and print the summary."""
    from backtesting.job import BacktestRequest, replay_request
    from backtesting.storage import store_replay
    from backtesting.variants import parse_compare

    parse_compare(compare, generator)  # a misspelt variant fails here, before anything is loaded
    started = time.perf_counter()
    engine = app.migrated_engine()
    request = BacktestRequest(
        start=_day(start),
        end=_day(end),
        capital=Decimal(str(capital)),
        generator=generator,
        compare=tuple(part.strip() for part in compare.split(",") if part.strip()),
        retrain_every=retrain_every,
        retrain_agents=retrain_agents,
        train_sessions=train_sessions or None,
        name=name,
        seed=seed,
        approvals="approve" if approvals == "approve" else "reject",
        fractional_shares=fractional,
    )
    with _progress() as progress:
        replayed = replay_request(engine, app.settings, request, progress=progress)
    run_id, analysis = store_replay(engine, replayed, elapsed=time.perf_counter() - started)
    sessions = replayed.sessions
    click.echo(
        f"backtest {run_id}: {len(sessions)} sessions {sessions[0]} .. {sessions[-1]}, "
        f"{len(replayed.results)} replayed variant(s) in {replayed.replay_seconds:.1f} s "
        f"({1000 * replayed.replay_seconds / max(len(sessions), 1):.1f} ms a session), data loaded in "
        f"{replayed.load_seconds:.1f} s"
    )
    for result in replayed.results:
        failed = result.decisions[result.decisions["status"] == "failed"]
        if len(failed):
            first = failed.iloc[0]
            click.echo(
                f"{result.name}: {len(failed)} session(s) failed and traded nothing, the first {first['session']}: "
                f"{first['error']} (backtest_decisions has each)"
            )
    models = replayed.models
    if "trained" in models:
        click.echo(
            f"walk-forward models: {models['trained']} trained, {models['reused']} reused, "
            f"{models['training_seconds']:.1f} s training (retrained every {models['retrain_every']} sessions)"
        )
    if "best_factor" in models:
        click.echo("best-factor choices (best mean rank IC on the window before each date):")
        for line in models["best_factor"]["summary"]:
            click.echo(f"  {line}")
    _print_comparison(analysis.comparison)
    for line in analysis.verdicts:
        click.echo(f"  {line}")
    if report_path is None:
        click.echo(f"`fund backtest report {run_id}` writes its tear sheet")
        return
    from backtesting.report.html import write_html
    from backtesting.tearsheet import build_tearsheet

    click.echo(f"tear sheet: {write_html(build_tearsheet(engine, run_id), report_path).resolve()}")


class _progress:
    """A rich progress bar (sessions a second, ETA) on a terminal; a log line every 10% otherwise (cron)."""

    def __enter__(self) -> Callable[[int, int], None]:
        self._bar = None
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("replaying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("sessions", total=None, rate="")
        self._started: float | None = None  # set at the first session: loading and training come before
        self._logged = 0
        return self.update

    def update(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self._started is None:
            self._started = now
        rate = (done - 1) / max(now - self._started, 1e-9) if done > 1 else 0.0
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, rate=f"{rate:.0f} sessions/s")
        elif done * 10 // total > self._logged or done == total:
            self._logged = done * 10 // total
            left = (total - done) / rate if rate else float("nan")
            logger.warning("replayed %d of %d sessions (%.0f a second, %.0f s left)", done, total, rate, left)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print_comparison(table: object) -> None:
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    header = f"  {'variant':<24} {'total':>9} {'CAGR':>8} {'Sharpe [95%]':>22} {'max DD':>8} {'DSR':>6}"
    click.echo(header)
    for name, row in table.iterrows():
        interval = f"{row['sharpe']:.2f} [{row['sharpe_low']:.2f}, {row['sharpe_high']:.2f}]"
        click.echo(
            f"  {name!s:<24} {row['total_return']:>+9.1%} {row['cagr']:>+8.1%} {interval:>22} "
            f"{row['max_drawdown']:>8.1%} {row['deflated_sharpe']:>6.2f}"
        )


@backtest.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@pass_app
@fails_cleanly
def list_runs(app: AppContext, limit: int) -> None:
    """The stored backtest runs, newest first."""
    from trading.store.backtests import list_backtests

    records = list_backtests(app.migrated_engine(), limit=limit)
    if not records:
        click.echo("no backtest runs stored (`fund backtest run --start D --end D`)")
        return
    for r in records:
        main = r.metrics.get(r.main_variant, {})
        figures = (
            f"CAGR {_pct(main.get('cagr'))} Sharpe {_num(main.get('sharpe'))} max DD {_pct(main.get('max_drawdown'))}"
        )
        click.echo(
            f"{r.id:>4}  {r.created_at:%Y-%m-%d %H:%M}  {r.start_date} .. {r.end_date}  {r.main_variant:<12} "
            f"{len(r.variants)} variants  {figures}  {r.name or ''}"
        )


@backtest.command("compare")
@click.argument("run_ids", type=int, nargs=-1, required=True)
@pass_app
@fails_cleanly
def compare_runs(app: AppContext, run_ids: tuple[int, ...]) -> None:
    """Headline figures of stored runs side by side (each run's main variant and benchmark)."""
    from trading.store.backtests import get_backtest

    engine = app.migrated_engine()
    records = [get_backtest(engine, run_id) for run_id in run_ids]  # an unknown id fails before any output
    click.echo(f"{'run':>5} {'variant':<24} {'period':<24} {'CAGR':>8} {'Sharpe':>7} {'max DD':>8} {'DSR':>6}")
    for run_id, record in zip(run_ids, records, strict=True):
        for variant in (record.main_variant, "benchmark"):
            m = record.metrics.get(variant)
            if m is None:
                continue
            click.echo(
                f"{run_id:>5} {variant:<24} {f'{record.start_date}..{record.end_date}':<24} {_pct(m.get('cagr')):>8} "
                f"{_num(m.get('sharpe')):>7} {_pct(m.get('max_drawdown')):>8} {_num(m.get('deflated_sharpe')):>6}"
            )


@backtest.command("report")
@click.argument("run_id", type=int)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Where to write it.")
@click.option("--format", "form", type=click.Choice(["html", "json"]), default="html", show_default=True)
@pass_app
@fails_cleanly
def report(app: AppContext, run_id: int, output: Path | None, form: str) -> None:
    """Write RUN_ID's tear sheet: a self-contained HTML page (opens offline) or JSON."""
    from backtesting.report.html import write_html
    from backtesting.report.json_form import write_json
    from backtesting.tearsheet import build_tearsheet

    sheet = build_tearsheet(app.migrated_engine(), run_id)
    path = output or Path(f"backtest-{run_id}.{form}")
    written = write_html(sheet, path) if form == "html" else write_json(sheet, path)
    click.echo(f"wrote {written.resolve()}")


@backtest.command("replay-account")
@click.argument("account_id")
@click.option("--use-mock", is_flag=True, help="The account traded with the mock generator.")
@click.option("--all-sessions", is_flag=True, help="Print every session, not only the ones that diverge.")
@pass_app
@click.pass_context
@fails_cleanly
def replay_account_command(
    ctx: click.Context, app: AppContext, account_id: str, use_mock: bool, all_sessions: bool
) -> None:
    """Replay ACCOUNT_ID's paper sessions in memory and show where orders and equity diverge from the account."""
    from autonomous.cli.assembly import choose_generator
    from backtesting.account_replay import replay_account

    engine = app.migrated_engine()
    generator = choose_generator(engine, app.settings, use_mock=use_mock)
    replayed = replay_account(engine, app.settings, account_id, generator)
    sessions = replayed.sessions
    click.echo(
        f"{account_id}: {len(sessions)} sessions {sessions[0].session} .. {sessions[-1].session} replayed from "
        f"{replayed.capital:,.2f} cash ({generator.note})"
    )
    for row in sessions:
        if not (row.diverged or all_sessions):
            continue
        paper = f"{row.paper_equity:,.2f}" if row.paper_equity is not None else "no run"
        gap = f"{row.equity_gap:+,.2f}" if row.equity_gap is not None else ""
        click.echo(f"  {row.session}  paper {paper:>14}  replay {row.replay_equity:>14,.2f}  {gap}")
        for ticker, side, quantity in row.only_paper:
            click.echo(f"      only the account sent: {side} {quantity:f} {ticker}")
        for ticker, side, quantity in row.only_replay:
            click.echo(f"      only the replay sent:  {side} {quantity:f} {ticker}")
    diverged = len(replayed.diverged)
    click.echo(f"{diverged} of {len(sessions)} sessions diverge" if diverged else "no session diverges")
    ctx.exit(4 if diverged else 0)


def _day(value: object) -> date:
    from datetime import datetime

    assert isinstance(value, datetime)
    return value.date()


def _pct(value: object) -> str:
    return f"{value:+.1%}" if isinstance(value, int | float) else "–"


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "–"
