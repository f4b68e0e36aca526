from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl_trading.interpreters import decode_action, session_view
from rl_trading.simulator import PortfolioSimulator, TradingCosts
from tests.rl_trading.builders import FREE, LOOSE, episode, random_episode
from trading.execution.costs import CommissionModel, CostModels, SlippageModel
from trading.orders import OrderSide
from trading.settings import AgentSettings, ExecutionSettings, RiskLimits

NOTIONAL = 100_000.0
PRICED = TradingCosts(slippage_bps=10.0, commission_per_share=0.01, commission_minimum=1.0, notional_equity=NOTIONAL)
LEDGER_COSTS = CostModels(SlippageModel(Decimal("10")), CommissionModel(Decimal("0.01"), Decimal("1")))


def simulator(data, costs=FREE, risk=LOOSE, penalty=1.0) -> PortfolioSimulator:
    return PortfolioSimulator(data, costs=costs, risk=risk, risk_penalty=penalty)


def ledger_costs(side: OrderSide, shares: str, close: str) -> tuple[Decimal, Decimal]:
    """Slippage and commission in money, as the paper broker charges them."""
    quantity, price = Decimal(shares), Decimal(close)
    execution = LEDGER_COSTS.slippage.execution_price(side, price)
    return abs(execution - price) * quantity, LEDGER_COSTS.commission.commission(quantity)


def test_trading_costs_come_from_the_settings_as_floats() -> None:
    execution = ExecutionSettings(
        slippage_bps=Decimal("7.5"), commission_per_share=Decimal("0.005"), commission_minimum=Decimal("1")
    )
    costs = TradingCosts.from_settings(execution, AgentSettings(notional_equity=Decimal("250000")))
    assert costs == TradingCosts(
        slippage_bps=7.5, commission_per_share=0.005, commission_minimum=1.0, notional_equity=250_000.0
    )


def test_the_costs_of_buys_and_sales_equal_the_ledger_models() -> None:
    data = episode(
        slot_tickers=[[0, 1], [1, 2]],
        next_returns=[[-0.2, 0.25, 0.0], [0.0, 0.0, 0.0]],
        close=[[50.0, 20.0, 30.0], [40.0, 25.0, 30.0]],
    )
    sim = simulator(data, costs=PRICED)
    sim.reset(0)
    # 50,000 of T00 at 50 is 1,000 shares; 100 of T01 at 20 is 5 shares (the minimum applies).
    bought = sim.step(np.array([0.5, 0.001, 0.499]))
    slip_a, fee_a = ledger_costs(OrderSide.BUY, "1000", "50")
    slip_b, fee_b = ledger_costs(OrderSide.BUY, "5", "20")
    assert bought.slippage == pytest.approx(float(slip_a + slip_b) / NOTIONAL, rel=1e-12)
    assert bought.commission == pytest.approx(float(fee_a + fee_b) / NOTIONAL, rel=1e-12)

    # T00 left the slots: its 1,000 shares are sold at 40 (the return was -20%); T01's 5 at 25.
    equity = NOTIONAL * bought.state.value
    sold = sim.step(np.array([0.0, 0.0, 1.0]))
    slip_a, fee_a = ledger_costs(OrderSide.SELL, "1000", "40")
    slip_b, fee_b = ledger_costs(OrderSide.SELL, "5", "25")
    assert sold.slippage == pytest.approx(float(slip_a + slip_b) / equity, rel=1e-9)
    assert sold.commission == pytest.approx(float(fee_a + fee_b) / equity, rel=1e-9)


def test_a_name_without_a_close_pays_the_minimum_commission() -> None:
    data = episode(
        slot_tickers=[[0, 1], [0, 1]], next_returns=[[0.0, 0.0], [0.0, 0.0]], close=[[float("nan"), 20.0]] * 2
    )
    sim = simulator(data, costs=PRICED)
    sim.reset(0)
    # 90,000 of T00 would be thousands of shares; with no close only the 1.00 minimum is known.
    outcome = sim.step(np.array([0.9, 0.0, 0.1]))
    assert outcome.commission == pytest.approx(1.0 / NOTIONAL)
    assert outcome.slippage == pytest.approx(0.9 * 10.0 / 10_000)


