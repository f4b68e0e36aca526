from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autonomous.strategies import SIZE_BUCKETS
from autonomous.universes import (
    REQUIRED_FEATURES,
    Universe,
    _percentile_ranks,
    build_universes,
    eligible_stocks,
    size_terciles,
)
from tests.autonomous.builders import cross_section, tickers
from trading.errors import DataError
from trading.settings import UniverseSettings

STYLE_STRATEGIES = [f"{style}_{size}cap" for style in ("growth", "value") for size in SIZE_BUCKETS]


def build(
    features: pd.DataFrame,
    fundamentals: pd.DataFrame | None = None,
    close: pd.Series | None = None,
    **overrides: float,
) -> dict[str, Universe]:
    return build_universes(
        features,
        stocks=features.index,
        close=close,
        fundamentals=pd.DataFrame() if fundamentals is None else fundamentals,
        settings=UniverseSettings(**overrides),
    )


def members(universe: Universe) -> set[str]:
    return set(universe.tickers)


# --- eligibility and size -----------------------------------------------------------------------


def test_only_stocks_with_finite_size_and_quarter_momentum_are_eligible() -> None:
    features = cross_section(8)
    features.loc["S001", "size"] = np.nan
    features.loc["S002", "mom_63"] = np.inf
    features.loc["SPY"] = features.loc["S000"]
    eligible = eligible_stocks(features, stocks=[*tickers(8), "NOTHERE"])
    assert list(eligible) == ["S000", "S003", "S004", "S005", "S006", "S007"]


def test_without_fundamentals_terciles_of_sixty_names_are_twenty_each_by_dollar_volume() -> None:
    universes = build(cross_section(60))
    large = members(universes["growth_largecap"]) | members(universes["value_largecap"])
    small = members(universes["growth_smallcap"]) | members(universes["value_smallcap"])
    assert large == set(tickers(20))
    assert small == set(tickers(60)[40:])
    assert {u.size_source for name, u in universes.items() if name != "dividend"} == {"dollar_volume_proxy"}


def test_market_cap_replaces_the_proxy_when_fundamentals_cover_enough_names() -> None:
    features = cross_section(60)
    # Market cap runs opposite to dollar volume here, so the two sources give opposite terciles.
    fundamentals = pd.DataFrame({"market_cap": np.linspace(1e9, 1e11, 60)}, index=tickers(60))
    universes = build(features, fundamentals)
    large = members(universes["growth_largecap"]) | members(universes["value_largecap"])
    assert large == set(tickers(60)[40:])
    assert universes["value_midcap"].size_source == "market_cap"


def test_market_cap_is_shares_times_the_close_at_the_date_not_the_snapshot_value() -> None:
    features = cross_section(60)
    fundamentals = pd.DataFrame(
        {
            "market_cap": np.linspace(1e11, 1e9, 60),  # a stale snapshot: S000 largest
            "shares_outstanding_est": np.full(60, 1e8),
        },
        index=tickers(60),
    )
    close = pd.Series(np.linspace(10.0, 500.0, 60), index=tickers(60))  # today S059 is largest
    universes = build(features, fundamentals, close)
    large = members(universes["growth_largecap"]) | members(universes["value_largecap"])
    assert large == set(tickers(60)[40:])


def test_without_a_usable_close_the_snapshot_market_cap_is_used() -> None:
    features = cross_section(60)
    fundamentals = pd.DataFrame(
        {"market_cap": np.linspace(1e9, 1e11, 60), "shares_outstanding": np.full(60, 1e8)}, index=tickers(60)
    )
    # Shares x close ranks S000 largest; S058 (no close) and S059 (a zero close) fall back to their
    # snapshot caps, the two largest of all, instead of being placed by their (lowest) dollar volume.
    close = pd.Series(np.linspace(500.0, 10.0, 60), index=tickers(60)).drop("S058")
    close["S059"] = 0.0
    universes = build(features, fundamentals, close)
    assert {"S000", "S058", "S059"} <= members(universes["growth_largecap"]) | members(universes["value_largecap"])
    assert universes["value_largecap"].size_source == "market_cap"
    assert "placed by dollar volume" not in universes["value_largecap"].reason


def test_sparse_market_caps_fall_back_to_the_dollar_volume_proxy_for_every_name() -> None:
    features = cross_section(60)
    fundamentals = pd.DataFrame({"market_cap": np.linspace(1e9, 1e11, 30)}, index=tickers(60)[30:])
    universes = build(features, fundamentals, fundamentals_min_coverage=0.8)
    assert universes["growth_largecap"].size_source == "dollar_volume_proxy"
    assert members(universes["growth_largecap"]) | members(universes["value_largecap"]) == set(tickers(20))
    assert "market cap known for 50%" in universes["growth_largecap"].reason


