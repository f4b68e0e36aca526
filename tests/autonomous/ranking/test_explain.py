"""`fund models explain` against a real database: the permutation importance of a stored ranker on a
held-out window, on every name and without the late joiners, stored with the model, shown by `fund models
list`, refused where it would mislead."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from autonomous.ranking.explain import explain_ranker
from autonomous.ranking.training import train_rankers
from tests.autonomous.ranking.conftest import run_fund
from tests.autonomous.ranking.test_late_joiners import late_joiners_in
from trading.settings import FundSettings, load_settings
from trading.store.models import AGENT, IMPORTANCE, add_evaluation, get_model, save_model


def trained_ranker(market: Engine, settings: FundSettings) -> int:
    [(_, record)] = train_rankers(market, settings, ["growth_midcap"], date(2013, 1, 2), date(2013, 12, 31)).trained
    return record.id


def test_fund_models_explain_stores_the_importance_and_the_list_shows_the_top_three(
    market: Engine, tiny: FundSettings
) -> None:
    model_id = trained_ranker(market, tiny)
    explained = run_fund(
        "models", "explain", str(model_id), "--start", "2014-01-02", "--end", "2014-12-31", "--repeats", "2"
    )
    assert explained.exit_code == 0, explained.output
    assert "mean daily rank IC" in explained.output
    assert "IC drop" in explained.output

    stored = get_model(market, model_id).metrics[IMPORTANCE]["2014-01-02..2014-12-31"]
    assert stored["repeats"] == 2
    features = stored["features"]
    assert {feature["feature"] for feature in features} == set(get_model(market, model_id).feature_set)
    drops = [feature["drop"] for feature in features]
    assert drops == sorted(drops, reverse=True)
    # The printed table is the stored figures, rounded, largest drop first.
    assert f"{features[0]['feature']:<24}{features[0]['drop']:>+10.4f}" in explained.output

    listed = run_fund("models", "list")
    assert listed.exit_code == 0, listed.output
    top = ", ".join(f"{feature['feature']} {feature['drop']:.4f}" for feature in features[:3])
    assert f"top features 2014-01-02..2014-12-31: {top}" in listed.output
    assert "held-out" not in listed.output  # an importance is not a held-out evaluation


def test_explain_refuses_an_unknown_id_an_overlapping_window_and_an_agent(market: Engine, tiny: FundSettings) -> None:
    model_id = trained_ranker(market, tiny)
    agent = save_model(
        market,
        kind=AGENT,
        strategy="growth_midcap",
        train_start=date(2013, 1, 2),
        train_end=date(2013, 12, 31),
        feature_set=[],
        parameters={},
        metrics={},
        artifact=b"an agent",
    )
    cases = {
        "no stored model has id 999": ("999", "2014-01-02", "2014-12-31"),
        "overlaps model": (str(model_id), "2013-06-03", "2014-06-30"),
        "not a ranker": (str(agent.id), "2014-01-02", "2014-12-31"),
        "starts (2014-12-31) after it ends": (str(model_id), "2014-12-31", "2014-01-02"),
    }
    for message, (identifier, start, end) in cases.items():
        result = run_fund("models", "explain", identifier, "--start", start, "--end", end)
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
    assert IMPORTANCE not in get_model(market, model_id).metrics


def test_explain_never_reads_a_bar_after_the_window(market: Engine, tiny: FundSettings) -> None:
    model_id = trained_ranker(market, tiny)
    end = date(2014, 6, 30)
    before = explain_ranker(market, tiny, model_id, date(2014, 1, 2), end, repeats=2).importance
    with market.begin() as connection:
        changed = connection.execute(
            text("UPDATE price_bars SET adj_close = adj_close * 3, volume = volume * 7 WHERE date > :end"),
            {"end": end},
        ).rowcount
    assert changed > 0
    after = explain_ranker(market, tiny, model_id, date(2014, 1, 2), end, repeats=2).importance
    assert after == before


@pytest.fixture
def roomy(tiny: FundSettings, monkeypatch: pytest.MonkeyPatch) -> FundSettings:
    """Universes of 30 of the 60 names: without its late joiners a date still has the ten names a rank IC needs."""
    monkeypatch.setenv("FUND_UNIVERSE__MIN_BUCKET_SIZE", "30")
    return load_settings(None)


def test_explain_also_measures_the_drops_without_the_late_joiners_and_says_which_to_believe(
    market: Engine, roomy: FundSettings
) -> None:
    late_joiners_in(market)  # late joiners until 2014: the whole held-out window below
    [(_, record)] = train_rankers(market, roomy, ["growth_midcap"], date(2013, 1, 2), date(2013, 6, 28)).trained
    explained = run_fund(
        "models", "explain", str(record.id), "--start", "2013-07-01", "--end", "2013-12-31", "--repeats", "2"
    )
    assert explained.exit_code == 0, explained.output

    stored = get_model(market, record.id).metrics[IMPORTANCE]["2013-07-01..2013-12-31"]
    without = stored["without_late_joiners"]
    assert without["verdict"] == "informative"
    assert 0 < without["late_joiner_rows"] < stored["rows"]
    assert without["rows"] == stored["rows"] - without["late_joiner_rows"]
    assert {feature["feature"] for feature in without["features"]} == set(record.feature_set)
    assert "every_name_same_dates" not in without  # fundamentals from the window's first date
    # Both tables side by side, in the order of the drops without late joiners, and the verdict.
    first = without["features"][0]
    every = {feature["feature"]: feature for feature in stored["features"]}[first["feature"]]
    assert "without late joiners: mean daily rank IC" in explained.output
    assert f"{first['feature']:<24}{every['drop']:>+10.4f}{every['drop_std']:>9.4f}{first['drop']:>+16.4f}" in (
        explained.output
    )
    assert "Believe the drops without them, the conservative ones" in explained.output

    listed = run_fund("models", "list")
    assert listed.exit_code == 0, listed.output
    top = ", ".join(f"{feature['feature']} {feature['drop']:.4f}" for feature in without["features"][:3])
    assert f"[without late joiners, the ones to believe: {top}]" in listed.output


def test_an_importance_stored_before_the_late_joiner_split_is_still_listed(market: Engine, tiny: FundSettings) -> None:
    model_id = trained_ranker(market, tiny)
    old = {"rank_ic": 0.05, "dates": 40, "rows": 900, "repeats": 5, "seed": 0}
    old["features"] = [{"feature": "mom_21_rank", "drop": 0.02, "drop_std": 0.01}]
    add_evaluation(market, model_id, "2014-01-02..2014-12-31", old, section=IMPORTANCE)

    listed = run_fund("models", "list")
    assert listed.exit_code == 0, listed.output
    assert "top features 2014-01-02..2014-12-31: mom_21_rank 0.0200" in listed.output
    assert "without late joiners, the ones to believe" not in listed.output
