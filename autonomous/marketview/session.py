"""The market as of one session's close, computed from a loaded panel: the data gate's verdict, the
regime, the generators' state, and prices and volumes for the risk manager and the order planner.
Both market views (database.py, preloaded.py) hand the run one of these; neither can show it a bar
after the session, because the panel it holds is cut there."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from autonomous.market_state import MarketState, snapshot_of
from autonomous.regime import RegimeHistory, RegimeSnapshot
from autonomous.selector import lookback_sessions
from autonomous.universes import Universe, build_universes
from trading.errors import DataError
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.decision_view import DecisionMarket
from trading.marketdata.quality import GateResult, gate_verdict, universe_lookback_start
from trading.marketdata.view import MarketPanel
from trading.settings import FundSettings
from trading.store.membership import MembersOn


@dataclass(frozen=True)
class PriceQuote:
    """A ticker's last close on or before the session, and how old it is. The close is raw, or the
    adjusted close of a bar without a raw close (a series shipped as adjusted closes only), as the
    paper venue marks it."""

    ticker: str
    close: float
    as_of: date
    age: int  # sessions since the close: 0 when the ticker has a bar on the session
    adjusted: bool = False  # the close is the adjusted close

    @property
    def stale(self) -> bool:
        return self.age > 0


@dataclass(frozen=True)
class KnownMarket:
    """A session's market parts computed once (and picklable): the gate's verdict, the regime, the universes."""

    day: date
    gate: GateResult
    regime_history: RegimeHistory | None
    universes: dict[str, Universe] | None
    regime: RegimeSnapshot | None = None
    earlier_regimes: tuple[RegimeSnapshot, ...] | None = None


# Latest raw closes (date, close) of tickers the loaded panel has none for: a longer search.
OlderCloses = Callable[[list[str], date], dict[str, tuple[date, float]]]


def _no_older_closes(tickers: list[str], day: date) -> dict[str, tuple[date, float]]:
    return {}


class SessionMarket:
    """The market at `day`'s close. Parts are computed when first asked for: a run stopped by the gate
    never computes features."""

    def __init__(
        self,
        day: date,
        *,
        calendar: TradingCalendar,
        panel: MarketPanel,
        securities: pd.DataFrame,
        settings: FundSettings,
        market: Callable[[], DecisionMarket],
        regimes: Callable[[], RegimeHistory],
        cross_section: Callable[[], pd.DataFrame],
        fundamentals: Callable[[], pd.DataFrame],
        older_closes: OlderCloses = _no_older_closes,
        members: MembersOn | None = None,
    ) -> None:
        if panel.as_of != day or (len(panel.dates) and panel.dates[-1] > pd.Timestamp(day)):
            raise ValueError(f"a session market for {day} needs a panel cut at {day}, got one as of {panel.as_of}")
        self.day = day
        self.calendar = calendar
        self._panel = panel
        self._securities = securities
        self._settings = settings
        self._market = market
        self._regimes = regimes
        self._cross_section = cross_section
        self._fundamentals = fundamentals
        self._older_closes = older_closes
        # Point-in-time membership (trading/store/membership.py): None where the database has none,
        # and then every stock with bars may enter a universe.
        self._members = members

    @cached_property
    def gate(self) -> GateResult:
        """The data gate's verdict for the session (trading/marketdata/quality.py)."""
        data = self._settings.data
        adj_close = self._panel.adj_close
        dates, values = pd.DatetimeIndex(adj_close.index), adj_close.to_numpy(np.float64)
        tickers = adj_close.columns.to_numpy(dtype=object)
        # Plain arrays rather than frame slices: a backtest asks this of every session.
        lookback = int(dates.searchsorted(pd.Timestamp(universe_lookback_start(self.calendar, self.day, data))))
        today_row = int(dates.searchsorted(pd.Timestamp(self.day)))
        has_today = today_row < len(dates) and dates[today_row] == pd.Timestamp(self.day)
        if has_today:
            priced = ~np.isnan(values[today_row])
            close = self._panel["close"].loc[pd.Timestamp(self.day)].reindex(adj_close.columns)
            today = pd.DataFrame(
                {"adj_close": values[today_row][priced], "close": close.to_numpy(np.float64)[priced]},
                index=pd.Index(tickers[priced], dtype=object),
            )
        else:
            today = pd.DataFrame({"adj_close": [], "close": []}, dtype=np.float64)
        traded = (~np.isnan(values[lookback:today_row])).any(axis=0)  # a bar in the window before the day
        not_stocks = self._not_stocks
        stocks = np.fromiter((t not in not_stocks for t in tickers), np.bool_, len(tickers))
        universe = sorted(str(t) for t in tickers[traded & stocks])
        return gate_verdict(self.day, self.calendar, today, universe, data)

    @cached_property
    def _not_stocks(self) -> frozenset[str]:
        return frozenset(self._securities.index[self._securities["asset_type"] != "stock"])

    @cached_property
    def decision_market(self) -> DecisionMarket:
        return self._market()

    @cached_property
    def regime_history(self) -> RegimeHistory:
        """The session's row of the regime history (a DataError when it has none)."""
        history = self._regimes()
        snapshot_of(history, self.day, self._settings)
        return RegimeHistory(frame=history.frame.loc[[pd.Timestamp(self.day)]])

    @cached_property
    def regime(self) -> RegimeSnapshot:
        return self.regime_history.snapshot(self.day)

    @cached_property
    def earlier_regimes(self) -> tuple[RegimeSnapshot, ...]:
        """The regimes of the sessions before this one that the selector's confirmation rule reads
        (autonomous/selector.py; none when it is off), oldest first; never a session after this one."""
        sessions = lookback_sessions(self._settings.strategy)
        return self._regimes().snapshots_before(self.day, sessions) if sessions else ()

    @cached_property
    def _stocks(self) -> list[str]:
        stocks = self.decision_market.stocks
        if self._members is not None:
            members = self._members(self.day)
            # The rankers' inputs rank among `state.stocks` too: members only, as in their training rows.
            stocks = [ticker for ticker in stocks if ticker in members]
        return list(stocks)

    @cached_property
    def _close(self) -> pd.Series:
        return self.decision_market.close_on(self.day)

    @cached_property
    def universes(self) -> dict[str, Universe]:
        """The seven strategies' universes at the close (autonomous/universes.py)."""
        return build_universes(
            self._cross_section(),
            stocks=self._stocks,
            close=self._close,
            fundamentals=self._fundamentals(),
            settings=self._settings.universe,
        )

    @cached_property
    def state(self) -> MarketState:
        market = self.decision_market
        return MarketState(
            day=self.day,
            close=self._close,
            cross_section=self._cross_section(),
            universes=self.universes,
            stocks=tuple(self._stocks),
            sectors=dict(market.sectors),
            safe_haven=market.safe_haven,
            regime=self._known_regime(),
        )

    def _known_regime(self) -> RegimeSnapshot | None:
        # A state without a regime is still a state (the universes do not need one); the run stops on
        # a missing regime at its own step, with its own message.
        try:
            return self.regime
        except DataError:
            return None

    def adopt(self, known: KnownMarket) -> None:
        """Take the parts another process computed from the same panel at the same close (a backtest
        computes the next sessions' markets ahead, in a second process: backtesting/prefetch.py)."""
        if known.day != self.day:
            raise ValueError(f"the market computed for {known.day} cannot stand for {self.day}")
        # cached_property keeps its value in the instance's __dict__: set there, it is never recomputed.
        self.__dict__["gate"] = known.gate
        if known.regime_history is not None:
            self.__dict__["regime_history"] = known.regime_history
        if known.regime is not None:
            self.__dict__["regime"] = known.regime
        if known.earlier_regimes is not None:
            self.__dict__["earlier_regimes"] = known.earlier_regimes
        if known.universes is not None:
            self.__dict__["universes"] = known.universes

    def known(self) -> KnownMarket:
        """The gate, and when it passed the regime and the universes: what `adopt` takes. The rest of the
        state (closes, the features' cross-section) is cheap to cut from the panel in either process,
        and costs more to send between them than to cut."""
        gate = self.gate
        if not gate.passed:
            return KnownMarket(self.day, gate, None, None)
        return KnownMarket(self.day, gate, self.regime_history, self.universes, self.regime, self.earlier_regimes)

    @property
    def sectors(self) -> Mapping[str, str]:
        return self.decision_market.sectors

    def quotes(self, tickers: Iterable[str]) -> dict[str, PriceQuote]:
        """Each ticker's last close on or before the session (the adjusted close of a bar without a raw
        one); tickers never priced are left out."""
        wanted = sorted(set(tickers))
        close = self._panel["close"]
        present = [t for t in wanted if t in close.columns]
        found: dict[str, tuple[date, float]] = {}
        adjusted: set[str] = set()
        if present and len(close):
            # The recent rows hold almost every last price; only names not priced there need the whole
            # history (copying every row of every name asked for cost more than the rest of the quote).
            rest = _last_prices(close, self._panel.adj_close, present, QUOTE_TAIL_ROWS, found, adjusted)
            if rest:
                _last_prices(close, self._panel.adj_close, rest, len(close), found, adjusted)
        missing = [t for t in wanted if t not in found]
        if missing:
            found |= self._older_closes(missing, self.day)
        return {
            ticker: PriceQuote(ticker, price, day, self.calendar.sessions_between(day, self.day), ticker in adjusted)
            for ticker, (day, price) in found.items()
        }

    def average_volume(self, tickers: Iterable[str]) -> dict[str, float]:
        """Mean daily volume (shares) over the last `risk.adv_window_sessions` sessions of the panel.

        NaN for a ticker with bars but no volume in them (a vendor that ships none): the risk manager
        then skips the liquidity limit for it and says so. A ticker without a bar in the window is left
        out, and the risk manager does not trade it (its volume is unknown, not unreported)."""
        volume = self._panel["volume"]
        known = [t for t in sorted(set(tickers)) if t in volume.columns]
        if not known:
            return {}
        window = self._settings.risk.adv_window_sessions
        # The window's rows first, then the names: a copy of the window, not of the whole history.
        shares = _columns(volume.iloc[-window:], known)
        traded = ~np.isnan(_columns(self._panel.adj_close.iloc[-window:], known))
        counted = (~np.isnan(shares)).sum(axis=0)
        # The mean of the volumes reported in the window: NaN where a ticker traded but reported none.
        mean = np.where(counted > 0, np.nansum(shares, axis=0) / np.maximum(counted, 1), np.nan)
        return {ticker: float(mean[j]) for j, ticker in enumerate(known) if traded[:, j].any()}