def test_a_name_without_market_cap_keeps_its_dollar_volume_place_among_the_caps() -> None:
    features = cross_section(60)
    # Caps agree with dollar volume except that S000, the most traded, has none.
    fundamentals = pd.DataFrame({"market_cap": np.linspace(1e11, 1e9, 60)[1:]}, index=tickers(60)[1:])
    universes = build(features, fundamentals)
    assert "S000" in members(universes["growth_largecap"]) | members(universes["value_largecap"])
    assert "1 names placed by dollar volume" in universes["value_largecap"].reason


def test_terciles_of_a_non_multiple_of_three_differ_by_at_most_one_and_keep_rank_order() -> None:
    size = pd.Series(np.arange(31.0), index=tickers(31))
    labels = size_terciles(size)
    counts = labels.value_counts()
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == 31
    assert size[labels == "large"].min() > size[labels == "mid"].max() > size[labels == "small"].max()


# --- style -------------------------------------------------------------------------------------


def test_the_value_half_of_each_tercile_is_the_cheaper_by_book_to_price_and_earnings_yield() -> None:
    features = cross_section(60)
    price_to_book = pd.Series(np.random.default_rng(3).permutation(np.linspace(0.5, 15.0, 60)), index=tickers(60))
    fundamentals = pd.DataFrame({"price_to_book": price_to_book, "pe_ratio": price_to_book * 4.0})
    universes = build(features, fundamentals)
    large = tickers(20)
    cheapest_large = set(price_to_book[large].nsmallest(10).index)
    assert members(universes["value_largecap"]) == cheapest_large
    assert members(universes["growth_largecap"]) == set(large) - cheapest_large
    assert universes["value_largecap"].style_source == "fundamentals"


def test_a_negative_pe_is_a_loss_maker_and_ranks_least_cheap() -> None:
    features = cross_section(60)
    fundamentals = pd.DataFrame({"pe_ratio": np.linspace(5.0, 40.0, 60)}, index=tickers(60))
    fundamentals.loc["S000", "pe_ratio"] = -3.0  # without the sign it would be the cheapest name
    universes = build(features, fundamentals)
    assert "S000" in members(universes["growth_largecap"])
    assert universes["value_largecap"].tickers[0] == "S001"  # the cheapest of the large tercile
    assert universes["value_largecap"].scores.iloc[0] > universes["value_largecap"].scores.iloc[-1]


@pytest.mark.parametrize("coverage", [0.0, 0.5])
def test_without_enough_fundamentals_style_comes_from_dividend_yield_and_momentum(coverage: float) -> None:
    features = cross_section(60)
    covered = tickers(60)[: int(60 * coverage)]
    fundamentals = pd.DataFrame({"price_to_book": 1.0}, index=covered)
    # In the large tercile: ten lagging high yielders and ten running non-payers.
    features.loc[tickers(10), ["div_yield_ttm", "mom_252"]] = [0.05, -0.2]
    features.loc[tickers(20)[10:], ["div_yield_ttm", "mom_252"]] = [0.0, 0.6]
    universes = build(features, fundamentals)
    assert members(universes["value_largecap"]) == set(tickers(10))
    assert universes["value_largecap"].style_source == "price_proxy"


def test_growth_and_value_of_the_same_size_never_share_a_name() -> None:
    universes = build(cross_section(60, seed=5))
    for size in SIZE_BUCKETS:
        assert not members(universes[f"growth_{size}cap"]) & members(universes[f"value_{size}cap"])


# --- ranking and determinism --------------------------------------------------------------------


def test_growth_universes_are_ordered_by_momentum_quality_with_ties_by_ticker() -> None:
    features = cross_section(60)
    features["mom_12_1"] = 0.0
    features["dist_sma200"] = 0.0
    # Two equal leaders, both clearly growth by the price proxy (no dividend, a strong year).
    features.loc[["S007", "S003"], ["mom_12_1", "dist_sma200", "div_yield_ttm", "mom_252"]] = [0.5, 0.2, 0.0, 2.0]
    growth = build(features)["growth_largecap"]
    assert growth.tickers[:2] == ("S003", "S007")
    rest = list(growth.tickers[2:])
    assert rest == sorted(rest)
    assert list(growth.scores.index) == list(growth.tickers)
    assert growth.scores.is_monotonic_decreasing


