from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from tests.factories import BAR_HEADER, bar_line, write_text
from trading.db.schema import PriceBar
from trading.errors import ConfigurationError
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import (
    TradingCalendar,
    exchange_today,
    session_close_utc,
    session_open_utc,
)

# The benchmark's history: XNYS sessions 2024-01-02..01-05, 01-08 and 01-10, its bar of the session
# 2024-01-09 missing (a data outage, not a holiday); another ticker does have that bar.
HISTORY = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 10)]
MISSING = date(2024, 1, 9)


def _calendar(engine: Engine, tmp_path: Path) -> TradingCalendar:
    lines = [BAR_HEADER, *(bar_line(day, "SPY", 470) for day in HISTORY), bar_line(MISSING, "AAA", 5)]
    import_bar_files(engine, [write_text(tmp_path / "bars.csv", "\n".join(lines))])
    return TradingCalendar.from_database(engine, "SPY")


def test_the_benchmarks_bars_are_kept_as_data(engine: Engine, tmp_path: Path) -> None:
    calendar = _calendar(engine, tmp_path)
    assert (calendar.first_session, calendar.last_session) == (date(2024, 1, 2), date(2024, 1, 10))
    assert [d.date() for d in calendar.history] == HISTORY


def test_a_session_without_a_benchmark_bar_is_still_a_session_and_is_listed_as_missing(
    engine: Engine, tmp_path: Path
) -> None:
    calendar = _calendar(engine, tmp_path)
    assert calendar.is_session(MISSING)
    assert [d.date() for d in calendar.sessions_without_bar()] == [MISSING]
    assert list(calendar.sessions_without_bar(date(2024, 1, 10), date(2024, 3, 1))) == []
    assert [d.date() for d in calendar.sessions_without_bar(date(2023, 6, 1), date(2024, 1, 9))] == [MISSING]


def test_session_arithmetic_counts_exchange_sessions_across_a_missing_bar(engine: Engine, tmp_path: Path) -> None:
    calendar = _calendar(engine, tmp_path)
    assert calendar.previous_session(date(2024, 1, 10)) == MISSING
    assert calendar.next_session(date(2024, 1, 8)) == MISSING
    assert calendar.previous_session(date(2024, 1, 2)) == date(2023, 12, 29)
    assert calendar.sessions_between(date(2024, 1, 2), date(2024, 1, 10)) == 6
    assert [d.date() for d in calendar.sessions_in(date(2024, 1, 8), date(2024, 1, 16))] == [
        date(2024, 1, d) for d in (8, 9, 10, 11, 12, 16)
    ]
    assert [d.date() for d in calendar.sessions_before(date(2024, 1, 10), 3)] == [
        date(2024, 1, 5),
        date(2024, 1, 8),
        MISSING,
    ]


def test_weekends_and_holidays_are_not_sessions_inside_and_past_the_data(engine: Engine, tmp_path: Path) -> None:
    calendar = _calendar(engine, tmp_path)
    assert not calendar.is_session(date(2024, 1, 6))  # a Saturday inside the history
    assert calendar.is_session(date(2024, 1, 11))
    assert not calendar.is_session(date(2024, 1, 13))  # a Saturday
    assert not calendar.is_session(date(2024, 1, 15))  # Martin Luther King Jr. Day
    assert not calendar.is_session(date(2024, 12, 25))
    assert calendar.is_session(date(2026, 11, 20))


def test_a_benchmark_bar_on_a_holiday_does_not_make_it_a_session(engine: Engine, tmp_path: Path) -> None:
    # Such a bar can only come from before the import refused them: planted directly.
    calendar = _calendar(engine, tmp_path)
    with engine.begin() as connection:
        connection.execute(insert(PriceBar).values(ticker="SPY", date=date(2024, 1, 15), adj_close=470))
    planted = TradingCalendar.from_database(engine, "SPY")
    assert date(2024, 1, 15) in {d.date() for d in planted.history}
    assert not planted.is_session(date(2024, 1, 15))
    assert planted.sessions_in(date(2024, 1, 2), date(2024, 1, 19)).equals(
        calendar.sessions_in(date(2024, 1, 2), date(2024, 1, 19))
    )


def test_an_empty_database_has_no_history_but_still_knows_the_exchange(engine: Engine) -> None:
    calendar = TradingCalendar.from_database(engine, "SPY")
    assert calendar.last_session is None
    assert calendar.is_session(date(2024, 1, 2))
    assert not calendar.is_session(date(2024, 1, 1))
    assert list(calendar.sessions_without_bar()) == []


def test_the_calendar_reaches_back_to_the_real_data_set_and_knows_its_closures() -> None:
    calendar = TradingCalendar(pd.DatetimeIndex([]))
    assert calendar.is_session(date(1990, 1, 2))  # the first VIX bar of the shared data set
    assert calendar.is_session(date(1993, 1, 29))  # SPY's first bar
    assert not calendar.is_session(date(2001, 9, 11))
    assert not calendar.is_session(date(2012, 10, 29))  # Hurricane Sandy
    assert not calendar.is_session(date(1850, 1, 2))  # before the calendar's first year


def test_the_exchange_clock_is_new_york_time_with_daylight_saving() -> None:
    assert session_open_utc(date(2024, 1, 2)) == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert session_open_utc(date(2024, 7, 1)) == datetime(2024, 7, 1, 13, 30, tzinfo=UTC)
    assert session_close_utc(date(2024, 1, 2)) == datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
    assert session_close_utc(date(2024, 7, 1)) == datetime(2024, 7, 1, 20, 0, tzinfo=UTC)
    # 02:00 UTC is still the previous evening in New York.
    assert exchange_today(datetime(2024, 3, 15, 2, 0, tzinfo=UTC)) == date(2024, 3, 14)
    assert exchange_today(datetime(2024, 3, 15, 12, 0, tzinfo=UTC)) == date(2024, 3, 15)


def test_an_unknown_exchange_calendar_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown exchange calendar 'XNYZ'"):
        TradingCalendar(pd.DatetimeIndex([]), exchange="XNYZ").is_session(date(2024, 1, 2))


def test_built_sessions_are_cached_on_disk_for_the_next_process_and_a_damaged_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trading.marketdata import calendar as module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    module._exchange_sessions.cache_clear()
    built = module._exchange_sessions("XNYS", 2010, 2019)
    [cached] = list((tmp_path / "autofund" / "calendars").glob("XNYS-2010-2019-xcals-*.npy"))
    module._exchange_sessions.cache_clear()
    assert np.array_equal(module._exchange_sessions("XNYS", 2010, 2019), built)

    cached.write_bytes(b"not an array")
    module._exchange_sessions.cache_clear()
    assert np.array_equal(module._exchange_sessions("XNYS", 2010, 2019), built)
    assert np.array_equal(np.load(cached), built)
    assert np.datetime64("2019-12-24") in built
    assert np.datetime64("2019-12-25") not in built
    module._exchange_sessions.cache_clear()


def test_an_unwritable_cache_only_costs_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trading.marketdata import calendar as module

    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    module._exchange_sessions.cache_clear()
    assert len(module._exchange_sessions("XNYS", 2000, 2009)) == 2515
    module._exchange_sessions.cache_clear()
