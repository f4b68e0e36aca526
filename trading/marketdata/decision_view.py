"""What a decision at a date reads from the database, in one call: the point-in-time panel of every
ticker, which of them are stocks, their sectors, the benchmark and the volatility index."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from trading.db.schema import Security
from trading.errors import DataError
from trading.marketdata.view import LongHistory, MarketPanel, load_panel
from trading.settings import DataSettings

logger = logging.getLogger(__name__)

# What the decision reads (no open: the venue reads its own bars). Splits too: trailing dividends are
# restated in today's shares.
DECISION_FIELDS = ("adj_close", "close", "volume", "dividend", "split_coef")
# The regime detector reads adjusted closes, and the volatility index's close: loading only these
# for its long (five-year) window keeps a daily run's reads small.
REGIME_FIELDS = ("adj_close", "close")

# Calendar days per session, with room for holidays: 252 sessions take about 365 days.
CALENDAR_DAYS_PER_SESSION = 1.5
# The key, in the attrs of the prices `close_on` returns, of the tickers priced at their adjusted close:
# the prices travel through the decision steps as a plain Series, and this keeps what they are with them.
ADJUSTED_CLOSE_ATTR = "priced_at_adjusted_close"


@dataclass(frozen=True)
class DecisionMarket:
    as_of: date
    panel: MarketPanel
    stocks: list[str]
    sectors: dict[str, str]
    benchmark: pd.Series
    volatility_index: pd.Series | None
    safe_haven: str

    @property
    def stock_prices(self) -> pd.DataFrame:
        return self.panel.adj_close[self.stocks]

    def frame(self, field: str, tickers: list[str]) -> pd.DataFrame:
        return self.panel[field][tickers]

    def since(self, start: date) -> DecisionMarket:
        """The same market without the rows before `start` (the features' window of a longer load)."""
        stamp = pd.Timestamp(start)
        frames = {name: frame.loc[stamp:] for name, frame in self.panel.frames.items()}
        vix = None if self.volatility_index is None else self.volatility_index.loc[stamp:]
        return replace(
            self,
            panel=MarketPanel(as_of=self.as_of, frames=frames),
            benchmark=self.benchmark.loc[stamp:],
            volatility_index=vix,
        )

    def through(self, day: date) -> DecisionMarket:
        """The same market cut at `day`'s close: what a decision at `day` may see."""
        stamp = pd.Timestamp(day)
        vix = None if self.volatility_index is None else self.volatility_index.loc[:stamp]
        return replace(
            self, as_of=day, panel=self.panel.through(day), benchmark=self.benchmark.loc[:stamp], volatility_index=vix
        )

    def close_on(self, day: date) -> pd.Series:
        """Closes of the day by ticker (NaN where a ticker has no bar that day): the raw close, or the
        adjusted close where the bar has none (a vendor that ships adjusted closes only, like GLD in the
        shared data). `priced_at_adjusted_close` names the latter."""
        stamp = pd.Timestamp(day)
        closes, adjusted_closes = self.panel["close"], self.panel.adj_close
        row = int(closes.index.searchsorted(stamp))
        if row == len(closes.index) or closes.index[row] != stamp:
            raise DataError(f"no bars on {day}: it is not a session of the loaded data")
        # Rows of arrays, not frame look-ups: a backtest asks this of every session.
        raw = closes.to_numpy(np.float64)[row]
        if adjusted_closes.columns.equals(closes.columns) and adjusted_closes.index.equals(closes.index):
            adjusted = adjusted_closes.to_numpy(np.float64)[row]
        else:
            adjusted = adjusted_closes.loc[stamp].reindex(closes.columns).to_numpy(np.float64)
        fallback = np.isnan(raw) & ~np.isnan(adjusted)
        close = pd.Series(np.where(fallback, adjusted, raw), index=closes.columns, name=stamp)
        tickers = tuple(sorted(str(t) for t in closes.columns[fallback]))
        close.attrs[ADJUSTED_CLOSE_ATTR] = tickers
        if tickers:
            logger.debug("%s: priced at the adjusted close (no raw close): %s", day, ", ".join(tickers))
        return close


def priced_at_adjusted_close(prices: pd.Series) -> frozenset[str]:
    """The tickers of `prices` (from `DecisionMarket.close_on`) whose price is the adjusted close."""
    return frozenset(prices.attrs.get(ADJUSTED_CLOSE_ATTR, ()))


def history_start(as_of: date, sessions: int) -> date:
    """A first date far enough back to hold `sessions` sessions before `as_of`."""
    return as_of - timedelta(days=int(sessions * CALENDAR_DAYS_PER_SESSION) + 10)


def load_decision_market(
    engine: Engine,
    as_of: date,
    *,
    start: date,
    data: DataSettings,
    fields: Sequence[str] = DECISION_FIELDS,
    long_history: LongHistory | None = None,
) -> DecisionMarket:
    """Bars from `start` to `as_of` (never later), and `long_history`'s tickers from its earlier start.
    Fails with a DataError naming what is missing when the benchmark has no bars or no stock is known.
    `fields` must include adj_close and close."""
    securities = security_master(engine)
    panel = load_panel(engine, as_of, start=start, fields=fields, long_history=long_history)
    return decision_market(panel, securities, data, start=start)


def decision_market(
    panel: MarketPanel, securities: pd.DataFrame, data: DataSettings, *, start: date | None = None
) -> DecisionMarket:
    """The decision's view of a loaded panel: which tickers are stocks, their sectors, the benchmark,
    the volatility index. DataError when the securities are unknown, the benchmark has no bars, or
    no stock has any."""
    if securities.empty:
        raise DataError("the securities table is empty: import securities (or run `fund data demo`) first")
    adj_close = panel.adj_close
    window = f"between {start} and {panel.as_of}" if start else f"up to {panel.as_of}"
    if data.benchmark_ticker not in adj_close.columns or adj_close[data.benchmark_ticker].notna().sum() == 0:
        raise DataError(f"no bars for the benchmark {data.benchmark_ticker} {window}")
    stock_tickers = set(securities.index[securities["asset_type"] == "stock"])
    stocks = sorted(stock_tickers.intersection(adj_close.columns))
    if not stocks:
        raise DataError(f"no stock has bars {window}")
    vix_ticker = data.volatility_index_ticker
    vix = panel["close"][vix_ticker].dropna() if vix_ticker in adj_close.columns else None
    sectors = {ticker: sector for ticker, sector in securities["sector"].dropna().items()}
    return DecisionMarket(
        as_of=panel.as_of,
        panel=panel,
        stocks=stocks,
        sectors={str(ticker): str(sector) for ticker, sector in sectors.items()},
        benchmark=adj_close[data.benchmark_ticker],
        volatility_index=vix if vix is not None and not vix.empty else None,
        safe_haven=data.safe_haven_ticker,
    )


def security_master(engine: Engine) -> pd.DataFrame:
    """Sector and asset type by ticker (the securities table)."""
    with engine.connect() as connection:
        rows = connection.execute(select(Security.ticker, Security.sector, Security.asset_type)).all()
    return pd.DataFrame(rows, columns=["ticker", "sector", "asset_type"]).set_index("ticker")