def test_shuffled_input_rows_give_identical_universes() -> None:
    features = cross_section(60, seed=11)
    fundamentals = pd.DataFrame(
        {"market_cap": np.linspace(1e9, 1e11, 60), "price_to_book": np.linspace(9.0, 1.0, 60)}, index=tickers(60)
    )
    first = build(features, fundamentals)
    shuffled = features.sample(frac=1.0, random_state=1)
    second = build(shuffled, fundamentals.sample(frac=1.0, random_state=2))
    for name, universe in first.items():
        assert second[name].tickers == universe.tickers
        pd.testing.assert_series_equal(second[name].scores, universe.scores)


# --- minimum size -------------------------------------------------------------------------------


def test_terciles_too_small_for_two_halves_are_widened_by_the_nearest_size_ranks() -> None:
    universes = build(cross_section(45), min_bucket_size=10)  # terciles of 15, halves need 10 each
    large = members(universes["growth_largecap"]) | members(universes["value_largecap"])
    mid = members(universes["growth_midcap"]) | members(universes["value_midcap"])
    small = members(universes["growth_smallcap"]) | members(universes["value_smallcap"])
    assert large == set(tickers(20))
    assert mid == set(tickers(45)[13:33])  # centred on the tercile S015..S029
    assert small == set(tickers(45)[25:])
    for name in STYLE_STRATEGIES:
        assert len(universes[name].tickers) == 10
    assert "tercile had 15 names, widened to the 20 nearest" in universes["value_midcap"].reason


def test_too_few_eligible_stocks_make_the_style_universes_unavailable_with_a_reason() -> None:
    universes = build(cross_section(19), min_bucket_size=10)
    for name in STYLE_STRATEGIES:
        assert not universes[name].available
        assert universes[name].tickers == ()
        assert "only 19 eligible stocks" in universes[name].reason


def test_an_empty_cross_section_gives_seven_unavailable_universes() -> None:
    universes = build(cross_section(0))
    assert list(universes) == [*STYLE_STRATEGIES[:3], *STYLE_STRATEGIES[3:], "dividend"]
    assert not any(universe.available for universe in universes.values())


# --- dividend -----------------------------------------------------------------------------------


def dividend_cross_section() -> pd.DataFrame:
    features = cross_section(60)
    features["vol_60"] = 0.2
    features["div_yield_ttm"] = np.linspace(0.01, 0.04, 60)
    features["div_stability"] = 1.0
    # Four tempting high yields that the stability filter must refuse.
    features.loc["S000", ["div_yield_ttm", "div_stability"]] = [0.09, 0.5]  # cut in half
    features.loc["S001", ["div_yield_ttm", "div_stability"]] = [0.0, np.nan]  # pays nothing
    features.loc["S002", ["div_yield_ttm", "div_stability"]] = [0.08, np.nan]  # first year of dividends
    features.loc["S003", ["div_yield_ttm", "vol_60"]] = [0.07, 0.9]  # a yield trap
    return features


def test_the_dividend_universe_keeps_only_stable_calm_payers_with_the_highest_yields() -> None:
    universe = build(dividend_cross_section())["dividend"]
    assert universe.available
    assert not members(universe) & {"S000", "S001", "S002", "S003"}
    # A fifth of 60 eligible names, the highest trailing yields among the stable payers.
    assert universe.tickers == tuple(reversed(tickers(60)[48:]))
    assert universe.scores.iloc[0] == pytest.approx(0.04)
    assert universe.size_source is None
    assert universe.style_source == "trailing_dividends"


def test_a_dividend_cut_of_less_than_the_threshold_is_tolerated() -> None:
    features = dividend_cross_section()
    features.loc["S000", "div_stability"] = 0.8
    assert build(features)["dividend"].tickers[0] == "S000"


def test_the_dividend_universe_is_at_least_the_minimum_when_the_fraction_is_smaller() -> None:
    universe = build(dividend_cross_section(), dividend_top_fraction=0.05, min_bucket_size=10)["dividend"]
    assert len(universe.tickers) == 10


def test_too_few_stable_payers_make_the_dividend_universe_unavailable_with_the_counts() -> None:
    features = dividend_cross_section()
    features.loc[tickers(60)[10:], "div_stability"] = 0.3
    universe = build(features, min_bucket_size=10)["dividend"]
    assert not universe.available
    assert universe.reason.startswith("only 6 stable dividend payers of 60 eligible stocks (minimum 10)")
    assert universe.reason.endswith("2 without two years of dividends, 51 cut, 1 too volatile")


# --- bad input ----------------------------------------------------------------------------------


def test_a_missing_feature_column_is_a_data_error_naming_it() -> None:
    with pytest.raises(DataError, match=r"lacks the feature column.*div_stability"):
        build(cross_section(30).drop(columns="div_stability"))


