"""The trading calendar: the benchmark's own bar dates decide what a session was in history; an
exchange calendar decides whether today, or a date past the data, is a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from trading.db.schema import PriceBar


@dataclass(frozen=True)
class TradingCalendar:
    history: pd.DatetimeIndex  # sessions known from the benchmark's bars, ascending
    exchange: str = "XNYS"
    _exchange_cache: dict[tuple[date, date], Any] = field(default_factory=dict, repr=False, compare=False)

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
        return self.history[0].date() if len(self.history) else None

    @property
    def last_session(self) -> date | None:
        return self.history[-1].date() if len(self.history) else None

    @cached_property
    def _history_days(self) -> np.ndarray:
        return self.history.values.astype("datetime64[D]")

    def _in_history(self, day: date) -> bool:
        first, last = self.first_session, self.last_session
        return first is not None and last is not None and first <= day <= last

    def is_session(self, day: date) -> bool:
        if self._in_history(day):
            position = np.searchsorted(self._history_days, np.datetime64(day, "D"))
            return bool(position < len(self._history_days) and self._history_days[position] == np.datetime64(day, "D"))
        return bool(self._exchange_calendar(day).is_session(pd.Timestamp(day)))

    def sessions_in(self, start: date, end: date) -> pd.DatetimeIndex:
        """Sessions from start to end inclusive: history where it covers them, the exchange after."""
        known = self.history[(self.history >= pd.Timestamp(start)) & (self.history <= pd.Timestamp(end))]
        last = self.last_session
        if last is None or end > last:
            tail_start = max(start, last + timedelta(days=1)) if last else start
            tail = self._exchange_calendar(end, tail_start).sessions_in_range(
                pd.Timestamp(tail_start), pd.Timestamp(end)
            )
            known = pd.DatetimeIndex(
                known.append(pd.DatetimeIndex(tail.tz_localize(None) if tail.tz is not None else tail))
            )
        return pd.DatetimeIndex(known, name="date")

    def previous_session(self, day: date) -> date | None:
        """The last session strictly before `day` in the benchmark's history."""
        position = np.searchsorted(self._history_days, np.datetime64(day, "D")) - 1
        return self.history[int(position)].date() if position >= 0 else None

    def sessions_between(self, start: date, end: date) -> int:
        """Number of historical sessions s with start < s <= end."""
        days = self._history_days
        return int(
            np.searchsorted(days, np.datetime64(end, "D"), side="right")
            - np.searchsorted(days, np.datetime64(start, "D"), side="right")
        )

    def _exchange_calendar(self, day: date, other: date | None = None) -> Any:
        import exchange_calendars as xcals  # slow import, only needed past the data

        low, high = min(day, other or day), max(day, other or day)
        key = (date(low.year - 1, 1, 1), date(high.year + 1, 12, 31))
        if key not in self._exchange_cache:
            self._exchange_cache[key] = xcals.get_calendar(self.exchange, start=key[0], end=key[1])
        return self._exchange_cache[key]
