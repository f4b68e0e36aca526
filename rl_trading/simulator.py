"""The portfolio simulator: replays an EpisodeData window one session at a time, and is the only
place the portfolio's state changes (slots, trades, costs, drift, reward).

Accounting of one step decided at session t's close, all as fractions of the value V at t's close:

- slots: the agent's N slots hold the candidates `rl_trading.slots.assign_slots` gives for the
  holdings at t (the hybrid generator's function); names held but not in a slot are sold to 0;
- orders: the target weights (over the slots, plus cash) less the holdings, valued at t's close, as
  the order planner sizes them; turnover is the risk manager's (sum |target - holdings|, buys plus
  sells, cash excluded: liquidating a fully invested portfolio is 1, rotating it completely is 2);
- overnight: every holding moves by its gap return, t's close to the fill;
- fill at t + 1's open: the ordered shares (order value x gap x equity / fill price, equity =
  notional_equity x V) fill through `trading.execution.vectorised`, the paper venue's and the
  backtest's engine in float: at the fill price moved by the slippage against the order, plus
  max(per_share x shares, minimum) per order (the minimum only where the price is unknown).
  Costs are paid from cash, as the broker does, so cash may end a little below the target (below
  zero when the target holds no cash);
- hold to t + 1's close: the target names earn the rest of the session, cash earns nothing. So
  net return = sum holdings x gap + sum target x (next - gap) - costs, i.e. the old holdings earn
  the overnight move and the new ones the session after the fill;
- reward: the agent setting's named reward (`reward`) of the net return and of how far the target
  breaks the risk limits (`autonomous.risk.numeric.limit_excess`, the risk layer's own definition).

The differential Sharpe reward (Moody & Saffell) is the increment of an exponentially weighted Sharpe
ratio of the agent's returns. Its return is the risk-scaled reward's value (the log net return less
penalty x breach x invested weight x the benchmark's volatility): a breach costs what it costs under
`risk_scaled`, in return, and is then judged against the agent's own volatility like any other loss; cash
takes no risk, so it pays no penalty and earns no Sharpe. Its state, the moving moments of that return,
lives in PortfolioState: `reset` (and `holding`) start them afresh at every episode, from a mean of 0 and
the benchmark's variance at the start, so training, evaluation and every episode compute it alike.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autonomous.risk.numeric import limit_excess, turnover
from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from rl_trading.slots import assign_slots, held_candidates
from trading.execution.costs import CostModels
from trading.execution.vectorised import FloatCosts, fill_market_orders
from trading.settings import DEFAULT_SHARPE_ETA, AgentSettings, ExecutionSettings, RewardName, RiskLimits

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

# Targets come out of a float softmax: a sum off by a few ulps is rounding, not a bad target.
SUM_TOLERANCE = 1e-6
# A weight change this small is float noise from drift, not an order: it pays no commission minimum.
TRADE_EPSILON = 1e-12
# Growth at or below zero means the costs ate the whole portfolio; the log reward is floored here
# so the agent sees a very bad but finite reward.
RUIN_GROWTH = 1e-6
# Below this variance of its return the Sharpe ratio is undefined: the differential Sharpe reward is 0.
MIN_VARIANCE = 1e-18


@dataclass(frozen=True)
class TradingCosts:
    """The execution engine's float costs and the equity per-share commissions are counted against."""

    engine: FloatCosts
    notional_equity: float

    def __post_init__(self) -> None:
        if not self.notional_equity > 0.0:
            raise ValueError(f"notional equity must be > 0, got {self.notional_equity}")

    @classmethod
    def from_settings(cls, execution: ExecutionSettings, agent: AgentSettings) -> TradingCosts:
        # The same CostModels the paper venue and the backtest build: one definition of the costs.
        models = CostModels.from_settings(execution)
        return cls(engine=FloatCosts.from_models(models), notional_equity=float(agent.notional_equity))

    @property
    def slippage_rate(self) -> float:
        return self.engine.slippage_rate


