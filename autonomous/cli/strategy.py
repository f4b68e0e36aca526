"""`fund strategy`: the seven universes at a date, and the strategy the selector picks."""

from __future__ import annotations

from datetime import date

import click

from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from autonomous.market_state import decision_date, market_state_on, regime_on
from autonomous.selector import select_strategy
from trading.store.performance import performance_by_strategy

SAMPLE_SIZE = 8


@click.group()
def strategy() -> None:
    """Strategies: universes and selection."""


@strategy.command()
@click.option("--date", "day", type=DATE, default=None, help="Session (default: the latest bar).")
@pass_app
@fails_cleanly
def universes(app: AppContext, day: date | None) -> None:
    """Print each strategy's universe: its size, how it was built and its best names."""
    engine = app.migrated_engine()
    day = decision_date(engine, app.settings, day)
    state = market_state_on(engine, app.settings, day)
    click.echo(f"universes on {day} ({len(state.market.stocks)} stocks with bars in the window)")
    for name, universe in state.universes.items():
        sources = f"size: {universe.size_source or 'all sizes'}, style: {universe.style_source}"
        if not universe.available:
            click.echo(f"{name:<16} unavailable: {universe.reason}")
            continue
        sample = ", ".join(universe.tickers[:SAMPLE_SIZE])
        more = " ..." if len(universe.tickers) > SAMPLE_SIZE else ""
        click.echo(f"{name:<16} {len(universe.tickers):>4} names ({sources}): {sample}{more}")


@strategy.command()
@click.option("--date", "day", type=DATE, default=None, help="Session (default: the latest bar).")
@pass_app
@fails_cleanly
def select(app: AppContext, day: date | None) -> None:
    """Print the strategy the selector picks for the date, its confidence and the reason."""
    engine = app.migrated_engine()
    day = decision_date(engine, app.settings, day)
    snapshot = regime_on(engine, app.settings, day)
    state = market_state_on(engine, app.settings, day)
    available = {name for name, universe in state.universes.items() if universe.available}
    evidence = performance_by_strategy(engine, snapshot.label, before=day)
    choice = select_strategy(snapshot, app.settings.strategy, evidence=evidence, available=available)
    click.echo(f"regime:     {snapshot.describe()}")
    click.echo(f"strategy:   {choice.strategy}")
    click.echo(f"confidence: {choice.confidence:.2f}")
    click.echo(f"reason:     {choice.reason}")
    if choice.tied_with:
        click.echo(f"tied with:  {', '.join(choice.tied_with)}")
