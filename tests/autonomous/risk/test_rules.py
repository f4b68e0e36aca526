"""Each cap rule, the liquidity cap and the turnover cap on small portfolios whose answer can be
worked out by hand."""

from __future__ import annotations

import pytest

from autonomous.risk import UNKNOWN_SECTOR, Severity, evaluate_risk
from tests.autonomous.risk.builders import rules_of, trade_of, weights_input
from trading.settings import RiskLimits

# Pacing and the drift threshold out of the way, so only the rule under test moves weights.
UNPACED = {"max_daily_turnover": 2.0, "drift_threshold": 0.0}


def test_position_cap_clips_a_target_name_to_the_cap_and_says_by_how_much() -> None:
    decision = evaluate_risk(weights_input({}, {"AAPL": 0.14, "MSFT": 0.05}), RiskLimits(**UNPACED))

    assert decision.adjusted_weights["AAPL"] == pytest.approx(0.10)
    [reason] = [r for r in decision.reasons if r.rule == "position"]
    assert reason.severity is Severity.ADJUSTED
    assert reason.tickers == ("AAPL",)
    assert "AAPL 14.0%" in reason.message
    assert "10.0% position cap" in reason.message


def test_position_cap_sends_the_excess_to_cash_not_to_other_names() -> None:
    decision = evaluate_risk(weights_input({}, {"AAPL": 0.14, "MSFT": 0.05}), RiskLimits(**UNPACED))

    assert decision.adjusted_weights["MSFT"] == pytest.approx(0.05)
    assert decision.cash_weight == pytest.approx(0.85)


def test_sector_cap_scales_every_name_in_the_sector_by_one_factor() -> None:
    tech = {f"T{i}": 0.09 for i in range(5)}
    sectors = {t: "Technology" for t in tech} | {"BANK": "Financials"}
    decision = evaluate_risk(weights_input({}, tech | {"BANK": 0.05}, sectors=sectors), RiskLimits(**UNPACED))

    assert [decision.adjusted_weights[t] for t in tech] == pytest.approx([0.07] * 5)
    assert decision.adjusted_weights["BANK"] == pytest.approx(0.05)
    [reason] = [r for r in decision.reasons if r.rule == "sector"]
    assert "Technology 45.0% > 35.0% cap" in reason.message
    assert set(reason.tickers) == set(tech)


def test_names_without_a_sector_share_one_capped_bucket() -> None:
    target = {t: 0.10 for t in ("A", "B", "C", "D")}
    decision = evaluate_risk(weights_input({}, target, sectors={}), RiskLimits(**UNPACED))

    assert sum(decision.adjusted_weights.values()) == pytest.approx(0.35)
    assert any(UNKNOWN_SECTOR in r.message for r in decision.reasons if r.rule == "sector")


def test_top3_cap_clips_the_largest_names_to_one_common_level() -> None:
    limits = RiskLimits(max_position_weight=0.20, max_top3_weight=0.40, **UNPACED)
    decision = evaluate_risk(weights_input({}, {"A": 0.20, "B": 0.20, "C": 0.20, "D": 0.05}), limits)

    assert [decision.adjusted_weights[t] for t in "ABC"] == pytest.approx([0.4 / 3] * 3)
    assert decision.adjusted_weights["D"] == pytest.approx(0.05)
    assert "top 3 names 60.0% > 40.0% cap" in next(r.message for r in decision.reasons if r.rule == "top3")


def test_cash_floor_scales_a_fully_invested_target_to_leave_the_minimum_cash_after_costs() -> None:
    target = {f"N{i}": 0.10 for i in range(10)}
    decision = evaluate_risk(weights_input({}, target, cost_rate=0.001), RiskLimits(**UNPACED))

    assert decision.cash_weight == pytest.approx(0.02, abs=1e-9)
    assert decision.cash_weight >= 0.02 - 1e-12
    assert "cash" in rules_of(decision)


def test_no_leverage_keeps_cash_after_costs_non_negative_even_without_a_cash_floor() -> None:
    target = {f"N{i}": 0.15 for i in range(10)}
    limits = RiskLimits(max_position_weight=0.2, max_sector_weight=1.0, min_cash_weight=0.0, **UNPACED)
    decision = evaluate_risk(weights_input({}, target, cost_rate=0.01), limits)

    assert decision.cash_weight == pytest.approx(0.0, abs=1e-9)
    assert decision.cash_weight >= 0.0
    assert sum(decision.adjusted_weights.values()) == pytest.approx(1 / 1.01)


