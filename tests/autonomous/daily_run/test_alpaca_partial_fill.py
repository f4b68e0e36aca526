"""A partially filled order still working at Alpaca when the next session's run starts: the run records
its fill, cancels the remainder (priced at a close the market has moved on from), and goes on; the
ledger and Alpaca then agree, so the start-up reconciliation does not stop it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, select

from tests.autonomous.daily_run.test_alpaca_run import alpaca, closes, rebalance
from tests.fakes.alpaca_server import FakeAlpaca
from trading.db.schema import BrokerReconciliation, TradeExecution

__all__ = ["alpaca"]  # the fixture, shared with the run's own tests


def test_a_partly_filled_order_left_working_is_recorded_then_its_remainder_canceled(
    market: Engine, alpaca: FakeAlpaca, sessions: list[date]
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    assert rebalance(day, "--mode", "paper").exit_code == 0
    first, *rest = alpaca.orders()
    prices = closes(market, next_day)
    half = (Decimal(first["qty"]) / 2).quantize(Decimal("0.000000001"))
    alpaca.fill(first["id"], qty=half, price=prices[first["symbol"]])
    for order in rest:
        alpaca.fill(order["id"], price=prices[order["symbol"]])

    result = rebalance(next_day, "--mode", "paper")
    assert result.exit_code == 0, result.output
    at_alpaca = alpaca.order_by_client_id(first["client_order_id"])
    assert at_alpaca is not None
    assert at_alpaca["status"] == "canceled"
    with market.connect() as connection:
        status, filled = connection.execute(
            select(TradeExecution.status, TradeExecution.filled_quantity).where(
                TradeExecution.client_order_id == first["client_order_id"]
            )
        ).one()
        outcomes = list(connection.execute(select(BrokerReconciliation.outcome)).scalars())
    assert (status, filled) == ("canceled", half)
    assert outcomes[-1] in ("matched", "explained")
    assert "stopped" not in outcomes
