"""Tests of the seeded synthetic market: bar mechanics, regimes, sectors and styles, sizes, dividends, splits,
the benchmark, safe haven and volatility index, fundamentals, determinism and speed."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.marketdata.synthetic import (
    BENCHMARK,
    SAFE_HAVEN,
    VOLATILITY_INDEX,
    SyntheticMarket,
    generate_synthetic_market,
)

BAR_COLUMNS = ["date", "ticker", "open", "high", "low", "close", "adj_close", "volume", "dividend", "split_coef"]
FUNDAMENTAL_COLUMNS = [
    "ticker",
    "market_cap",
    "shares_outstanding",
    "price_to_book",
    "pe_ratio",
    "dividend_yield_pct",
]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]
GICS_SECTORS = {
    "Information Technology",
    "Health Care",
    "Financials",
    "Energy",
    "Consumer Staples",
    "Utilities",
    "Industrials",
    "Consumer Discretionary",
    "Materials",
    "Communication Services",
    "Real Estate",
}
# adj_close is rounded to 6 significant digits, so a ratio of two of them is good to ~1e-5.
ADJ_RATIO_TOLERANCE = 2e-5


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return generate_synthetic_market()


@pytest.fixture(scope="module")
def wide(market: SyntheticMarket) -> dict[str, pd.DataFrame]:
    """Each bar column as a (date x ticker) frame."""
    return {column: market.bars.pivot(index="date", columns="ticker", values=column) for column in BAR_COLUMNS[2:]}


@pytest.fixture(scope="module")
def stock_tickers(market: SyntheticMarket) -> list[str]:
    securities = market.securities
    return sorted(securities.loc[securities["asset_type"] == "stock", "ticker"])


@pytest.fixture(scope="module")
def first_snapshot(market: SyntheticMarket) -> pd.DataFrame:
    return market.fundamentals[min(market.fundamentals)].set_index("ticker")


@pytest.fixture(scope="module")
def is_growth(first_snapshot: pd.DataFrame) -> pd.Series:
    """Style read off the first snapshot: growth trades at a high multiple of book, value near it."""
    return first_snapshot["price_to_book"] > 3.0


@pytest.fixture(scope="module")
def size_bucket(first_snapshot: pd.DataFrame) -> pd.Series:
    """small < $2B <= mid < $10B <= large, at the start."""
    buckets = pd.cut(
        first_snapshot["market_cap"], [0, 2e9, 10e9, np.inf], labels=["small", "mid", "large"], right=False
    )
    return buckets.astype(str)


@dataclass(frozen=True)
class SplitEvent:
    date: date
    ticker: str
    ratio: float


def total_returns(wide: dict[str, pd.DataFrame]) -> pd.DataFrame:
    adj = wide["adj_close"]
    return (adj / adj.shift(1) - 1.0).iloc[1:]


def betas_against_benchmark(wide: dict[str, pd.DataFrame], tickers: list[str]) -> pd.Series:
    returns = total_returns(wide)
    stocks, benchmark = returns[tickers].to_numpy(), returns[BENCHMARK].to_numpy()
    covariance = ((stocks - stocks.mean(axis=0)) * (benchmark - benchmark.mean())[:, None]).sum(axis=0)
    return pd.Series(covariance / (len(benchmark) - 1) / benchmark.var(ddof=1), index=tickers)


def segment_return(series: pd.Series, start: date, end: date) -> float:
    window = series.loc[start:end]
    return float(window.iloc[-1] / window.iloc[0] - 1.0)


def regime_windows(market: SyntheticMarket, kind: str) -> list[tuple[date, date]]:
    regimes = market.regimes[market.regimes["regime"] == kind]
    return list(zip(regimes["start"].tolist(), regimes["end"].tolist(), strict=True))


def in_regime(index: pd.Index, market: SyntheticMarket, kind: str) -> pd.Series:
    """Which dates of the index fall inside a segment of the given regime."""
    mask = pd.Series(False, index=index)
    for start, end in regime_windows(market, kind):
        mask.loc[start:end] = True
    return mask


def split_events(market: SyntheticMarket) -> list[SplitEvent]:
    rows = market.bars[market.bars["split_coef"] != 1.0]
    return [
        SplitEvent(d, t, float(r))
        for d, t, r in zip(rows["date"].tolist(), rows["ticker"].tolist(), rows["split_coef"].tolist(), strict=True)
    ]


def position_of(frame: pd.DataFrame, day: date) -> int:
    return int(frame.index.get_indexer(pd.Index([day]))[0])


def snapshot_universes(fundamentals: pd.DataFrame) -> dict[str, pd.Index]:
    """The strategies' universes as autonomous/universes.py cuts them from a snapshot alone: size
    terciles by market cap, the cheaper half of each (book-to-price and earnings yield) value and
    the dearer half growth, and the highest-yielding fifth of the stocks as the dividend universe."""
    n_stocks = len(fundamentals)
    by_size = fundamentals["market_cap"].sort_values(ascending=False, kind="stable").index
    cheapness = pd.concat(
        [(1.0 / fundamentals["price_to_book"]).rank(pct=True), (1.0 / fundamentals["pe_ratio"]).rank(pct=True)], axis=1
    ).mean(axis=1)
    universes = {}
    for position, size in enumerate(("large", "mid", "small")):
        tercile = by_size[-(-position * n_stocks // 3) : -(-(position + 1) * n_stocks // 3)]
        cheapest_first = cheapness[tercile].sort_values(ascending=False, kind="stable").index
        universes[f"value_{size}cap"] = cheapest_first[: len(tercile) // 2]
        universes[f"growth_{size}cap"] = cheapest_first[len(tercile) // 2 :]
    by_yield = fundamentals["dividend_yield_pct"].sort_values(ascending=False, kind="stable").index
    universes["dividend"] = by_yield[: -(-n_stocks // 5)]
    return universes


def assert_bar_invariants(market: SyntheticMarket, n_stocks: int) -> None:
    bars = market.bars
    assert list(bars.columns) == BAR_COLUMNS
    assert bars[PRICE_COLUMNS].notna().all().all()
    assert (bars[PRICE_COLUMNS] > 0).all().all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["high"] >= bars["low"]).all()
    assert (bars["dividend"] >= 0).all()
    assert (bars["split_coef"] >= 1).all()
    vix = bars["ticker"] == VOLATILITY_INDEX
    assert bars.loc[vix, "volume"].isna().all()
    traded_volume = bars.loc[~vix, "volume"]
    assert traded_volume.notna().all()
    assert (traded_volume >= 0).all()
    assert (traded_volume == np.round(traded_volume)).all()
    assert bars["ticker"].nunique() == n_stocks + 3
    assert len(bars) == bars["date"].nunique() * (n_stocks + 3)
    assert not bars.duplicated(["date", "ticker"]).any()
    last = bars[bars["date"] == bars["date"].max()]
    np.testing.assert_allclose(last["adj_close"], last["close"], rtol=1e-6)


# --- shape of the data -------------------------------------------------------------------------


def test_bars_have_exactly_the_documented_columns_and_dtypes(market: SyntheticMarket) -> None:
    bars = market.bars
    assert list(bars.columns) == BAR_COLUMNS
    for column in BAR_COLUMNS[2:]:
        assert bars[column].dtype == np.float64, column
    assert all(type(d) is date for d in bars["date"].iloc[::997])
    assert all(isinstance(t, str) for t in bars["ticker"].unique())


def test_bars_are_sorted_by_date_then_ticker_with_one_row_per_pair(market: SyntheticMarket) -> None:
    keys = market.bars[["date", "ticker"]]
    assert not keys.duplicated().any()
    pd.testing.assert_frame_equal(keys, keys.sort_values(["date", "ticker"]))


def test_dates_are_the_nyse_sessions_of_the_requested_ten_years(market: SyntheticMarket) -> None:
    expected = list(xcals.get_calendar("XNYS", start=date(2012, 1, 3), end=date(2022, 1, 2)).sessions.date)
    dates = sorted(market.bars["date"].unique())
    assert dates == expected
    assert dates[0] == date(2012, 1, 3)
    assert dates[-1] == date(2021, 12, 31)
    assert len(dates) >= 8 * 250


def test_every_ticker_has_a_bar_on_every_session(market: SyntheticMarket) -> None:
    counts = market.bars.groupby("ticker").size()
    assert counts.nunique() == 1
    assert counts.iloc[0] == market.bars["date"].nunique()


def test_securities_list_the_stocks_benchmark_safe_haven_and_volatility_index(market: SyntheticMarket) -> None:
    securities = market.securities.set_index("ticker")
    assert list(market.securities.columns) == ["ticker", "name", "sector", "asset_type"]
    assert securities.loc[BENCHMARK, "asset_type"] == "etf"
    assert securities.loc[SAFE_HAVEN, "asset_type"] == "etf"
    assert securities.loc[VOLATILITY_INDEX, "asset_type"] == "index"
    assert (securities["asset_type"] == "stock").sum() == 80
    assert set(securities.index) == set(market.bars["ticker"])
    assert (BENCHMARK, SAFE_HAVEN, VOLATILITY_INDEX) == ("SPY", "GLD", "^VIX")


def test_stock_tickers_are_short_unique_uppercase_and_clearly_synthetic(
    market: SyntheticMarket, stock_tickers: list[str]
) -> None:
    assert len(set(stock_tickers)) == len(stock_tickers) == 80
    assert all(re.fullmatch(r"[A-Z]{3,4}", ticker) for ticker in stock_tickers)
    assert not {BENCHMARK, SAFE_HAVEN} & set(stock_tickers)
    stocks = market.securities[market.securities["asset_type"] == "stock"]
    assert stocks["name"].str.fullmatch(r"Synthetic [A-Za-z]+ Co [A-Z]").all()
    assert stocks["name"].is_unique


def test_stocks_span_all_eleven_gics_sectors_in_near_equal_numbers(market: SyntheticMarket) -> None:
    stocks = market.securities[market.securities["asset_type"] == "stock"]
    assert set(stocks["sector"]) == GICS_SECTORS
    counts = stocks["sector"].value_counts()
    assert counts.min() == 80 // 11
    assert counts.max() == counts.min() + 1


@pytest.mark.parametrize(("n_stocks", "bound"), [(59, "60"), (101, "100"), (0, "60")])
def test_a_stock_count_outside_sixty_to_one_hundred_is_rejected(n_stocks: int, bound: str) -> None:
    with pytest.raises(ValueError, match=bound):
        generate_synthetic_market(n_stocks=n_stocks)


def test_a_history_shorter_than_one_year_is_rejected() -> None:
    with pytest.raises(ValueError, match="years"):
        generate_synthetic_market(years=0)


# --- bar mechanics -----------------------------------------------------------------------------


def test_prices_are_positive_and_ohlc_ranges_are_consistent(market: SyntheticMarket) -> None:
    assert_bar_invariants(market, 80)


def test_raw_prices_are_rounded_to_cents(market: SyntheticMarket) -> None:
    raw = market.bars[["open", "high", "low", "close"]].to_numpy()
    np.testing.assert_allclose(raw, np.round(raw, 2), atol=1e-9)


def test_adj_close_equals_close_on_the_last_date_and_differs_earlier_for_payers(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame]
) -> None:
    np.testing.assert_allclose(wide["adj_close"].iloc[-1], wide["close"].iloc[-1], rtol=1e-6)
    first = wide["adj_close"].iloc[0] / wide["close"].iloc[0]
    payers = wide["dividend"].columns[(wide["dividend"] > 0).any()]
    assert (first[payers] < 0.99).all()
    assert first[BENCHMARK] < 0.9


def test_adj_close_return_equals_raw_return_on_days_without_events(wide: dict[str, pd.DataFrame]) -> None:
    close, adj = wide["close"], wide["adj_close"]
    quiet = ((wide["dividend"] == 0) & (wide["split_coef"] == 1)).iloc[1:]
    raw_ratio = (close / close.shift(1)).iloc[1:]
    adj_ratio = (adj / adj.shift(1)).iloc[1:]
    gap = (adj_ratio - raw_ratio).abs().where(quiet)
    assert gap.max().max() < ADJ_RATIO_TOLERANCE


def test_adj_close_return_on_an_ex_dividend_date_is_the_total_return(wide: dict[str, pd.DataFrame]) -> None:
    close, adj, dividend = wide["close"], wide["adj_close"], wide["dividend"]
    ex_dates = (dividend > 0).iloc[1:]
    assert ex_dates.sum().sum() > 500
    previous = close.shift(1).iloc[1:]
    adj_return = (adj / adj.shift(1)).iloc[1:] - 1.0
    total_return = (close.iloc[1:] + dividend.iloc[1:]) / previous - 1.0
    # The backward factor (1 - D/previous close) makes the adjusted ratio exactly close/(previous - D).
    exact = close.iloc[1:] / (previous - dividend.iloc[1:]) - 1.0
    assert (adj_return - exact).abs().where(ex_dates).max().max() < ADJ_RATIO_TOLERANCE
    # ... which is the total return (close + D)/previous - 1 up to a second-order term.
    gap = (adj_return - total_return).abs().where(ex_dates)
    assert gap.max().max() < 1e-3
    assert float(np.nanmedian(gap.to_numpy())) < 1e-4
    price_return = close.iloc[1:] / previous - 1.0
    assert ((adj_return - price_return).where(ex_dates).stack() > 0).all()


def test_split_halves_raw_close_but_not_adjusted_close(market: SyntheticMarket, wide: dict[str, pd.DataFrame]) -> None:
    close, adj = wide["close"], wide["adj_close"]
    events = split_events(market)
    assert events
    for event in events:
        after = position_of(close, event.date)
        raw_ratio = close[event.ticker].iloc[after] / close[event.ticker].iloc[after - 1]
        adj_ratio = adj[event.ticker].iloc[after] / adj[event.ticker].iloc[after - 1]
        assert raw_ratio < 0.7, "raw close must drop on the split date"
        assert 0.8 < raw_ratio * event.ratio < 1.25, "the drop is the split ratio times an ordinary day"
        assert abs(adj_ratio - 1.0) < 0.2, "adjusted close has no split jump"
        assert adj_ratio == pytest.approx(raw_ratio * event.ratio, abs=ADJ_RATIO_TOLERANCE)


def test_two_to_four_stocks_split_two_or_three_for_one_after_rising_high(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame], stock_tickers: list[str]
) -> None:
    events = split_events(market)
    assert 2 <= len(events) <= 4
    tickers = [event.ticker for event in events]
    assert len(set(tickers)) == len(tickers)
    assert set(tickers) <= set(stock_tickers)
    assert {event.ratio for event in events} <= {2.0, 3.0}
    close = wide["close"]
    for event in events:
        # The close before the split is still in the first session's share terms.
        pre_split_close = close[event.ticker].iloc[position_of(close, event.date) - 1]
        assert pre_split_close > 1.5 * close[event.ticker].iloc[0]
        assert pre_split_close > 50.0


def test_split_multiplies_raw_volume_and_shares_outstanding(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame]
) -> None:
    volume = wide["volume"]
    snapshots = sorted(market.fundamentals)
    for event in split_events(market):
        position = position_of(volume, event.date)
        before = volume[event.ticker].iloc[max(0, position - 60) : position].median()
        after = volume[event.ticker].iloc[position : position + 60].median()
        assert event.ratio / 2 < after / before < event.ratio * 2
        earlier = [d for d in snapshots if d < event.date]
        later = [d for d in snapshots if d >= event.date]
        if earlier and later:
            shares = [
                market.fundamentals[d].set_index("ticker")["shares_outstanding"][event.ticker]
                for d in (earlier[-1], later[0])
            ]
            assert shares[1] == pytest.approx(shares[0] * event.ratio)


# --- regimes -----------------------------------------------------------------------------------


def test_regime_schedule_covers_every_session_with_segments_of_at_least_sixty(
    market: SyntheticMarket,
) -> None:
    regimes = market.regimes
    assert list(regimes.columns) == ["start", "end", "regime"]
    sessions = sorted(market.bars["date"].unique())
    position = {d: i for i, d in enumerate(sessions)}
    starts = [position[d] for d in regimes["start"]]
    ends = [position[d] for d in regimes["end"]]
    assert starts[0] == 0
    assert ends[-1] == len(sessions) - 1
    assert starts[1:] == [end + 1 for end in ends[:-1]]
    assert min(end - start + 1 for start, end in zip(starts, ends, strict=True)) >= 60
    assert set(regimes["regime"]) == {"bull", "bear", "sideways"}


def test_schedule_has_several_bull_bear_and_sideways_stretches(market: SyntheticMarket) -> None:
    counts = market.regimes["regime"].value_counts()
    assert counts["bull"] >= 3
    assert counts["bear"] >= 2
    assert counts["sideways"] >= 2


def test_benchmark_realises_each_scheduled_regime(market: SyntheticMarket, wide: dict[str, pd.DataFrame]) -> None:
    spy = wide["adj_close"][BENCHMARK]
    realised = {
        kind: [segment_return(spy, start, end) for start, end in regime_windows(market, kind)]
        for kind in ("bull", "bear", "sideways")
    }
    assert min(realised["bull"]) > 0.03
    assert max(realised["bear"]) < -0.05
    assert max(abs(r) for r in realised["sideways"]) < 0.06
    # Clearly worse: every bear stretch loses more than any sideways stretch by a wide margin.
    assert max(realised["bear"]) < min(realised["sideways"]) - 0.05


def test_bear_markets_are_more_volatile_and_include_a_sharp_crash(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame]
) -> None:
    spy = wide["adj_close"][BENCHMARK]
    log_return = np.log(spy).diff()
    vol = {
        kind: float(log_return[in_regime(spy.index, market, kind)].std() * np.sqrt(252))
        for kind in ("bull", "bear", "sideways")
    }
    assert 0.08 < vol["bull"] < 0.18
    assert vol["bear"] > 1.8 * vol["bull"]
    assert vol["bear"] > vol["sideways"]
    ten_day = (spy / spy.shift(10) - 1.0).to_numpy()
    crash_end = int(np.nanargmin(ten_day))
    assert ten_day[crash_end] < -0.12
    assert in_regime(spy.index, market, "bear").iloc[crash_end]


# --- stocks: betas, sizes, styles, dividends, volume -------------------------------------------


def test_stock_betas_against_the_benchmark_lie_roughly_between_0_6_and_1_6(
    wide: dict[str, pd.DataFrame], stock_tickers: list[str]
) -> None:
    beta = betas_against_benchmark(wide, stock_tickers)
    assert beta.between(0.45, 1.8).all()
    assert beta.between(0.6, 1.6).mean() >= 0.85
    assert beta.min() < 0.85
    assert beta.max() > 1.3


def test_market_caps_span_large_mid_and_small_at_the_start(
    first_snapshot: pd.DataFrame, size_bucket: pd.Series
) -> None:
    share = size_bucket.value_counts(normalize=True)
    assert share["large"] >= 0.15
    assert share["mid"] >= 0.15
    assert share["small"] >= 0.15
    shares = first_snapshot["shares_outstanding"]
    assert np.log10(shares.max() / shares.min()) > 2.0


def test_small_caps_have_higher_idiosyncratic_volatility_than_large_caps(
    wide: dict[str, pd.DataFrame], stock_tickers: list[str], size_bucket: pd.Series
) -> None:
    returns = total_returns(wide)
    beta = betas_against_benchmark(wide, stock_tickers)
    residual = returns[stock_tickers].to_numpy() - np.outer(returns[BENCHMARK].to_numpy(), beta.to_numpy())
    idio_vol = pd.Series(residual.std(axis=0) * np.sqrt(252), index=stock_tickers)
    by_bucket = idio_vol.groupby(size_bucket).median()
    assert by_bucket["small"] > by_bucket["mid"] > by_bucket["large"]
    assert by_bucket["small"] > 1.5 * by_bucket["large"]


def test_stocks_split_roughly_half_growth_half_value(is_growth: pd.Series, first_snapshot: pd.DataFrame) -> None:
    assert 0.4 <= is_growth.mean() <= 0.6
    # The two styles are separate populations, not a continuum cut at 3.
    pb = first_snapshot["price_to_book"]
    assert pb[is_growth].min() > 3.5
    assert pb[~is_growth].max() < 2.5


@pytest.mark.parametrize(("seed", "n_stocks"), [(7, 80), (8, 60), (11, 100), (23, 71)])
def test_every_sector_holds_growth_and_value_names_and_keeps_its_lean(seed: int, n_stocks: int) -> None:
    synthetic = generate_synthetic_market(seed=seed, years=1, n_stocks=n_stocks)
    first = synthetic.fundamentals[min(synthetic.fundamentals)].set_index("ticker")
    sector = synthetic.securities.set_index("ticker")["sector"]
    growth_share = (first["price_to_book"] > 3.0).groupby(sector[first.index]).mean()
    assert (first["price_to_book"] > 3.0).sum() == n_stocks // 2
    assert growth_share.between(0.2, 0.8).all(), growth_share.to_dict()
    # Leaning, not sorted: technology is the most growth-heavy sector, utilities among the least.
    assert growth_share["Information Technology"] == growth_share.max()
    assert growth_share["Information Technology"] > 0.5 > growth_share["Utilities"]
    assert growth_share["Utilities"] <= growth_share.median()


def test_every_size_and_style_universe_mixes_sectors_like_a_real_index(
    market: SyntheticMarket, stock_tickers: list[str]
) -> None:
    """At every snapshot, no sector crowds a universe: the sector cap (35%) would otherwise clip
    most of each target and send the demo's plans to a person for approval."""
    sector = market.securities.set_index("ticker")["sector"]
    for as_of, snapshot in market.fundamentals.items():
        for name, members in snapshot_universes(snapshot.set_index("ticker").loc[stock_tickers]).items():
            counts = sector[members].value_counts()
            assert len(members) >= 10, (as_of, name)
            assert len(counts) >= 5, (as_of, name, counts.to_dict())
            assert counts.max() / len(members) <= 0.35, (as_of, name, counts.to_dict())


