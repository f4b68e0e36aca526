"""`fund data`: imports (bars, securities, fundamentals, index membership), updates from a provider, the
synthetic demo market, status and the data gate."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click

from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from trading.marketdata.bars_import import BarImportRejected, FileProgress, ImportReport, import_bar_files
from trading.marketdata.demo import load_demo_market
from trading.marketdata.providers import PROVIDERS, make_provider
from trading.marketdata.quality import DataStatus, check_data_gate, data_status
from trading.marketdata.reference_import import (
    ReferenceImportRejected,
    import_fundamentals,
    import_securities,
)
from trading.marketdata.update import update_bars
from trading.store.membership import DEFAULT_INDEX, MembershipRejected, import_membership_file

SHOWN_PROBLEMS = 20


@click.group()
def data() -> None:
    """Market data: import, update, demo, status, check, membership."""


def _echo_problems(problems: Sequence[object], total: int, what: str = "bad row(s)") -> None:
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(f"  {problem}", err=True)
    if total > SHOWN_PROBLEMS:
        click.echo(f"  ... and {total - SHOWN_PROBLEMS:,} more {what}", err=True)


def _echo_bar_report(report: ImportReport) -> None:
    """What a bar import found besides its counts: empty files, bad rows, keys in several files."""
    for path in report.empty_files:
        click.echo(f"{path}: held no rows (only a header)", err=True)
    if report.rows_rejected:
        verb = "found" if report.strict else "skipped"
        advice = "" if report.strict else " (use --strict to abort instead)"
        click.echo(f"{verb} {report.rows_rejected:,} bad row(s){advice}:", err=True)
        _echo_problems(report.problems, report.rows_rejected)
    if report.keys_conflicting:
        outcome = "refused under --strict" if report.strict else "the later file's row was kept"
        click.echo(
            f"{report.keys_conflicting:,} row(s) repeat a (ticker, date) of an earlier file ({outcome}):", err=True
        )
        _echo_problems(report.conflicts, report.keys_conflicting, "repeated row(s)")


@contextmanager
def _progress_bars(paths: Sequence[Path]) -> Iterator[FileProgress]:
    """One progress bar over all files' bytes, at a terminal only: elsewhere (cron, pipes) even its
    label would be noise, and an error must stay the only line."""
    total = sum(path.stat().st_size for path in paths if path.is_file())
    seen = dict.fromkeys(paths, 0)
    stderr = sys.stderr
    hidden = not stderr.isatty()
    with click.progressbar(length=max(total, 1), label="importing", file=stderr, hidden=hidden) as bar:

        def advance(path: Path, done: int) -> None:
            bar.update(done - seen[path])
            seen[path] = done

        yield advance


@data.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--strict", is_flag=True, help="Abort with nothing written if any row is bad.")
@pass_app
@fails_cleanly
def import_bars(app: AppContext, paths: tuple[Path, ...], strict: bool) -> None:
    """Import long-format bar files (CSV or CSV.gz).

    Columns: date,ticker,open,high,low,close,adj_close,volume[,dividend,split_coef].
    """
    engine, data_settings = app.migrated_engine(), app.settings.data
    try:
        with _progress_bars(paths) as progress:
            report = import_bar_files(
                engine,
                paths,
                strict=strict,
                chunk_rows=data_settings.import_batch_rows,
                on_progress=progress,
                exchange=data_settings.exchange_calendar,
            )
    except BarImportRejected as exc:
        _echo_bar_report(exc.report)
        raise
    click.echo(report.summary())
    _echo_bar_report(report)


@data.command()
@click.option(
    "--provider", type=click.Choice(PROVIDERS), default=PROVIDERS[0], show_default=True, help="Where bars come from."
)
@click.option("--since", type=DATE, help="Re-fetch from this date on (default: the day after each ticker's last bar).")
@click.option("--tickers", help="Only these tickers, comma-separated (default: every security and the special ones).")
@pass_app
@fails_cleanly
def update(app: AppContext, provider: str, since: date | None, tickers: str | None) -> None:
    """Fetch daily bars (raw OHLCV, dividends, splits) up to the last completed session and import them.

    Every security in the database, plus the benchmark, safe haven and volatility index, from the day
    after its last stored bar. Running it again changes nothing; a provider failure writes nothing.
    """
    source = make_provider(provider, app.settings.brokers)
    chosen = [t.strip() for t in tickers.split(",") if t.strip()] if tickers is not None else None
    if chosen is not None and not chosen:
        raise click.BadParameter("name at least one ticker", param_hint="--tickers")
    report = update_bars(app.migrated_engine(), source, app.settings.data, since=since, tickers=chosen)
    click.echo(report.summary())
    for note in report.notes():
        click.echo(note)
    if report.problems:
        click.echo(f"skipped {report.rows_rejected:,} bad bar(s):" if report.rows_rejected else "problems:", err=True)
        _echo_problems(report.problems, len(report.problems), "problem(s)")


@data.command("import-securities")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--strict", is_flag=True, help="Abort with nothing written if any row is bad.")
@pass_app
@fails_cleanly
def import_securities_command(app: AppContext, path: Path, strict: bool) -> None:
    """Import securities: ticker, name, sector (or gics_sector), asset_type."""
    try:
        report = import_securities(app.migrated_engine(), path, strict=strict)
    except ReferenceImportRejected as exc:
        _echo_problems(exc.report.problems, exc.report.rows_rejected)
        raise
    click.echo(report.summary())
    _echo_problems(report.problems, report.rows_rejected)


@data.command("import-fundamentals")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--as-of", "as_of", type=DATE, required=True, help="First date the snapshot may be used.")
@click.option("--strict", is_flag=True, help="Abort with nothing written if any row is bad.")
@pass_app
@fails_cleanly
def import_fundamentals_command(app: AppContext, path: Path, as_of: date, strict: bool) -> None:
    """Import a fundamentals snapshot (ticker + numeric columns), valid from --as-of on, never before."""
    try:
        report = import_fundamentals(app.migrated_engine(), path, as_of, strict=strict)
    except ReferenceImportRejected as exc:
        _echo_problems(exc.report.problems, exc.report.rows_rejected)
        raise
    click.echo(report.summary())
    _echo_problems(report.problems, report.rows_rejected)


@data.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--index", "index", default=DEFAULT_INDEX, show_default=True, help="The index the spans belong to.")
@pass_app
@fails_cleanly
def membership(app: AppContext, path: Path, index: str) -> None:
    """Replace an index's point-in-time membership with the spans of a CSV file.

    Columns: ticker,start_date,end_date (YYYY-MM-DD, both days inclusive; an empty end_date: still a
    member). Universes at a date then hold only the members on that date. Any bad row (a bad date, an
    end before its start, two overlapping spans of one ticker) refuses the whole file.
    """
    try:
        report = import_membership_file(app.migrated_engine(), path, index=index)
    except MembershipRejected as exc:
        _echo_problems(exc.problems, len(exc.problems), "problem(s)")
        raise
    click.echo(report.summary())


@data.command()
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the synthetic market.")
@pass_app
@fails_cleanly
def demo(app: AppContext, seed: int) -> None:
    """Load the seeded SYNTHETIC demo market (not real prices) into the database."""
    loaded = load_demo_market(app.migrated_engine(), seed=seed)
    market = loaded.market
    first, last = market.bars["date"].min(), market.bars["date"].max()
    click.echo(f"SYNTHETIC demo market ({loaded.source}): not real prices")
    click.echo(
        f"  {market.securities.shape[0]} securities, {first} to {last}, "
        f"{loaded.fundamentals_snapshots} yearly fundamentals snapshots"
    )
    click.echo(f"  bars: {loaded.bars.summary()}")


def _echo_status(status: DataStatus, per_ticker: bool) -> None:
    table = status.per_ticker
    if status.is_synthetic:
        click.echo(f"SYNTHETIC DATA ({', '.join(status.synthetic_sources)}): not real market prices")
    if table.empty:
        click.echo("no price bars: import some with `fund data import` or `fund data demo`")
        return
    click.echo(
        f"{len(table)} tickers, {status.total_rows:,} bars, {table['first_date'].min()} to {table['last_date'].max()}; "
        f"benchmark {status.benchmark}; {int(table['gaps'].sum()):,} missing sessions inside tickers' spans"
    )
    if per_ticker:
        click.echo(f"{'ticker':<10}{'first':>12}{'last':>12}{'rows':>9}{'gaps':>7}")
        for row in table.itertuples(index=False):
            click.echo(f"{row.ticker:<10}{row.first_date!s:>12}{row.last_date!s:>12}{row.rows:>9,}{row.gaps:>7,}")


@data.command()
@click.option("--summary", "summary_only", is_flag=True, help="Only the totals, not a line per ticker.")
@pass_app
@fails_cleanly
def status(app: AppContext, summary_only: bool) -> None:
    """Tickers, date ranges, rows, gaps per ticker and the last bar date."""
    data_settings = app.settings.data
    status = data_status(app.migrated_engine(), data_settings.benchmark_ticker, data_settings.exchange_calendar)
    _echo_status(status, per_ticker=not summary_only)


@data.command()
@click.option("--date", "run_date", type=DATE, required=True, help="The run's date.")
@pass_app
@fails_cleanly
def check(app: AppContext, run_date: date) -> None:
    """The data gate: exit status 1, with the reasons, when the date's data must not be traded on."""
    result = check_data_gate(app.migrated_engine(), run_date, app.settings.data)
    coverage = f"{result.covered}/{result.universe_size} of the active universe ({result.coverage:.1%})"
    if result.passed:
        click.echo(f"data gate passed for {run_date}: {coverage}")
        return
    click.echo(f"data gate FAILED for {run_date}:", err=True)
    for reason in result.reasons:
        click.echo(f"  - {reason}", err=True)
    raise SystemExit(1)
