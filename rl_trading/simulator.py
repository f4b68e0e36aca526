"""The portfolio simulator: replays an EpisodeData window one session at a time, and is the only
place the portfolio's state changes (trades, costs, drift, reward).

Accounting of one step at session t, all as fractions of the value V at t's close:

- the target weights (over today's slots, plus cash) replace the holdings; names held but not in
  today's slots are sold to 0;
- costs are charged on the trades, in float, with the same models as `trading.execution.costs`:
  slippage = traded value x bps / 1e4, and per traded name a commission of
  max(per_share x shares, minimum), shares = |delta weight| x equity / close, equity =
  notional_equity x V (only the minimum where the close is unknown);
- costs are paid from cash, as the broker does, so cash may end a little below the target (below
  zero when the target holds no cash);
- the held names earn `next_returns[t]`, cash earns nothing: net return = gross return - costs;
- reward = log(1 + net return) - risk_penalty x violation, where violation is how far the target
  breaks the risk limits, in weight (see `PortfolioSimulator.violation`).

Turnover is the risk manager's definition (autonomous/risk/numeric.py): traded value over equity,
buys plus sells, sum |target - holdings| over names (cash excluded). Liquidating a fully invested
portfolio is a turnover of 1, rotating it completely is 2.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rl_trading.episodes import EMPTY_SLOT, EpisodeData
from trading.settings import AgentSettings, ExecutionSettings, RiskLimits

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

BASIS_POINTS = 10_000.0
# Targets come out of a float softmax: a sum off by a few ulps is rounding, not a bad target.
SUM_TOLERANCE = 1e-6
# A weight change this small is float noise from drift, not an order: it pays no commission minimum.
TRADE_EPSILON = 1e-12
# Growth at or below zero means the costs ate the whole portfolio; the log reward is floored here
# so the agent sees a very bad but finite reward.
RUIN_GROWTH = 1e-6
TOP_COUNT = 3


@dataclass(frozen=True)
class TradingCosts:
    """The float cost parameters of the simulator (the ledger keeps Decimals; analytics use floats)."""

    slippage_bps: float
    commission_per_share: float
    commission_minimum: float
    notional_equity: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.slippage_bps <= 1000.0:
            raise ValueError(f"slippage must be between 0 and 1000 bps, got {self.slippage_bps}")
        if self.commission_per_share < 0.0 or self.commission_minimum < 0.0:
            raise ValueError(
                f"commission per share and minimum must be >= 0, got {self.commission_per_share}, "
                f"{self.commission_minimum}"
            )
        if not self.notional_equity > 0.0:
            raise ValueError(f"notional equity must be > 0, got {self.notional_equity}")

    @classmethod
    def from_settings(cls, execution: ExecutionSettings, agent: AgentSettings) -> TradingCosts:
        return cls(
            slippage_bps=float(execution.slippage_bps),
            commission_per_share=float(execution.commission_per_share),
            commission_minimum=float(execution.commission_minimum),
            notional_equity=float(agent.notional_equity),
        )


@dataclass(frozen=True, eq=False)
class PortfolioState:
    """The portfolio at session t's close, before trading: weights by ticker index (after drift)."""

    t: int
    holdings: FloatArray  # (K,) weight of each ticker in the window
    cash: float
    value: float  # growth of the portfolio since the episode started (1.0 at the start)


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

    def __init__(self, data: EpisodeData, *, costs: TradingCosts, risk: RiskLimits, risk_penalty: float) -> None:
        if risk_penalty < 0.0:
            raise ValueError(f"risk penalty must be >= 0, got {risk_penalty}")
        self.data = data
        self.costs = costs
        self.risk = risk
        self.risk_penalty = float(risk_penalty)
        self._slot_tickers = np.asarray(data.slot_tickers, dtype=np.intp)
        self._filled: BoolArray = self._slot_tickers != EMPTY_SLOT
        _reject_repeated_names(self._slot_tickers, self._filled)
        self._next_returns = np.ascontiguousarray(data.next_returns, dtype=np.float64)
        close = np.asarray(data.close, dtype=np.float64)
        # Commissions treat a missing or non-positive close alike: the share count is unknown.
        with np.errstate(invalid="ignore"):
            self._close: FloatArray = np.where(np.isfinite(close) & (close > 0.0), close, np.nan)
        self._slippage_rate = costs.slippage_bps / BASIS_POINTS
        self._charges_commission = costs.commission_per_share > 0.0 or costs.commission_minimum > 0.0
        self._state: PortfolioState | None = None

    @property
    def state(self) -> PortfolioState:
        if self._state is None:
            raise RuntimeError("the simulator has no state yet: call reset(start) first")
        return self._state

    def slot_filled(self, t: int) -> BoolArray:
        """Which of the N slots hold a name at session t."""
        filled: BoolArray = self._filled[t]
        return filled

    def reset(self, start: int) -> PortfolioState:
        """All cash at session `start`, value 1.0."""
        if not 0 <= start < self.data.sessions:
            raise ValueError(f"start session {start} is outside the window 0..{self.data.sessions - 1}")
        holdings = np.zeros(len(self.data.tickers), dtype=np.float64)
        self._state = PortfolioState(t=start, holdings=holdings, cash=1.0, value=1.0)
        return self._state

    def step(self, target: FloatArray) -> StepOutcome:
        """Trade to `target` (weights over the N slots, then cash) at the current session's close
        and hold the result until the next session's close."""
        state = self.state
        if state.t >= self.data.sessions:
            raise RuntimeError("the window has no session left: call reset(start) first")
        if state.value <= 0.0:
            raise RuntimeError("the portfolio is ruined: call reset(start) first")
        t = state.t
        filled = self._filled[t]
        target = self.validate_target(target, filled)
        slot_weights = target[:-1]
        cash_target = float(target[-1])

        weights = np.zeros_like(state.holdings)
        weights[self._slot_tickers[t, filled]] = slot_weights[filled]
        traded = np.abs(weights - state.holdings)
        turnover = float(traded.sum())
        slippage = turnover * self._slippage_rate
        commission = self._commission(traded, t, state.value) if self._charges_commission else 0.0

        returns = self._next_returns[t]
        gross = float(weights @ returns)
        net = gross - slippage - commission
        growth = 1.0 + net
        violation = self.violation(slot_weights, cash_target, turnover)
        ruined = growth <= 0.0
        reward = math.log(max(growth, RUIN_GROWTH)) - self.risk_penalty * violation

        new_state = self._drifted(t + 1, weights, returns, cash_target - slippage - commission, state.value, growth)
        self._state = new_state
        return StepOutcome(
            gross_return=gross,
            slippage=slippage,
            commission=commission,
            net_return=net,
            turnover=turnover,
            violation=violation,
            reward=reward,
            state=new_state,
            out_of_data=new_state.t >= self.data.sessions,
            ruined=ruined,
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

    def violation(self, slot_weights: FloatArray, cash: float, turnover: float) -> float:
        """How far a target breaks the risk limits, in weight: each position's excess over the cap,
        the top 3's excess, the shortfall of cash below the floor and the turnover's excess."""
        limits = self.risk
        position = float(np.maximum(slot_weights - limits.max_position_weight, 0.0).sum())
        top3 = max(_top_sum(slot_weights, TOP_COUNT) - limits.max_top3_weight, 0.0)
        cash_shortfall = max(limits.min_cash_weight - cash, 0.0)
        excess_turnover = max(turnover - limits.max_daily_turnover, 0.0)
        return position + top3 + cash_shortfall + excess_turnover

    def _commission(self, traded: FloatArray, t: int, value: float) -> float:
        equity = self.costs.notional_equity * value
        orders = traded > TRADE_EPSILON
        if not orders.any():
            return 0.0
        shares = traded[orders] * equity / self._close[t, orders]
        # fmax, not maximum: an unknown close gives NaN shares, and such an order pays the minimum.
        per_order = np.fmax(self.costs.commission_per_share * shares, self.costs.commission_minimum)
        return float(per_order.sum()) / equity

    def _drifted(
        self, t: int, weights: FloatArray, returns: FloatArray, cash: float, value: float, growth: float
    ) -> PortfolioState:
        if growth <= 0.0:
            return PortfolioState(t=t, holdings=np.zeros_like(weights), cash=0.0, value=0.0)
        holdings = weights * (1.0 + returns) / growth
        return PortfolioState(t=t, holdings=holdings, cash=cash / growth, value=value * growth)


def _top_sum(weights: FloatArray, count: int) -> float:
    if len(weights) <= count:
        return float(weights.sum())
    return float(np.partition(weights, len(weights) - count)[-count:].sum())


def _reject_repeated_names(slot_tickers: IntArray, filled: BoolArray) -> None:
    # EpisodeData does not check it, and two slots of one name would silently lose one slot's weight.
    ordered = np.sort(np.where(filled, slot_tickers, EMPTY_SLOT), axis=1)
    repeated = (np.diff(ordered, axis=1) == 0) & (ordered[:, 1:] != EMPTY_SLOT)
    if repeated.any():
        session = int(np.flatnonzero(repeated.any(axis=1))[0])
        raise ValueError(f"session {session} lists a ticker in more than one slot")