def test_growth_stocks_have_higher_beta_and_return_but_lower_yield_than_value(
    wide: dict[str, pd.DataFrame], stock_tickers: list[str], is_growth: pd.Series, first_snapshot: pd.DataFrame
) -> None:
    beta = betas_against_benchmark(wide, stock_tickers)
    adj = wide["adj_close"][stock_tickers]
    annual_return = pd.Series(np.log(adj.iloc[-1] / adj.iloc[0]) / (len(adj) / 252), index=stock_tickers)
    growth, value = is_growth[stock_tickers], ~is_growth[stock_tickers]
    assert beta[growth].median() > beta[value].median() + 0.2
    assert annual_return[growth].median() > annual_return[value].median()
    yield_pct = first_snapshot["dividend_yield_pct"]
    assert yield_pct[growth].max() < 1.5
    assert yield_pct[value].min() > 1.0
    assert (yield_pct[growth] == 0).mean() > 0.4


def test_growth_trades_at_high_price_to_book_and_pe_and_value_at_low(
    market: SyntheticMarket, is_growth: pd.Series
) -> None:
    for as_of, snapshot in market.fundamentals.items():
        frame = snapshot.set_index("ticker")
        growth = is_growth[frame.index]
        assert frame.loc[growth, "price_to_book"].median() > 2.5 * frame.loc[~growth, "price_to_book"].median(), as_of
        assert frame.loc[growth, "pe_ratio"].median() > 1.8 * frame.loc[~growth, "pe_ratio"].median(), as_of
        assert frame.loc[~growth, "pe_ratio"].median() < 20, as_of


