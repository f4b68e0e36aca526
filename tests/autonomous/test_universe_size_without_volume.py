"""Universes of data without volume: sized by the last snapshot's market cap carried forward by the change
in the price since, or, before any snapshot, carried back from the first one (a stated look-ahead); with
volume, nothing changes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from autonomous.universes import Universe, build_universes, eligible_stocks
from tests.autonomous.builders import cross_section, tickers
from trading.marketdata.decision_view import ADJUSTED_CLOSE_ATTR
from trading.marketdata.reference_import import KNOWN_CAP, LATER_CAP, LATER_CAPS_ATTR, CapColumns
from trading.settings import UniverseSettings

SNAPSHOT = date(2018, 2, 8)
NAMES = tickers(60)


def without_volume(n: int = 60) -> pd.DataFrame:
    features = cross_section(n)
    features["size"] = np.nan
    return features


def caps(columns: CapColumns, cap: np.ndarray, at_snapshot: np.ndarray, *, adjusted: bool) -> pd.DataFrame:
    """A snapshot's caps with the prices on its date (raw closes, or adjusted closes only), as the fundamentals
    timeline gives them: known ones as columns, later ones attached to an otherwise empty frame."""
    frame = pd.DataFrame(
        {
            columns.market_cap: cap,
            columns.close: np.nan if adjusted else at_snapshot,
            columns.adj_close: at_snapshot,
            columns.day: float(SNAPSHOT.toordinal()),
        },
        index=NAMES,
    )
    if columns == KNOWN_CAP:
        return frame
    empty = pd.DataFrame(dtype=np.float64)
    empty.attrs[LATER_CAPS_ATTR] = frame
    return empty


def priced_at_adjusted_close(prices: np.ndarray) -> pd.Series:
    close = pd.Series(prices, index=NAMES)
    close.attrs[ADJUSTED_CLOSE_ATTR] = tuple(NAMES)
    return close


def build(features: pd.DataFrame, fundamentals: pd.DataFrame, close: pd.Series | None) -> dict[str, Universe]:
    return build_universes(
        features, stocks=features.index, close=close, fundamentals=fundamentals, settings=UniverseSettings()
    )


def large(universes: dict[str, Universe]) -> set[str]:
    return set(universes["growth_largecap"].tickers) | set(universes["value_largecap"].tickers)


def test_without_volume_the_snapshot_cap_is_carried_forward_by_the_change_in_the_adjusted_close() -> None:
    # Equal caps at the snapshot; since then S040..S059 have tripled and S000..S019 halved.
    fundamentals = caps(KNOWN_CAP, np.full(60, 1e10), np.full(60, 100.0), adjusted=True)
    # Shares times an adjusted close is no cap: taken for one, they would make S000..S019 the largest.
    fundamentals["shares_outstanding_est"] = np.geomspace(1e10, 1e6, 60)
    today = np.r_[np.full(20, 50.0), np.full(20, 100.0), np.full(20, 300.0)]
    universes = build(without_volume(), fundamentals, priced_at_adjusted_close(today))

    assert large(universes) == set(NAMES[40:])
    assert universes["value_largecap"].size_source == "market_cap"
    assert "60 names carried forward from the 2018-02-08 snapshot" in universes["value_largecap"].reason


def test_before_any_snapshot_the_cap_is_carried_back_and_the_reason_says_it_is_a_look_ahead() -> None:
    fundamentals = caps(LATER_CAP, np.linspace(1e9, 1e11, 60), np.full(60, 100.0), adjusted=True)
    universes = build(without_volume(), fundamentals, priced_at_adjusted_close(np.full(60, 80.0)))

    assert large(universes) == set(NAMES[40:])
    for name in ("growth_smallcap", "value_midcap"):
        assert universes[name].size_source == "market_cap_carried_back"
        assert "market cap carried back from the 2018-02-08 snapshot" in universes[name].reason
        assert "look-ahead" in universes[name].reason


def test_a_raw_close_carries_the_cap_by_the_raw_close_on_the_snapshot_date() -> None:
    fundamentals = caps(KNOWN_CAP, np.full(60, 1e10), np.linspace(100.0, 10.0, 60), adjusted=False)
    universes = build(without_volume(), fundamentals, pd.Series(np.full(60, 100.0), index=NAMES))

    assert large(universes) == set(NAMES[40:])  # the cheapest at the snapshot grew the most since


def test_with_volume_the_dollar_volume_still_sizes_the_names_before_any_snapshot() -> None:
    fundamentals = caps(LATER_CAP, np.linspace(1e9, 1e11, 60), np.full(60, 100.0), adjusted=False)
    universes = build(cross_section(60), fundamentals, pd.Series(np.full(60, 100.0), index=NAMES))

    assert large(universes) == set(NAMES[:20])  # S000 trades the most
    assert universes["growth_largecap"].size_source == "dollar_volume_proxy"
    assert "carried back" not in universes["growth_largecap"].reason


def test_without_volume_a_name_without_any_market_cap_is_not_eligible() -> None:
    fundamentals = caps(LATER_CAP, np.linspace(1e9, 1e11, 60), np.full(60, 100.0), adjusted=True)
    fundamentals.attrs[LATER_CAPS_ATTR] = fundamentals.attrs[LATER_CAPS_ATTR].drop("S003")
    universes = build(without_volume(), fundamentals, priced_at_adjusted_close(np.full(60, 80.0)))

    members = set().union(*(u.tickers for u in universes.values()))
    assert "S003" not in members
    assert "59 eligible stocks" in universes["growth_largecap"].reason


def test_eligibility_waives_the_dollar_volume_only_when_no_stock_has_any() -> None:
    some = cross_section(8)
    some.loc["S001", "size"] = np.nan
    none = without_volume(8)

    assert "S001" not in eligible_stocks(some, tickers(8), sized=["S001"])
    assert list(eligible_stocks(none, tickers(8))) == tickers(8)
    assert list(eligible_stocks(none, tickers(8), sized=["S002", "S005"])) == ["S002", "S005"]
