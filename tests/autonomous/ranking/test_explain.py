"""`fund models explain` against a real database: the permutation importance of a stored ranker on a
held-out window, stored with the model, shown by `fund models list`, refused where it would mislead."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, text

from autonomous.ranking.explain import explain_ranker
from autonomous.ranking.training import train_rankers
from tests.autonomous.ranking.conftest import run_fund
from trading.settings import FundSettings
from trading.store.models import AGENT, IMPORTANCE, get_model, save_model


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
