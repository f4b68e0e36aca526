"""The monitoring queries in sql/ read what real paper trading wrote: a week of daily runs on the
synthetic market, a 2-for-1 split of a held stock on the last session, and a last run that waits
for approval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, RowMapping, text

from autonomous.cli.assembly import assemble_daily_run
from autonomous.daily_run.run import DailyRun, Outcome, RunMode, RunRequest
from tests.factories import BAR_HEADER, write_text
from trading.db.schema import utcnow
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import TradingCalendar
from trading.settings import FundSettings, load_settings
from trading.store.accounts import create_paper_account
from trading.store.rebalances import insert_run, request_approval

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
ACCOUNT = "SQLTEST"


def query(engine: Engine, name: str) -> list[RowMapping]:
    with engine.connect() as connection:
        return list(connection.execute(text((SQL_DIR / name).read_text())).mappings().all())


def number(value: Any) -> Decimal:
    """A column value as a Decimal: SQLite returns ints and floats where PostgreSQL returns Decimals."""
    return Decimal(str(value))


def day_of(value: Any) -> date:
    """A date column as a date: SQLite returns the ISO text through a plain text() query."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def daily_run(engine: Engine, settings: FundSettings) -> DailyRun:
    return assemble_daily_run(engine, settings, RunMode.PAPER, ACCOUNT, use_mock=True)


@dataclass(frozen=True)
class TradedWeek:
    engine: Engine
    sessions: list[date]
    split_ticker: str


def split_on(engine: Engine, ticker: str, day: date, tmp_path: Path) -> None:
    """Re-import the ticker's bar of `day` as a vendor reports a 2-for-1 split: raw prices halve, adj_close does not."""
    with engine.connect() as connection:
        bar = connection.execute(
            text("SELECT open, high, low, close, adj_close, volume FROM price_bars WHERE ticker = :t AND date = :d"),
            {"t": ticker, "d": day},
        ).one()
    half = [number(price) / 2 for price in (bar.open, bar.high, bar.low, bar.close)]
    line = f"{day},{ticker},{half[0]},{half[1]},{half[2]},{half[3]},{bar.adj_close},{int(bar.volume) * 2},0,2"
    import_bar_files(engine, [write_text(tmp_path / "split.csv", f"{BAR_HEADER}\n{line}")], strict=True)


@pytest.fixture
def traded_week(market: Engine, tmp_path: Path) -> TradedWeek:
    settings = load_settings(None)
    # The week follows the rule table every session (no confirmation of switches): on this data that is
    # what leaves a held stock with a buy resting on the last session, the split the queries must follow.
    settings = settings.model_copy(update={"strategy": settings.strategy.model_copy(update={"confirm_sessions": 1})})
    create_paper_account(market, ACCOUNT, Decimal("100000"))
    sessions = [stamp.date() for stamp in TradingCalendar.from_database(market, "SPY").history[-6:]]
    run = daily_run(market, settings)
    for day in sessions[:-1]:
        assert run.run(RunRequest(ACCOUNT, RunMode.PAPER, day)).outcome is Outcome.COMPLETED
    # A held stock with a buy waiting to fill at the next open: the split hits both the holding
    # and the resting order, which is what the reconciliation must follow.
    with market.connect() as connection:
        candidates = connection.execute(
            text(
                "SELECT t.ticker FROM trade_executions AS t "
                "JOIN paper_positions AS p ON p.account_id = t.account_id AND p.ticker = t.ticker "
                "WHERE t.status = 'submitted' AND t.side = 'buy' ORDER BY t.ticker"
            )
        ).scalars()
        split_ticker = next(iter(candidates))
    split_on(market, split_ticker, sessions[-1], tmp_path)
    # Nothing clears a confidence floor of 1: the last run settles the ledger, then waits for a person.
    strict = settings.model_copy(update={"risk": settings.risk.model_copy(update={"approval_min_confidence": 1.0})})
    last = daily_run(market, strict).run(RunRequest(ACCOUNT, RunMode.PAPER, sessions[-1]))
    assert last.outcome is Outcome.AWAITING_APPROVAL
    return TradedWeek(market, sessions, split_ticker)


def test_every_monitoring_query_reports_a_week_of_paper_trading(traded_week: TradedWeek) -> None:
    engine, sessions = traded_week.engine, traded_week.sessions
    for path in sorted(SQL_DIR.glob("*.sql")):
        assert query(engine, path.name), path.name

    rebalances = query(engine, "recent_rebalances.sql")
    assert [day_of(r["rebalance_date"]) for r in rebalances] == sorted(sessions, reverse=True)
    assert [r["status"] for r in rebalances] == ["awaiting_approval"] + ["completed"] * 5

    trades = query(engine, "recent_trades.sql")
    filled = [t for t in trades if t["status"] == "filled"]
    assert filled
    for trade in filled:
        assert number(trade["notional"]) == (number(trade["fill_price"]) * number(trade["filled_quantity"])).quantize(
            Decimal("0.01")
        )

    positions = query(engine, "current_positions.sql")
    assert {p["account_id"] for p in positions} == {ACCOUNT}
    assert all(day_of(p["marked_at"]) == sessions[-1] for p in positions)
    assert 0 < sum(number(p["weight"]) for p in positions) <= 1
    for p in positions:
        cost = number(p["quantity"]) * number(p["avg_price"])
        assert number(p["unrealized_pnl"]) == (number(p["market_value"]) - cost).quantize(Decimal("0.01"))

    equity = query(engine, "equity_drawdown.sql")
    assert [day_of(e["date"]) for e in equity] == sorted(sessions, reverse=True)
    for day in equity:
        assert number(day["peak_so_far"]) >= number(day["equity"])
        assert number(day["peak_so_far"]) == number(day["recorded_peak"])
        assert number(day["drawdown"]) >= 0
    assert equity[-1]["daily_return"] is None  # the first day has nothing to compare with
    # The first day is all cash, so it is the peak until trading costs and prices move equity.
    assert number(equity[-1]["equity"]) == Decimal("100000")

    rejections = query(engine, "risk_rejections.sql")
    assert [(day_of(r["rebalance_date"]), r["risk_verdict"], r["approval"]) for r in rejections] == [
        (sessions[-1], "needs_approval", "pending")
    ]
    assert rejections[0]["risk_reasons"] is not None

    # The plan waits for the open after the last session, long past: the next run will expire it.
    approvals = query(engine, "pending_approvals.sql")
    assert [(day_of(a["rebalance_date"]), a["run_status"], a["past_expiry"]) for a in approvals] == [
        (sessions[-1], "awaiting_approval", "yes")
    ]

    waiting = query(engine, "open_orders.sql")
    assert waiting
    assert {(o["status"], day_of(o["session_date"]), o["sessions_waiting"]) for o in waiting} == {
        ("planned", sessions[-1], 0)
    }


