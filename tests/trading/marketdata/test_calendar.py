from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from tests.factories import BAR_HEADER, bar_line, write_text
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import TradingCalendar

# The benchmark's history: 2024-01-02..01-05 and 01-08, deliberately missing 01-09 (say, a data
# outage treated as history) and then 01-10.
HISTORY = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 10)]


def _calendar(engine: Engine, tmp_path: Path) -> TradingCalendar:
    lines = [BAR_HEADER, *(bar_line(day, "SPY", 470) for day in HISTORY), bar_line(date(2024, 1, 9), "AAA", 5)]
    import_bar_files(engine, [write_text(tmp_path / "bars.csv", "\n".join(lines))])
    return TradingCalendar.from_database(engine, "SPY")


def test_history_sessions_are_the_benchmarks_bar_dates(engine: Engine, tmp_path: Path) -> None:
    calendar = _calendar(engine, tmp_path)
    assert (calendar.first_session, calendar.last_session) == (date(2024, 1, 2), date(2024, 1, 10))
    assert calendar.is_session(date(2024, 1, 8))
    assert not calendar.is_session(date(2024, 1, 9))  # another ticker's bar does not make a session
    assert calendar.previous_session(date(2024, 1, 8)) == date(2024, 1, 5)
    assert calendar.previous_session(date(2024, 1, 2)) is None
    assert calendar.sessions_between(date(2024, 1, 2), date(2024, 1, 10)) == 5


def test_dates_past_the_data_are_answered_by_the_exchange_calendar(engine: Engine, tmp_path: Path) -> None:
    calendar = _calendar(engine, tmp_path)
    assert calendar.is_session(date(2024, 1, 11))
    assert not calendar.is_session(date(2024, 1, 13))  # a Saturday
    assert not calendar.is_session(date(2024, 1, 15))  # Martin Luther King Jr. Day
    assert not calendar.is_session(date(2024, 12, 25))
    assert calendar.is_session(date(2026, 11, 20))
    future = calendar.sessions_in(date(2024, 1, 8), date(2024, 1, 16))
    assert [d.date() for d in future] == [date(2024, 1, d) for d in (8, 10, 11, 12, 16)]


def test_an_empty_database_has_no_history_but_still_knows_the_exchange(engine: Engine) -> None:
    calendar = TradingCalendar.from_database(engine, "SPY")
    assert calendar.last_session is None
    assert calendar.is_session(date(2024, 1, 2))
    assert not calendar.is_session(date(2024, 1, 1))