@dataclass(frozen=True)
class SharpeMoments:
    """The exponentially weighted mean and mean square of the differential Sharpe reward's return
    (Moody & Saffell's A and B). An episode starts from a mean of 0 and a mean square of the benchmark's
    variance: a prior of the risk of a fully invested book, so the first steps are not divided by a
    variance estimated from one or two returns."""

    mean: float
    square: float

    @classmethod
    def prior(cls, volatility: float) -> SharpeMoments:
        return cls(0.0, volatility * volatility)

    def after(self, value: float, eta: float) -> SharpeMoments:
        return SharpeMoments(self.mean + eta * (value - self.mean), self.square + eta * (value * value - self.square))

    def differential_sharpe(self, value: float) -> float:
        """D = (B dA - A dB / 2) / (B - A^2)^(3/2), dA = value - A, dB = value^2 - B: the derivative of the
        moving Sharpe ratio with respect to eta at this return (0 while its variance is nil)."""
        variance = self.square - self.mean * self.mean
        if variance <= MIN_VARIANCE:
            return 0.0
        change_mean = value - self.mean
        change_square = value * value - self.square
        return (self.square * change_mean - 0.5 * self.mean * change_square) / (variance * math.sqrt(variance))


@dataclass(frozen=True)
class Reward:
    """A named reward (trading/settings.py AgentSettings.reward), its penalty weight and, for the
    differential Sharpe one, its adaptation rate.

    - penalised: log(1 + net) - penalty x breach. Breaches are in weight and cost the same whatever the
      risk taken, so with any penalty the cheapest policy is cash (issue 15): kept for comparison.
    - risk_scaled: log(1 + net) - penalty x breach x risk, risk = invested weight x the benchmark's daily
      volatility at t. A breach of one full weight costs `penalty` daily standard deviations of the risk
      the target takes: cash takes none and earns none, and a portfolio pays for a breach in proportion
      to the return it can expect for its risk, so sitting in cash no longer beats a rising market.
    - differential_sharpe: eta x D, D the differential Sharpe ratio of the risk-scaled reward's value
      (SharpeMoments): to first order the increase of the moving Sharpe ratio this step brings, so an
      episode's rewards add up to about the moving Sharpe ratio at its end. Cash from the start earns
      exactly 0; cash after gains lowers the ratio (a negative reward), after losses it raises it.
    """

    name: RewardName
    penalty: float
    eta: float = DEFAULT_SHARPE_ETA

    def __post_init__(self) -> None:
        if self.penalty < 0.0:
            raise ValueError(f"risk penalty must be >= 0, got {self.penalty}")
        if not 0.0 < self.eta < 1.0:
            raise ValueError(f"the differential Sharpe reward's eta must be in (0, 1), got {self.eta}")

    @classmethod
    def from_settings(cls, agent: AgentSettings) -> Reward:
        return cls(agent.reward, agent.risk_penalty, agent.sharpe_eta)

    def of(
        self, growth: float, breach: float, invested: float, volatility: float, moments: SharpeMoments
    ) -> tuple[float, SharpeMoments]:
        """The step's reward and the moments after it (unchanged but under differential_sharpe)."""
        log_return = math.log(max(growth, RUIN_GROWTH))
        if self.name == "penalised":
            return log_return - self.penalty * breach, moments
        risk_scaled = log_return - self.penalty * breach * invested * volatility
        if self.name == "risk_scaled":
            return risk_scaled, moments
        return self.eta * moments.differential_sharpe(risk_scaled), moments.after(risk_scaled, self.eta)


@dataclass(frozen=True, eq=False)
class PortfolioState:
    """The portfolio at session t's close, before trading: weights by ticker index (after drift), and
    the slots it is offered at t (ticker indices and positions in t's ranking, EMPTY_SLOT when empty)."""

    t: int
    holdings: FloatArray  # (K,) weight of each ticker in the window
    cash: float
    value: float  # growth of the portfolio since the episode started (1.0 at the start)
    slot_tickers: IntArray  # (N,)
    slot_positions: IntArray  # (N,)
    # The differential Sharpe reward's moving moments, from the episode's start up to t.
    moments: SharpeMoments

    @property
    def slot_filled(self) -> BoolArray:
        filled: BoolArray = self.slot_tickers != EMPTY_SLOT
        return filled


