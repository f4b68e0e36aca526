"""Daily bars from Alpaca's market-data API (alpaca-py) for `fund data update`: raw OHLCV from
`GET /v2/stocks/bars` and cash dividends and splits from `GET /v1/corporate-actions`.

- Bars are asked for with `adjustment=raw`, so open/high/low/close are the prices as traded; the
  update chains its own adjusted close from the events (trading/marketdata/update.py).
- Alpaca stamps a daily bar at midnight New York time (05:00Z or 04:00Z). A span of days is asked for
  from 00:00 New York on its first day to 23:59:59 New York on its last (a naive or UTC-midnight end
  would leave out the last day's bar), and each bar's timestamp becomes its New York date.
- Requests whose first days lie within `max_start_spread` of each other share one call of up to
  `symbols_per_call` symbols, from the earliest first day; bars before a ticker's own first day are
  dropped. A ticker that is not a stock symbol (an index such as ^VIX, a future, a currency pair) is
  never sent: one bad symbol would fail the whole call. It is reported as unavailable instead.
- Alpaca filters corporate actions by their process date, which for a cash dividend may come after
  the ex-date. The query reaches `ACTION_LOOKBACK` before and `ACTION_LOOKAHEAD` after the span, and
  keeps the actions whose ex-date lies in it. Alpaca gives no guarantee when an action appears: one
  that arrives later than that is picked up by `fund data update --since` its ex-date.
- Stock dividends, spin-offs and mergers are not applied (they need more than a price series).

Every call goes through `call_alpaca` (alpaca-py's errors into trading.errors) and `call_with_retry`
(reads are idempotent); the clients get the fund's timeout and lose their own retry loop.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypeVar

import pandas as pd
from alpaca.data.enums import Adjustment, CorporateActionsType, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.models.bars import BarSet
from alpaca.data.models.corporate_actions import CashDividend, CorporateActionsSet, ForwardSplit, ReverseSplit
from alpaca.data.requests import CorporateActionsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from trading.brokers.alpaca.client import call_alpaca, disable_library_retries
from trading.brokers.base import DEFAULT_RETRY_POLICY, RetryPolicy, call_with_retry
from trading.errors import BrokerError, ConfigurationError
from trading.marketdata.calendar import EXCHANGE_TIME_ZONE
from trading.marketdata.providers.base import (
    BAR_COLUMNS,
    EVENT_COLUMNS,
    BarRequest,
    FetchedBars,
    empty_bars,
    empty_events,
)
from trading.settings import BrokerCredentials

logger = logging.getLogger(__name__)

T = TypeVar("T")

PROVIDER_NAME = "alpaca"
# Alpaca's stock symbols: capitals and digits, a class after a dot (BRK.B).
ALPACA_SYMBOL = re.compile(r"^[A-Z][A-Z0-9]*(\.[A-Z0-9]+)?$")
SYMBOLS_PER_CALL = 100
MAX_START_SPREAD = timedelta(days=31)
ACTION_LOOKBACK = timedelta(days=7)
ACTION_LOOKAHEAD = timedelta(days=45)
ACTION_TYPES = [
    CorporateActionsType.CASH_DIVIDEND,
    CorporateActionsType.FORWARD_SPLIT,
    CorporateActionsType.REVERSE_SPLIT,
]
_END_OF_DAY = clock_time(23, 59, 59)


@dataclass(frozen=True)
class _Batch:
    """One call's worth of requests: its symbols share the span start..end."""

    requests: tuple[BarRequest, ...]

    @property
    def symbols(self) -> list[str]:
        return [r.ticker for r in self.requests]

    @property
    def start(self) -> date:
        return min(r.start for r in self.requests)

    @property
    def end(self) -> date:
        return max(r.end for r in self.requests)

    def describe(self) -> str:
        symbols = self.symbols
        named = ", ".join(symbols) if len(symbols) <= 3 else f"{symbols[0]} ... {symbols[-1]}"
        return f"{len(symbols)} symbol(s) ({named}), {self.start} to {self.end}"


