"""`fund strategy`: the seven universes at a date, the strategy the selector picks, and the target
portfolio a generator would hold for a strategy."""

from __future__ import annotations

from datetime import date

import click

from autonomous.cli.assembly import choose_generator
from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from autonomous.market_state import decision_date
from autonomous.marketview.database import DatabaseMarketView
from autonomous.selector import StrategyChoice, select_strategy
from trading.settings import DEFENSIVE, STRATEGIES
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
    state = DatabaseMarketView(engine, app.settings).session(day).state
    click.echo(f"universes on {day} ({len(state.stocks)} stocks with bars in the window)")
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
    market = DatabaseMarketView(engine, app.settings).session(day)
    snapshot = market.regime
    available = {name for name, universe in market.state.universes.items() if universe.available}
    earlier = market.earlier_regimes
    evidence = {
        label: performance_by_strategy(engine, label, before=day)
        for label in sorted({snapshot.label, *(past.label for past in earlier)})
    }
    choice = select_strategy(
        snapshot,
        app.settings.strategy,
        evidence=evidence[snapshot.label],
        available=available,
        earlier=earlier,
        earlier_evidence=evidence,
    )
    click.echo(f"regime:     {snapshot.describe()}")
    click.echo(f"strategy:   {choice.strategy}")
    click.echo(f"confidence: {choice.confidence:.2f}")
    click.echo(f"reason:     {choice.reason}")
    if choice.tied_with:
        click.echo(f"tied with:  {', '.join(choice.tied_with)}")


@strategy.command()
@click.option(
    "--strategy", "name", type=click.Choice([*STRATEGIES, DEFENSIVE]), required=True, help="The strategy to build."
)
@click.option("--date", "day", type=DATE, default=None, help="Session (default: the latest bar).")
@click.option("--use-mock", is_flag=True, help="The rule-based mock generator, whatever models.generator names.")
@pass_app
@fails_cleanly
def target(app: AppContext, name: str, day: date | None, use_mock: bool) -> None:
    """Print the target portfolio the generator would hold for STRATEGY at the date, before the risk
    manager (an account holding only cash; the daily run passes the account's own weights). The
    generator is the daily run's: models.generator (FUND_MODELS__GENERATOR), mock by default."""
    engine = app.migrated_engine()
    day = decision_date(engine, app.settings, day)
    market = DatabaseMarketView(engine, app.settings).session(day)
    regime = market.regime
    choice = StrategyChoice(name, 1.0, "asked for on the command line", regime.label, rule_index=None)
    chosen = choose_generator(engine, app.settings, use_mock=use_mock)
    portfolio = chosen.generator.generate(market.state, choice, {})
    click.echo(f"{name} on {day} ({regime.label}), {chosen.note}: {portfolio.generator}")
    click.echo(f"reason: {portfolio.reason}")
    for role, version in portfolio.model_versions.items():
        click.echo(f"  {role}: {version}")
    sectors = market.sectors
    for ticker, weight in sorted(portfolio.weights.items(), key=lambda item: (-item[1], item[0])):
        click.echo(f"  {ticker:<8} {weight:7.2%}  {sectors.get(ticker, '(unknown sector)')}")
    click.echo(f"  {'cash':<8} {portfolio.cash_weight:7.2%}")