def test_the_ledger_reconciliation_compares_two_independent_books_and_follows_a_split(
    traded_week: TradedWeek,
) -> None:
    engine, split_ticker = traded_week.engine, traded_week.split_ticker
    checks = query(engine, "ledger_reconciliation.sql")
    assert [c for c in checks if c["verdict"] not in ("ok",)] == []
    assert {c["item"] for c in checks} == {"order", "fills", "position", "cash", "equity"}
    orders = [c for c in checks if c["item"] == "order"]
    assert {c["detail"] for c in orders} >= {"fund filled / venue filled", "fund planned / venue none"}
    split = next(c for c in checks if c["item"] == "position" and c["ticker"] == split_ticker)
    assert number(split["ledger_value"]) == number(split["expected_value"]) > 0


def _one_filled_order(engine: Engine) -> tuple[str, str]:
    with engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(
                text("SELECT client_order_id, ticker FROM paper_orders WHERE status = 'filled' ORDER BY id LIMIT 1")
            ).one()
        )


# A hand-made mismatch of each kind: how to make it, how to undo it, and the checks it must fail.
TAMPERINGS = {
    # What the fund learned differs from what the venue did.
    "order": (
        "UPDATE trade_executions SET filled_quantity = filled_quantity + {n} WHERE client_order_id = :cid",
        {"order"},
    ),
    # The venue's order says more than its fills.
    "fills": ("UPDATE paper_orders SET commission = commission + {n} WHERE client_order_id = :cid", {"order", "fills"}),
    # A position nobody traded into.
    "position": (
        "UPDATE paper_positions SET quantity = quantity + {n} WHERE account_id = :a AND ticker = :t",
        {"position"},
    ),
    # Cash that no journal entry explains (the equity, computed from it, no longer adds up either).
    "cash": ("UPDATE paper_accounts SET cash_balance = cash_balance + {n} WHERE account_id = :a", {"cash", "equity"}),
    # A total that is not cash plus positions.
    "equity": ("UPDATE paper_accounts SET total_value = total_value + {n} WHERE account_id = :a", {"equity"}),
}


def test_the_ledger_reconciliation_flags_a_hand_made_mismatch_of_each_kind(traded_week: TradedWeek) -> None:
    engine = traded_week.engine
    client_id, ticker = _one_filled_order(engine)
    names = {"cid": client_id, "a": ACCOUNT, "t": ticker}
    for kind, (statement, flagged) in TAMPERINGS.items():
        with engine.begin() as connection:
            connection.execute(text(statement.format(n=3)), names)
        checks = query(engine, "ledger_reconciliation.sql")
        with engine.begin() as connection:
            connection.execute(text(statement.format(n=-3)), names)

        mismatches = [c for c in checks if c["verdict"] == "MISMATCH"]
        assert {c["item"] for c in mismatches} == flagged, kind
        assert checks[: len(mismatches)] == mismatches, "mismatches come first"
    assert [c for c in query(engine, "ledger_reconciliation.sql") if c["verdict"] == "MISMATCH"] == []

    # An order at the venue the fund never heard of: both sides of the pair are flagged.
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE paper_orders SET client_order_id = 'af-tampered-0' WHERE client_order_id = :cid"), names
        )
    unknown = [c for c in query(engine, "ledger_reconciliation.sql") if c["verdict"] == "MISMATCH"]
    assert sorted((c["item"], c["client_order_id"]) for c in unknown) == sorted(
        [("order", "af-tampered-0"), ("order", client_id)]
    )


def test_pending_approvals_tell_an_expired_approval_from_one_still_open(engine: Engine) -> None:
    now = utcnow()
    expiries = {date(2024, 1, 2): now - timedelta(minutes=5), date(2024, 1, 3): now + timedelta(days=1)}
    runs = {}
    for day, expires_at in expiries.items():
        run_id = insert_run(
            engine,
            {
                "rebalance_date": day,
                "account_id": ACCOUNT,
                "mode": "paper",
                "status": "awaiting_approval",
                "risk_verdict": "needs_approval",
            },
        )
        request_approval(engine, run_id, expires_at)
        runs[day] = run_id
    approvals = query(engine, "pending_approvals.sql")
    assert [(a["run_id"], a["decision"], a["past_expiry"]) for a in approvals] == [
        (runs[date(2024, 1, 2)], "pending", "yes"),
        (runs[date(2024, 1, 3)], "pending", "no"),
    ]