@dataclass(frozen=True, eq=False)
class StepOutcome:
    """What one step did. Returns and costs are fractions of the value before the step."""

    gross_return: float
    slippage: float
    commission: float
    net_return: float
    turnover: float
    violation: float
    reward: float
    state: PortfolioState
    out_of_data: bool  # the new state is past the window's last session: no further step
    ruined: bool  # the costs ate the whole portfolio: no further step

    @property
    def cost(self) -> float:
        return self.slippage + self.commission


class PortfolioSimulator:
    """Applies target weights to an EpisodeData window, one session per `step`."""

    def __init__(self, data: EpisodeData, *, costs: TradingCosts, risk: RiskLimits, reward: Reward) -> None:
        self.data = data
        self.costs = costs
        self.risk = risk
        self.reward = reward
        self._next_returns = np.ascontiguousarray(data.next_returns, dtype=np.float64)
        self._gap = 1.0 + np.ascontiguousarray(data.gap_returns, dtype=np.float64)
        price = np.asarray(data.fill_price, dtype=np.float64)
        self._price_known: BoolArray = np.isfinite(price)
        # An unknown price is a price per unit of value: slippage still applies, the shares are unknown.
        self._price: FloatArray = np.where(self._price_known, price, 1.0)
        self._state: PortfolioState | None = None

    @property
    def state(self) -> PortfolioState:
        if self._state is None:
            raise RuntimeError("the simulator has no state yet: call reset(start) first")
        return self._state

    def reset(self, start: int) -> PortfolioState:
        """All cash at session `start`, value 1.0, the reward's moments afresh (an episode's start)."""
        if not 0 <= start < self.data.sessions:
            raise ValueError(f"start session {start} is outside the window 0..{self.data.sessions - 1}")
        holdings = np.zeros(len(self.data.tickers), dtype=np.float64)
        self._state = self._with_slots(start, holdings, cash=1.0, value=1.0, moments=self._prior(start))
        return self._state

    def holding(self, t: int, holdings: FloatArray, cash: float) -> PortfolioState:
        """The state of a portfolio that holds `holdings` and `cash` at session t (value 1.0), with the
        slots it is offered there: to start a replay from a book, or to see what it would be offered."""
        if not 0 <= t < self.data.sessions:
            raise ValueError(f"session {t} is outside the window 0..{self.data.sessions - 1}")
        holdings = np.asarray(holdings, dtype=np.float64)
        self._state = self._with_slots(t, holdings, cash=cash, value=1.0, moments=self._prior(t))
        return self._state

    def step(self, target: FloatArray) -> StepOutcome:
        """Trade to `target` (weights over the N slots, then cash) at the next session's open and hold
        the result until its close (module doc)."""
        state = self.state
        if state.t >= self.data.sessions:
            raise RuntimeError("the window has no session left: call reset(start) first")
        if state.value <= 0.0:
            raise RuntimeError("the portfolio is ruined: call reset(start) first")
        t = state.t
        filled = state.slot_filled
        target = self.validate_target(target, filled)
        weights = np.zeros_like(state.holdings)
        weights[state.slot_tickers[filled]] = target[:-1][filled]

        traded = turnover(weights, state.holdings)
        slippage, commission = self._costs(t, weights - state.holdings, state.value)
        returns = self._next_returns[t]
        gap = self._gap[t]
        # Old holdings ride the overnight move to the fill; the new weights earn the session after it.
        gross = float(state.holdings @ (gap - 1.0) + weights @ (1.0 + returns - gap))
        net = gross - slippage - commission
        growth = 1.0 + net
        violation = limit_excess(weights, state.holdings, state.cash, self.costs.slippage_rate, self.risk)
        invested = float(weights.sum())
        volatility = float(self.data.market_volatility[t])
        reward, moments = self.reward.of(growth, violation, invested, volatility, state.moments)
        # Whatever of the new value is not in the names is cash: the target's, less costs and the
        # overnight moves the orders were priced at.
        cash = growth - float(weights @ (1.0 + returns))
        new_state = self._drifted(t + 1, weights, returns, cash, state, growth, moments)
        self._state = new_state
        return StepOutcome(
            gross_return=gross,
            slippage=slippage,
            commission=commission,
            net_return=net,
            turnover=traded,
            violation=violation,
            reward=reward,
            state=new_state,
            out_of_data=new_state.t >= self.data.sessions,
            ruined=growth <= 0.0,
        )

    def validate_target(self, target: FloatArray, filled: BoolArray) -> FloatArray:
        """The target as float64, or a ValueError saying what is wrong with it."""
        target = np.asarray(target, dtype=np.float64)
        slots = len(filled)
        if target.shape != (slots + 1,):
            raise ValueError(f"target must have {slots + 1} weights ({slots} slots, then cash), got {target.shape}")
        if not np.isfinite(target).all():
            raise ValueError("target weights must be finite")
        if (target < 0.0).any():
            raise ValueError(f"target weights must be non-negative, got a minimum of {target.min():.6g}")
        total = float(target.sum())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"target weights (slots and cash) must sum to 1, got {total:.9g}")
        empty_weight = target[:-1][~filled]
        if (empty_weight != 0.0).any():
            raise ValueError(f"an empty slot cannot hold weight: slots {np.flatnonzero(~filled).tolist()} are empty")
        return target

    def _costs(self, t: int, orders: FloatArray, value: float) -> tuple[float, float]:
        """Slippage and commission (fractions of V) of the orders, filled at t + 1 by the engine."""
        placed = np.flatnonzero(np.abs(orders) > TRADE_EPSILON)
        if len(placed) == 0:
            return 0.0, 0.0
        equity = self.costs.notional_equity * value
        at_fill = orders[placed] * self._gap[t, placed]  # the ordered shares' value at the fill price
        reference = self._price[t, placed]
        fills = fill_market_orders(at_fill * equity / reference, reference, self.costs.engine)
        # The engine's price less the reference, on every share: what the slippage model charged.
        slippage = float((np.abs(at_fill) * np.abs(fills.price / reference - 1.0)).sum())
        known = self._price_known[t, placed]
        # Without a price the share count is unknown: such an order pays the minimum only.
        charged = np.where(known, fills.commission, self.costs.engine.commission_minimum)
        return slippage, float(charged.sum()) / equity

    def _prior(self, t: int) -> SharpeMoments:
        return SharpeMoments.prior(float(self.data.market_volatility[t]))

    def _with_slots(
        self, t: int, holdings: FloatArray, *, cash: float, value: float, moments: SharpeMoments
    ) -> PortfolioState:
        # Past the window's end there is no ranking of its own: the last session's stands in (a value
        # bootstrap at the end of the window is all that state is used for).
        row = min(t, self.data.sessions - 1)
        ranked = self.data.ranked_tickers[row]
        chosen = assign_slots(self.data.ranked_predictions[row], held_candidates(ranked, holdings), self.data.slots)
        positions = np.full(self.data.slots, EMPTY_SLOT, dtype=np.intp)
        positions[: len(chosen)] = chosen
        tickers = np.where(positions == EMPTY_SLOT, EMPTY_SLOT, ranked[np.maximum(positions, 0)]).astype(np.intp)
        return PortfolioState(
            t=t,
            holdings=holdings,
            cash=cash,
            value=value,
            slot_tickers=tickers,
            slot_positions=positions,
            moments=moments,
        )

    def _drifted(
        self,
        t: int,
        weights: FloatArray,
        returns: FloatArray,
        cash: float,
        state: PortfolioState,
        growth: float,
        moments: SharpeMoments,
    ) -> PortfolioState:
        if growth <= 0.0:
            return self._with_slots(t, np.zeros_like(weights), cash=0.0, value=0.0, moments=moments)
        holdings = weights * (1.0 + returns) / growth
        return self._with_slots(t, holdings, cash=cash / growth, value=state.value * growth, moments=moments)
