"""`fund models`: what is stored in the model table, and the rankers' held-out evaluation."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from autonomous.cli.train import (
    METRIC_HEADER,
    baseline_lines,
    echo_lines,
    late_joiner_lines,
    late_joiner_verdict,
    metrics_line,
    without_late_joiners_line,
)
from trading.store.models import IMPORTANCE, MODEL_KINDS, RANKER, ModelRecord, list_models

if TYPE_CHECKING:
    from autonomous.ranking.importance import PermutationImportance
    from autonomous.ranking.late_joiners import LateJoinerRows

TOP_FEATURES = 3


@click.group()
def models() -> None:
    """Stored models: list them, evaluate rankers on a later window."""


@models.command("list")
@click.option("--kind", type=click.Choice(MODEL_KINDS), default=None, help="Only this kind of model.")
@click.option("--strategy", default=None, help="Only this strategy's models.")
@pass_app
@fails_cleanly
def list_command(app: AppContext, kind: str | None, strategy: str | None) -> None:
    """Every stored model, newest first per kind and strategy: window, age, size and metrics."""
    records = list_models(app.migrated_engine(), kind=kind, strategy=strategy)
    if not records:
        click.echo("no stored models: train some with `fund train xgboost` or `fund train ppo`")
        return
    click.echo(f"{'id':>4}  {'kind':<15}{'strategy':<17}{'version':<32}{'window':<23}{'age':>8}{'KiB':>7}  metrics")
    for record in records:
        window = f"{record.train_start}..{record.train_end}"
        click.echo(
            f"{record.id:>4}  {record.kind:<15}{record.strategy:<17}{record.version:<32}{window:<23}"
            f"{record.age():>8}{record.size_bytes / 1024:>7.0f}  {summary_of(record)}"
        )


def summary_of(record: ModelRecord) -> str:
    """The few figures that say whether a model is any good, in one line."""
    metrics = record.metrics
    if record.kind == RANKER:
        walk_forward = metrics.get("walk_forward", {})
        parts = [
            _figure("walk-forward rank IC", walk_forward.get("overall", {}), "rank_ic")
            + _versus_best(walk_forward.get("baselines"))
            + _without_late_joiners(walk_forward.get("without_late_joiners"))
        ]
        for window, evaluation in metrics.get("evaluations", {}).items():
            parts.append(
                _figure(f"held-out {window} rank IC", evaluation, "rank_ic", t_stat=True)
                + _versus_best(evaluation.get("baselines"))
                + _without_late_joiners(evaluation.get("without_late_joiners"))
            )
        parts.extend(_top_features(window, result) for window, result in metrics.get(IMPORTANCE, {}).items())
        return "; ".join(parts)
    evaluation = metrics.get("evaluation", {})
    window = "..".join(evaluation.get("window", [])) or "?"
    return (
        f"held-out {window}: Sharpe {_number(evaluation.get('sharpe_agent'))} vs equal weight "
        f"{_number(evaluation.get('sharpe_equal_weight'))}, mean reward {_number(evaluation.get('mean_reward'), 5)}; "
        f"{metrics.get('timesteps', '?')} timesteps"
    )


def _figure(label: str, metrics: dict[str, Any], key: str, *, t_stat: bool = False) -> str:
    text = f"{label} {_number(metrics.get(key))}"
    return text + (f" (t {_number(metrics.get('rank_ic_t_stat'), 2)})" if t_stat else "")


def _versus_best(baselines: dict[str, Any] | None) -> str:
    """', vs best baseline (mom_12_1) +0.0123 (t 1.20)'; nothing for a model stored before baselines."""
    if not baselines or baselines.get("best") is None:
        return ""
    difference = baselines.get("ranker_minus_best", {})
    value = difference.get("rank_ic")
    shown = "n/a" if value is None else f"{float(value):+.4f}"
    return f", vs best baseline ({baselines['best']}) {shown} (t {_number(difference.get('rank_ic_t_stat'), 2)})"


def _without_late_joiners(split: dict[str, Any] | None) -> str:
    """' [without late joiners, the figure to believe: 0.0100 (t 0.80), vs best -0.0020]', or a note
    that the split is not informative; nothing for a model stored before the split."""
    if not split:
        return ""
    if split.get("verdict") != "informative":
        return " [late-joiner split not informative]"
    difference = split.get("baselines", {}).get("ranker_minus_best", {})
    value = difference.get("rank_ic")
    versus = "" if value is None else f", vs best {float(value):+.4f}"
    same_dates = split.get("every_name_same_dates")
    # Fundamentals that start mid-window: the figure on every name over the same dates, for a fair pair.
    pair = "" if not same_dates else f"; all names from {split.get('first_known')} {_number(same_dates.get('rank_ic'))}"
    return (
        f" [without late joiners, the figure to believe: {_figure('', split, 'rank_ic', t_stat=True).strip()}"
        f"{versus}{pair}]"
    )


def _top_features(window: str, importance: dict[str, Any]) -> str:
    """'top features 2015-01-01..2021-04-30: vol_60_rank 0.0210, ...': the largest permutation drops, and
    the largest without the late joiners when that split is informative (nothing for an importance stored
    before the split)."""
    text = f"top features {window}: {_largest_drops(importance)}"
    without = importance.get("without_late_joiners")
    if without and without.get("verdict") == "informative":
        text += f" [without late joiners, the ones to believe: {_largest_drops(without)}]"
    return text


def _largest_drops(importance: dict[str, Any]) -> str:
    top = importance.get("features", [])[:TOP_FEATURES]
    return ", ".join(f"{feature['feature']} {_number(feature.get('drop'))}" for feature in top) or "none"


def _number(value: Any, places: int = 4) -> str:
    return "n/a" if value is None else f"{float(value):.{places}f}"


@models.command()
@click.option("--models", "models_spec", required=True, help="Strategies, comma-separated, or 'all'.")
@click.option("--start-date", "start", type=DATE, required=True, help="First session of the held-out window.")
@click.option("--end-date", "end", type=DATE, required=True, help="Last session: labels end by it.")
@pass_app
@fails_cleanly
def evaluate(app: AppContext, models_spec: str, start: date, end: date) -> None:
    """Score each strategy's newest ranker trained before START on the window; stored with the model."""
    from autonomous.ranking.training import evaluate_rankers, parse_strategies

    evaluations, missing = evaluate_rankers(
        app.migrated_engine(), app.settings, parse_strategies(models_spec), start, end
    )
    click.echo(f"held-out evaluation {start}..{end} (rankers trained before {start})")
    click.echo(METRIC_HEADER)
    variants = Counter(evaluation.strategy for evaluation in evaluations)
    headed: set[str] = set()
    for evaluation in evaluations:
        if variants[evaluation.strategy] > 1:
            # One row per feature-set variant: the IC with each input group removed.
            if evaluation.strategy not in headed:
                headed.add(evaluation.strategy)
                click.echo(evaluation.strategy)
            click.echo(metrics_line(f"  {evaluation.variant} inputs", evaluation.metrics))
        else:
            click.echo(metrics_line(evaluation.strategy, evaluation.metrics))
        echo_lines(without_late_joiners_line(evaluation.late_joiners))
    for evaluation in evaluations:
        inputs = f", {evaluation.variant} inputs" if variants[evaluation.strategy] > 1 else ""
        click.echo(f"\n{evaluation.strategy} ({evaluation.model.version}{inputs})")
        echo_lines(baseline_lines(evaluation.baselines))
        echo_lines(late_joiner_lines(evaluation.late_joiners))
    for sentence in missing:
        click.echo(sentence)


