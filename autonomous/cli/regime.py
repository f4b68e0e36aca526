"""`fund regime`: detect the market regime of a date, backfill a range, show stored regimes."""

from __future__ import annotations

import math
import time
from datetime import date

import click
import pandas as pd

from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from autonomous.market_state import decision_date, regimes_between, snapshot_of
from trading.errors import DataError
from trading.store.regimes import load_regimes, upsert_regimes


@click.group()
def regime() -> None:
    """Market regime: detect, backfill, show."""


@regime.command()
@click.option("--date", "day", type=DATE, default=None, help="Session to classify (default: the latest bar).")
@pass_app
@fails_cleanly
def detect(app: AppContext, day: date | None) -> None:
    """Classify one session and write (or update) its market_regime row."""
    engine = app.migrated_engine()
    day = decision_date(engine, app.settings, day)
    history = regimes_between(engine, app.settings, day, day)
    snapshot = snapshot_of(history, day, app.settings)
    upsert_regimes(engine, history.table_rows())
    click.echo(snapshot.describe())
    if snapshot.sector_momentum:
        leaders = sorted(snapshot.sector_momentum.items(), key=lambda item: item[1], reverse=True)
        click.echo("sector momentum (63 sessions): " + ", ".join(f"{name} {value:+.1%}" for name, value in leaders))


@regime.command()
@click.option("--start", type=DATE, required=True, help="First session to fill.")
@click.option("--end", type=DATE, default=None, help="Last session to fill (default: the latest bar).")
@pass_app
@fails_cleanly
def backfill(app: AppContext, start: date, end: date | None) -> None:
    """Classify every session in a range in one pass and write the rows (idempotent)."""
    engine = app.migrated_engine()
    end = decision_date(engine, app.settings, end)
    began = time.perf_counter()
    history = regimes_between(engine, app.settings, start, end)
    if history.frame.empty:
        raise DataError(f"no session between {start} and {end} has enough benchmark history for a regime")
    written = upsert_regimes(engine, history.table_rows())
    counts = history.frame["regime_label"].value_counts()
    click.echo(
        f"wrote {written:,} regime rows, {history.first_date} to {history.frame.index[-1].date()}, "
        f"in {time.perf_counter() - began:.1f} s"
    )
    for label, count in counts.items():
        click.echo(f"  {label:<22} {count:>6,}")


@regime.command()
@click.option("--last", "last", type=click.IntRange(min=1), default=10, show_default=True, help="Rows to show.")
@pass_app
@fails_cleanly
def show(app: AppContext, last: int) -> None:
    """Print the latest stored regimes."""
    frame = load_regimes(app.migrated_engine(), last=last)
    if frame.empty:
        click.echo("no regimes stored: run `fund regime backfill --start YYYY-MM-DD` or `fund regime detect`")
        return
    click.echo(_regime_table(frame))


def _regime_table(frame: pd.DataFrame) -> str:
    header = f"{'date':<10}  {'label':<22} {'conf':>5} {'vol20':>6} {'vix':>6} {'A/D':>5} {'hi/(hi+lo)':>10}"
    lines = [header, "-" * len(header)]
    for stamp, row in frame.iterrows():
        lines.append(
            f"{pd.Timestamp(str(stamp)).date()!s:<10}  {row['regime_label']:<22} {row['regime_confidence']:>5.2f} "
            f"{_number(row['realized_volatility_20d'], '.1%'):>6} {_number(row['vix'], '.1f'):>6} "
            f"{_number(row['advance_decline_ratio'], '.2f'):>5} {_number(row['new_highs_lows_ratio'], '.2f'):>10}"
        )
    return "\n".join(lines)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)