class AlpacaBarProvider:
    """The BarProvider over alpaca-py's StockHistoricalDataClient and CorporateActionsClient."""

    def __init__(
        self,
        bars_client: StockHistoricalDataClient,
        actions_client: CorporateActionsClient,
        *,
        feed: DataFeed = DataFeed.IEX,
        symbols_per_call: int = SYMBOLS_PER_CALL,
        max_start_spread: timedelta = MAX_START_SPREAD,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if symbols_per_call < 1:
            raise ValueError(f"symbols_per_call must be at least 1, not {symbols_per_call}")
        self._bars_client = bars_client
        self._actions_client = actions_client
        self._feed = feed
        self._symbols_per_call = symbols_per_call
        self._max_start_spread = max_start_spread
        self._policy = policy
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls, credentials: BrokerCredentials, *, policy: RetryPolicy = DEFAULT_RETRY_POLICY, **options: Any
    ) -> AlpacaBarProvider:
        """Clients for Alpaca's data host (or `alpaca_data_url`), with the fund's timeout and no library retries."""
        key, secret = credentials.alpaca_api_key, credentials.alpaca_secret_key
        if key is None or secret is None or not key.get_secret_value() or not secret.get_secret_value():
            raise ConfigurationError(
                "Alpaca's keys are not set: set FUND_BROKERS__ALPACA_API_KEY and FUND_BROKERS__ALPACA_SECRET_KEY "
                "(or alpaca_api_key and alpaca_secret_key under [brokers] in the settings file)"
            )
        url = credentials.alpaca_data_url or None
        bars_client = StockHistoricalDataClient(key.get_secret_value(), secret.get_secret_value(), url_override=url)
        actions_client = CorporateActionsClient(key.get_secret_value(), secret.get_secret_value(), url_override=url)
        for client in (bars_client, actions_client):
            disable_library_retries(client, credentials.timeout_seconds)
        return cls(bars_client, actions_client, feed=DataFeed(credentials.alpaca_data_feed), policy=policy, **options)

    @property
    def name(self) -> str:
        return PROVIDER_NAME

    def unsupported(self, ticker: str) -> str | None:
        return None if ALPACA_SYMBOL.match(ticker) else f"not available from {PROVIDER_NAME} (not a stock symbol)"

    def fetch(self, requests: Sequence[BarRequest]) -> FetchedBars:
        unavailable = {r.ticker: reason for r in requests if (reason := self.unsupported(r.ticker)) is not None}
        servable = [r for r in requests if r.ticker not in unavailable and r.start <= r.end]
        bars, events = [empty_bars()], [empty_events()]
        for batch in self._batches(servable):
            bars.append(self._bars(batch))
            events.append(self._events(batch))
        wanted = pd.DataFrame(
            {
                "ticker": [r.ticker for r in servable],
                "first": [r.start for r in servable],
                "last": [r.end for r in servable],
            }
        )
        return FetchedBars(
            bars=_within(pd.concat(bars, ignore_index=True), wanted, list(BAR_COLUMNS)),
            events=_combined(_within(pd.concat(events, ignore_index=True), wanted, list(EVENT_COLUMNS))),
            unavailable=unavailable,
        )

    def _batches(self, requests: Sequence[BarRequest]) -> Iterator[_Batch]:
        """Requests in order of their first day, cut when a call is full or the first days spread too far."""
        chosen: list[BarRequest] = []
        for request in sorted(requests, key=lambda r: (r.start, r.ticker)):
            if chosen and (
                len(chosen) >= self._symbols_per_call or request.start - chosen[0].start > self._max_start_spread
            ):
                yield _Batch(tuple(chosen))
                chosen = []
            chosen.append(request)
        if chosen:
            yield _Batch(tuple(chosen))

    def _call(self, call: Callable[[], T], what: str, kind: str) -> T:
        """One read, its errors translated (naming `what`) and retried; a retry's log line names `kind`."""
        return call_with_retry(
            lambda: call_alpaca(call, what),
            idempotent=True,
            what=f"Alpaca {kind}",
            policy=self._policy,
            sleep=self._sleep or time.sleep,  # looked up when needed, so a test can replace the module's clock
        )

    def _bars(self, batch: _Batch) -> pd.DataFrame:
        request = StockBarsRequest(
            symbol_or_symbols=batch.symbols,
            timeframe=TimeFrame.Day,
            start=datetime.combine(batch.start, clock_time(0), EXCHANGE_TIME_ZONE).astimezone(UTC),
            end=datetime.combine(batch.end, _END_OF_DAY, EXCHANGE_TIME_ZONE).astimezone(UTC),
            adjustment=Adjustment.RAW,
            feed=self._feed,
        )
        what = f"daily bars for {batch.describe()}"
        answer = self._call(lambda: self._bars_client.get_stock_bars(request), what, "daily bars")
        if not isinstance(answer, BarSet):
            raise BrokerError(f"Alpaca {what}: expected a BarSet, got {type(answer).__name__}")
        rows = [
            (symbol, bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume)
            for symbol, series in answer.data.items()
            for bar in series
        ]
        logger.info("alpaca: %d daily bars for %s", len(rows), batch.describe())
        if not rows:
            return empty_bars()
        frame = pd.DataFrame(rows, columns=["ticker", "timestamp", "open", "high", "low", "close", "volume"])
        stamps = pd.to_datetime(frame.pop("timestamp"), utc=True).dt.tz_convert(EXCHANGE_TIME_ZONE)
        frame.insert(1, "date", stamps.dt.date)
        return frame

    def _events(self, batch: _Batch) -> pd.DataFrame:
        # limit=None: alpaca-py's default (1000) caps the total across pages, not one page.
        request = CorporateActionsRequest(
            symbols=batch.symbols,
            types=ACTION_TYPES,
            start=batch.start - ACTION_LOOKBACK,
            end=batch.end + ACTION_LOOKAHEAD,
            limit=None,
        )
        what = f"corporate actions for {batch.describe()}"
        answer = self._call(lambda: self._actions_client.get_corporate_actions(request), what, "corporate actions")
        if not isinstance(answer, CorporateActionsSet):
            raise BrokerError(f"Alpaca {what}: expected a CorporateActionsSet, got {type(answer).__name__}")
        rows: list[tuple[str, date, float, float]] = []
        for actions in answer.data.values():
            for action in actions:
                if isinstance(action, CashDividend):
                    rows.append((action.symbol, action.ex_date, action.rate, 1.0))
                elif isinstance(action, ForwardSplit | ReverseSplit):
                    rows.append((action.symbol, action.ex_date, 0.0, action.new_rate / action.old_rate))
        logger.info("alpaca: %d dividends and splits for %s", len(rows), batch.describe())
        return pd.DataFrame(rows, columns=list(EVENT_COLUMNS)) if rows else empty_events()


def _within(frame: pd.DataFrame, wanted: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The rows dated inside their own ticker's requested span (a shared call may reach wider)."""
    if frame.empty:
        return frame.loc[:, columns].reset_index(drop=True)
    merged = frame.merge(wanted, on="ticker", how="inner")
    inside = (merged["date"] >= merged["first"]) & (merged["date"] <= merged["last"])
    return merged.loc[inside, columns].sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


def _combined(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (ticker, ex-date): dividends add up, split coefficients multiply."""
    if events.empty:
        return events
    grouped = events.groupby(["ticker", "date"], sort=True)
    return pd.DataFrame(
        {"dividend": grouped["dividend"].sum(), "split_coef": grouped["split_coef"].prod()}
    ).reset_index()
