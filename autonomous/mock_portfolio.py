"""Rule-based target portfolios: the mock generator (`--use-mock`, and the baseline every model is
compared with) and the defensive mode's cash plus safe haven. Transparent and deterministic."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection

import pandas as pd

from autonomous.holding_band import pick_with_band
from autonomous.portfolio import TargetPortfolio
from autonomous.universes import Universe
from trading.marketdata.decision_view import priced_at_adjusted_close
from trading.settings import DEFENSIVE, RiskLimits

logger = logging.getLogger(__name__)

MOCK_GENERATOR = "mock"
DEFENSIVE_GENERATOR = "defensive"


def mock_portfolio(universe: Universe, top_n: int, *, held: Collection[str] = (), band: int = 1) -> TargetPortfolio:
    """Equal weight over the first `top_n` names of the universe (fewer if it is smaller), where a
    `held` name stays while it ranks within the first `band` x `top_n` (autonomous/holding_band.py).

    The universe is already ordered by the strategy's own score (ties by ticker), so the same
    universe and holdings always give the same portfolio. Weights sum to one: the risk manager, not
    the generator, makes room for minimum cash and clips positions above the per-name limit, exactly
    as it does for every other generator, which keeps the baseline comparable. An unavailable (or
    empty) universe gives all cash with the universe's reason.
    """
    picks = pick_with_band(universe.tickers, held, top_n, band)
    chosen = picks.tickers
    if not universe.available or not chosen:
        reason = universe.reason if not universe.available else "the universe is empty"
        return TargetPortfolio(universe.strategy, {}, MOCK_GENERATOR, f"all cash: {reason}")
    weight = 1.0 / len(chosen)
    reason = (
        f"equal weight over {picks.selection} of {len(universe.tickers)} names "
        f"by {universe.scores.name or 'score'}{picks.band_note} ({universe.reason})"
    )
    return TargetPortfolio(universe.strategy, dict.fromkeys(chosen, weight), MOCK_GENERATOR, reason)


def defensive_portfolio(close: pd.Series, *, safe_haven: str, risk: RiskLimits) -> TargetPortfolio:
    """The safe haven at the largest weight every static risk limit allows, the rest in cash.

    The weight is the smallest of the per-position limit, the sector limit (the safe haven is its
    own sector) and one minus the minimum cash, so the risk manager has nothing to move. `close`
    is the close at t by ticker (`DecisionMarket.close_on`: the adjusted close for a series shipped
    without raw prices, which the reason then names): without a positive price for the safe haven at t
    the portfolio is all cash, and the reason says so.
    """
    price = close.get(safe_haven)
    if price is None or not math.isfinite(float(price)) or float(price) <= 0:
        reason = f"all cash: the safe haven {safe_haven} has no price at this date"
        logger.warning("defensive portfolio: %s", reason)
        return TargetPortfolio(DEFENSIVE, {}, DEFENSIVE_GENERATOR, reason)
    weight = min(risk.max_position_weight, risk.max_sector_weight, 1.0 - risk.min_cash_weight)
    reason = f"defensive: {weight:.0%} in the safe haven {safe_haven}, {1.0 - weight:.0%} cash"
    if safe_haven in priced_at_adjusted_close(close):
        reason += f" ({safe_haven} priced at its adjusted close: its series has no raw close)"
    return TargetPortfolio(DEFENSIVE, {safe_haven: weight}, DEFENSIVE_GENERATOR, reason)
