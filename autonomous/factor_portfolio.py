"""Single-factor target portfolios: the strategy's universe ranked by one simple factor at the decision
date, the top N held in equal weight (held names kept within the holding band: autonomous/holding_band.py).
The yardstick a ranker has to beat with real money, not only IC.

The factors are the baselines the rankers are scored against (autonomous/ranking/baselines.py): 12-1
momentum, low volatility, distance to the 200-session average (each a feature of autonomous/features.py,
signed so that higher is better) and the strategy's own universe score. Ranking the raw feature orders
the names as the rankers' percentile-rank inputs do, so a factor's picks are the ones its rank IC judged.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from autonomous.features import FEATURE_NAMES
from autonomous.holding_band import pick_with_band
from autonomous.portfolio import TargetPortfolio
from autonomous.ranking.baselines import BASELINES, FACTOR_BASELINES, UNIVERSE_SCORE
from autonomous.ranking.dataset import RANKER_FEATURES
from autonomous.universes import Universe

logger = logging.getLogger(__name__)

FACTORS: tuple[str, ...] = BASELINES
FACTOR_GENERATOR_PREFIX = "factor-"
# The ranker input of a factor baseline -> the feature it is the percentile rank of.
_FEATURE_OF_INPUT: Mapping[str, str] = dict(zip(RANKER_FEATURES, FEATURE_NAMES, strict=True))


def factor_generator_name(factor: str) -> str:
    """'factor-mom_12_1': the generator (and backtest variant) holding the top N by one factor."""
    return f"{FACTOR_GENERATOR_PREFIX}{require_factor(factor)}"


def require_factor(factor: str) -> str:
    if factor not in FACTORS:
        raise ValueError(f"unknown factor {factor!r}; expected one of {', '.join(FACTORS)}")
    return factor


def factor_values(factor: str, universe: Universe, cross_section: pd.DataFrame) -> pd.Series:
    """Each universe name's factor value, higher meaning better; NaN where the name lacks it."""
    tickers = pd.Index(universe.tickers, dtype=object)
    if require_factor(factor) == UNIVERSE_SCORE:
        return universe.scores.reindex(tickers).astype(np.float64).rename(factor)
    column, sign = FACTOR_BASELINES[factor]
    feature = _FEATURE_OF_INPUT[column]
    if feature not in cross_section.columns:
        logger.warning("%s: the cross-section has no %s column; no name is eligible", factor, feature)
        return pd.Series(np.nan, index=tickers, name=factor, dtype=np.float64)
    values = cross_section[feature].reindex(tickers).astype(np.float64)
    return (sign * values).rename(factor)


def rank_by_factor(values: pd.Series) -> list[str]:
    """The names with a finite value, highest first, ties broken by ticker (so row order never matters)."""
    finite = values[np.isfinite(values.to_numpy(dtype=np.float64))]
    frame = pd.DataFrame({"value": finite.to_numpy(dtype=np.float64), "ticker": finite.index.astype(str)})
    ordered = frame.sort_values(["value", "ticker"], ascending=[False, True], kind="mergesort")
    return ordered["ticker"].tolist()


def top_by_factor(values: pd.Series, top_n: int) -> list[str]:
    """The `top_n` names with the highest finite value, ties broken by ticker (so row order never matters)."""
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    return rank_by_factor(values)[:top_n]


def factor_portfolio(
    universe: Universe,
    cross_section: pd.DataFrame,
    factor: str,
    top_n: int,
    *,
    held: Collection[str] = (),
    band: int = 1,
    generator: str | None = None,
    model_versions: Mapping[str, str] | None = None,
) -> TargetPortfolio:
    """Equal weight over the universe's top `top_n` names by `factor`, where a `held` name stays while it
    ranks within the first `band` x `top_n` (autonomous/holding_band.py); names without it are not eligible.

    Weights sum to one, as the mock's do: the risk manager makes room for minimum cash for every
    generator alike. An unavailable universe, or one where no name has the factor, is all cash with
    the reason. `generator` defaults to `factor-<factor>`; `model_versions` adds to {"factor": factor}.
    """
    name = generator or factor_generator_name(factor)
    versions = {"factor": factor, **(model_versions or {})}
    if not universe.available:
        return TargetPortfolio(universe.strategy, {}, name, f"all cash: {universe.reason}", versions)
    values = factor_values(factor, universe, cross_section)
    picks = pick_with_band(rank_by_factor(values), held, top_n, band)
    chosen = picks.tickers
    if not chosen:
        reason = f"all cash: none of the {len(universe.tickers)} names of the universe has {factor}"
        return TargetPortfolio(universe.strategy, {}, name, reason, versions)
    known = int(np.isfinite(values.to_numpy(dtype=np.float64)).sum())
    reason = (
        f"equal weight over {picks.selection} of {known} names with {factor} "
        f"({len(universe.tickers) - known} without it) in the {universe.strategy} universe{picks.band_note}"
    )
    return TargetPortfolio(universe.strategy, dict.fromkeys(chosen, 1.0 / len(chosen)), name, reason, versions)