def test_at_least_a_quarter_of_stocks_pay_quarterly_dividends(
    wide: dict[str, pd.DataFrame], stock_tickers: list[str]
) -> None:
    dividend = wide["dividend"][stock_tickers]
    payers = dividend.columns[(dividend > 0).any()]
    assert len(payers) >= 0.25 * len(stock_tickers)
    previous_close = wide["close"][stock_tickers].shift(1)
    for ticker in payers:
        ex_positions = np.flatnonzero(dividend[ticker].to_numpy() > 0)
        assert len(ex_positions) >= 4 * 9
        assert np.all(np.diff(ex_positions) == 63)
        # Each payment is about a quarter of a steady annual yield on the price just before it.
        annual_yield = 4 * dividend[ticker].iloc[ex_positions] / previous_close[ticker].iloc[ex_positions]
        assert 0.002 < annual_yield.median() < 0.065
        assert annual_yield.std() / annual_yield.mean() < 0.05


def test_a_few_stable_high_yield_payers_yield_three_to_six_percent(
    wide: dict[str, pd.DataFrame], stock_tickers: list[str]
) -> None:
    dividend = wide["dividend"][stock_tickers]
    annual_yield = (4 * dividend / wide["close"][stock_tickers].shift(1)).where(dividend > 0).median()
    high_yield = annual_yield[annual_yield.between(0.03, 0.06)].index
    assert len(high_yield) >= 4
    vol = total_returns(wide)[list(high_yield)].std() * np.sqrt(252)
    all_vol = total_returns(wide)[stock_tickers].std() * np.sqrt(252)
    assert vol.median() < all_vol.median()


