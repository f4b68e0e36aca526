from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autonomous.regime import RegimeSnapshot
from autonomous.selector import select_strategy
from tests.autonomous.builders import regime_snapshot
from trading.settings import DEFENSIVE, STRATEGIES, RegimeRule, StrategySettings


def _regime(trend: str, volatility: str, *, below_sma200: bool = False, confidence: float = 1.0) -> RegimeSnapshot:
    return regime_snapshot(trend, volatility, below_sma200=below_sma200, confidence=confidence)


def _evidence(**rows: tuple[int, float, float]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(
        {name: {"periods": p, "mean_sharpe": s, "mean_return": r} for name, (p, s, r) in rows.items()}, orient="index"
    )


DEFAULTS = StrategySettings()


@pytest.mark.parametrize(
    ("trend", "volatility", "below", "expected"),
    [
        ("bull", "high", False, "value_largecap"),
        ("bull", "extreme", False, "value_largecap"),
        ("bull", "low", False, "growth_largecap"),
        ("sideways", "medium", False, "dividend"),
        ("bear", "medium", True, "value_smallcap"),
        ("bear", "high", True, DEFENSIVE),
        ("sideways", "low", True, DEFENSIVE),
    ],
)
def test_the_default_rules_follow_the_specification(trend: str, volatility: str, below: bool, expected: str) -> None:
    choice = select_strategy(_regime(trend, volatility, below_sma200=below), DEFAULTS)
    assert choice.strategy == expected
    assert choice.rule_index is not None
    assert choice.reason.startswith(f"{trend}_{volatility}_vol: ")


def test_confidence_is_the_rule_confidence_discounted_by_an_unclear_regime() -> None:
    clear = select_strategy(_regime("bull", "low", confidence=1.0), DEFAULTS)
    unclear = select_strategy(_regime("bull", "low", confidence=0.0), DEFAULTS)
    assert clear.confidence == pytest.approx(0.8)
    assert unclear.confidence == pytest.approx(0.4)


def test_the_fallback_decides_when_no_rule_matches() -> None:
    settings = StrategySettings(
        rules=[RegimeRule(trend="bull", strategy="growth_midcap", confidence=0.7, reason="bull")],
        fallback_strategy="dividend",
        fallback_confidence=0.4,
    )
    choice = select_strategy(_regime("bear", "low", confidence=1.0), settings)
    assert (choice.strategy, choice.rule_index, choice.confidence) == ("dividend", None, pytest.approx(0.4))
    assert "no rule matches bear_low_vol" in choice.reason


def test_a_rule_whose_universe_is_unavailable_is_skipped_and_the_reason_says_so() -> None:
    choice = select_strategy(_regime("bull", "low"), DEFAULTS, available={"growth_midcap", "dividend"})
    assert (choice.strategy, choice.rule_index) == ("dividend", None), "no other rule matches: the fallback"
    assert "skipped growth_largecap (universe unavailable)" in choice.reason


TIED = StrategySettings(
    rules=[
        RegimeRule(trend="sideways", strategy="dividend", confidence=0.6, reason="income"),
        RegimeRule(trend="sideways", strategy="value_midcap", confidence=0.58, reason="cheap mid caps"),
        RegimeRule(trend="sideways", strategy="growth_smallcap", confidence=0.3, reason="not tied"),
    ]
)


def test_recorded_performance_breaks_a_tie_between_rules_of_nearly_equal_confidence() -> None:
    evidence = _evidence(dividend=(5, 0.2, 0.01), value_midcap=(4, 1.1, 0.05), growth_smallcap=(9, 3.0, 0.3))
    choice = select_strategy(_regime("sideways", "low"), TIED, evidence=evidence)
    assert choice.strategy == "value_midcap", "growth_smallcap is not tied, whatever its record"
    assert choice.decided_by_evidence
    assert choice.tied_with == ("dividend",)
    assert "broken by recorded performance: score 1.10 over 4 periods" in choice.reason


def test_too_little_evidence_leaves_the_first_match_in_place() -> None:
    evidence = _evidence(value_midcap=(2, 5.0, 0.5))
    choice = select_strategy(_regime("sideways", "low"), TIED, evidence=evidence)
    assert choice.strategy == "dividend"
    assert not choice.decided_by_evidence


def test_mean_return_stands_in_for_a_missing_sharpe_ratio() -> None:
    evidence = _evidence(dividend=(3, float("nan"), 0.20), value_midcap=(3, float("nan"), 0.10))
    choice = select_strategy(_regime("sideways", "low"), TIED, evidence=evidence)
    assert choice.strategy == "dividend"
    assert choice.decided_by_evidence


@given(
    trend=st.sampled_from(["bull", "bear", "sideways"]),
    volatility=st.sampled_from(["low", "medium", "high", "extreme"]),
    below=st.booleans(),
    confidence=st.floats(0, 1),
)
def test_every_regime_gets_a_known_strategy_with_a_confidence_in_0_1(
    trend: str, volatility: str, below: bool, confidence: float
) -> None:
    choice = select_strategy(_regime(trend, volatility, below_sma200=below, confidence=confidence), DEFAULTS)
    assert choice.strategy in (*STRATEGIES, DEFENSIVE)
    assert 0.0 <= choice.confidence <= 1.0
    assert choice.reason
