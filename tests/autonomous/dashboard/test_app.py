"""The dashboard's pages through Streamlit's AppTest, on both databases, empty and with a fund in it: every
page renders, shows what the tables hold, and the approval form records a decision as `fund approvals` does.
The Sweeps page has its own file (test_sweeps_page.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, update

from autonomous.cli.app import fund
from autonomous.dashboard.app import PAGES
from tests.autonomous import conftest as market_fixtures
from tests.autonomous.dashboard.apptest import frames, page, texts
from trading.db.schema import Approval
from trading.marketdata.calendar import TradingCalendar
from trading.store.accounts import create_paper_account
from trading.store.backtests import list_backtests
from trading.store.models import list_models
from trading.store.rebalances import list_approvals, recent_runs, run_steps

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

ACCOUNT = "PAPER_AUTONOMOUS_FUND"


def run_fund(*args: str) -> str:
    result = CliRunner().invoke(fund, ["--log-level", "WARNING", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("database_url")
def test_every_page_renders_on_an_empty_database_and_says_what_to_do_first(engine: Engine) -> None:
    for name in PAGES:
        app = page(name)
        assert app.title[0].value == name
    assert "No account yet" in texts(page("Overview"))
    assert "No approval requested." in texts(page("Approvals"))
    assert "No backtest stored" in texts(page("Backtests"))
    models = texts(page("Models"))
    assert "No model trained" in models
    assert "No run yet: `fund rebalance` records the models it used." in models
    assert "No sweep stored" in texts(page("Sweeps"))
    assert "No bars imported" in texts(page("Data"))


@pytest.fixture
def fund_in_it(market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    create_paper_account(market, ACCOUNT, Decimal("100000"))
    sessions = [str(s.date()) for s in TradingCalendar.from_database(market, "SPY").history[-3:]]
    runner = CliRunner()
    for day in sessions[:2]:
        result = runner.invoke(fund, ["--log-level", "WARNING", "rebalance", "--use-mock", "--date", day])
        assert result.exit_code == 0, result.output
    monkeypatch.setenv("FUND_RISK__APPROVAL_MIN_CONFIDENCE", "1.0")  # the last session's plan waits for a person
    result = runner.invoke(fund, ["--log-level", "WARNING", "rebalance", "--use-mock", "--date", sessions[2]])
    assert "awaiting_approval" in result.output
    monkeypatch.delenv("FUND_RISK__APPROVAL_MIN_CONFIDENCE")
    backtest = runner.invoke(
        fund,
        [
            "--log-level",
            "WARNING",
            "backtest",
            "run",
            "--start",
            "2014-06-02",
            "--end",
            "2014-06-13",
            "--generator",
            "mock",
        ],
    )
    assert backtest.exit_code == 0, backtest.output
    return sessions


def test_the_pages_show_the_fund_as_its_tables_hold_it(market: Engine, fund_in_it: list[str]) -> None:
    overview = page("Overview")
    labels = {m.label: m.value for m in overview.metric}
    assert labels["Pending approvals"] == "1"
    assert labels["Equity"] != "-"
    runs = overview.dataframe[0].value
    assert list(runs["status"]) == ["awaiting_approval", "completed", "completed"]

    positions = page("Positions").dataframe[0].value
    assert len(positions) > 0
    assert (
        abs(
            positions["weight"].sum()
            - positions["market value"].sum()
            / float(Decimal(1))
            / (positions["market value"].sum() / positions["weight"].sum())
        )
        < 1e-9
    )
    orders = page("Orders and fills").dataframe[0].value
    assert set(orders["side"]) <= {"buy", "sell"}
    assert len(orders) > 0

    decision = page("Today's decision")
    assert not decision.dataframe  # a data grid would cut the long notes off
    steps = decision.table[0].value
    [latest] = recent_runs(market, ACCOUNT, limit=1)
    recorded = run_steps(market, latest.id)
    assert list(steps["step"]) == [s["step"] for s in recorded]
    assert list(steps["note"]) == [s["message"] for s in recorded]  # each note whole
    assert "risk" in set(steps["step"])

    backtests = page("Backtests").dataframe[0].value
    assert list(backtests["main"]) == ["mock"]
    data = page("Data").dataframe[0].value
    assert "SPY" in set(data["ticker"])


def test_an_approval_recorded_on_the_page_is_the_same_as_fund_approvals_approve(
    market: Engine, fund_in_it: list[str]
) -> None:
    [pending] = list_approvals(market, pending_only=True)
    # The replayed session is years old, so its approval's expiry has passed: a person looking today gets a day.
    with market.begin() as connection:
        connection.execute(update(Approval).values(expires_at=datetime.now(UTC) + timedelta(days=1)))
    app = page("Approvals")
    app.text_input[0].input("")  # no name: refused, nothing recorded
    app.button[0].click().run()
    assert "Give your name" in texts(app)
    assert list_approvals(market, pending_only=True)
    app.text_input[0].input("Dana")
    app.text_input[1].input("reviewed the turnover")
    app.button[0].click().run()
    assert not app.exception
    [decided] = [a for a in list_approvals(market, pending_only=False) if a.id == pending.id]
    assert decided.decision == "approved"
    assert decided.decided_by == "Dana"
    assert decided.reason == "reviewed the turnover"
    assert list_approvals(market, pending_only=True) == []


def test_the_backtests_page_embeds_the_chosen_runs_tear_sheet_below_the_comparison(
    market: Engine, fund_in_it: list[str]
) -> None:
    [stored] = list_backtests(market)
    backtests = page("Backtests")
    assert list(backtests.dataframe[0].value["backtest"]) == [stored.id]
    assert len(backtests.get("plotly_chart")) == 1  # the variants' equity, side by side
    [sheet] = frames(backtests)
    # The page `fund backtest report` writes: its title, span and sections.
    assert sheet.startswith("<!DOCTYPE html>")
    assert f"<h1>Backtest {stored.id}</h1>" in sheet
    assert f"{stored.start_date} to {stored.end_date}" in sheet
    assert "main variant: <b>mock</b>" in sheet
    for section in ("Variants compared", "What the comparison says", "Charts", "Decision quality"):
        assert f"<h2>{section}</h2>" in sheet
    assert f"Tear sheet of backtest {stored.id}" in [h.value for h in backtests.subheader]


def test_the_models_page_names_the_models_each_recent_run_used(
    market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUND_MODELS__RANKER__N_ESTIMATORS", "5")  # tiny rankers: the page, not the models
    monkeypatch.setenv("FUND_MODELS__RANKER__FOLDS", "2")
    create_paper_account(market, ACCOUNT, Decimal("100000"))
    run_fund("train", "xgboost", "--models", "all", "--start-date", "2013-01-02", "--end-date", "2013-12-31")
    sessions = [str(s.date()) for s in TradingCalendar.from_database(market, "SPY").history[-2:]]
    run_fund("rebalance", "--use-mock", "--date", sessions[0])
    monkeypatch.setenv("FUND_MODELS__GENERATOR", "hybrid")  # opted into (the default is the mock)
    run_fund("rebalance", "--date", sessions[1])  # the hybrid generator: the ranker trained above

    models = page("Models")
    registry, runs = (frame.value for frame in models.dataframe)
    assert len(registry) == 7
    assert list(runs["session"].astype(str)) == [sessions[1], sessions[0]]
    assert list(runs["generator"]) == ["hybrid", "mock"]
    assert list(runs["account"]) == [ACCOUNT, ACCOUNT]
    hybrid = runs.iloc[0]
    [used] = [m for m in list_models(market) if m.strategy == hybrid["strategy"]]
    # Named by its id in the registry table above it; the agent's absence as the run recorded it.
    assert hybrid["ranker"] == f"model {used.id}"
    [listed] = registry[registry["model"] == used.id].to_dict("records")
    assert (listed["strategy"], listed["version"]) == (hybrid["strategy"], used.version)
    assert str(hybrid["agent"]).startswith(f"none (no ppo_agent for {hybrid['strategy']} trained before")
    assert runs.iloc[1]["portfolio"] == "mock"
