"""A forced second attempt of a session replaces the first: it cancels the orders the first left open
at the venue, plans against what is really held, and every limit holds for the session as a whole."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, select

from autonomous.daily_run.run import Outcome
from tests.autonomous.daily_run.conftest import ACCOUNT, RunFactory, ledger_is_consistent, request
from trading.db.schema import PaperFill, PaperOrder, TradeExecution
from trading.settings import FundSettings
from trading.store.accounts import get_paper_account, paper_positions


def _venue_orders(engine: Engine, day: date) -> list[tuple[str, str, str]]:
    query = select(PaperOrder.client_order_id, PaperOrder.ticker, PaperOrder.status).where(PaperOrder.sent_after == day)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


def test_a_forced_attempt_cancels_the_first_attempts_open_orders_so_positions_do_not_double(
    make_run: RunFactory, funded: Engine, sessions: list[date], settings: FundSettings
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    run = make_run()
    first = run.run(request(day))
    first_orders = _venue_orders(funded, day)
    assert first.outcome is Outcome.COMPLETED
    assert first_orders

    forced = run.run(request(day, force=True))
    assert forced.outcome is Outcome.COMPLETED, forced.message
    statuses = {cid: status for cid, _, status in _venue_orders(funded, day)}
    assert {statuses[cid] for cid, _, _ in first_orders} == {"canceled"}
    with funded.connect() as connection:
        first_rows = connection.execute(
            select(TradeExecution.status).where(TradeExecution.client_order_id.in_([c for c, _, _ in first_orders]))
        ).scalars()
        assert set(first_rows) == {"canceled"}

    assert run.run(request(next_day)).outcome is Outcome.COMPLETED

    with funded.connect() as connection:
        fills = connection.execute(select(PaperFill.ticker, PaperFill.gross).where(PaperFill.session == next_day)).all()
    tickers = [ticker for ticker, _ in fills]
    assert len(tickers) == len(set(tickers)), "one fill per name: the first attempt's buys never filled"
    bought = sum((Decimal(gross) for _, gross in fills), Decimal(0))
    # The cap is 30% of the 100,000 account; the fills are at the next open, a little away from the close.
    assert bought <= Decimal("100000") * Decimal(str(settings.risk.max_daily_turnover)) * Decimal("1.03")
    equity = get_paper_account(funded, ACCOUNT).total_value
    for position in paper_positions(funded, ACCOUNT):
        assert position.market_value <= Decimal("0.11") * equity, position
    ledger_is_consistent(funded)


def test_a_forced_attempt_after_the_orders_filled_trades_only_what_the_target_still_needs(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    run = make_run()
    run.run(request(sessions[-5]))
    run.run(request(sessions[-4]))
    settled = {p.ticker: p.quantity for p in paper_positions(funded, ACCOUNT)}

    forced = run.run(request(sessions[-4], force=True))

    assert forced.outcome is Outcome.COMPLETED, forced.message
    # The first attempt of the session had its orders canceled; the forced one plans from the fills.
    assert {p.ticker: p.quantity for p in paper_positions(funded, ACCOUNT)} == settled
    canceled = [status for _, _, status in _venue_orders(funded, sessions[-4]) if status == "canceled"]
    assert canceled, "the first attempt's orders of the session were canceled"