def test_volume_is_whole_shares_and_large_caps_trade_more(
    wide: dict[str, pd.DataFrame], stock_tickers: list[str], size_bucket: pd.Series
) -> None:
    volume = wide["volume"][stock_tickers]
    assert (volume == np.round(volume)).all().all()
    split_free_volume = volume / wide["split_coef"][stock_tickers].cumprod()
    median_volume = split_free_volume.median().groupby(size_bucket).median()
    assert median_volume["large"] > 3 * median_volume["small"]
    dollar_volume = (
        split_free_volume * wide["close"][stock_tickers] * wide["split_coef"][stock_tickers].cumprod()
    ).median()
    assert (
        dollar_volume.groupby(size_bucket).median()["large"] > 10 * dollar_volume.groupby(size_bucket).median()["small"]
    )


def test_volume_is_higher_on_big_move_days(wide: dict[str, pd.DataFrame], stock_tickers: list[str]) -> None:
    returns = total_returns(wide)[stock_tickers].abs()
    volume = (wide["volume"][stock_tickers] / wide["split_coef"][stock_tickers].cumprod()).iloc[1:]
    big = returns.ge(returns.quantile(0.9))
    calm = returns.le(returns.quantile(0.5))
    ratio = volume.where(big).median() / volume.where(calm).median()
    assert ratio.median() > 1.3
    assert (ratio > 1.0).mean() > 0.9


