"""The rankers' feature-set variants: which inputs a model reads, chosen by which inputs the data has.

Some feeds carry adjusted closes only: no raw close, no volume, no dividends. Their volume and dividend
inputs are then missing for every name, and a model that learned to rely on them would silently read
"missing" everywhere (XGBoost sends a missing value down a default branch learned from the few rows
that lacked it). So each input group a deployment may lack is optional:

- a ranker is trained on the groups its training window has (or on a variant asked for by name), and
  the model table records its inputs (`feature_set`);
- at a decision, the inputs present are read off the cross-section, and the generator uses the newest
  ranker whose every group is present (rl_trading/hybrid.py), saying which and why.

Groups. Prices (momentum, volatility, drawdown, RSI, moving averages, beta) need only adjusted closes
and are always read. Volume (volume z-score, dollar volume, size) needs raw closes and volumes.
Dividends (trailing yield, stability) need raw closes and dividends. Fundamentals are not ranker inputs
(they shape the universes, autonomous/universes.py), so no variant is needed for them.

Presence. A group is present when its indicator input has a value for at least half of the rows: the
trailing yield is 0, not missing, for a stock that pays nothing when dividends are known, so a group
is absent only when the data lacks it (or most names lack the history it needs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autonomous.ranking.dataset import RANKER_FEATURES
from trading.errors import ConfigurationError

logger = logging.getLogger(__name__)

VOLUME = "volume"
DIVIDENDS = "dividends"
OPTIONAL_GROUPS: dict[str, tuple[str, ...]] = {
    VOLUME: ("volume_z_20_rank", "dollar_volume_20_rank", "size_rank"),
    DIVIDENDS: ("div_yield_ttm_rank", "div_stability_rank"),
}
# The input whose presence stands for its group's (module doc).
INDICATORS: dict[str, str] = {VOLUME: "dollar_volume_20_rank", DIVIDENDS: "div_yield_ttm_rank"}
PRESENT_SHARE = 0.5


@dataclass(frozen=True)
class FeatureSet:
    """A named variant: the groups it leaves out, and so the inputs it reads (in RANKER_FEATURES order)."""

    name: str
    without: frozenset[str]

    @property
    def features(self) -> tuple[str, ...]:
        dropped = {feature for group in self.without for feature in OPTIONAL_GROUPS[group]}
        return tuple(feature for feature in RANKER_FEATURES if feature not in dropped)

    @property
    def groups(self) -> frozenset[str]:
        """The optional groups it reads."""
        return frozenset(OPTIONAL_GROUPS) - self.without


FULL = FeatureSet("full", frozenset())
NO_DIVIDENDS = FeatureSet("no_dividends", frozenset({DIVIDENDS}))
NO_VOLUME = FeatureSet("no_volume", frozenset({VOLUME}))
PRICES_ONLY = FeatureSet("prices_only", frozenset({VOLUME, DIVIDENDS}))
FEATURE_SETS: tuple[FeatureSet, ...] = (FULL, NO_DIVIDENDS, NO_VOLUME, PRICES_ONLY)
BY_NAME: dict[str, FeatureSet] = {variant.name: variant for variant in FEATURE_SETS}
AUTO = "auto"


def present_groups(inputs: pd.DataFrame) -> frozenset[str]:
    """The optional groups whose indicator has a value in at least PRESENT_SHARE of the rows."""
    if inputs.empty:
        return frozenset()
    present = set()
    for group, indicator in INDICATORS.items():
        if indicator in inputs.columns:
            share = float(np.isfinite(inputs[indicator].to_numpy(dtype=np.float64)).mean())
            if share >= PRESENT_SHARE:
                present.add(group)
    return frozenset(present)


def matching_set(groups: Iterable[str]) -> FeatureSet:
    """The variant that reads exactly the present groups."""
    return feature_set_without(frozenset(OPTIONAL_GROUPS) - frozenset(groups))


def feature_set_without(without: frozenset[str]) -> FeatureSet:
    return next(variant for variant in FEATURE_SETS if variant.without == without)


def feature_set_of(features: Sequence[str]) -> FeatureSet | None:
    """The variant reading exactly these inputs in this order (a stored model's), or None if none does."""
    return next((variant for variant in FEATURE_SETS if variant.features == tuple(features)), None)


def missing_groups(variant: FeatureSet, present: frozenset[str]) -> frozenset[str]:
    """The groups `variant` reads that the data does not have."""
    return variant.groups - present


def describe_groups(groups: Iterable[str]) -> str:
    ordered = [group for group in OPTIONAL_GROUPS if group in set(groups)]
    return " and ".join(ordered) if ordered else "none"


def data_groups_note(present: Iterable[str]) -> str:
    """'the data has volume, not dividends', for a run's record."""
    have = set(present)
    held = [group for group in OPTIONAL_GROUPS if group in have]
    lacked = [group for group in OPTIONAL_GROUPS if group not in have]
    if not lacked:
        return f"the data has {' and '.join(held)}"
    if not held:
        return f"the data has no {' or '.join(lacked)}"
    return f"the data has {' and '.join(held)}, not {' or '.join(lacked)}"


def parse_feature_sets(spec: str) -> list[str]:
    """'auto', 'all', or variant names comma-separated -> names in the given order (AUTO stays AUTO)."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ConfigurationError(f"--feature-sets: nothing given; expected {AUTO}, all, or {', '.join(BY_NAME)}")
    if names == [AUTO]:
        return [AUTO]
    if names == ["all"]:
        return list(BY_NAME)
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise ConfigurationError(
            f"--feature-sets: unknown {', '.join(unknown)}; expected {AUTO}, all, or some of {', '.join(BY_NAME)}"
        )
    return list(dict.fromkeys(names))


def resolve_feature_sets(names: Sequence[str], present: frozenset[str]) -> tuple[list[FeatureSet], list[str]]:
    """The variants to train on data with `present` groups, and a sentence for each one skipped
    because it reads a group the data lacks (a model that would read only missing values)."""
    if list(names) == [AUTO]:
        return [matching_set(present)], []
    chosen, skipped = [], []
    for name in names:
        variant = BY_NAME[name]
        lacking = missing_groups(variant, present)
        if lacking:
            skipped.append(f"{variant.name}: the window has no {describe_groups(lacking)} data")
        else:
            chosen.append(variant)
    return chosen, skipped
