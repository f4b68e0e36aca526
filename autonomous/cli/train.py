"""`fund train`: the strategies' XGBoost rankers and PPO weight agents, stored in the model table.

Both commands import their heavy libraries (xgboost; torch and stable-baselines3) only when run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, get_args

import click

from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from autonomous.ranking.metrics import RankingMetrics
from trading.settings import FundSettings, RankerMonotone, RankerObjective, RankerSettings

if TYPE_CHECKING:
    from autonomous.ranking.baselines import BaselineComparison, ScoreFigures
    from autonomous.ranking.late_joiners import LateJoinerRows, LateJoinerSplit
    from autonomous.ranking.xgb import FoldReport

METRIC_HEADER = f"{'':<26}{'dates':>6}{'rows':>8}{'IC':>8}{'rankIC':>8}{'ICIR':>7}{'t(rIC)':>8}{'top-bot':>9}{'hit':>7}"


def metrics_line(label: str, metrics: RankingMetrics) -> str:
    return (
        f"{label:<26}{metrics.dates:>6}{metrics.rows:>8}{metrics.ic:>8.4f}{metrics.rank_ic:>8.4f}"
        f"{metrics.icir:>7.2f}{metrics.rank_ic_t_stat:>8.2f}{metrics.top_minus_bottom:>9.2%}{metrics.hit_rate:>7.1%}"
    )


def with_ranker_settings(settings: FundSettings, changes: Mapping[str, Any]) -> FundSettings:
    """The settings with these models.ranker fields changed (validated as the settings file would be)."""
    if not changes:
        return settings
    ranker = RankerSettings.model_validate({**settings.models.ranker.model_dump(), **changes})
    return settings.model_copy(update={"models": settings.models.model_copy(update={"ranker": ranker})})


def model_note(settings: FundSettings) -> str:
    """The ranker's objective, constraints and ensemble, as a clause."""
    ranker = settings.models.ranker
    parts: list[str] = [ranker.objective]
    if ranker.monotone != "none":
        parts.append(f"monotone in the {ranker.monotone} inputs")
    if ranker.ensemble > 1:
        parts.append(f"{ranker.ensemble} boosters averaged")
    return ", ".join(parts)


BASELINE_LABELS = {
    "mom_12_1": "12-1 momentum",
    "low_vol": "low volatility",
    "dist_sma200": "distance to SMA200",
    "universe_score": "universe score",
}
ALL_NAMES_TITLE = "vs simple factors, same dates and names"
BASELINE_HEADER = f"{'  ' + ALL_NAMES_TITLE:<44}{'rankIC':>8}{'t':>7}{'dates':>7}"


def baseline_lines(comparison: BaselineComparison, title: str = ALL_NAMES_TITLE) -> list[str]:
    """The ranker, each baseline, and the ranker minus the best baseline with its t: a short table."""
    lines = [f"{'  ' + title:<44}{'rankIC':>8}{'t':>7}{'dates':>7}", _baseline_line("ranker", comparison.ranker)]
    for name, figures in comparison.baselines.items():
        best = " (best)" if name == comparison.best else ""
        lines.append(_baseline_line(BASELINE_LABELS.get(name, name) + best, figures))
    best_label = BASELINE_LABELS.get(comparison.best, comparison.best) if comparison.best else "none"
    lines.append(_baseline_line(f"ranker - best ({best_label})", comparison.difference, signed=True))
    return lines