# --- benchmark, safe haven, volatility index ---------------------------------------------------


def test_benchmark_starts_near_130_and_is_the_cap_weighted_total_return_of_the_stocks(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame], stock_tickers: list[str], first_snapshot: pd.DataFrame
) -> None:
    assert wide["close"][BENCHMARK].iloc[0] == pytest.approx(130.0, abs=1.0)
    split_factor = wide["split_coef"][stock_tickers].cumprod()
    shares = split_factor * first_snapshot["shares_outstanding"][stock_tickers]
    cap = wide["close"][stock_tickers] * shares
    weight = cap.div(cap.sum(axis=1), axis=0).shift(1).iloc[1:]
    returns = total_returns(wide)
    index_return = (weight * returns[stock_tickers]).sum(axis=1)
    gap = (returns[BENCHMARK] - index_return).abs()
    assert gap.max() < 2e-4
    assert returns[BENCHMARK].corr(index_return) > 0.999


def test_benchmark_pays_a_small_quarterly_dividend(wide: dict[str, pd.DataFrame]) -> None:
    dividend = wide["dividend"][BENCHMARK]
    ex_dates = dividend[dividend > 0]
    years = len(dividend) / 252
    assert 3.5 * years <= len(ex_dates) <= 4.5 * years
    annual_yield = 4 * ex_dates / wide["close"][BENCHMARK].shift(1)[ex_dates.index]
    assert annual_yield.between(0.01, 0.03).all()
    assert (wide["split_coef"][BENCHMARK] == 1).all()


