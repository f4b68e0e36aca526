"""The backtest's in-memory journal keeps the records the daily run reads back as the database journal does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from backtesting.journal import MemoryJournal, evidence_before

NOW = datetime(2024, 1, 2, 21, tzinfo=UTC)


def journal() -> MemoryJournal:
    return MemoryJournal(clock=lambda: NOW)


@given(st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=40), st.data())
def test_the_peak_equity_is_the_highest_close_in_the_window_asked(values: list[int], data: st.DataObject) -> None:
    book = journal()
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(len(values))]
    for day, value in zip(days, values, strict=True):
        book.record_equity("A", day, cash=Decimal(value), positions_value=Decimal(0))
    start = data.draw(st.none() | st.sampled_from(days))
    end = data.draw(st.sampled_from(days))
    window = [v for d, v in zip(days, values, strict=True) if (start is None or d >= start) and d <= end]
    assert book.peak_equity("A", start, end) == (Decimal(max(window)) if window else None)


@given(
    st.lists(st.tuples(st.integers(min_value=1, max_value=1000), st.booleans()), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=40),
)
def test_the_peak_since_a_lifted_halt_asked_every_session_equals_a_full_scan(
    closes: list[tuple[int, bool]], start_offset: int
) -> None:
    """A replay asks for the peak since the last resume after every close; the journal keeps that peak as
    points arrive, and a restated newest close (a second run of its session) must never linger in it."""
    book = journal()
    start = date(2024, 1, 1) + timedelta(days=start_offset)
    day = date(2024, 1, 1)
    for value, restate in closes:
        if not restate or not book.equity:
            day += timedelta(days=1)
        book.record_equity("A", day, cash=Decimal(value), positions_value=Decimal(0))
        window = [p.equity for p in book.equity if p.session >= start]
        assert book.peak_equity("A", start, day) == (max(window) if window else None)


def test_a_restated_close_replaces_the_session_and_its_peak() -> None:
    book = journal()
    book.record_equity("A", date(2024, 1, 2), cash=Decimal(100), positions_value=Decimal(0))
    book.record_equity("A", date(2024, 1, 3), cash=Decimal(150), positions_value=Decimal(0))
    book.record_equity("A", date(2024, 1, 3), cash=Decimal(90), positions_value=Decimal(0))
    assert [p.equity for p in book.equity] == [Decimal(100), Decimal(90)]
    assert book.peak_equity("A", None, date(2024, 1, 3)) == Decimal(100)


def test_a_plan_awaiting_approval_stays_pending_until_decided_and_rejection_cancels_its_orders() -> None:
    book = journal()
    row = {"rebalance_date": date(2024, 1, 2), "account_id": "A", "mode": "paper", "attempt": 1}
    order = {"client_order_id": "c1", "broker": "paper", "ticker": "AAA", "side": "buy", "quantity": Decimal(3)}
    run_id = book.persist_plan(
        row | {"status": "awaiting_approval"},
        [order | {"status": "planned", "session_date": row["rebalance_date"]}],
        NOW,
    )
    assert [r.id for r in book.pending_runs("A", "paper", date(2024, 1, 5))] == [run_id]
    book.decide(run_id, "rejected", "a test", NOW)
    assert book.pending_runs("A", "paper", date(2024, 1, 5)) == []
    assert book.run_orders(run_id)[0].status == "canceled"
    assert book.active_run("A", date(2024, 1, 2), "paper") is None
    assert book.next_attempt("A", date(2024, 1, 2), "paper") == 2


def test_evidence_counts_only_periods_that_ended_before_the_decision() -> None:
    rows = pd.DataFrame(
        {
            "strategy": ["dividend", "dividend", "value_smallcap"],
            "regime": ["bull_low_vol"] * 3,
            "period_end": [date(2024, 1, 1), date(2024, 2, 1), date(2023, 12, 1)],
            "total_return": [0.01, 0.05, -0.02],
            "sharpe_ratio": [1.0, None, 0.5],
            "max_drawdown": [0.02, 0.04, 0.03],
        }
    )
    evidence = evidence_before(rows, "bull_low_vol", date(2024, 1, 15))
    assert evidence.loc["dividend", "periods"] == 1
    assert evidence.loc["dividend", "mean_return"] == 0.01
    assert evidence.loc["value_smallcap", "mean_sharpe"] == 0.5
    assert evidence_before(rows, "bear_high_vol", date(2024, 1, 15)).empty


def test_the_journal_answers_evidence_as_of_each_decision_date_from_rows_read_once() -> None:
    rows = pd.DataFrame(
        {
            "strategy": ["dividend", "dividend"],
            "regime": ["bull_low_vol", "bull_low_vol"],
            "period_end": [date(2024, 2, 1), date(2024, 1, 1)],
            "total_return": [0.05, 0.01],
            "sharpe_ratio": [None, 1.0],
            "max_drawdown": [0.04, 0.02],
        }
    )
    book = MemoryJournal(rows, clock=lambda: NOW)
    assert book.strategy_evidence("bull_low_vol", date(2024, 1, 1)).empty
    assert book.strategy_evidence("bull_low_vol", date(2024, 1, 15)).loc["dividend", "mean_return"] == 0.01
    assert book.strategy_evidence("bull_low_vol", date(2024, 3, 1)).loc["dividend", "periods"] == 2