def test_a_ticker_twice_in_the_fundamentals_is_a_data_error_naming_it() -> None:
    fundamentals = pd.DataFrame({"market_cap": [1e9, 2e9]}, index=["S001", "S001"])
    with pytest.raises(DataError, match=r"fundamentals has more than one row for ticker.*S001"):
        build(cross_section(30), fundamentals)


# --- invariants ---------------------------------------------------------------------------------


@st.composite
def random_inputs(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, UniverseSettings]:
    n = draw(st.integers(0, 90))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    features = cross_section(n, seed=seed)
    # Random sizes with ties, and holes in every feature the universes read.
    features["size"] = rng.integers(0, 12, n).astype(float)
    for column in REQUIRED_FEATURES:
        features.loc[rng.uniform(size=n) < draw(st.floats(0.0, 0.3)), column] = np.nan
    covered = rng.uniform(size=n) < draw(st.floats(0.0, 1.0))
    fundamentals = pd.DataFrame(
        {
            "market_cap": rng.lognormal(22.0, 1.5, n),
            "price_to_book": rng.normal(3.0, 3.0, n),
            "pe_ratio": rng.normal(20.0, 15.0, n),
        },
        index=features.index,
    )[covered]
    universe_settings = UniverseSettings(
        min_bucket_size=draw(st.integers(1, 15)),
        fundamentals_min_coverage=draw(st.floats(0.1, 1.0)),
        dividend_top_fraction=draw(st.floats(0.01, 1.0)),
    )
    return features, fundamentals, universe_settings


@settings(max_examples=60, deadline=None)
@given(random_inputs())
def test_every_available_universe_meets_the_minimum_with_eligible_names_and_halves_never_overlap(
    inputs: tuple[pd.DataFrame, pd.DataFrame, UniverseSettings],
) -> None:
    features, fundamentals, universe_settings = inputs
    eligible = set(eligible_stocks(features, features.index))
    universes = build_universes(
        features, stocks=features.index, close=None, fundamentals=fundamentals, settings=universe_settings
    )
    for universe in universes.values():
        if universe.available:
            assert len(universe.tickers) >= universe_settings.min_bucket_size
            assert set(universe.tickers) <= eligible
            assert len(set(universe.tickers)) == len(universe.tickers)
            assert list(universe.scores.index) == list(universe.tickers)
        else:
            assert universe.tickers == ()
            assert universe.reason
    for size in SIZE_BUCKETS:
        growth, value = universes[f"growth_{size}cap"], universes[f"value_{size}cap"]
        assert growth.available == value.available
        assert not members(growth) & members(value)
        if growth.available:
            assert len(growth.tickers) + len(value.tickers) >= 2 * universe_settings.min_bucket_size


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), max_size=80))
def test_terciles_partition_the_names_into_ranked_thirds(values: list[float]) -> None:
    size = pd.Series(values, index=tickers(len(values)), dtype=float)
    labels = size_terciles(size)
    assert labels.notna().all()
    counts = [int((labels == bucket).sum()) for bucket in SIZE_BUCKETS]
    assert sum(counts) == len(values)
    assert all(math.floor(len(values) / 3) <= count <= math.ceil(len(values) / 3) for count in counts)
    for bigger, smaller in (("large", "mid"), ("mid", "small")):
        if (labels == bigger).any() and (labels == smaller).any():
            assert size[labels == bigger].min() >= size[labels == smaller].max()


@given(
    st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, 1.0, 2.5])),
        max_size=40,
    )
)
def test_the_universes_percentile_ranks_are_pandas_rank_pct_with_ties_averaged(values: list[float]) -> None:
    column = np.asarray(values, dtype=np.float64)
    expected = pd.Series(column).rank(pct=True).to_numpy()
    np.testing.assert_array_equal(_percentile_ranks(column), expected)


# --- sent between processes -----------------------------------------------------------------------


@pytest.mark.parametrize("names", [0, 19, 60])
def test_universes_pickled_and_read_back_are_equal_in_every_part(names: int) -> None:
    # A backtest hands each session's universes from its market process to its replay (backtesting/prefetch.py).
    for universe in build(cross_section(names)).values():
        back = pickle.loads(pickle.dumps(universe))
        assert back.tickers == universe.tickers
        pd.testing.assert_series_equal(back.scores, universe.scores)
        assert list(back.scores.index) == list(universe.tickers)
        parts = ("strategy", "size_source", "style_source", "available", "reason")
        assert [getattr(back, part) for part in parts] == [getattr(universe, part) for part in parts]