def test_safe_haven_is_barely_tied_to_the_market_and_hedges_bear_markets(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame]
) -> None:
    returns = total_returns(wide)
    assert abs(returns[SAFE_HAVEN].corr(returns[BENCHMARK])) < 0.3
    bear = in_regime(returns.index, market, "bear")
    bear_corr = returns.loc[bear, SAFE_HAVEN].corr(returns.loc[bear, BENCHMARK])
    calm_corr = returns.loc[~bear, SAFE_HAVEN].corr(returns.loc[~bear, BENCHMARK])
    assert -0.5 < bear_corr < -0.05
    assert bear_corr < calm_corr


def test_safe_haven_has_moderate_volatility_positive_drift_and_no_dividends(
    wide: dict[str, pd.DataFrame],
) -> None:
    gld = wide["close"][SAFE_HAVEN]
    vol = float(np.log(gld).diff().std() * np.sqrt(252))
    assert 0.11 < vol < 0.19
    assert gld.iloc[-1] > gld.iloc[0]
    assert (wide["dividend"][SAFE_HAVEN] == 0).all()
    np.testing.assert_allclose(wide["adj_close"][SAFE_HAVEN], gld)
    assert (wide["volume"][SAFE_HAVEN] > 0).all()


def test_volatility_index_tracks_realised_benchmark_volatility(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame]
) -> None:
    vix = wide["close"][VOLATILITY_INDEX]
    realised = np.log(wide["adj_close"][BENCHMARK]).diff().rolling(20).std() * np.sqrt(252) * 100
    assert vix.corr(realised) > 0.6
    assert 8.5 <= vix.min() <= 10.0
    assert 10 < vix.median() < 25
    peak = int(np.argmax(vix.to_numpy()))
    assert in_regime(vix.index, market, "bear").iloc[peak]
    assert vix.max() > 40


