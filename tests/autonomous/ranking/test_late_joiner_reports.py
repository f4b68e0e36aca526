"""How training, `fund models evaluate`, the CLI tables and `fund models list` report a ranker's
figures with and without the late joiners (names with no fundamentals row at the decision date)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from autonomous.ranking.training import evaluate_rankers, train_rankers
from tests.autonomous.ranking.conftest import run_fund
from tests.autonomous.ranking.test_late_joiners import late_joiners_in
from trading.settings import FundSettings, load_settings
from trading.store.models import RANKER, list_models


@pytest.fixture
def tiny(market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    monkeypatch.setenv("FUND_MODELS__RANKER__N_ESTIMATORS", "5")
    monkeypatch.setenv("FUND_MODELS__RANKER__FOLDS", "2")
    # Universes of 30 of the 60 names: without its late joiners a date still has the ten names a rank IC needs.
    monkeypatch.setenv("FUND_UNIVERSE__MIN_BUCKET_SIZE", "30")
    return load_settings(None)


def test_training_reports_each_fold_and_the_whole_walk_forward_without_the_late_joiners(
    market: Engine, tiny: FundSettings
) -> None:
    late = late_joiners_in(market)
    [(training, record)] = train_rankers(market, tiny, ["growth_midcap"], date(2013, 1, 2), date(2013, 12, 31)).trained

    split = training.late_joiners
    assert split.informative
    validated = sum(fold.validation_rows for fold in training.folds)
    assert split.rows == validated
    assert 0 < split.late_joiner_rows < validated
    assert split.metrics is not None
    assert split.metrics.rows < training.overall.rows
    stored = record.metrics["walk_forward"]
    assert stored["without_late_joiners"]["late_joiner_rows"] == split.late_joiner_rows
    assert stored["without_late_joiners"]["rank_ic"] == pytest.approx(split.metrics.rank_ic)
    for fold, stored_fold in zip(training.folds, stored["folds"], strict=True):
        assert fold.late_joiners.rows == fold.validation_rows
        assert stored_fold["without_late_joiners"]["verdict"] == fold.late_joiners.verdict
        # Per fold, the best simple factor and the ranker's margin over it.
        assert stored_fold["baselines"]["best"] == fold.baselines.best
        assert stored_fold["baselines"]["ranker"]["rank_ic"] == pytest.approx(fold.metrics.rank_ic)
    assert late, "the crafted market has late joiners"


def test_a_held_out_window_where_every_name_has_fundamentals_reports_one_figure(
    market: Engine, tiny: FundSettings
) -> None:
    late_joiners_in(market)
    train_rankers(market, tiny, ["growth_midcap"], date(2013, 1, 2), date(2013, 12, 31))
    [evaluation], _ = evaluate_rankers(market, tiny, ["growth_midcap"], date(2014, 1, 2), date(2014, 12, 31))

    assert evaluation.late_joiners.verdict == "all_have_fundamentals"
    assert evaluation.late_joiners.metrics is None
    [record] = list_models(market, kind=RANKER)
    stored = record.metrics["evaluations"]["2014-01-02..2014-12-31"]["without_late_joiners"]
    assert stored == {
        "verdict": "all_have_fundamentals",
        "rows": evaluation.late_joiners.rows,
        "late_joiner_rows": 0,
        "first_date": str(evaluation.late_joiners.first_date),
        "first_known": str(evaluation.late_joiners.first_known),
    }


def test_the_cli_names_both_figures_and_says_which_to_believe(market: Engine, tiny: FundSettings) -> None:
    late_joiners_in(market)
    trained = run_fund(
        "train", "xgboost", "--models", "growth_midcap", "--start-date", "2013-01-02", "--end-date", "2013-12-31"
    )
    assert trained.exit_code == 0, trained.output
    assert "walk-forward overall" in trained.output
    assert trained.output.count("  without late joiners") >= 2  # the overall row and at least one fold's
    assert "Believe the figure without them, the conservative one" in trained.output
    assert "vs simple factors, same dates and names" in trained.output
    assert "vs simple factors, without late joiners" in trained.output
    assert "per fold, against its best simple factor" in trained.output
    assert "fold 1 (" in trained.output

    evaluated = run_fund(
        "models", "evaluate", "--models", "growth_midcap", "--start-date", "2014-01-02", "--end-date", "2014-12-31"
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "the late-joiner split is not informative (one figure)" in evaluated.output
    assert "without late joiners" not in evaluated.output

    listed = run_fund("models", "list")
    assert listed.exit_code == 0, listed.output
    assert "[without late joiners, the figure to believe: " in listed.output
    assert "[late-joiner split not informative]" in listed.output
