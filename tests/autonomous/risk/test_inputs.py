"""Bad input: what rejects (and names the ticker or field), and what is only adjusted."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from decimal import Decimal

import pytest

from autonomous.risk import RiskInput, Severity, Verdict, evaluate_risk
from tests.autonomous.risk.builders import weights_input
from trading.settings import RiskLimits

LIMITS = RiskLimits()


def _reject_messages(inp: RiskInput) -> list[str]:
    decision = evaluate_risk(inp, LIMITS)
    assert decision.verdict is Verdict.REJECT
    assert all(r.severity is Severity.REJECT for r in decision.reasons)
    return [r.message for r in decision.reasons]


def test_a_target_weight_that_is_not_a_number_rejects_and_names_the_ticker() -> None:
    [message] = _reject_messages(weights_input({}, {"AAPL": 0.05, "MSFT": math.nan}))
    assert "target weight" in message
    assert "MSFT nan" in message


def test_a_negative_quantity_rejects_and_names_the_ticker() -> None:
    inp = weights_input({"AAPL": 0.05}, {"AAPL": 0.05})
    inp = replace(inp, quantities={"AAPL": 500.0, "SHORT": -10.0})
    [message] = _reject_messages(inp)
    assert "SHORT -10.0" in message


@pytest.mark.parametrize("price", [math.nan, 0.0, -1.0, None])
def test_a_held_name_without_a_usable_price_rejects_and_names_the_ticker(price: float | None) -> None:
    inp = weights_input({"AAPL": 0.05, "GONE": 0.05}, {"AAPL": 0.05})
    prices = {"AAPL": 100.0} if price is None else {"AAPL": 100.0, "GONE": price}
    [message] = _reject_messages(replace(inp, prices=prices))
    assert "GONE" in message
    assert "no usable price" in message


def test_negative_cash_rejects() -> None:
    inp = weights_input({"AAPL": 0.5}, {"AAPL": 0.5})
    [message] = _reject_messages(replace(inp, cash=-1.0))
    assert message.startswith("cash is -1.0")


def test_an_account_with_nothing_in_it_rejects() -> None:
    [message] = _reject_messages(weights_input({}, {"AAPL": 0.05}, equity=0.0))
    assert message.startswith("equity is 0.00")


def test_a_cost_rate_outside_zero_to_one_rejects() -> None:
    [message] = _reject_messages(weights_input({}, {"AAPL": 0.05}, cost_rate=-0.01))
    assert "cost rate is -0.01" in message


def test_a_rejected_input_trades_nothing_and_still_serialises() -> None:
    decision = evaluate_risk(weights_input({"AAPL": 0.5}, {"AAPL": 0.1, "MSFT": math.nan}), LIMITS)

    assert decision.trades == {}
    assert decision.adjusted_weights == decision.current_weights == {"AAPL": pytest.approx(0.5), "MSFT": 0.0}
    text = json.dumps(decision.to_json(), allow_nan=False)
    assert '"MSFT": null' in text


def test_a_negative_target_weight_is_set_to_zero_with_a_reason_not_rejected() -> None:
    decision = evaluate_risk(weights_input({}, {"AAPL": 0.05, "SHORT": -0.03}), LIMITS)

    assert decision.verdict is Verdict.APPROVE
    assert decision.adjusted_weights["SHORT"] == 0.0
    [reason] = [r for r in decision.reasons if r.rule == "target"]
    assert reason.tickers == ("SHORT",)
    assert "SHORT -3.0%" in reason.message


def test_a_target_name_without_a_price_is_dropped_with_a_reason_not_rejected() -> None:
    inp = weights_input({}, {"AAPL": 0.05, "NEW": 0.05})
    decision = evaluate_risk(replace(inp, prices={"AAPL": 100.0}), LIMITS)

    assert decision.verdict is not Verdict.REJECT
    assert decision.adjusted_weights["NEW"] == 0.0
    assert decision.adjusted_weights["AAPL"] > 0.0
    [reason] = [r for r in decision.reasons if r.rule == "prices"]
    assert reason.tickers == ("NEW",)


def test_decimal_quantities_cash_and_prices_from_the_ledger_are_accepted() -> None:
    inp = RiskInput(
        target={"AAPL": 0.10},
        quantities={"AAPL": Decimal("100")},
        cash=Decimal("90000.00"),
        prices={"AAPL": Decimal("100.00")},
        peak_equity=Decimal("100000.00"),
        sectors={"AAPL": "Technology"},
        average_daily_volume={"AAPL": Decimal("1000000")},
        confidence=0.9,
        force=True,
    )
    decision = evaluate_risk(inp, LIMITS)

    assert decision.equity == pytest.approx(100_000.0)
    assert decision.adjusted_weights["AAPL"] == pytest.approx(0.10)
