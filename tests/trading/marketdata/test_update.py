"""`fund data update`'s use case: the real Alpaca provider against the fake server, into both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, insert, select

from tests.factories import sessions
from tests.fakes.alpaca_server import FakeAlpaca
from trading.brokers.base import RetryPolicy
from trading.db.schema import DataImport, PriceBar, Security
from trading.errors import DataError
from trading.marketdata.calendar import session_close_utc
from trading.marketdata.providers.alpaca import AlpacaBarProvider
from trading.marketdata.quality import check_data_gate
from trading.marketdata.update import (
    ProviderFailed,
    UpdateReport,
    chain_adjusted_closes,
    last_completed_session,
    update_bars,
)
from trading.settings import BrokerCredentials, DataSettings

DAYS = sessions(date(2024, 4, 1), 30)
STOCKS = ("AAA", "BBB")
SETTINGS = DataSettings()


def after_close(day: date) -> datetime:
    return session_close_utc(day) + timedelta(minutes=30)


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as server:
        yield server


@pytest.fixture
def provider(fake: FakeAlpaca) -> AlpacaBarProvider:
    credentials = BrokerCredentials(
        alpaca_api_key=SecretStr("test-key"), alpaca_secret_key=SecretStr("test-secret"), alpaca_data_url=fake.url
    )
    return AlpacaBarProvider.from_settings(credentials, policy=RetryPolicy(max_attempts=2), sleep=lambda _: None)


def rows(days: list[date], base: float) -> list[dict[str, Any]]:
    return [
        {"date": day, "open": base + n, "high": base + n + 1, "low": base + n - 1, "close": base + n, "volume": 1000}
        for n, day in enumerate(days)
    ]


def serve_market(fake: FakeAlpaca, days: list[date]) -> None:
    for number, ticker in enumerate(("SPY", "GLD", *STOCKS)):
        fake.add_bars(ticker, rows(days, 100.0 + 10 * number))


def add_securities(engine: Engine, *tickers: str) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Security), [{"ticker": t, "asset_type": "stock"} for t in tickers])


def update(engine: Engine, provider: AlpacaBarProvider, now: datetime, **options: Any) -> UpdateReport:
    return update_bars(engine, provider, SETTINGS, now=now, **options)


def stored(engine: Engine, ticker: str) -> pd.DataFrame:
    with engine.connect() as connection:
        found = connection.execute(
            select(PriceBar.date, PriceBar.close, PriceBar.adj_close, PriceBar.dividend, PriceBar.split_coef)
            .where(PriceBar.ticker == ticker)
            .order_by(PriceBar.date)
        ).all()
    return pd.DataFrame([tuple(r) for r in found], columns=["date", "close", "adj_close", "dividend", "split_coef"])


def count(engine: Engine, table: type[PriceBar] | type[DataImport]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


# ---------------------------------------------------------------- the pure parts


def test_the_adjusted_close_chains_from_the_stored_bar_through_a_dividend_and_a_two_for_one_split() -> None:
    bars = pd.DataFrame(
        {
            "ticker": ["AAA"] * 4 + ["NEW"] * 2,
            "close": [102.0, 101.0, 51.0, 52.0, 20.0, 21.0],
            "dividend": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            "split_coef": [1.0, 1.0, 2.0, 1.0, 1.0, 1.0],
        }
    )
    anchors = pd.DataFrame({"close": [100.0], "adj_close": [50.0]}, index=pd.Index(["AAA"], name="ticker"))

    adjusted = chain_adjusted_closes(bars, anchors).tolist()

    day1 = 50 * 102 / 100  # 51
    day2 = day1 * (101 + 1) / 102  # the dividend: 51 again
    day3 = day2 * 51 * 2 / 101  # the split: half the price, twice the shares
    day4 = day3 * 52 / 51
    assert adjusted[:4] == pytest.approx([day1, day2, day3, day4], rel=1e-9)
    assert adjusted[4:] == [20.0, 21.0]  # no stored bar: starts at its close


def test_an_adjusted_only_stored_bar_serves_as_both_close_and_adjusted_close() -> None:
    bars = pd.DataFrame({"ticker": ["AAA"], "close": [41.0], "dividend": [0.0], "split_coef": [1.0]})
    anchors = pd.DataFrame({"close": [np.nan], "adj_close": [40.0]}, index=pd.Index(["AAA"], name="ticker"))

    assert chain_adjusted_closes(bars, anchors).tolist() == [41.0]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 7, 3, 19, 59, tzinfo=UTC), date(2024, 7, 2)),  # 15:59 in New York: still open
        (datetime(2024, 7, 3, 20, 0, tzinfo=UTC), date(2024, 7, 3)),  # 16:00: closed
        (datetime(2024, 7, 4, 22, 0, tzinfo=UTC), date(2024, 7, 3)),  # Independence Day
        (datetime(2024, 7, 8, 3, 0, tzinfo=UTC), date(2024, 7, 5)),  # Sunday night in New York
    ],
    ids=["before-the-close", "at-the-close", "holiday", "weekend"],
)
def test_the_last_completed_session_is_the_last_whose_new_york_close_has_passed(now: datetime, expected: date) -> None:
    assert last_completed_session(now) == expected


# ---------------------------------------------------------------- against the fake and both databases


def test_a_fresh_database_is_filled_and_passes_the_data_gate_while_the_volatility_index_is_unavailable(
    engine: Engine, fake: FakeAlpaca, provider: AlpacaBarProvider
) -> None:
    add_securities(engine, *STOCKS)
    serve_market(fake, DAYS)

    report = update(engine, provider, after_close(DAYS[-1]))

    assert report.imported is not None
    assert (report.imported.rows_inserted, report.imported.rows_rejected) == (4 * len(DAYS), 0)
    assert report.bars_per_ticker == dict.fromkeys(["AAA", "BBB", "GLD", "SPY"], len(DAYS))
    assert report.notes() == ["^VIX: not available from alpaca (not a stock symbol)"]
    assert (report.first_day, report.last_day) == (DAYS[0], DAYS[-1])
    assert "4 ticker(s) updated" in report.summary()
    spy = stored(engine, "SPY")
    assert spy["close"].astype(float).tolist() == [100.0 + n for n in range(len(DAYS))]
    assert spy["adj_close"].astype(float).tolist() == spy["close"].astype(float).tolist()
    assert check_data_gate(engine, DAYS[-1], SETTINGS).passed


def test_running_it_twice_changes_nothing_and_a_refetch_from_any_day_updates_nothing(
    engine: Engine, fake: FakeAlpaca, provider: AlpacaBarProvider
) -> None:
    add_securities(engine, *STOCKS)
    serve_market(fake, DAYS)
    fake.add_dividend("AAA", DAYS[10], "0.37")
    fake.add_split("AAA", DAYS[20], 3, 1)
    now = after_close(DAYS[-1])
    update(engine, provider, now)
    before = stored(engine, "AAA")
    imports = count(engine, DataImport)

    again = update(engine, provider, now)
    refetch = update(engine, provider, now, since=DAYS[15])

    assert again.requested == 0
    assert (
        again.summary()
        == f"alpaca: nothing to fetch: 4 ticker(s) up to date through {DAYS[-1]}, the last completed session"
    )
    assert again.notes() == ["^VIX: not available from alpaca (not a stock symbol)"]
    assert count(engine, DataImport) == imports + 1  # only the re-fetch imported
    assert refetch.imported is not None
    assert (refetch.imported.rows_inserted, refetch.imported.rows_updated) == (0, 0)
    assert refetch.imported.rows_unchanged == 4 * (len(DAYS) - 15)
    pd.testing.assert_frame_equal(stored(engine, "AAA"), before)


def test_an_update_after_new_bars_appear_fetches_only_the_new_days_and_applies_their_dividend_and_split(
    engine: Engine, fake: FakeAlpaca, provider: AlpacaBarProvider
) -> None:
    add_securities(engine, *STOCKS)
    serve_market(fake, DAYS[:-3])
    update(engine, provider, after_close(DAYS[-4]))
    anchor = stored(engine, "AAA").iloc[-1]
    new_days = DAYS[-3:]
    fake.add_bars(
        "AAA",
        [
            {"date": new_days[0], "open": 60, "high": 61, "low": 59, "close": 60.0, "volume": 10},
            {"date": new_days[1], "open": 30, "high": 31, "low": 29, "close": 30.5, "volume": 20},
            {"date": new_days[2], "open": 31, "high": 32, "low": 30, "close": 31.0, "volume": 30},
        ],
    )
    fake.add_dividend("AAA", new_days[0], "0.5")
    fake.add_split("AAA", new_days[1], 2, 1)
    for ticker, base in (("SPY", 100.0), ("GLD", 110.0), ("BBB", 130.0)):
        fake.add_bars(ticker, rows(DAYS, base)[-3:])
    fake.request_log.clear()

    report = update(engine, provider, after_close(DAYS[-1]))

    assert report.imported is not None
    assert (report.imported.rows_inserted, report.imported.rows_updated) == (4 * 3, 0)
    starts = {datetime.fromisoformat(r.query["start"]) for r in fake.request_log if r.path == "/v2/stocks/bars"}
    assert starts == {datetime.combine(new_days[0], datetime.min.time(), UTC) + timedelta(hours=4)}
    aaa = stored(engine, "AAA").iloc[-3:]
    assert aaa["dividend"].astype(float).tolist() == [0.5, 0.0, 0.0]
    assert aaa["split_coef"].astype(float).tolist() == [1.0, 2.0, 1.0]
    close, adj = float(anchor["close"]), float(anchor["adj_close"])
    day1 = adj * (60.0 + 0.5) / close
    day2 = day1 * 30.5 * 2 / 60.0
    day3 = day2 * 31.0 / 30.5
    assert aaa["adj_close"].astype(float).tolist() == pytest.approx([day1, day2, day3], rel=1e-9)


def test_a_provider_failure_writes_nothing_and_names_the_failing_call(
    engine: Engine, fake: FakeAlpaca, provider: AlpacaBarProvider
) -> None:
    add_securities(engine, *STOCKS)
    serve_market(fake, DAYS)
    fake.fail_next("GET", "/v1/corporate-actions", 500, count=2)  # the first batch's bars arrive, its actions fail

    with pytest.raises(ProviderFailed) as failure:
        update(engine, provider, after_close(DAYS[-1]))

    assert "Alpaca corporate actions for 4 symbol(s) (AAA ... SPY)" in str(failure.value)
    assert str(failure.value).endswith("nothing was written")
    assert count(engine, PriceBar) == 0
    assert count(engine, DataImport) == 0


def test_a_bad_bar_is_reported_with_its_ticker_and_skipped(
    engine: Engine, fake: FakeAlpaca, provider: AlpacaBarProvider
) -> None:
    serve_market(fake, DAYS)
    fake.add_bars("SPY", [{"date": DAYS[5], "open": 105, "high": 100, "low": 110, "close": 105, "volume": 1}])

    report = update(engine, provider, after_close(DAYS[-1]), tickers=["SPY", "GLD"])

    assert report.rows_rejected == 1
    assert report.problems == [f"SPY {DAYS[5]}: high < low (high=100, low=110)"]
    assert count(engine, PriceBar) == 2 * len(DAYS) - 1


def test_a_ticker_the_provider_has_no_bars_for_is_reported_and_the_rest_imported(
    engine: Engine, fake: FakeAlpaca, provider: AlpacaBarProvider
) -> None:
    serve_market(fake, DAYS)

    report = update(engine, provider, after_close(DAYS[-1]), tickers=["SPY", "GONE"])

    assert report.notes() == [f"no bars from alpaca for 2016-01-01 to {DAYS[-1]}: GONE"]
    assert report.bars_per_ticker == {"SPY": len(DAYS)}


def test_a_database_holding_the_synthetic_demo_market_is_never_updated(
    engine: Engine, provider: AlpacaBarProvider
) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Security).values(ticker="SPY", is_synthetic=True, source="synthetic-demo seed=7"))

    with pytest.raises(DataError, match="SYNTHETIC demo market"):
        update(engine, provider, after_close(DAYS[-1]))
