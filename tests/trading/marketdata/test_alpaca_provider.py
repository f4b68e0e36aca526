"""The Alpaca bar provider, through the real alpaca-py clients against the fake Alpaca server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from tests.fakes.alpaca_server import FakeAlpaca
from trading.brokers.alpaca.client import AuthenticationFailed
from trading.brokers.base import RetryPolicy
from trading.errors import ConfigurationError, RetryableBrokerError
from trading.marketdata.providers import make_provider
from trading.marketdata.providers.alpaca import AlpacaBarProvider
from trading.marketdata.providers.base import BarRequest
from trading.settings import BrokerCredentials


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


def credentials(fake: FakeAlpaca, **changes: Any) -> BrokerCredentials:
    fields: dict[str, Any] = {
        "alpaca_api_key": SecretStr("test-key"),
        "alpaca_secret_key": SecretStr("test-secret"),
        "alpaca_data_url": fake.url,
        "timeout_seconds": 5,
    }
    return BrokerCredentials(**(fields | changes))


def provider(fake: FakeAlpaca, waits: list[float], **options: Any) -> AlpacaBarProvider:
    return AlpacaBarProvider.from_settings(
        credentials(fake), policy=RetryPolicy(max_attempts=3), sleep=waits.append, **options
    )


def bar(day: date, close: float, **fields: Any) -> dict[str, Any]:
    return {"date": day, "open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1000} | fields


def bar_requests(fake: FakeAlpaca) -> list[dict[str, str]]:
    return [r.query for r in fake.request_log if r.path == "/v2/stocks/bars"]


def test_a_span_covers_its_last_days_bar_stamped_at_new_york_midnight_and_each_bar_gets_its_new_york_date(
    fake: FakeAlpaca, waits: list[float]
) -> None:
    days = [date(2024, 6, 28), date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3), date(2024, 7, 5)]
    fake.add_bars("AAPL", [bar(day, 100 + n) for n, day in enumerate(days)])

    fetched = provider(fake, waits).fetch([BarRequest("AAPL", date(2024, 7, 1), date(2024, 7, 3))])

    assert fetched.bars["date"].tolist() == [date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)]
    assert fetched.bars["close"].tolist() == [101, 102, 103]
    (query,) = bar_requests(fake)
    # Summer time: New York midnight is 04:00Z, and the span ends just before the next one.
    assert datetime.fromisoformat(query["start"]) == datetime(2024, 7, 1, 4, tzinfo=UTC)
    assert datetime.fromisoformat(query["end"]) == datetime(2024, 7, 4, 3, 59, 59, tzinfo=UTC)
    assert (query["timeframe"], query["adjustment"], query["feed"]) == ("1Day", "raw", "iex")


def test_an_index_symbol_is_never_sent_and_is_reported_unavailable(fake: FakeAlpaca, waits: list[float]) -> None:
    fake.add_bars("SPY", [bar(date(2024, 7, 1), 500)])
    span = (date(2024, 7, 1), date(2024, 7, 1))

    fetched = provider(fake, waits).fetch([BarRequest("^VIX", *span), BarRequest("SPY", *span)])

    assert fetched.unavailable == {"^VIX": "not available from alpaca (not a stock symbol)"}
    assert fetched.bars["ticker"].tolist() == ["SPY"]
    assert [q["symbols"] for q in bar_requests(fake)] == ["SPY"]


def test_symbols_share_calls_of_the_configured_size_and_far_apart_starts_get_their_own(
    fake: FakeAlpaca, waits: list[float]
) -> None:
    for ticker in ("AAA", "BBB", "CCC", "NEW"):
        fake.add_bars(ticker, [bar(date(2024, 1, 2), 10), bar(date(2024, 7, 1), 11)])
    requests = [BarRequest(t, date(2024, 7, 1), date(2024, 7, 1)) for t in ("AAA", "BBB", "CCC")]
    requests.append(BarRequest("NEW", date(2024, 1, 2), date(2024, 7, 1)))

    fetched = provider(fake, waits, symbols_per_call=2).fetch(requests)

    assert sorted(q["symbols"] for q in bar_requests(fake)) == ["AAA,BBB", "CCC", "NEW"]
    assert fetched.bars.groupby("ticker").size().to_dict() == {"AAA": 1, "BBB": 1, "CCC": 1, "NEW": 2}


def test_bars_before_a_tickers_own_start_are_dropped_when_it_shares_a_call(
    fake: FakeAlpaca, waits: list[float]
) -> None:
    days = [date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)]
    fake.add_bars("AAA", [bar(day, 10) for day in days])
    fake.add_bars("BBB", [bar(day, 20) for day in days])

    fetched = provider(fake, waits).fetch(
        [BarRequest("AAA", date(2024, 7, 1), date(2024, 7, 3)), BarRequest("BBB", date(2024, 7, 3), date(2024, 7, 3))]
    )

    assert len(bar_requests(fake)) == 1
    assert fetched.bars.groupby("ticker").size().to_dict() == {"AAA": 3, "BBB": 1}


def test_dividends_and_splits_become_ex_date_events_and_a_days_events_combine(
    fake: FakeAlpaca, waits: list[float]
) -> None:
    fake.add_bars("AAA", [bar(date(2024, 7, d), 10) for d in (1, 2, 3)])
    fake.add_dividend("AAA", date(2024, 7, 1), "0.25")
    fake.add_dividend("AAA", date(2024, 7, 1), "0.10", special=True)
    fake.add_split("AAA", date(2024, 7, 2), 2, 1)
    fake.add_split("AAA", date(2024, 7, 3), 1, 4)
    # Processed (paid) weeks after its ex-date: still found.
    fake.add_dividend("AAA", date(2024, 7, 3), "0.05", process_date=date(2024, 8, 1))
    fake.add_dividend("AAA", date(2024, 6, 28), "9.99")  # before the span

    fetched = provider(fake, waits).fetch([BarRequest("AAA", date(2024, 7, 1), date(2024, 7, 3))])

    events = fetched.events.set_index("date")[["dividend", "split_coef"]]
    assert events.loc[date(2024, 7, 1)].tolist() == pytest.approx([0.35, 1.0])
    assert events.loc[date(2024, 7, 2)].tolist() == [0.0, 2.0]
    assert events.loc[date(2024, 7, 3)].tolist() == [0.05, 0.25]
    assert len(events) == 3


def test_a_server_error_on_every_try_fails_the_fetch_naming_the_call(fake: FakeAlpaca, waits: list[float]) -> None:
    fake.add_bars("AAA", [bar(date(2024, 7, 1), 10)])
    fake.fail_next("GET", "/v2/stocks/bars", 500, count=3)

    with pytest.raises(RetryableBrokerError) as failure:
        provider(fake, waits).fetch([BarRequest("AAA", date(2024, 7, 1), date(2024, 7, 1))])

    assert "Alpaca daily bars for 1 symbol(s) (AAA), 2024-07-01 to 2024-07-01: HTTP 500" in str(failure.value)
    assert len(waits) == 2  # three tries


def test_a_transient_error_is_retried_and_the_fetch_goes_through(fake: FakeAlpaca, waits: list[float]) -> None:
    fake.add_bars("AAA", [bar(date(2024, 7, 1), 10)])
    fake.fail_next("GET", "/v1/corporate-actions", 503)

    fetched = provider(fake, waits).fetch([BarRequest("AAA", date(2024, 7, 1), date(2024, 7, 1))])

    assert len(fetched.bars) == 1
    assert len(waits) == 1


def test_keys_alpaca_refuses_fail_at_once(fake: FakeAlpaca, waits: list[float]) -> None:
    source = AlpacaBarProvider.from_settings(
        credentials(fake, alpaca_secret_key=SecretStr("wrong")), sleep=waits.append
    )
    with pytest.raises(AuthenticationFailed):
        source.fetch([BarRequest("AAA", date(2024, 7, 1), date(2024, 7, 1))])
    assert waits == []


def test_missing_keys_name_the_settings_and_no_call_is_made(fake: FakeAlpaca) -> None:
    with pytest.raises(ConfigurationError) as missing:
        make_provider("alpaca", BrokerCredentials(alpaca_data_url=fake.url))
    assert "FUND_BROKERS__ALPACA_API_KEY" in str(missing.value)
    assert "FUND_BROKERS__ALPACA_SECRET_KEY" in str(missing.value)
    assert fake.request_log == []
