"""Each session's market (the data gate, the regime, the universes and the generators' state) computed in a
second process, ahead of the replay: the market side of a session depends on the bars only, never on the
account, so while the replay decides and trades session t, the other process prepares t+1, t+2, ...

The second process is a fork of this one, taken after the span's panel, features and regimes are built, so
it computes from the very same arrays with the same code: the markets it hands back are those this process
would compute (a test replays with and without it and compares every decision). A session it could not
compute (an error, which the replay must meet and record itself) is left to this process.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from datetime import date
from multiprocessing.pool import Pool
from types import TracebackType

from autonomous.marketview import SessionMarket
from autonomous.marketview.preloaded import PreloadedMarketView
from autonomous.marketview.session import KnownMarket
from trading.marketdata.calendar import TradingCalendar

logger = logging.getLogger(__name__)

# Sessions handed to the other process at a time: large enough to keep it busy, small enough that the
# replay never waits long for the first ones.
CHUNK_SESSIONS = 8

_WORKER_MARKET: PreloadedMarketView | None = None  # the forked process's view (a copy-on-write of ours)


def _known(day: date) -> tuple[date, KnownMarket | None]:
    assert _WORKER_MARKET is not None
    try:
        return day, _WORKER_MARKET.session(day).known()
    except Exception:  # the replay computes this session itself and records what went wrong
        logger.debug("prefetching %s failed; the replay computes it", day, exc_info=True)
        return day, None


class PrefetchedSessions:
    """A MarketView over a preloaded one whose sessions arrive computed from a second process, in order."""

    def __init__(self, market: PreloadedMarketView, sessions: Sequence[date]) -> None:
        global _WORKER_MARKET
        self._market = market
        # Built here, before the fork, so the other process inherits them instead of building them again.
        market.features  # noqa: B018
        market.cross_sections  # noqa: B018
        market.regimes  # noqa: B018
        _WORKER_MARKET = market
        self._pool: Pool | None = multiprocessing.get_context("fork").Pool(1)
        self._arriving: Iterator[tuple[date, KnownMarket | None]] = self._pool.imap(
            _known, list(sessions), CHUNK_SESSIONS
        )
        self._arrived: date | None = None  # the latest session the other process answered for
        self.adopted = 0  # sessions whose market came from the other process

    def calendar(self) -> TradingCalendar:
        return self._market.calendar()

    def session(self, day: date) -> SessionMarket:
        market = self._market.session(day)
        known = self._take(day)
        if known is not None:
            market.adopt(known)
            self.adopted += 1
        return market

    def _take(self, day: date) -> KnownMarket | None:
        """The market computed for `day`; None when the other process could not (or was not asked to)."""
        # Sessions arrive in order: read up to `day`, never past it.
        while self._arrived is None or self._arrived < day:
            try:
                self._arrived, known = next(self._arriving)
            except StopIteration:
                return None
            if self._arrived == day:
                return known
        return None

    def close(self) -> None:
        global _WORKER_MARKET
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _WORKER_MARKET = None

    def __enter__(self) -> PrefetchedSessions:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
