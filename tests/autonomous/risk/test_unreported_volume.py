"""A name whose data carries no volume (a vendor of adjusted closes only): the liquidity limit cannot be
measured for it, so it is skipped, and a reason in the decision names the name. A name left out of the
volumes altogether is still not traded."""

from __future__ import annotations

import math

import pytest

from autonomous.risk import Severity, evaluate_risk
from tests.autonomous.risk.builders import trade_of, weights_input
from trading.settings import RiskLimits

UNPACED = {"max_daily_turnover": 2.0, "drift_threshold": 0.0}


def test_a_name_without_reported_volume_trades_in_full_and_an_info_reason_names_it() -> None:
    volumes = {"GLD": math.nan, "THIN": 2_000.0}
    decision = evaluate_risk(weights_input({}, {"GLD": 0.08, "THIN": 0.08}, volumes=volumes), RiskLimits(**UNPACED))

    assert trade_of(decision, "GLD") == pytest.approx(0.08)
    assert trade_of(decision, "THIN") == pytest.approx(0.01)  # measured, so still capped
    skipped = [r for r in decision.reasons if r.rule == "liquidity" and r.severity is Severity.INFO]
    assert [r.tickers for r in skipped] == [("GLD",)]
    assert "no volume reported for 1 name" in skipped[0].message
    assert "GLD 8.0%" in skipped[0].message


def test_a_sale_of_a_name_without_reported_volume_is_not_held_back() -> None:
    decision = evaluate_risk(
        weights_input({"GLD": 0.30}, {"GLD": 0.0}, volumes={"GLD": None}),  # type: ignore[dict-item]
        RiskLimits(**UNPACED),
    )

    assert trade_of(decision, "GLD") == pytest.approx(-0.30)
    assert any(r.rule == "liquidity" and r.tickers == ("GLD",) for r in decision.reasons)


def test_a_name_without_reported_volume_that_does_not_trade_needs_no_reason() -> None:
    decision = evaluate_risk(
        weights_input({"GLD": 0.05}, {"GLD": 0.05}, volumes={"GLD": math.nan}), RiskLimits(**UNPACED)
    )

    assert trade_of(decision, "GLD") == pytest.approx(0.0)
    assert not [r for r in decision.reasons if r.rule == "liquidity"]


def test_a_name_left_out_of_the_volumes_is_still_not_traded() -> None:
    decision = evaluate_risk(
        weights_input({}, {"GLD": 0.08, "NEW": 0.08}, volumes={"GLD": math.nan}), RiskLimits(**UNPACED)
    )

    assert trade_of(decision, "GLD") == pytest.approx(0.08)
    assert trade_of(decision, "NEW") == 0.0
    [blocked] = [r for r in decision.reasons if r.rule == "liquidity" and r.severity is Severity.ADJUSTED]
    assert blocked.tickers == ("NEW",)