def test_volatility_index_has_prices_but_no_volume_dividends_or_splits(market: SyntheticMarket) -> None:
    vix = market.bars[market.bars["ticker"] == VOLATILITY_INDEX]
    assert vix[["open", "high", "low", "close"]].notna().all().all()
    assert (vix["adj_close"] == vix["close"]).all()
    assert vix["volume"].isna().all()
    assert (vix["dividend"] == 0).all()
    assert (vix["split_coef"] == 1).all()
    assert (vix["open"] != vix["close"]).mean() > 0.9


# --- fundamentals ------------------------------------------------------------------------------


def test_fundamentals_are_yearly_snapshots_on_each_years_first_session(market: SyntheticMarket) -> None:
    sessions = pd.Series(sorted(market.bars["date"].unique()))
    first_sessions = sessions.groupby(sessions.map(lambda d: d.year)).min().tolist()
    assert sorted(market.fundamentals) == first_sessions
    assert len(first_sessions) == 10


def test_fundamental_snapshots_hold_one_numeric_row_per_stock(
    market: SyntheticMarket, stock_tickers: list[str]
) -> None:
    for snapshot in market.fundamentals.values():
        assert list(snapshot.columns) == FUNDAMENTAL_COLUMNS
        assert sorted(snapshot["ticker"]) == stock_tickers
        numbers = snapshot[FUNDAMENTAL_COLUMNS[1:]]
        assert all(pd.api.types.is_numeric_dtype(dtype) for dtype in numbers.dtypes)
        assert np.isfinite(numbers.to_numpy()).all()
        assert (numbers.drop(columns="dividend_yield_pct") > 0).all().all()
        assert (numbers["dividend_yield_pct"] >= 0).all()


