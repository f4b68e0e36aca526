"""A held stock without a bar on the session (a halt, a vendor gap, a delisting) never freezes the fund: it
is valued at its last close, flagged stale and left alone while the rest of the plan trades; after
`data.delisted_after_sessions` sessions without a bar the venue closes it at its last close."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, select

from autonomous.daily_run.run import Outcome
from tests.autonomous.daily_run.conftest import ACCOUNT, RunFactory, ledger_is_consistent, request
from trading.db.schema import PaperCashEntry, PaperPositionChange, PriceBar, RebalancingLog, TradeExecution
from trading.settings import FundSettings
from trading.store.accounts import get_paper_account, paper_positions

DELISTED_AFTER = 3


@pytest.fixture
def quick_delisting(settings: FundSettings) -> FundSettings:
    return settings.model_copy(
        update={"data": settings.data.model_copy(update={"delisted_after_sessions": DELISTED_AFTER})}
    )


def _held(engine: Engine) -> dict[str, Decimal]:
    return {p.ticker: p.quantity for p in paper_positions(engine, ACCOUNT)}


def _stop_bars(engine: Engine, ticker: str, after: date) -> None:
    with engine.begin() as connection:
        connection.execute(delete(PriceBar).where(PriceBar.ticker == ticker, PriceBar.date > after))


def _last_run(engine: Engine) -> dict[str, object]:
    with engine.connect() as connection:
        row = connection.execute(select(RebalancingLog.__table__).order_by(RebalancingLog.id.desc()).limit(1))
        return dict(row.mappings().one())


def test_a_held_stock_without_a_bar_is_valued_stale_and_left_alone_while_the_rest_trades(
    make_run: RunFactory, funded: Engine, sessions: list[date], quick_delisting: FundSettings
) -> None:
    run = make_run(with_settings=quick_delisting)
    assert run.run(request(sessions[-8])).outcome is Outcome.COMPLETED
    assert run.run(request(sessions[-7])).outcome is Outcome.COMPLETED
    halted = sorted(_held(funded))[0]
    _stop_bars(funded, halted, after=sessions[-7])
    quantity = _held(funded)[halted]

    result = run.run(request(sessions[-6]))

    assert result.outcome is Outcome.COMPLETED, result.message
    logged = _last_run(funded)
    risk = logged["risk_reasons"]
    assert isinstance(risk, dict)
    frozen = [r for r in risk["reasons"] if r["rule"] == "frozen"]
    assert frozen
    assert frozen[0]["tickers"] == [halted]
    assert "1 sessions stale" in frozen[0]["message"]
    assert any(r["rule"] == "drawdown" for r in risk["reasons"]), "the halt is still evaluated"
    assert logged["risk_verdict"] != "reject"
    with funded.connect() as connection:
        sent = list(
            connection.execute(
                select(TradeExecution.ticker).where(TradeExecution.session_date == sessions[-6])
            ).scalars()
        )
    assert halted not in sent
    assert _held(funded)[halted] == quantity
    ledger_is_consistent(funded)


def test_a_stock_without_bars_for_the_set_number_of_sessions_is_closed_at_its_last_close_and_reported(
    make_run: RunFactory, funded: Engine, sessions: list[date], quick_delisting: FundSettings
) -> None:
    run = make_run(with_settings=quick_delisting)
    run.run(request(sessions[-8]))
    run.run(request(sessions[-7]))
    gone = sorted(_held(funded))[0]
    quantity = _held(funded)[gone]
    with funded.connect() as connection:
        last_close = connection.execute(
            select(PriceBar.close).where(PriceBar.ticker == gone, PriceBar.date == sessions[-7])
        ).scalar_one()
    _stop_bars(funded, gone, after=sessions[-7])

    results = [run.run(request(day)) for day in sessions[-6 : -6 + DELISTED_AFTER]]

    assert all(r.outcome is Outcome.COMPLETED for r in results), [r.message for r in results]
    assert not any(event.startswith("delisted") for r in results[:-1] for event in r.events)
    [event] = [e for e in results[-1].events if e.startswith("delisted")]
    assert gone in event
    assert f"{DELISTED_AFTER} sessions" in event
    assert gone not in _held(funded)
    with funded.connect() as connection:
        proceeds = connection.execute(
            select(PaperCashEntry.amount).where(PaperCashEntry.kind == "delisting", PaperCashEntry.ticker == gone)
        ).scalar_one()
        change = connection.execute(
            select(PaperPositionChange.quantity).where(PaperPositionChange.kind == "delisting")
        ).scalar_one()
    assert proceeds == (quantity * Decimal(last_close)).quantize(Decimal("0.0001"))
    assert change == -quantity
    assert get_paper_account(funded, ACCOUNT).cash >= proceeds
    ledger_is_consistent(funded)
