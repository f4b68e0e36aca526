"""`fund backtest` as a user runs it, over the synthetic market of tests/autonomous on SQLite and
PostgreSQL: the replay, what it stores, the report, the list and the comparison, the errors; and the
guarantees behind it: no look-ahead, figures that the stored equity reproduces, and the same decision
as a dry run of an account in the same state."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select, text, update

from autonomous.cli.app import fund
from backtesting.job import BacktestRequest, replay_request
from tests.autonomous import conftest as market_fixtures
from trading.db.schema import (
    BacktestDecision,
    BacktestEquity,
    BacktestFill,
    BacktestOrder,
    BacktestRun,
    PriceBar,
    RebalancingLog,
    StrategyPerformance,
)
from trading.settings import load_settings
from trading.store.accounts import create_paper_account
from trading.store.backtests import backtest_equity, get_backtest

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

START, END = "2013-09-03", "2013-10-31"  # 43 sessions, late enough for the regime's history


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, ["--log-level", "WARNING", *args], catch_exceptions=False)


def count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_backtest_replays_compares_stores_and_reports(market: Engine, database_url: str, tmp_path: Path) -> None:
    result = run(
        "backtest", "run", "--start", START, "--end", END, "--generator", "mock", "--compare", "benchmark,trend,random"
    )
    assert result.exit_code == 0, result.output
    assert "backtest 1: 43 sessions 2013-09-03 .. 2013-10-31, 3 replayed variant(s)" in result.stdout
    assert "mock beat random" in result.stdout or "mock trailed random" in result.stdout

    record = get_backtest(market, 1)
    assert set(record.variants) == {"mock", "trend", "random", "benchmark"}
    assert record.sessions == 43
    assert record.main_variant == "mock"
    assert any("survivorship-biased" in note for note in record.notes)
    assert count(market, BacktestEquity) == 4 * 43
    assert count(market, BacktestDecision) >= 3 * 43
    assert count(market, BacktestOrder) > 0
    assert count(market, BacktestFill) > 0
    # Nothing of the fund's own ledger moved: the replay kept its runs in memory.
    assert count(market, RebalancingLog) == 0
    assert count(market, StrategyPerformance) > 0

    page = tmp_path / "sheet.html"
    report = run("backtest", "report", "1", "--output", str(page))
    assert report.exit_code == 0, report.output
    html = page.read_text()
    assert "Backtest 1" in html
    assert "survivorship-biased" in html
    assert "<script src" not in html
    as_json = tmp_path / "sheet.json"
    assert run("backtest", "report", "1", "--format", "json", "--output", str(as_json)).exit_code == 0
    assert json.loads(as_json.read_text())["main"] == "mock"

    sql = Path(__file__).resolve().parents[2] / "sql"
    with market.connect() as connection:
        variants = connection.execute(text((sql / "backtest_runs.sql").read_text())).all()
        decided = connection.execute(text((sql / "backtest_decisions.sql").read_text())).all()
    assert [row.variant for row in variants] == ["mock", "random", "trend", "benchmark"]
    assert sum(row.sessions for row in decided) == 43

    listed = run("backtest", "list")
    assert listed.exit_code == 0
    assert "2013-09-03 .. 2013-10-31  mock" in listed.stdout
    compared = run("backtest", "compare", "1")
    assert compared.exit_code == 0
    assert "benchmark" in compared.stdout


def test_stored_figures_match_an_independent_computation_from_the_stored_equity(
    market: Engine, database_url: str
) -> None:
    assert run("backtest", "run", "--start", START, "--end", END, "--generator", "mock").exit_code == 0
    record = get_backtest(market, 1)
    equity = backtest_equity(market, 1)
    for variant in ("mock", "benchmark"):
        curve = equity[equity["variant"] == variant].set_index("session")["equity"]
        returns = curve.pct_change().dropna()
        stored = record.metrics[variant]
        assert stored["total_return"] == pytest.approx(curve.iloc[-1] / curve.iloc[0] - 1, rel=1e-9)
        assert stored["sharpe"] == pytest.approx(returns.mean() / returns.std() * math.sqrt(252), rel=1e-9)
        assert stored["max_drawdown"] == pytest.approx((curve / curve.cummax() - 1).min(), rel=1e-9)
    # The equity adds up: cash plus positions, every session.
    mock = equity[equity["variant"] == "mock"]
    assert (mock["cash"] + mock["positions_value"] - mock["equity"]).abs().max() < 0.01
    # The same backtest again replaces its evidence for the selector instead of counting it twice.
    evidence = count(market, StrategyPerformance)
    assert evidence > 0
    assert run("backtest", "run", "--start", START, "--end", END, "--generator", "mock").exit_code == 0
    assert count(market, StrategyPerformance) == evidence


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2013-10-31", "--end", "2013-09-03"], "is before --start"),
        (["--start", START, "--end", END, "--compare", "benchmark,sideways"], "unknown variant(s) sideways"),
        (["--start", "2030-01-02", "--end", "2030-02-01"], "nothing to replay"),
        (["--start", "2012-01-03", "--end", "2012-02-01"], "not enough history before 2012-01-03"),
        (["--start", START, "--end", END, "--retrain-agents"], "give --retrain-every N too"),
        (
            ["--start", START, "--end", END, "--retrain-every", "21"],
            "run or compare hybrid, ranker-equal or best-factor",
        ),
        (["--start", START, "--end", END, "--retrain-every", "21", "--train-sessions", "10"], "at least 63 sessions"),
    ],
)
def test_bad_requests_fail_with_a_message_and_store_nothing(
    market: Engine, database_url: str, args: list[str], message: str
) -> None:
    result = run("backtest", "run", "--generator", "mock", *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert count(market, BacktestRun) == 0


def test_an_unknown_run_is_named_in_the_error(market: Engine, database_url: str) -> None:
    result = run("backtest", "report", "42")
    assert result.exit_code == 1
    assert "no backtest run 42" in result.stderr


def test_rewriting_every_bar_after_a_session_changes_no_decision_up_to_it(market: Engine, database_url: str) -> None:
    settings = load_settings(None)
    request = BacktestRequest(date(2013, 9, 3), date(2013, 9, 30), generator="mock", compare=())
    before = replay_request(market, settings, request).results[0]
    cut = date(2013, 9, 16)
    with market.begin() as connection:
        connection.execute(
            update(PriceBar)
            .where(PriceBar.date > cut)
            .values(close=PriceBar.close * 3, adj_close=PriceBar.adj_close * 3, open=PriceBar.open * 0.5)
        )
    after = replay_request(market, settings, request).results[0]

    def upto(frame: pd.DataFrame) -> pd.DataFrame:
        kept = frame[frame["session"] <= cut]
        return kept.drop(columns=["strategy_reason"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(upto(before.decisions), upto(after.decisions))
    orders = ["session", "ticker", "side", "quantity"]
    sent_before = before.orders[before.orders["session"] <= cut][orders].reset_index(drop=True)
    sent_after = after.orders[after.orders["session"] <= cut][orders].reset_index(drop=True)
    pd.testing.assert_frame_equal(sent_before, sent_after)
    # ... and the rewritten data did reach the later sessions.
    assert not before.equity_curve.equals(after.equity_curve)


def test_the_backtest_decides_the_first_session_as_a_dry_run_of_a_fresh_account(
    market: Engine, database_url: str
) -> None:
    day = "2013-09-03"
    create_paper_account(market, "PARITY", Decimal(100_000))
    dry = run("rebalance", "--dry-run", "--use-mock", "--account-id", "PARITY", "--date", day)
    assert dry.exit_code == 0, dry.output
    assert run("backtest", "run", "--start", day, "--end", "2013-09-10", "--generator", "mock").exit_code == 0
    with market.connect() as connection:
        planned = connection.execute(
            select(
                RebalancingLog.market_regime,
                RebalancingLog.strategy_selected,
                RebalancingLog.adjusted_weights,
                RebalancingLog.trades,
            ).where(RebalancingLog.account_id == "PARITY")
        ).one()
        decided = connection.execute(
            select(BacktestDecision.regime, BacktestDecision.strategy).where(
                BacktestDecision.session == date(2013, 9, 3)
            )
        ).one()
        orders = connection.execute(
            text("SELECT ticker, side, quantity FROM backtest_orders WHERE session = :day ORDER BY id"),
            {"day": date(2013, 9, 3)},
        ).all()
    assert (planned.market_regime, planned.strategy_selected) == (decided.regime, decided.strategy)
    dry_orders = [(o["ticker"], o["side"], Decimal(str(o["quantity"]))) for o in planned.trades["orders"]]
    assert dry_orders == [(t, s, Decimal(q)) for t, s, q in orders]
    assert planned.adjusted_weights  # the dry run planned a portfolio, and the backtest sent the same orders


def test_replaying_a_paper_account_matches_it_until_its_data_changes(market: Engine, database_url: str) -> None:
    create_paper_account(market, "REPLAYED", Decimal(100_000))
    traded = run("replay", "--sessions", "8", "--use-mock", "--account-id", "REPLAYED")
    assert traded.exit_code == 0, traded.output

    same = run("backtest", "replay-account", "REPLAYED", "--use-mock")
    assert same.exit_code == 0, same.output
    assert "8 sessions" in same.stdout
    assert "no session diverges" in same.stdout

    with market.connect() as connection:
        last = connection.execute(select(func.max(PriceBar.date))).scalar_one()
    with market.begin() as connection:  # a vendor correction of the last close after the account traded
        connection.execute(update(PriceBar).where(PriceBar.date == last).values(close=PriceBar.close * 1.1))
    changed = run("backtest", "replay-account", "REPLAYED", "--use-mock")
    assert changed.exit_code == 4, changed.output
    assert f"{last}  paper" in changed.stdout
    assert "1 of 8 sessions diverge" in changed.stdout


def test_with_confirmed_switches_a_paper_account_and_its_replay_keep_the_same_strategies(
    market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The paper runs read the database view, the replay the preloaded one: both derive the strategy held
    # from the regimes before each session, never from the account.
    monkeypatch.setenv("FUND_STRATEGY__CONFIRM_SESSIONS", "3")
    create_paper_account(market, "CONFIRMED", Decimal(100_000))
    traded = run("replay", "--sessions", "20", "--use-mock", "--account-id", "CONFIRMED")
    assert traded.exit_code == 0, traded.output
    same = run("backtest", "replay-account", "CONFIRMED", "--use-mock")
    assert same.exit_code == 0, same.output
    assert "no session diverges" in same.stdout
    with market.connect() as connection:
        reasons = connection.execute(
            select(RebalancingLog.strategy_reason).where(RebalancingLog.account_id == "CONFIRMED")
        ).scalars()
        assert any((reason or "").startswith("kept ") for reason in reasons), "no switch waited: a weak test"


def test_replaying_an_account_that_never_traded_says_so(market: Engine, database_url: str) -> None:
    create_paper_account(market, "IDLE", Decimal(1_000))
    result = run("backtest", "replay-account", "IDLE", "--use-mock")
    assert result.exit_code == 1
    assert "paper account IDLE has no recorded session yet" in result.stderr


def test_with_index_membership_the_backtest_holds_only_members_and_says_so(
    market: Engine, database_url: str, tmp_path: Path
) -> None:
    with market.connect() as connection:
        stocks = (
            connection.execute(text("SELECT ticker FROM securities WHERE asset_type = 'stock' ORDER BY ticker"))
            .scalars()
            .all()
        )
    members = stocks[: len(stocks) // 2]
    spans = tmp_path / "members.csv"
    spans.write_text("ticker,start_date,end_date\n" + "".join(f"{t},2010-01-01,\n" for t in members))
    assert run("data", "membership", str(spans)).exit_code == 0
    assert run("backtest", "run", "--start", START, "--end", END, "--generator", "mock").exit_code == 0
    record = get_backtest(market, 1)
    assert not any("survivorship-biased" in note for note in record.notes)
    assert any("point-in-time membership from 2010-01-01" in note for note in record.notes)
    with market.connect() as connection:
        traded = set(connection.execute(text("SELECT DISTINCT ticker FROM backtest_orders")).scalars())
    assert traded
    assert traded <= {*members, load_settings(None).data.safe_haven_ticker}


def test_a_session_whose_data_gate_fails_trades_nothing_and_is_named(market: Engine, database_url: str) -> None:
    with market.begin() as connection:
        connection.execute(
            text(
                "DELETE FROM price_bars WHERE date = :day "
                "AND ticker IN (SELECT ticker FROM securities WHERE asset_type = 'stock')"
            ),
            {"day": date(2013, 9, 10)},
        )
    result = run("backtest", "run", "--start", START, "--end", "2013-09-20", "--generator", "mock")
    assert result.exit_code == 0, result.output
    assert "mock: 1 session(s) failed and traded nothing, the first 2013-09-10: DataGateFailed" in result.stdout
    with market.connect() as connection:
        sent = connection.execute(
            text("SELECT COUNT(*) FROM backtest_orders WHERE session = :day"), {"day": date(2013, 9, 10)}
        ).scalar_one()
    assert sent == 0


def test_walk_forward_rankers_are_trained_once_pinned_and_reused_by_the_next_backtest(
    market: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUND_MODELS__RANKER__N_ESTIMATORS", "5")  # tiny rankers: the test is about the wiring
    monkeypatch.setenv("FUND_MODELS__RANKER__FOLDS", "2")
    args = ["backtest", "run", "--start", START, "--end", END, "--generator", "ranker-equal", "--compare", "mock"]
    walk_forward = ["--retrain-every", "21", "--train-sessions", "126"]
    first = run(*args, *walk_forward)
    assert first.exit_code == 0, first.output
    assert "walk-forward models: 21 trained, 0 reused" in first.stdout  # 3 dates x 7 strategies
    again = run(*args, *walk_forward)
    assert "walk-forward models: 0 trained, 21 reused" in again.stdout
    one, two = get_backtest(market, 1), get_backtest(market, 2)
    assert one.models["model_ids"] == two.models["model_ids"]
    assert one.models["retrain_dates"] == ["2013-09-03", "2013-10-02", "2013-10-31"]
    with market.connect() as connection:
        versions = connection.execute(
            text("SELECT DISTINCT model_versions FROM backtest_decisions WHERE variant = 'ranker-equal'")
        ).scalars()
        rankers = {str(json.loads(v) if isinstance(v, str) else v) for v in versions}
    assert any("xgboost_ranker" in r for r in rankers)
