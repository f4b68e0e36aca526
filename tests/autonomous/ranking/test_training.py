"""Training, storing and evaluating the rankers against a real database, through the code and the CLI.

Models are tiny here (5 trees, 2 folds); the real-data figures come from benchmarks/bench_models.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from autonomous.ranking.training import (
    evaluate_rankers,
    parse_strategies,
    ranker_training_parameters,
    train_rankers,
)
from autonomous.ranking.xgb import MONOTONE, booster_from_bytes
from tests.autonomous.ranking.conftest import run_fund
from trading.errors import ConfigurationError, DataError
from trading.settings import STRATEGIES, FundSettings, load_settings
from trading.store.models import RANKER, find_model, list_models, load_artifact, newest_models

REPO = Path(__file__).resolve().parents[3]
START, END = date(2013, 1, 2), date(2013, 12, 31)


def test_strategies_are_named_one_by_one_or_all_together() -> None:
    assert parse_strategies("growth_midcap, value_largecap,growth_midcap") == ["growth_midcap", "value_largecap"]
    assert parse_strategies("all") == list(STRATEGIES)
    with pytest.raises(ConfigurationError, match="unknown strategy growth_hugecap"):
        parse_strategies("growth_midcap,growth_hugecap")
    with pytest.raises(ConfigurationError, match="no strategy given"):
        parse_strategies(" , ")


def test_a_trained_ranker_is_stored_with_its_walk_forward_validation(market: Engine, tiny: FundSettings) -> None:
    [(training, record)] = train_rankers(market, tiny, ["growth_midcap"], START, END, horizon=21).trained
    assert record.kind == RANKER
    assert record.strategy == "growth_midcap"
    assert (record.train_start, record.train_end) == (START, END)
    assert record.parameters["horizon"] == 21
    assert record.parameters["n_estimators"] == 5
    assert record.parameters["booster"]["objective"] == "reg:squarederror"
    walk_forward = record.metrics["walk_forward"]
    assert [fold["fold"] for fold in walk_forward["folds"]] == [fold.number for fold in training.folds]
    assert training.folds, "two folds fit in a year of weekly dates"
    for fold in training.folds:
        # The purge: no training label reaches into the validation block.
        assert fold.train_end < fold.validation_start
        assert fold.purged_dates >= 1
        assert fold.validation_end <= END
    for key in ("ic", "rank_ic", "icir", "rank_ic_t_stat", "top_minus_bottom", "hit_rate"):
        assert key in walk_forward["overall"]
    assert walk_forward["overall"]["rows"] == sum(fold.validation_rows for fold in training.folds)
    assert record.metrics["final_rows"] > walk_forward["overall"]["rows"]


def test_training_never_reads_a_bar_after_the_end_date(market: Engine, tiny: FundSettings) -> None:
    [(_, before)] = train_rankers(market, tiny, ["value_midcap"], START, END).trained
    with market.begin() as connection:
        changed = connection.execute(
            text(
                "UPDATE price_bars SET open = open * 3, high = high * 3, low = low * 3, close = close * 3, "
                "adj_close = adj_close * 3, volume = volume * 7 WHERE date > :end"
            ),
            {"end": END},
        ).rowcount
        connection.execute(
            text(
                "INSERT INTO fundamentals (ticker, as_of_date, field, value) "
                "SELECT ticker, :later, field, value * 5 FROM fundamentals "
                "WHERE as_of_date = (SELECT MAX(as_of_date) FROM fundamentals WHERE as_of_date <= :end)"
            ),
            {"later": date(2014, 2, 14), "end": END},
        )
    assert changed > 0
    [(_, after)] = train_rankers(market, tiny, ["value_midcap"], START, END).trained
    # The same bytes: save_model finds the first copy instead of storing a second model.
    assert (after.id, after.sha256) == (before.id, before.sha256)
    assert len(list_models(market, kind=RANKER)) == 1


def test_a_bar_inside_the_window_does_change_the_model(market: Engine, tiny: FundSettings) -> None:
    # The control of the look-ahead test above: the model is sensitive to the bars it may read.
    [(_, before)] = train_rankers(market, tiny, ["value_midcap"], START, END).trained
    with market.begin() as connection:
        connection.execute(
            text("UPDATE price_bars SET adj_close = adj_close * 1.5 WHERE date BETWEEN :a AND :b AND ticker < 'M'"),
            {"a": date(2013, 6, 1), "b": date(2013, 7, 1)},
        )
    [(_, after)] = train_rankers(market, tiny, ["value_midcap"], START, END).trained
    assert after.sha256 != before.sha256


def test_held_out_evaluation_uses_only_rankers_trained_before_the_window(market: Engine, tiny: FundSettings) -> None:
    train_rankers(market, tiny, ["growth_midcap", "dividend"], START, END)
    train_rankers(market, tiny, ["growth_midcap"], date(2013, 6, 3), date(2014, 6, 30))
    evaluations, missing = evaluate_rankers(
        market, tiny, ["growth_midcap", "dividend", "value_smallcap"], date(2014, 1, 2), date(2014, 12, 31)
    )
    assert [e.strategy for e in evaluations] == ["growth_midcap", "dividend"]
    assert all(e.model.train_end == END for e in evaluations)
    assert missing == ["value_smallcap: no ranker trained before 2014-01-02"]
    stored = newest_models(market, RANKER, "growth_midcap", trained_before=date(2014, 1, 2))[0]
    window = stored.metrics["evaluations"]["2014-01-02..2014-12-31"]
    assert window["dates"] > 0
    assert window["rank_ic"] is not None


def test_fund_train_xgboost_prints_each_fold_and_stores_the_models(market: Engine, tiny: FundSettings) -> None:
    result = run_fund(
        "train",
        "xgboost",
        "--models",
        "growth_midcap,dividend",
        "--start-date",
        "2013-01-02",
        "--end-date",
        "2013-12-31",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("walk-forward overall") == 2
    assert "fold 1 " in result.output
    assert "rankIC" in result.output
    assert {r.strategy for r in list_models(market)} == {"growth_midcap", "dividend"}

    listed = run_fund("models", "list")
    assert listed.exit_code == 0, listed.output
    assert "xgboost_ranker growth_midcap" in listed.output
    assert "2013-01-02..2013-12-31" in listed.output
    assert "walk-forward rank IC" in listed.output

    evaluated = run_fund(
        "models", "evaluate", "--models", "all", "--start-date", "2014-01-02", "--end-date", "2014-12-31"
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "growth_midcap" in evaluated.output
    assert "value_largecap: no ranker trained before" in evaluated.output
    assert "held-out 2014-01-02..2014-12-31 rank IC" in run_fund("models", "list").output


def test_fund_train_xgboost_names_a_bad_strategy_and_stores_nothing(market: Engine, tiny: FundSettings) -> None:
    result = run_fund(
        "train", "xgboost", "--models", "growth_hugecap", "--start-date", "2013-01-02", "--end-date", "2013-12-31"
    )
    assert result.exit_code == 1
    assert "unknown strategy growth_hugecap" in result.output
    assert list_models(market) == []
    assert "no stored models" in run_fund("models", "list").output


def test_the_specification_spelling_trains_through_the_same_command(
    market: Engine, tiny: FundSettings, database_url: str
) -> None:
    if market.dialect.name != "sqlite":
        pytest.skip("one backend is enough to check the script passes its arguments through")
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "auto_train_models.py"),
            "--models",
            "value_largecap",
            "--start-date",
            "2013-01-02",
            "--end-date",
            "2013-12-31",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "walk-forward overall" in completed.stdout
    assert [r.strategy for r in list_models(market)] == ["value_largecap"]


def printed_row(output: str, label: str) -> list[str]:
    """The figures of the first printed table row that starts with `label`."""
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return line.strip()[len(label) :].split()


def test_training_and_evaluation_print_the_ranker_against_each_simple_factor_and_store_it(
    market: Engine, tiny: FundSettings
) -> None:
    trained = run_fund(
        "train", "xgboost", "--models", "growth_midcap", "--start-date", "2013-01-02", "--end-date", "2013-12-31"
    )
    assert trained.exit_code == 0, trained.output
    [record] = list_models(market, kind=RANKER)
    stored = record.metrics["walk_forward"]["baselines"]
    assert set(stored["factors"]) == {"mom_12_1", "low_vol", "dist_sma200", "universe_score"}
    assert stored["ranker"]["rank_ic"] == pytest.approx(record.metrics["walk_forward"]["overall"]["rank_ic"])
    best = stored["best"]
    assert stored["factors"][best]["rank_ic"] == max(
        figures["rank_ic"] for figures in stored["factors"].values() if figures["rank_ic"] is not None
    )
    # The printed table is the stored figures, rounded.
    for label, figures in (("12-1 momentum", stored["factors"]["mom_12_1"]), ("ranker", stored["ranker"])):
        rank_ic, t_stat, dates = printed_row(trained.output, label)[-3:]
        assert float(rank_ic) == pytest.approx(figures["rank_ic"], abs=5e-5)
        assert float(t_stat) == pytest.approx(figures["rank_ic_t_stat"], abs=5e-3)
        assert int(dates) == figures["dates"]
    difference = stored["ranker_minus_best"]
    assert difference["rank_ic"] == pytest.approx(stored["ranker"]["rank_ic"] - stored["factors"][best]["rank_ic"])
    shown = printed_row(trained.output, "ranker - best (")[-3:]
    assert shown[0] == f"{difference['rank_ic']:+.4f}"
    assert "(best)" in trained.output
    assert f"vs best baseline ({best}) {difference['rank_ic']:+.4f}" in run_fund("models", "list").output

    evaluated = run_fund(
        "models", "evaluate", "--models", "growth_midcap", "--start-date", "2014-01-02", "--end-date", "2014-12-31"
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "vs simple factors, same dates and names" in evaluated.output
    held_out = newest_models(market, RANKER, "growth_midcap")[0].metrics["evaluations"]["2014-01-02..2014-12-31"]
    assert held_out["baselines"]["ranker"]["rank_ic"] == pytest.approx(held_out["rank_ic"])
    assert printed_row(evaluated.output, "ranker - best (")[-1] == str(
        held_out["baselines"]["ranker_minus_best"]["dates"]
    )
    listed = run_fund("models", "list").output
    assert listed.count("vs best baseline") == 2


def test_a_strategy_the_data_gives_no_rows_is_skipped_with_its_reason_and_the_others_are_trained(
    market: Engine, tiny: FundSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No payer doubles its dividend a thousandfold: the dividend universe is empty, as on a feed without dividends.
    monkeypatch.setenv("FUND_UNIVERSE__DIVIDEND_MIN_STABILITY", "1000")
    settings = load_settings(None)
    partial = train_rankers(market, settings, ["growth_midcap", "dividend"], START, END)
    assert [training.strategy for training, _ in partial.trained] == ["growth_midcap"]
    [skipped] = partial.skipped
    assert skipped.startswith("dividend: ")
    with pytest.raises(DataError, match=r"no ranker trained on 2013-01-02\.\.2013-12-31: dividend: "):
        train_rankers(market, settings, ["dividend"], START, END)
    result = run_fund("train", "xgboost", "--models", "dividend", "--start-date", str(START), "--end-date", str(END))
    assert result.exit_code == 1
    assert "no ranker trained" in result.output
    assert "Traceback" not in result.output


def test_fund_train_xgboost_stores_a_constrained_ranking_ensemble_that_evaluate_and_explain_load_as_one_model(
    market: Engine, tiny: FundSettings
) -> None:
    options = ("--objective", "rank:pairwise", "--monotone", "baselines", "--ensemble", "2")
    trained = run_fund(
        "train", "xgboost", "--models", "growth_midcap", "--start-date", str(START), "--end-date", str(END), *options
    )
    assert trained.exit_code == 0, trained.output
    assert "rank:pairwise, monotone in the baselines inputs, 2 boosters averaged" in trained.output
    [record] = list_models(market)
    assert (record.parameters["objective"], record.parameters["ensemble"]) == ("rank:pairwise", 2)
    assert [booster["seed"] for booster in record.parameters["booster"]] == [7, 8]
    assert record.parameters["booster"][0]["monotone_constraints"] == MONOTONE["baselines"]
    model = booster_from_bytes(load_artifact(market, record))
    assert (len(model.boosters), model.objective) == (2, "rank:pairwise")

    # The reuse key of these settings finds it; the default settings' key does not.
    ranker = tiny.models.ranker.model_copy(
        update={"objective": "rank:pairwise", "monotone": "baselines", "ensemble": 2}
    )
    window = {"train_start": START, "train_end": END, "feature_set": record.feature_set}
    key = ranker_training_parameters(ranker, ranker.horizon)
    assert find_model(market, RANKER, "growth_midcap", **window, parameters=key) == record
    default_key = ranker_training_parameters(tiny.models.ranker, ranker.horizon)
    assert find_model(market, RANKER, "growth_midcap", **window, parameters=default_key) is None

    evaluated = run_fund(
        "models", "evaluate", "--models", "growth_midcap", "--start-date", "2014-01-02", "--end-date", "2014-12-31"
    )
    assert evaluated.exit_code == 0, evaluated.output
    explained = run_fund(
        "models", "explain", str(record.id), "--start", "2014-01-02", "--end", "2014-12-31", "--repeats", "1"
    )
    assert explained.exit_code == 0, explained.output
    assert "IC drop" in explained.output