def test_fundamental_market_cap_is_the_point_in_time_close_times_shares(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame]
) -> None:
    for as_of, snapshot in market.fundamentals.items():
        frame = snapshot.set_index("ticker")
        close = wide["close"].loc[as_of][frame.index]
        np.testing.assert_allclose(frame["market_cap"], close * frame["shares_outstanding"], rtol=1e-9, atol=1.0)
        # Shares only change through splits that have already happened by the snapshot date.
        splits_so_far = wide["split_coef"].loc[:as_of, frame.index].prod()
        first_shares = market.fundamentals[min(market.fundamentals)].set_index("ticker")["shares_outstanding"]
        np.testing.assert_allclose(frame["shares_outstanding"], first_shares * splits_so_far)


def test_fundamental_dividend_yield_annualises_the_latest_dividend_at_the_snapshot_close(
    market: SyntheticMarket, wide: dict[str, pd.DataFrame]
) -> None:
    dividend, close, split = wide["dividend"], wide["close"], wide["split_coef"]
    checked = 0
    for as_of, snapshot in list(market.fundamentals.items())[1:]:
        frame = snapshot.set_index("ticker")
        for ticker in frame.index[frame["dividend_yield_pct"] > 0]:
            paid = dividend.loc[:as_of, ticker]
            last_ex_date = paid[paid > 0].index[-1]
            later_splits = split.loc[last_ex_date:as_of, ticker].iloc[1:].prod()
            expected = 400 * paid[last_ex_date] / later_splits / close[ticker][as_of]
            assert frame.loc[ticker, "dividend_yield_pct"] == pytest.approx(expected, abs=2e-3)
            checked += 1
    assert checked > 100


# --- determinism, speed, and any seed ----------------------------------------------------------


def test_same_seed_gives_identical_frames(market: SyntheticMarket) -> None:
    again = generate_synthetic_market(seed=7)
    assert again.seed == market.seed == 7
    pd.testing.assert_frame_equal(again.bars, market.bars)
    pd.testing.assert_frame_equal(again.securities, market.securities)
    pd.testing.assert_frame_equal(again.regimes, market.regimes)
    assert list(again.fundamentals) == list(market.fundamentals)
    for as_of, snapshot in market.fundamentals.items():
        pd.testing.assert_frame_equal(again.fundamentals[as_of], snapshot)


def test_different_seed_gives_different_prices(market: SyntheticMarket) -> None:
    other = generate_synthetic_market(seed=8)
    assert other.bars[["date", "ticker"]].equals(market.bars[["date", "ticker"]])
    differs = ~np.isclose(other.bars["close"], market.bars["close"])
    assert differs.mean() > 0.9


def test_default_generation_takes_under_three_seconds() -> None:
    generate_synthetic_market(seed=11)  # warm the calendar and imports
    started = time.perf_counter()
    generate_synthetic_market()
    assert time.perf_counter() - started < 3.0


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 40), n_stocks=st.integers(60, 100), years=st.integers(1, 10))
def test_bar_invariants_hold_for_any_seed_size_and_length(seed: int, n_stocks: int, years: int) -> None:
    synthetic = generate_synthetic_market(seed=seed, years=years, n_stocks=n_stocks)
    assert_bar_invariants(synthetic, n_stocks)
    assert (synthetic.securities["asset_type"] == "stock").sum() == n_stocks
    assert all(len(snapshot) == n_stocks for snapshot in synthetic.fundamentals.values())
    assert (synthetic.bars["split_coef"] != 1).sum() >= 1