@models.command()
@click.argument("model_id", type=int)
@click.option("--start", type=DATE, required=True, help="First session of the window (after the training window).")
@click.option("--end", type=DATE, required=True, help="Last session: labels end by it.")
@click.option("--repeats", type=click.IntRange(1, 100), default=5, show_default=True, help="Shuffles per feature.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the shuffles.")
@pass_app
@fails_cleanly
def explain(app: AppContext, model_id: int, start: date, end: date, repeats: int, seed: int) -> None:
    """Permutation importance of ranker MODEL_ID on a held-out window: the drop in its mean daily rank IC
    when one feature is shuffled across the names of each date. Stored with the model."""
    from autonomous.ranking.explain import explain_ranker

    explanation = explain_ranker(app.migrated_engine(), app.settings, model_id, start, end, repeats=repeats, seed=seed)
    importance = explanation.importance
    click.echo(
        f"{explanation.model.label} on {explanation.window}: mean daily rank IC {importance.rank_ic:.4f} over "
        f"{importance.dates} dates, {importance.rows:,} rows; each feature shuffled {importance.repeats} times "
        f"within each date (seed {importance.seed})"
    )
    split = explanation.without_late_joiners
    columns = [("every name", importance)]
    if split.same_dates is not None:
        same = split.same_dates
        columns.append(("every name, same dates", same))
        click.echo(
            f"every name from {split.late_joiners.first_known} (the dates the figures without late joiners cover): "
            f"mean daily rank IC {same.rank_ic:.4f} over {same.dates} dates, {same.rows:,} rows"
        )
    if split.importance is not None:
        without = split.importance
        columns.append(("without late joiners", without))
        click.echo(
            f"without late joiners: mean daily rank IC {without.rank_ic:.4f} over {without.dates} dates, "
            f"{without.rows:,} rows (each feature shuffled among these names of each date)"
        )
    echo_lines(importance_table(columns))
    click.echo(importance_verdict(split.late_joiners))
    click.echo("a drop near zero: the model does not use the feature here; below zero: the feature hurt the ranking")


