"""The daily run end to end on a real database: steps, once-a-day, dry runs, non-sessions, the data gate."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from autonomous.cli.assembly import assemble_daily_run
from autonomous.daily_run.run import Outcome, RunMode, Step
from tests.autonomous.daily_run.conftest import (
    ACCOUNT,
    RunFactory,
    ledger_is_consistent,
    orders_per_intent,
    request,
)
from trading.db.schema import (
    AccountEquity,
    Base,
    MarketRegime,
    PriceBar,
    RebalancingLog,
    TradeExecution,
)
from trading.orders import deterministic_client_order_id
from trading.settings import FundSettings
from trading.store.accounts import UnknownAccount, get_paper_account, paper_positions

DECISION_STEPS = ["gate", "sync", "regime", "strategy", "target", "risk", "plan", "persist", "submit", "record"]


def _runs(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        rows = connection.execute(select(RebalancingLog.__table__).order_by(RebalancingLog.id)).mappings().all()
    return [dict(row) for row in rows]


def _orders(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        rows = connection.execute(select(TradeExecution.__table__).order_by(TradeExecution.id)).mappings().all()
    return [dict(row) for row in rows]


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def test_a_paper_run_records_every_step_and_sends_each_planned_order_once(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    day = sessions[-5]
    result = make_run().run(request(day))

    assert result.outcome is Outcome.COMPLETED, result.message
    assert result.exit_code == 0
    [run] = _runs(funded)
    assert run["status"] == "completed"
    assert run["rebalance_date"] == day
    assert run["strategy_selected"]
    assert run["market_regime"]
    assert [step["step"] for step in run["steps"]] == DECISION_STEPS  # type: ignore[union-attr]
    assert run["risk_verdict"] == "approve"
    assert run["pre_rebalance_value"] == Decimal("100000.0000")
    orders = _orders(funded)
    assert orders, "a fresh account with a target buys something"
    assert run["num_buys"] == len(orders)
    assert result.orders_sent == len(orders)
    for order in orders:
        assert order["status"] == "submitted"
        assert order["rebalance_id"] == run["id"]
        assert order["session_date"] == day
        assert order["client_order_id"] == deterministic_client_order_id(
            ACCOUNT, day, order["ticker"], "buy", 0, broker="paper", mode="paper"
        )
    with funded.connect() as connection:
        assert connection.execute(select(MarketRegime.date).where(MarketRegime.date == day)).scalar_one() == day
        assert connection.execute(select(AccountEquity.equity).where(AccountEquity.date == day)).scalar_one() == (
            Decimal("100000.0000")
        )


def test_the_next_session_fills_yesterdays_orders_at_its_open_before_deciding(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    run = make_run()
    run.run(request(sessions[-5]))
    result = run.run(request(sessions[-4]))

    assert result.outcome is Outcome.COMPLETED, result.message
    first_orders = [o for o in _orders(funded) if o["session_date"] == sessions[-5]]
    assert {o["status"] for o in first_orders} == {"filled"}
    held = {p.ticker: p.quantity for p in paper_positions(funded, ACCOUNT)}
    for order in first_orders:
        assert held[order["ticker"]] >= order["quantity"]
    second = _runs(funded)[1]
    assert Decimal(second["pre_rebalance_value"]) != Decimal("100000.0000")  # type: ignore[arg-type]
    ledger_is_consistent(funded)
    assert max(orders_per_intent(funded).values()) == 1


def test_a_second_run_on_the_same_session_says_it_is_done_and_writes_nothing(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    run = make_run()
    first = run.run(request(sessions[-5]))
    before = _row_counts(funded)

    again = run.run(request(sessions[-5]))

    assert again.outcome is Outcome.ALREADY_DONE
    assert again.exit_code == 0
    assert again.run_id == first.run_id
    assert "already exists" in again.message
    assert _row_counts(funded) == before


def test_force_runs_the_session_again_as_a_recorded_second_attempt_with_new_client_ids(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    run = make_run()
    run.run(request(sessions[-5]))

    forced = run.run(request(sessions[-5], force=True))

    assert forced.outcome is Outcome.COMPLETED, forced.message
    first, second = _runs(funded)
    assert (first["attempt"], first["forced"]) == (1, False)
    assert (second["attempt"], second["forced"]) == (2, True)
    ids = [o["client_order_id"] for o in _orders(funded)]
    assert len(ids) == len(set(ids))


def test_a_dry_run_logs_the_plan_with_status_dry_run_and_sends_nothing(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    run = make_run(RunMode.DRY_RUN)
    result = run.run(request(sessions[-5], RunMode.DRY_RUN))

    assert result.outcome is Outcome.DRY_RUN
    [logged] = _runs(funded)
    assert logged["status"] == "dry_run"
    assert logged["mode"] == "dry_run"
    assert logged["trades"]["orders"]  # type: ignore[index]
    assert _orders(funded) == []
    assert run.run(request(sessions[-5], RunMode.DRY_RUN)).outcome is Outcome.ALREADY_DONE
    # A paper run of the same session is a different mode: it still runs.
    assert make_run().run(request(sessions[-5])).outcome is Outcome.COMPLETED


@pytest.mark.parametrize("weekday_offset", [5, 6], ids=["saturday", "sunday"])
def test_a_weekend_is_not_a_session_and_nothing_is_written(
    make_run: RunFactory, funded: Engine, sessions: list[date], weekday_offset: int
) -> None:
    friday = next(d for d in reversed(sessions) if d.weekday() == 4)
    weekend = friday + timedelta(days=weekday_offset - 4)
    before = _row_counts(funded)

    result = make_run().run(request(weekend))

    assert result.outcome is Outcome.NOT_A_SESSION
    assert result.exit_code == 0
    assert "not a trading session" in result.message
    assert _row_counts(funded) == before


def test_a_session_without_data_fails_the_gate_records_why_and_trades_nothing(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    # The exchange's next session after the data: a real session whose bars were never imported.
    next_session = sessions[-1] + timedelta(days=1)
    while next_session.weekday() >= 5:
        next_session += timedelta(days=1)

    result = make_run().run(request(next_session))

    assert result.outcome is Outcome.FAILED
    assert result.exit_code == 1
    assert "stale data" in result.message
    [failed] = _runs(funded)
    assert failed["status"] == "failed"
    assert "DataGateFailed" in str(failed["error"])
    assert _orders(funded) == []
    assert get_paper_account(funded, ACCOUNT).settled_through is None


def test_a_failed_gate_does_not_block_a_later_retry_of_the_same_session(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    run = make_run()
    with funded.begin() as connection:
        connection.execute(
            RebalancingLog.__table__.insert().values(
                rebalance_date=sessions[-5], account_id=ACCOUNT, mode="paper", attempt=1, status="failed", error="x"
            )
        )

    result = run.run(request(sessions[-5]))

    assert result.outcome is Outcome.COMPLETED, result.message
    assert [r["attempt"] for r in _runs(funded)] == [1, 2]


def test_an_unknown_account_is_refused_before_anything_is_written(
    funded: Engine, sessions: list[date], settings: FundSettings
) -> None:
    before = _row_counts(funded)
    with pytest.raises(UnknownAccount, match="NOPE"):
        assemble_daily_run(funded, settings, RunMode.PAPER, "NOPE", use_mock=True)
    assert _row_counts(funded) == before


def test_a_paper_run_for_a_session_before_the_ledger_is_refused(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    run = make_run()
    run.run(request(sessions[-3]))
    before = _orders(funded)

    result = run.run(request(sessions[-5]))

    assert result.outcome is Outcome.FAILED
    assert result.exit_code == 1
    assert f"settled through {sessions[-3]}" in result.message
    assert _runs(funded)[-1]["error"].startswith("LedgerAhead: ")  # type: ignore[union-attr]
    assert _orders(funded) == before


def test_the_step_hook_sees_every_step_in_order(make_run: RunFactory, sessions: list[date]) -> None:
    seen: list[Step] = []
    make_run(after_step=seen.append).run(request(sessions[-5]))
    assert [s for s in seen if s is not Step.SUBMIT_ORDER] == [Step(name) for name in DECISION_STEPS]
    assert seen.count(Step.SUBMIT_ORDER) >= 1


def test_a_session_whose_benchmark_bar_is_missing_fails_the_gate_by_name_instead_of_being_a_holiday(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    day = sessions[-5]
    with funded.begin() as connection:
        connection.execute(PriceBar.__table__.delete().where(PriceBar.ticker == "SPY", PriceBar.date == day))

    result = make_run().run(request(day))

    assert result.outcome is Outcome.FAILED
    assert result.exit_code == 1
    assert f"no SPY bar on {day}, a XNYS session" in result.message
    assert _orders(funded) == []
