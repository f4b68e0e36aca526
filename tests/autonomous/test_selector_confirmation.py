"""The selector's confirmation rule (strategy.confirm_sessions): a switch waits until the table has chosen
the new strategy on N sessions in a row, except a switch into the defensive mode."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autonomous.regime import RegimeSnapshot
from autonomous.selector import CONFIRM_LOOKBACK_SESSIONS, StrategyChoice, confirmed_strategies, select_strategy
from tests.autonomous.builders import regime_snapshot
from trading.settings import DEFENSIVE, RegimeRule, StrategySettings

# Regimes by the default table's choice: bull low -> growth_largecap, bull medium -> growth_midcap,
# sideways -> dividend, high volatility under the SMA200 -> defensive.
REGIMES = {
    "growth_largecap": ("bull", "low", False),
    "growth_midcap": ("bull", "medium", False),
    "dividend": ("sideways", "low", False),
    "value_largecap": ("bull", "high", False),
    DEFENSIVE: ("bear", "high", True),
}
FIRST_DAY = date(2020, 1, 1)


def _regime(day: int, trend: str, volatility: str, below: bool, confidence: float = 0.8) -> RegimeSnapshot:
    return regime_snapshot(
        trend, volatility, below_sma200=below, confidence=confidence, day=FIRST_DAY + timedelta(days=day)
    )


def _regimes(*strategies: str) -> list[RegimeSnapshot]:
    """One session per name: a regime the default table maps to that strategy."""
    return [_regime(day, *REGIMES[name]) for day, name in enumerate(strategies)]


def _decisions(regimes: list[RegimeSnapshot], settings: StrategySettings) -> list[StrategyChoice]:
    """The decision of each session, each from its own regime and the look-back before it only."""
    return [
        select_strategy(regime, settings, earlier=regimes[max(0, day - CONFIRM_LOOKBACK_SESSIONS) : day])
        for day, regime in enumerate(regimes)
    ]


def _confirming(sessions: int) -> StrategySettings:
    return StrategySettings(confirm_sessions=sessions)


regime_sequences = st.lists(
    st.tuples(
        st.sampled_from(["bull", "bear", "sideways"]),
        st.sampled_from(["low", "medium", "high", "extreme"]),
        st.booleans(),
        st.floats(0, 1),
    ),
    min_size=1,
    max_size=40,
).map(lambda rows: [_regime(day, *row) for day, row in enumerate(rows)])


@given(regimes=regime_sequences)
def test_one_confirming_session_gives_exactly_the_tables_choice_of_every_session(regimes: list[RegimeSnapshot]) -> None:
    assert _decisions(regimes, _confirming(1)) == [select_strategy(r, StrategySettings()) for r in regimes]


@pytest.mark.parametrize("sessions", [2, 3])
@pytest.mark.parametrize("flicker", ["growth_midcap", "dividend", "value_largecap"])
def test_a_regime_of_one_session_does_not_switch_when_two_or_three_sessions_must_confirm(
    sessions: int, flicker: str
) -> None:
    regimes = _regimes(*["growth_largecap"] * 5, flicker, *["growth_largecap"] * 5)
    decisions = _decisions(regimes, _confirming(sessions))
    assert {d.strategy for d in decisions} == {"growth_largecap"}
    kept = decisions[5]
    assert kept.pending == flicker
    assert kept.reason.startswith(f"kept growth_largecap: {flicker} chosen on 1 of the last {sessions} sessions")
    assert kept.confidence == select_strategy(regimes[5], StrategySettings()).confidence, "the same exposure"


def test_two_alternating_regimes_never_switch_when_two_sessions_must_confirm() -> None:
    regimes = _regimes(*["growth_largecap"] * 3, *["growth_midcap", "growth_largecap"] * 10)
    assert {d.strategy for d in _decisions(regimes, _confirming(2))} == {"growth_largecap"}
    assert len({d.strategy for d in _decisions(regimes, _confirming(1))}) == 2


@pytest.mark.parametrize("sessions", [2, 3, 5, 20])
def test_a_lasting_change_switches_on_exactly_the_nth_session_of_the_new_regime(sessions: int) -> None:
    regimes = _regimes(*["growth_largecap"] * 30, *["dividend"] * 30)
    held = [d.strategy for d in _decisions(regimes, _confirming(sessions))]
    assert held == ["growth_largecap"] * (30 + sessions - 1) + ["dividend"] * (30 - sessions + 1)
    switch = _decisions(regimes, _confirming(sessions))[30 + sessions - 1]
    assert switch.reason.endswith(f"chosen on each of the last {sessions} sessions")
    assert switch.rule_index is not None
    assert switch.pending is None


@pytest.mark.parametrize("sessions", [2, 3, 5])
def test_the_defensive_mode_is_entered_at_once_and_left_only_when_confirmed(sessions: int) -> None:
    regimes = _regimes(*["growth_largecap"] * 10, DEFENSIVE, *["growth_largecap"] * 10)
    held = [d.strategy for d in _decisions(regimes, _confirming(sessions))]
    assert held[10] == DEFENSIVE, "a crash does not wait"
    assert held == ["growth_largecap"] * 10 + [DEFENSIVE] * sessions + ["growth_largecap"] * (11 - sessions)


def test_a_new_strategy_interrupted_by_the_old_one_starts_counting_again() -> None:
    regimes = _regimes(*["growth_largecap"] * 5, "dividend", "dividend", "growth_largecap", "dividend", "dividend")
    held = [d.strategy for d in _decisions(regimes, _confirming(3))]
    assert held == ["growth_largecap"] * 10
    assert _decisions([*regimes, *_regimes("dividend")], _confirming(3))[-1].strategy == "dividend"


@given(regimes=regime_sequences, later=regime_sequences, sessions=st.integers(1, 6), cut=st.integers(0, 39))
def test_a_decision_does_not_change_when_the_regimes_after_it_change(
    regimes: list[RegimeSnapshot], later: list[RegimeSnapshot], sessions: int, cut: int
) -> None:
    cut = min(cut, len(regimes) - 1)
    rewritten = regimes[: cut + 1] + later
    settings = _confirming(sessions)
    assert _decisions(regimes, settings)[: cut + 1] == _decisions(rewritten, settings)[: cut + 1]


@given(regimes=regime_sequences, sessions=st.integers(2, 6))
def test_every_decision_is_a_strategy_the_table_chose_on_a_recent_session_and_defensive_is_never_delayed(
    regimes: list[RegimeSnapshot], sessions: int
) -> None:
    table = [select_strategy(r, StrategySettings()).strategy for r in regimes]
    for day, decision in enumerate(_decisions(regimes, _confirming(sessions))):
        assert decision.strategy in table[: day + 1]
        if table[day] == DEFENSIVE:
            assert decision.strategy == DEFENSIVE


def test_evidence_breaks_each_sessions_tie_before_the_sessions_are_counted() -> None:
    tied = StrategySettings(
        confirm_sessions=2,
        rules=[
            RegimeRule(trend="sideways", strategy="dividend", confidence=0.6, reason="income"),
            RegimeRule(trend="sideways", strategy="value_midcap", confidence=0.58, reason="cheap mid caps"),
            RegimeRule(trend="bull", strategy="growth_largecap", confidence=0.8, reason="growth"),
        ],
    )
    regimes = _regimes(*["growth_largecap"] * 3, "dividend", "dividend")  # sideways on the last two
    evidence = pd.DataFrame.from_dict(
        {
            "dividend": {"periods": 5, "mean_sharpe": 0.1, "mean_return": 0.0},
            "value_midcap": {"periods": 5, "mean_sharpe": 1.0, "mean_return": 0.0},
        },
        orient="index",
    )
    by_label = {"sideways_low_vol": evidence}
    last = select_strategy(regimes[-1], tied, evidence=evidence, earlier=regimes[:-1], earlier_evidence=by_label)
    assert last.strategy == "value_midcap"
    assert last.decided_by_evidence
    one_day = select_strategy(regimes[-2], tied, evidence=evidence, earlier=regimes[:-2], earlier_evidence=by_label)
    assert (one_day.strategy, one_day.pending) == ("growth_largecap", "value_midcap")


def test_the_chain_starts_from_the_first_sessions_choice() -> None:
    assert confirmed_strategies(["a", "b", "a", "b"], 2) == ["a"] * 4
    assert confirmed_strategies(["a", "b", "b", "a"], 2) == ["a", "a", "b", "b"]
    assert confirmed_strategies([], 3) == []