# Rows a quote first looks back over for each name's last price (a month of sessions).
QUOTE_TAIL_ROWS = 32


def _last_prices(
    close: pd.DataFrame,
    adj_close: pd.DataFrame,
    names: list[str],
    rows: int,
    found: dict[str, tuple[date, float]],
    adjusted: set[str],
) -> list[str]:
    """Each name's last price in the last `rows` rows of `close` (the adjusted close where a bar has no
    raw one), added to `found` (and `adjusted`); the names not priced there."""
    recent = close.iloc[-rows:]
    raw = _columns(recent, names)
    adj = _columns(adj_close.iloc[-rows:], names)
    at_adjusted = np.isnan(raw) & ~np.isnan(adj)
    price = np.where(at_adjusted, adj, raw)
    priced = ~np.isnan(price)
    last = len(price) - 1 - np.argmax(priced[::-1], axis=0)
    days = pd.DatetimeIndex(recent.index).date  # Python dates, converted once rather than per name
    unpriced = []
    for column, ticker in enumerate(names):
        row = int(last[column])
        if priced[row, column]:
            found[ticker] = (days[row], float(price[row, column]))
            if at_adjusted[row, column]:
                adjusted.add(ticker)
        else:
            unpriced.append(ticker)
    return unpriced


def _columns(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """`frame`'s values in the columns `names` (NaN for a name it lacks), taken from its array by position:
    a reindex of the frame cost more than the quote it served."""
    if not len(frame.columns):
        return np.full((len(frame), len(names)), np.nan)
    positions = frame.columns.get_indexer(pd.Index(names, dtype=object))
    values = frame.to_numpy(np.float64)[:, np.maximum(positions, 0)]  # fancy indexing: a copy, safe to write
    values[:, positions < 0] = np.nan
    return values