def test_liquidity_caps_each_order_at_its_share_of_average_daily_volume() -> None:
    # 5% of 2,000 shares at 100 is 10,000: 1% of a 1,000,000 fund.
    decision = evaluate_risk(
        weights_input({}, {"THIN": 0.08, "DEEP": 0.08}, volumes={"THIN": 2_000, "DEEP": 1e9}), RiskLimits(**UNPACED)
    )

    assert trade_of(decision, "THIN") == pytest.approx(0.01)
    assert trade_of(decision, "DEEP") == pytest.approx(0.08)
    [reason] = [r for r in decision.reasons if r.rule == "liquidity"]
    assert reason.tickers == ("THIN",)
    assert "THIN 8.0% -> 1.0%" in reason.message


def test_a_name_without_average_daily_volume_is_not_traded_and_is_named() -> None:
    decision = evaluate_risk(
        weights_input({"OLD": 0.05}, {"NEW": 0.08, "OLD": 0.0}, volumes={"NEW": 1e9}), RiskLimits(**UNPACED)
    )

    assert trade_of(decision, "OLD") == 0.0
    assert trade_of(decision, "NEW") == pytest.approx(0.08)
    [reason] = [r for r in decision.reasons if r.rule == "liquidity"]
    assert reason.tickers == ("OLD",)
    assert "no usable average daily volume" in reason.message


def test_a_sale_held_back_by_liquidity_makes_the_buys_in_its_sector_shrink() -> None:
    limits = RiskLimits(max_position_weight=0.40, max_top3_weight=0.80, **UNPACED)
    sectors = {"OLD": "Technology", "NEW": "Technology"}
    # OLD can sell only 1% today, so buying all of NEW would put Technology at 59%.
    decision = evaluate_risk(
        weights_input({"OLD": 0.30}, {"OLD": 0.0, "NEW": 0.30}, sectors=sectors, volumes={"OLD": 2_000, "NEW": 1e9}),
        limits,
    )

    assert decision.adjusted_weights["OLD"] == pytest.approx(0.29)
    assert decision.adjusted_weights["NEW"] == pytest.approx(0.06)
    assert any(
        r.rule == "sector" and r.message.startswith("after liquidity limits") and r.severity is Severity.ADJUSTED
        for r in decision.reasons
    )


def test_holdings_that_break_a_cap_and_cannot_be_sold_fast_enough_are_reported_as_a_breach() -> None:
    decision = evaluate_risk(weights_input({"BIG": 0.30}, {"BIG": 0.30}, volumes={"BIG": 2_000}), RiskLimits(**UNPACED))

    assert decision.adjusted_weights["BIG"] == pytest.approx(0.29)
    [breach] = [r for r in decision.reasons if r.rule == "position" and r.severity is Severity.BREACH]
    assert breach.tickers == ("BIG",)
    assert "BIG 29.0%" in breach.message


def test_sales_that_repair_a_broken_cap_are_exempt_from_the_turnover_cap() -> None:
    limits = RiskLimits(max_daily_turnover=0.05)
    decision = evaluate_risk(weights_input({"BIG": 0.30, "SMALL": 0.05}, {"BIG": 0.30, "SMALL": 0.30}), limits)

    assert decision.adjusted_weights["BIG"] == pytest.approx(0.10)
    assert trade_of(decision, "SMALL") == 0.0
    assert decision.repair_turnover == pytest.approx(0.20)
    assert decision.turnover == pytest.approx(0.20)
    assert "exempt" in next(r.message for r in decision.reasons if r.rule == "turnover")


def test_turnover_cap_scales_every_trade_by_the_same_factor() -> None:
    current = {"A": 0.08, "B": 0.02, "C": 0.05}
    target = {"A": 0.00, "B": 0.09, "C": 0.07, "D": 0.06}
    decision = evaluate_risk(weights_input(current, target), RiskLimits(max_daily_turnover=0.10))

    full = {t: target[t] - current.get(t, 0.0) for t in target}
    factors = [trade_of(decision, t) / full[t] for t in target]
    assert factors == pytest.approx([decision.turnover_factor] * 4)
    assert decision.turnover_factor == pytest.approx(0.10 / 0.23)  # 8 + 7 + 2 + 6 points of turnover
    assert decision.turnover == pytest.approx(0.10)
