"""`fund models`: what is stored in the model table, and the rankers' held-out evaluation."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from autonomous.cli.context import DATE, AppContext, fails_cleanly, pass_app
from autonomous.cli.train import METRIC_HEADER, baseline_lines, metrics_line
from trading.store.models import MODEL_KINDS, RANKER, ModelRecord, list_models


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
        ]
        for window, evaluation in metrics.get("evaluations", {}).items():
            parts.append(
                _figure(f"held-out {window} rank IC", evaluation, "rank_ic", t_stat=True)
                + _versus_best(evaluation.get("baselines"))
            )
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
    for evaluation in evaluations:
        click.echo(metrics_line(evaluation.strategy, evaluation.metrics))
    for evaluation in evaluations:
        click.echo(f"\n{evaluation.strategy} ({evaluation.model.version})")
        for line in baseline_lines(evaluation.baselines):
            click.echo(line)
    for sentence in missing:
        click.echo(sentence)
