"""The trading calendar: the exchange calendar (exchange-calendars) decides what a session is, always;
the benchmark's bars are data, checked against it. Also the exchange's clock: its time zone and today."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from trading.db.schema import PriceBar
from trading.errors import ConfigurationError

logger = logging.getLogger(__name__)

EXCHANGE_TIME_ZONE = ZoneInfo("America/New_York")
_OPEN = time(9, 30)
_CLOSE = time(16, 0)  # the regular close; the few half days are not modelled

# Before 1900 exchange-calendars only knows weekdays, and its dates must stay inside pandas'
# nanosecond range (1677-2262): days outside these years are never sessions.
FIRST_CALENDAR_YEAR = 1900
LAST_CALENDAR_YEAR = 2199
_NO_DAYS = np.empty(0, dtype="datetime64[D]")


def exchange_today(now: datetime | None = None) -> date:
    """Today's date at the exchange (New York), for `now` (an aware datetime; default: the clock)."""
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        raise ValueError(f"exchange_today needs an aware datetime, not {moment!r}")
    return moment.astimezone(EXCHANGE_TIME_ZONE).date()


def session_open_utc(day: date) -> datetime:
    """09:30 New York on `day`, in UTC."""
    return datetime.combine(day, _OPEN, EXCHANGE_TIME_ZONE).astimezone(UTC)


def session_close_utc(day: date) -> datetime:
    """16:00 New York on `day`, in UTC."""
    return datetime.combine(day, _CLOSE, EXCHANGE_TIME_ZONE).astimezone(UTC)


def _day(value: date) -> np.datetime64:
    return np.datetime64(value, "D")


def calendar_cache_dir() -> Path:
    """Where built session arrays are kept between processes ($XDG_CACHE_HOME/autofund/calendars)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autofund" / "calendars"


# Building an exchange calendar takes about half a second, and importing the library as long again:
# most of a cron run's start. The session arrays, which change only with the library's holiday rules,
# are kept for the life of the process, and on disk under the library's version for the next one.
@functools.lru_cache(maxsize=16)
def _exchange_sessions(exchange: str, first_year: int, last_year: int) -> np.ndarray:
    try:
        version = importlib.metadata.version("exchange-calendars")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    cached = calendar_cache_dir() / f"{exchange}-{first_year}-{last_year}-xcals-{version}.npy"
    try:
        days: np.ndarray = np.load(cached, allow_pickle=False)
    except (OSError, ValueError):
        days = _build_exchange_sessions(exchange, first_year, last_year)
        _store(cached, days)
    days.flags.writeable = False
    return days


def _store(path: Path, days: np.ndarray) -> None:
    """Write atomically (a rename), so a concurrent process reads a whole file or none; a cache that
    cannot be written (a read-only home) only costs the next process the build."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as handle:
            np.save(handle, days, allow_pickle=False)
        os.replace(handle.name, path)
    except OSError as exc:
        logger.debug("could not cache the exchange sessions in %s: %s", path, exc)


def _build_exchange_sessions(exchange: str, first_year: int, last_year: int) -> np.ndarray:
    import exchange_calendars as xcals  # slow import: only paid when a calendar is first built

    try:
        calendar = xcals.get_calendar(exchange, start=date(first_year, 1, 1), end=date(last_year, 12, 31))
    except xcals.errors.InvalidCalendarName as exc:
        raise ConfigurationError(f"unknown exchange calendar {exchange!r} (setting data.exchange_calendar)") from exc
    days: np.ndarray = calendar.sessions.values.astype("datetime64[D]")
    return days