def test_names_dropped_from_the_slots_are_sold() -> None:
    data = episode(slot_tickers=[[0, 1], [2, -1]], next_returns=[[0.1, -0.1, 0.0], [0.0, 0.0, 0.0]])
    sim = simulator(data)
    sim.reset(0)
    before = sim.step(np.array([0.5, 0.5, 0.0])).state
    after = sim.step(np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(after.state.holdings, [0.0, 0.0, 1.0])
    assert after.turnover == pytest.approx(before.holdings[0] + before.holdings[1] + 1.0)


def test_weights_drift_with_the_returns() -> None:
    data = episode(slot_tickers=[[0, 1], [0, 1]], next_returns=[[0.1, -0.1], [0.0, 0.0]])
    sim = simulator(data)
    sim.reset(0)
    outcome = sim.step(np.array([0.5, 0.3, 0.2]))
    assert outcome.gross_return == pytest.approx(0.02)
    np.testing.assert_allclose(outcome.state.holdings, [0.55 / 1.02, 0.27 / 1.02])
    assert outcome.state.cash == pytest.approx(0.2 / 1.02)
    assert outcome.state.value == pytest.approx(1.02)
    assert not outcome.out_of_data


def test_the_reward_is_the_log_net_return_less_the_penalised_violation() -> None:
    data = episode(slot_tickers=[[0, 1, 2], [0, 1, 2]], next_returns=[[0.02, 0.01, -0.01], [0.0, 0.0, 0.0]])
    limits = RiskLimits(max_position_weight=0.4, max_top3_weight=0.6, min_cash_weight=0.1, max_daily_turnover=0.5)
    costs = TradingCosts(slippage_bps=10.0, commission_per_share=0.0, commission_minimum=0.0, notional_equity=NOTIONAL)
    sim = simulator(data, costs=costs, risk=limits, penalty=2.0)
    sim.reset(0)
    outcome = sim.step(np.array([0.5, 0.3, 0.15, 0.05]))
    # position 0.5 - 0.4, top 3 0.95 - 0.6, cash 0.1 - 0.05, turnover 0.95 - 0.5
    assert outcome.violation == pytest.approx(0.1 + 0.35 + 0.05 + 0.45)
    net = (0.5 * 0.02 + 0.3 * 0.01 - 0.15 * 0.01) - 0.95 * 0.001
    assert outcome.net_return == pytest.approx(net)
    assert outcome.reward == pytest.approx(math.log(1.0 + net) - 2.0 * 0.95)


def test_holding_all_cash_earns_nothing_and_costs_nothing() -> None:
    data = random_episode(sessions_count=8)
    sim = simulator(data, costs=PRICED, risk=RiskLimits())
    sim.reset(0)
    for t in range(data.sessions):
        cash = np.zeros(data.slots + 1)
        cash[-1] = 1.0
        outcome = sim.step(cash)
        assert (outcome.net_return, outcome.cost, outcome.reward, outcome.violation) == (0.0, 0.0, 0.0, 0.0)
        assert outcome.state.value == 1.0
        assert outcome.out_of_data == (t == data.sessions - 1)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ([0.6, -0.1, 0.5], "non-negative"),
        ([0.3, 0.3, 0.3], "sum to 1"),
        ([0.5, 0.5], "must have 3 weights"),
        ([0.5, float("nan"), 0.5], "finite"),
    ],
)
def test_an_invalid_target_is_rejected_with_its_problem(target: list[float], problem: str) -> None:
    sim = simulator(episode(slot_tickers=[[0, 1], [0, 1]], next_returns=[[0.0, 0.0], [0.0, 0.0]]))
    sim.reset(0)
    with pytest.raises(ValueError, match=problem):
        sim.step(np.array(target))


def test_weight_on_an_empty_slot_is_rejected() -> None:
    sim = simulator(episode(slot_tickers=[[0, -1], [0, 1]], next_returns=[[0.0, 0.0], [0.0, 0.0]]))
    sim.reset(0)
    with pytest.raises(ValueError, match=r"empty slot cannot hold weight: slots \[1\]"):
        sim.step(np.array([0.5, 0.25, 0.25]))


def test_a_ticker_in_two_slots_of_a_session_is_rejected() -> None:
    with pytest.raises(ValueError, match="session 1 lists a ticker in more than one slot"):
        simulator(episode(slot_tickers=[[0, 1], [1, 1]], next_returns=[[0.0, 0.0], [0.0, 0.0]]))


def test_stepping_past_the_window_needs_a_reset() -> None:
    sim = simulator(episode(slot_tickers=[[0], [0]], next_returns=[[0.0], [0.0]]))
    with pytest.raises(RuntimeError, match="reset"):
        sim.step(np.array([0.0, 1.0]))
    sim.reset(1)
    assert sim.step(np.array([0.0, 1.0])).out_of_data
    with pytest.raises(RuntimeError, match="no session left"):
        sim.step(np.array([0.0, 1.0]))


def test_costs_larger_than_the_portfolio_ruin_it_with_a_finite_reward() -> None:
    data = episode(slot_tickers=[[0], [0]], next_returns=[[0.0], [0.0]])
    costs = TradingCosts(
        slippage_bps=0.0, commission_per_share=0.0, commission_minimum=2 * NOTIONAL, notional_equity=NOTIONAL
    )
    sim = simulator(data, costs=costs)
    sim.reset(0)
    outcome = sim.step(np.array([1.0, 0.0]))
    assert outcome.ruined
    assert math.isfinite(outcome.reward)
    assert outcome.state.value == 0.0
    with pytest.raises(RuntimeError, match="ruined"):
        sim.step(np.array([1.0, 0.0]))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), logits=st.lists(st.floats(-8.0, 8.0), min_size=4 * 12, max_size=4 * 12))
def test_the_weights_always_sum_to_one_and_the_value_compounds_the_net_returns(seed: int, logits: list[float]) -> None:
    data = random_episode(sessions_count=12, slots=3, seed=seed)
    sim = simulator(data, costs=PRICED, risk=RiskLimits())
    state = sim.reset(0)
    value = 1.0
    for t in range(data.sessions):
        view = session_view(data, state)
        outcome = sim.step(decode_action(np.array(logits[4 * t : 4 * t + 4]), view.slot_filled))
        state = outcome.state
        value *= 1.0 + outcome.net_return
        assert state.holdings.sum() + state.cash == pytest.approx(1.0)
        assert state.value == pytest.approx(value)
        assert outcome.reward == pytest.approx(math.log1p(outcome.net_return) - outcome.violation)