def importance_table(columns: list[tuple[str, PermutationImportance]]) -> list[str]:
    """Each feature's drop and its spread under each column's title, in the order of the last column:
    the figure to believe when there are several (without late joiners)."""
    blocks = [f"{'IC drop':>10}{'std':>9}"] + [f"{'IC drop':>16}{'std':>9}"] * (len(columns) - 1)
    titles = [f"{columns[0][0]:>19}"] + [f"{title:>25}" for title, _ in columns[1:]]
    lines = [f"{'feature':<24}{''.join(blocks)}"]
    if len(columns) > 1:
        lines.insert(0, f"{'':<24}{''.join(titles)}")
    by_feature = [{feature.feature: feature for feature in result.features} for _, result in columns]
    for name in (feature.feature for feature in columns[-1][1].features):
        first, *others = (found[name] for found in by_feature)
        cells = f"{first.drop:>+10.4f}{first.drop_std:>9.4f}" + "".join(
            f"{other.drop:>+16.4f}{other.drop_std:>9.4f}" for other in others
        )
        lines.append(f"{name:<24}{cells}")
    return lines


def importance_verdict(late_joiners: LateJoinerRows) -> str:
    """Which drops to believe, in a sentence."""
    if late_joiners.informative:
        starts = (
            f"\n  They cover only the dates from {late_joiners.first_known} on (no name had a fundamentals row "
            "before):\n  compare them with the column 'every name, same dates'."
            if late_joiners.starts_later
            else ""
        )
        return (
            f"late joiners (no fundamentals row at the decision date): {late_joiners.late_joiner_rows:,} of "
            f"{late_joiners.rows:,} rows.\n  Believe the drops without them, the conservative ones: on "
            "survivorship-biased data the names lacking a row\n  are mostly those that later joined the index, and "
            "a feature that helps spot them looks important for that\n  reason. The features are in the order of "
            f"the drops without them.{starts}"
        )
    return late_joiner_verdict(late_joiners)
