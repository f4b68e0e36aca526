"""The drawdown halt in the daily run: a breach opens a halt that persists across runs (reduce-only),
and after a resume the peak is measured afresh."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import Engine, select

from autonomous.daily_run.run import Outcome
from tests.autonomous.daily_run.conftest import ACCOUNT, RunFactory, request
from trading.db.schema import TradeExecution
from trading.store.accounts import record_equity
from trading.store.risk_halts import active_halt, resume_halt


def _sides(engine: Engine, day: date) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(TradeExecution.side).where(TradeExecution.session_date == day)).scalars())


def test_a_drawdown_breach_halts_new_risk_until_resumed_then_the_peak_restarts(
    make_run: RunFactory, funded: Engine, sessions: list[date]
) -> None:
    first, second, third = sessions[-6], sessions[-5], sessions[-4]
    # An earlier peak of 200,000 puts today's 100,000 at a 50% drawdown.
    record_equity(funded, ACCOUNT, sessions[-30], cash=Decimal("200000"), positions_value=Decimal("0"))

    halted = make_run().run(request(first))

    assert halted.outcome is Outcome.COMPLETED, halted.message
    halt = active_halt(funded, ACCOUNT)
    assert halt is not None
    assert (halt.triggered_on, round(halt.drawdown, 2), halt.peak_equity) == (first, 0.5, Decimal("200000.0000"))
    assert _sides(funded, first) == set(), "reduce-only: a cash account buys nothing"

    still = make_run().run(request(second))
    assert still.outcome is Outcome.COMPLETED
    assert active_halt(funded, ACCOUNT) == halt
    assert _sides(funded, second) == set()

    resume_halt(funded, ACCOUNT, "pm", "reviewed", at=datetime.combine(second, time(23, 0), UTC))
    resumed = make_run().run(request(third))

    assert resumed.outcome is Outcome.COMPLETED, resumed.message
    assert active_halt(funded, ACCOUNT) is None
    assert _sides(funded, third) == {"buy"}