def _baseline_line(label: str, figures: ScoreFigures, *, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{'  ' + label:<44}{figures.rank_ic:>{sign}8.4f}{figures.rank_ic_t_stat:>7.2f}{figures.dates:>7}"


WITHOUT_LATE_JOINERS = "  without late joiners"
SAME_DATES = "  all names, same dates"
LATE_JOINERS_TITLE = "vs simple factors, without late joiners"


def without_late_joiners_line(split: LateJoinerSplit) -> list[str]:
    """The metrics row on the rows with fundamentals, under the row on every name; none when the
    split is not informative (there is one figure). When fundamentals start mid-window, the row on
    every name over the same dates comes first, so the two rows differ by the names only."""
    lines = [] if split.same_dates is None else [metrics_line(SAME_DATES, split.same_dates)]
    return lines + ([] if split.metrics is None else [metrics_line(WITHOUT_LATE_JOINERS, split.metrics)])


def late_joiner_verdict(split: LateJoinerRows) -> str:
    """Which figure to believe, in a sentence."""
    if split.verdict == "informative":
        starts = (
            f"\n  It covers only the dates from {split.first_known} on (no name had a fundamentals row before): "
            "compare it with the row 'all names, same dates'."
            if split.starts_later
            else ""
        )
        return (
            f"late joiners (no fundamentals row at the decision date): {split.late_joiner_rows:,} of {split.rows:,} "
            "rows.\n  Believe the figure without them, the conservative one: on survivorship-biased data (today's "
            "index projected back,\n  a fundamentals snapshot taken after the window) the names lacking a row are "
            f"mostly those that later joined the index.{starts}"
        )
    if split.verdict == "all_have_fundamentals":
        return "every row has a fundamentals row at its date: the late-joiner split is not informative (one figure)."
    if split.verdict == "none_has_fundamentals":
        return (
            "no row has a fundamentals row at its date (the snapshots start later): the late-joiner split is not "
            "informative (one figure; if the universe is a later index projected back, it may carry survivorship)."
        )
    return "no scored rows: no late-joiner split."


def late_joiner_lines(split: LateJoinerSplit) -> list[str]:
    """The verdict, then the comparison with the simple factors on the rows with fundamentals."""
    lines = [late_joiner_verdict(split)]
    if split.baselines is not None:
        lines.extend(baseline_lines(split.baselines, LATE_JOINERS_TITLE))
    return lines


FOLD_BASELINE_HEADER = (
    f"{'  per fold, against its best simple factor':<52}{'best':>8}{'ranker-best':>12}{'t':>7}{'dates':>7}"
)


def fold_baseline_lines(folds: list[FoldReport]) -> list[str]:
    """Per fold: the best simple factor's rank IC and the ranker's margin over it, on every name and,
    where the split is informative, without the late joiners."""
    if not folds:
        return []
    lines = [FOLD_BASELINE_HEADER]
    for fold in folds:
        lines.append(_fold_baseline_line(f"fold {fold.number}", fold.baselines))
        if fold.late_joiners.baselines is not None:
            lines.append(_fold_baseline_line(f"fold {fold.number} without late joiners", fold.late_joiners.baselines))
    return lines


def _fold_baseline_line(label: str, comparison: BaselineComparison) -> str:
    best = comparison.baselines[comparison.best].rank_ic if comparison.best else float("nan")
    name = BASELINE_LABELS.get(comparison.best, comparison.best) if comparison.best else "none"
    difference = comparison.difference
    return (
        f"{'  ' + label + f' ({name})':<52}{best:>8.4f}{difference.rank_ic:>+12.4f}"
        f"{difference.rank_ic_t_stat:>7.2f}{difference.dates:>7}"
    )


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


@click.group()
def train() -> None:
    """Train the rankers and the weight agents."""


@train.command("xgboost")
@click.option(
    "--models",
    "models_spec",
    required=True,
    help="Strategies, comma-separated (growth_midcap,value_largecap) or 'all'.",
)
@click.option("--start-date", "start", type=DATE, required=True, help="First session of the training window.")
@click.option(
    "--end-date", "end", type=DATE, required=True, help="Last session: no bar after it is read, labels end by it."
)
@click.option("--horizon", type=click.IntRange(1, 252), default=None, help="Label horizon in sessions (default 21).")
@click.option(
    "--feature-sets",
    "feature_sets_spec",
    default="auto",
    show_default=True,
    help="Which inputs each ranker reads: 'auto' (the optional groups, volume and dividends, that the window "
    "has), 'all' (every variant the window supports: its walk-forward IC with each group removed), or some "
    "of full, no_dividends, no_volume, prices_only.",
)
@click.option(
    "--objective",
    type=click.Choice(get_args(RankerObjective)),
    default=None,
    help="The loss: the regression of the excess return, or a ranking objective over each date's names "
    "(default models.ranker.objective).",
)
@click.option(
    "--monotone",
    type=click.Choice(get_args(RankerMonotone)),
    default=None,
    help="Inputs the prediction must be monotone in (default models.ranker.monotone).",
)
@click.option(
    "--ensemble",
    type=click.IntRange(1, 20),
    default=None,
    help="Boosters with consecutive seeds whose predictions are averaged (default models.ranker.ensemble).",
)
@pass_app
@fails_cleanly
def xgboost_command(
    app: AppContext,
    models_spec: str,
    start: date,
    end: date,
    horizon: int | None,
    feature_sets_spec: str,
    objective: str | None,
    monotone: str | None,
    ensemble: int | None,
) -> None:
    """Train each strategy's ranker with purged walk-forward validation, then store the final model.

    The label is the forward HORIZON-session return in excess of the benchmark; see
    autonomous/ranking/dataset.py. A data set without volume or dividends gets rankers that do not
    read them (autonomous/ranking/feature_sets.py); the daily run uses the newest ranker whose inputs
    its data has. The objective, monotone constraints and seed ensembles: autonomous/ranking/xgb.py.
    """
    from autonomous.ranking.feature_sets import describe_groups, feature_set_of, parse_feature_sets
    from autonomous.ranking.training import parse_strategies, train_rankers

    strategies = parse_strategies(models_spec)
    feature_sets = parse_feature_sets(feature_sets_spec)
    chosen = {"objective": objective, "monotone": monotone, "ensemble": ensemble}
    settings = with_ranker_settings(app.settings, {name: value for name, value in chosen.items() if value is not None})
    engine = app.migrated_engine()
    run = train_rankers(engine, settings, strategies, start, end, horizon=horizon, feature_sets=feature_sets)
    click.echo(f"optional inputs in the window: {describe_groups(run.present)}")
    for note in run.skipped:
        click.echo(f"skipped {note}")
    for training, record in run.trained:
        variant = feature_set_of(training.features)
        inputs = f"{variant.name if variant else 'custom'} inputs, {len(training.features)}"
        size = f"{training.final_rows:,} rows, {training.seconds:.1f} s"
        click.echo(f"\n{training.strategy}: {record.version} ({inputs}; {model_note(settings)}; {size})")
        click.echo(METRIC_HEADER)
        for fold in training.folds:
            label = f"fold {fold.number} {fold.validation_start:%Y-%m}..{fold.validation_end:%Y-%m}"
            click.echo(metrics_line(label, fold.metrics))
            echo_lines(without_late_joiners_line(fold.late_joiners))
        click.echo(metrics_line("walk-forward overall", training.overall))
        echo_lines(without_late_joiners_line(training.late_joiners))
        echo_lines(baseline_lines(training.baselines))
        echo_lines(late_joiner_lines(training.late_joiners))
        echo_lines(fold_baseline_lines(training.folds))
        if not training.folds:
            click.echo("no walk-forward validation: the window holds too few sample dates")


@train.command("ppo")
@click.option(
    "--strategy",
    "style",
    type=click.Choice(["growth", "value", "dividend"]),
    required=True,
    help="Style of the strategy (growth and value need --market-cap).",
)
@click.option("--market-cap", type=click.Choice(["large", "mid", "small"]), default=None, help="Size bucket.")
@click.option("--timesteps", type=click.IntRange(1), default=100_000, show_default=True, help="PPO timesteps.")
@click.option("--start-date", "start", type=DATE, default=None, help="First session of training (default: module doc).")
@click.option("--end-date", "end", type=DATE, default=None, help="Last session of training.")
@click.option("--eval-end-date", "eval_end", type=DATE, default=None, help="Last session of the held-out evaluation.")
@click.option("--seed", type=int, default=None, help="Seed (default: models.agent.seed).")
@pass_app
@fails_cleanly
def ppo_command(
    app: AppContext,
    style: str,
    market_cap: str | None,
    timesteps: int,
    start: date | None,
    end: date | None,
    eval_end: date | None,
    seed: int | None,
) -> None:
    """Train the strategy's PPO weight agent on its ranker's out-of-sample picks, evaluate it on a
    later window against equal weights on the same names, and store it.

    Defaults: evaluation on the last 252 sessions, training on up to three years before them that
    start after the ranker's training window (rl_trading/training.py).
    """
    from rl_trading.training import strategy_name, train_weight_agent

    strategy = strategy_name(style, market_cap)
    result = train_weight_agent(
        app.migrated_engine(),
        app.settings,
        strategy,
        timesteps=timesteps,
        start=start,
        end=end,
        eval_end=eval_end,
        seed=seed,
    )
    windows, evaluation = result.windows, result.evaluation
    click.echo(f"{strategy}: {result.record.version}, ranker {windows.ranker.version}")
    click.echo(
        f"trained on {windows.start}..{windows.end} ({result.train_sessions} sessions): "
        f"{timesteps:,} timesteps in {result.trained.seconds:.1f} s (seed {result.trained.seed})"
    )
    click.echo(f"held out {evaluation.sessions} sessions up to {windows.eval_end}:")
    click.echo(f"{'':<14}{'return':>9}{'Sharpe':>8}{'turnover':>10}{'cost/day':>10}{'reward':>10}")
    for label, figures in (("PPO agent", evaluation.agent), ("equal weight", evaluation.equal_weight)):
        click.echo(
            f"{label:<14}{figures.total_return:>9.2%}{figures.sharpe:>8.2f}{figures.turnover:>10.2%}"
            f"{figures.cost:>10.4%}{figures.mean_reward:>10.5f}"
        )
