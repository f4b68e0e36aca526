"""The dashboard's pages through Streamlit's AppTest, on both databases, empty and with a fund in it: every
page renders, shows what the tables hold, and the approval form records a decision as `fund approvals` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from click.testing import CliRunner
from sqlalchemy import Engine, update
from streamlit.testing.v1 import AppTest

from autonomous.cli.app import fund
from autonomous.dashboard.app import PAGES
from tests.autonomous import conftest as market_fixtures
from trading.db.schema import Approval
from trading.marketdata.calendar import TradingCalendar
from trading.store.accounts import create_paper_account
from trading.store.rebalances import list_approvals

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

APP = Path(__file__).resolve().parents[3] / "autonomous" / "dashboard" / "app.py"
ACCOUNT = "PAPER_AUTONOMOUS_FUND"


def page(name: str) -> AppTest:
    # The caches outlive one AppTest: a PostgreSQL URL is the same from one test to the next.
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    app.sidebar.radio[0].set_value(name).run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def texts(app: AppTest) -> str:
    return "\n".join([e.value for e in app.info] + [e.value for e in app.error] + [e.value for e in app.caption])


@pytest.mark.usefixtures("database_url")
def test_every_page_renders_on_an_empty_database_and_says_what_to_do_first(engine: Engine) -> None:
    for name in PAGES:
        app = page(name)
        assert app.title[0].value == name
    assert "No account yet" in texts(page("Overview"))
    assert "No approval requested." in texts(page("Approvals"))
    assert "No backtest stored" in texts(page("Backtests"))
    assert "No model trained" in texts(page("Models"))
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
    steps = decision.dataframe[0].value
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