class ExchangeSessions:
    """One exchange's sessions over whole decades, widened when asked about a day outside them."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self._years: tuple[int, int] | None = None
        self._days = _NO_DAYS

    def covering(self, start: date, end: date) -> np.ndarray:
        """The sessions (datetime64[D], ascending) of a span that includes start..end."""
        first = (min(max(start.year, FIRST_CALENDAR_YEAR), LAST_CALENDAR_YEAR) // 10) * 10
        last = min((max(end.year, FIRST_CALENDAR_YEAR) // 10) * 10 + 9, LAST_CALENDAR_YEAR)
        if self._years is None or first < self._years[0] or last > self._years[1]:
            if self._years is not None:
                first, last = min(first, self._years[0]), max(last, self._years[1])
            self._days = _exchange_sessions(self.exchange, first, last)
            self._years = (first, last)
        return self._days

    def are_sessions(self, days: np.ndarray) -> np.ndarray:
        """For each day (datetime64[D]), whether it is a session: one vectorised lookup."""
        if len(days) == 0:
            return np.zeros(0, dtype=bool)
        sessions = self.covering(days.min().item(), days.max().item())
        if len(sessions) == 0:
            return np.zeros(len(days), dtype=bool)
        position = np.minimum(np.searchsorted(sessions, days), len(sessions) - 1)
        return np.asarray(sessions[position] == days)


@dataclass(frozen=True)
class TradingCalendar:
    """Sessions from the exchange calendar; `history`, the benchmark's bar dates, as data.

    A session inside the history without a benchmark bar is missing data, not a holiday:
    `sessions_without_bar` lists them.
    """

    history: pd.DatetimeIndex  # the benchmark's bar dates, ascending
    exchange: str = "XNYS"
    _sessions: ExchangeSessions = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sessions", ExchangeSessions(self.exchange))

    @classmethod
    def from_database(cls, engine: Engine, benchmark: str, exchange: str = "XNYS") -> TradingCalendar:
        with engine.connect() as connection:
            dates = (
                connection.execute(select(PriceBar.date).where(PriceBar.ticker == benchmark).order_by(PriceBar.date))
                .scalars()
                .all()
            )
        return cls(history=pd.DatetimeIndex(pd.to_datetime(list(dates)), name="date"), exchange=exchange)

    @property
    def first_session(self) -> date | None:
        """The benchmark's first bar date (None without bars)."""
        return self.history[0].date() if len(self.history) else None

    @property
    def last_session(self) -> date | None:
        """The benchmark's last bar date (None without bars)."""
        return self.history[-1].date() if len(self.history) else None

    def _days(self, start: date, end: date) -> np.ndarray:
        # One span covering the history too, so the first question builds all this calendar needs.
        first, last = self.first_session, self.last_session
        low = min(start, first) if first else start
        high = max(end, last) if last else end
        return self._sessions.covering(low, high)

    def is_session(self, day: date) -> bool:
        if not FIRST_CALENDAR_YEAR <= day.year <= LAST_CALENDAR_YEAR:
            return False
        days = self._days(day, day)
        position = int(np.searchsorted(days, _day(day)))
        return bool(position < len(days) and days[position] == _day(day))

    def sessions_in(self, start: date, end: date) -> pd.DatetimeIndex:
        """The exchange's sessions from start to end inclusive."""
        days = self._days(start, end)
        chosen = days[np.searchsorted(days, _day(start), side="left") : np.searchsorted(days, _day(end), side="right")]
        return pd.DatetimeIndex(chosen.astype("datetime64[ns]"), name="date")

    def sessions_between(self, start: date, end: date) -> int:
        """Number of sessions s with start < s <= end."""
        if start == end:  # the common question (a price from the session itself), answered without a search
            return 0
        days = self._days(start, end)
        return int(np.searchsorted(days, _day(end), side="right") - np.searchsorted(days, _day(start), side="right"))

    def previous_session(self, day: date) -> date | None:
        """The last session strictly before `day` (None before the calendar's first year)."""
        earlier = self.sessions_before(day, 1)
        return earlier[0].date() if len(earlier) else None

    def next_session(self, day: date) -> date | None:
        """The first session strictly after `day` (None past the calendar's last year)."""
        days = self._days(day, date(min(day.year + 1, LAST_CALENDAR_YEAR), 12, 31))
        position = int(np.searchsorted(days, _day(day), side="right"))
        return days[position].item() if position < len(days) else None

    def sessions_before(self, day: date, count: int) -> pd.DatetimeIndex:
        """The last `count` sessions strictly before `day` (fewer only before the calendar's start)."""
        # Sessions are never more than a week apart: count sessions lie within 2 * count + 10 days.
        start = date(max(day.year - (2 * count + 10) // 365 - 1, FIRST_CALENDAR_YEAR), 1, 1)
        days = self._days(start, day)
        end = int(np.searchsorted(days, _day(day), side="left"))
        chosen = days[max(end - count, 0) : end]
        return pd.DatetimeIndex(chosen.astype("datetime64[ns]"), name="date")

    def sessions_without_bar(self, start: date | None = None, end: date | None = None) -> pd.DatetimeIndex:
        """Sessions inside the benchmark's history (and start..end) with no benchmark bar: missing data."""
        first, last = self.first_session, self.last_session
        if first is None or last is None:
            return pd.DatetimeIndex([], name="date")
        low, high = max(start or first, first), min(end or last, last)
        if low > high:
            return pd.DatetimeIndex([], name="date")
        expected = self.sessions_in(low, high)
        return pd.DatetimeIndex(expected.difference(self.history), name="date")
