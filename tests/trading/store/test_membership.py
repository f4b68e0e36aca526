"""Point-in-time index membership: importing a file (validated whole, nothing written on a bad row) and
the timeline's answers at the edges of spans (both ends inclusive)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tests.factories import write_text
from trading.db.schema import DataImport, IndexMembership
from trading.errors import ImportRejected
from trading.store.membership import (
    MembershipRejected,
    MembershipSpan,
    MembershipTimeline,
    has_membership_data,
    import_membership_file,
    replace_membership,
)

HEADER = "ticker,start_date,end_date"
GOOD = f"""
{HEADER}
AAA,2010-01-04,2012-12-31
AAA,2013-01-01,
BBB,2011-03-01,2011-06-30
CCC,2010-01-04,
"""


def stored(engine: Engine) -> list[tuple[str, str, date, date | None]]:
    query = select(
        IndexMembership.index_name, IndexMembership.ticker, IndexMembership.start_date, IndexMembership.end_date
    ).order_by(IndexMembership.index_name, IndexMembership.ticker, IndexMembership.start_date)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query).all()]


def imports(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(DataImport)).scalar_one())


# --- importing -----------------------------------------------------------------------------------------


def test_a_membership_file_is_stored_as_spans_with_empty_ends_for_current_members(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_text(tmp_path / "sp500.csv", GOOD)
    report = import_membership_file(engine, path)
    assert stored(engine) == [
        ("SP500", "AAA", date(2010, 1, 4), date(2012, 12, 31)),
        ("SP500", "AAA", date(2013, 1, 1), None),
        ("SP500", "BBB", date(2011, 3, 1), date(2011, 6, 30)),
        ("SP500", "CCC", date(2010, 1, 4), None),
    ]
    assert (report.spans, report.tickers, report.open_spans, report.first_day, report.replaced) == (
        4,
        3,
        2,
        date(2010, 1, 4),
        0,
    )
    assert report.summary() == (
        f"SP500 membership: 4 span(s) of 3 ticker(s) read from {path}, from 2010-01-04, 2 still open"
    )
    assert imports(engine) == 1


def test_a_gzipped_membership_file_reads_like_a_plain_one(engine: Engine, tmp_path: Path) -> None:
    import_membership_file(engine, write_text(tmp_path / "sp500.csv.gz", GOOD))
    assert len(stored(engine)) == 4


def test_importing_an_index_again_replaces_its_spans_and_leaves_other_indices_alone(
    engine: Engine, tmp_path: Path
) -> None:
    import_membership_file(engine, write_text(tmp_path / "sp500.csv", GOOD))
    import_membership_file(engine, write_text(tmp_path / "listed.csv", f"{HEADER}\nZZZ,2000-01-03,"), index="universe")
    report = import_membership_file(engine, write_text(tmp_path / "new.csv", f"{HEADER}\nDDD,2015-01-02,"))
    assert report.replaced == 4
    assert stored(engine) == [("SP500", "DDD", date(2015, 1, 2), None), ("universe", "ZZZ", date(2000, 1, 3), None)]


BAD_FILES = {
    "an unparseable start date": ("AAA,2010-01-04,\nBBB,04/01/2010,", 3, "start_date '04/01/2010' is not a date"),
    "a day that does not exist": ("AAA,2010-02-30,", 2, "start_date '2010-02-30' is not a date"),
    "an unparseable end date": ("AAA,2010-01-04,soon", 2, "end_date 'soon' is not a date"),
    "a missing start date": ("AAA,,2012-01-03", 2, "missing start_date"),
    "an end before its start": ("AAA,2012-01-03,2011-12-30", 2, "end_date 2011-12-30 is before start_date 2012-01-03"),
    "a missing ticker": (",2010-01-04,", 2, "missing ticker"),
    "an invalid ticker": ("A A,2010-01-04,", 2, "invalid ticker 'A A'"),
    "spans of one ticker that share a day": (
        "AAA,2010-01-04,2012-12-31\nBBB,2010-01-04,\nAAA,2012-12-31,",
        4,
        "AAA's span 2012-12-31..open overlaps its span 2010-01-04..2012-12-31",
    ),
    "a span inside an open span": (
        "AAA,2010-01-04,\nAAA,2014-01-02,2014-12-31",
        3,
        "AAA's span 2014-01-02..2014-12-31 overlaps its span 2010-01-04..open",
    ),
    "the same span twice": ("AAA,2010-01-04,2011-01-03\nAAA,2010-01-04,2011-01-03", 3, "overlaps"),
}


@pytest.mark.parametrize(("rows", "line", "reason"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_row_refuses_the_whole_file_naming_its_line_and_writes_nothing(
    engine: Engine, tmp_path: Path, rows: str, line: int, reason: str
) -> None:
    import_membership_file(engine, write_text(tmp_path / "before.csv", GOOD))
    before = stored(engine)
    path = write_text(tmp_path / "bad.csv", f"{HEADER}\n{rows}")
    with pytest.raises(MembershipRejected) as raised:
        import_membership_file(engine, path)
    assert str(raised.value).startswith(f"{path}:{line}: ")
    assert reason in str(raised.value)
    assert str(raised.value).endswith("nothing was written")
    assert stored(engine) == before
    assert imports(engine) == 1


def test_every_bad_row_is_listed_in_file_order(tmp_path: Path, engine: Engine) -> None:
    path = write_text(tmp_path / "bad.csv", f"{HEADER}\nAAA,2010-01-04,\nBBB,2010-13-01,\nAAA,2011-01-03,\nCCC,x,y")
    with pytest.raises(MembershipRejected) as raised:
        import_membership_file(engine, path)
    problems = raised.value.problems
    assert [p.where for p in problems] == [f"{path}:3", f"{path}:4", f"{path}:5", f"{path}:5"]
    assert "2 more bad row(s)" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ticker,start_date\nAAA,2010-01-04", "bad.csv:1: missing column(s) end_date"),
        (HEADER, "bad.csv: no membership rows after the header"),
    ],
    ids=["a missing column", "a header without rows"],
)
def test_a_file_without_the_columns_or_the_rows_is_refused(
    engine: Engine, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ImportRejected, match=re.escape(message)):
        import_membership_file(engine, write_text(tmp_path / "bad.csv", text))
    assert stored(engine) == []


def test_an_index_name_with_spaces_is_refused_before_reading_the_file(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match="invalid index name 'S P'"):
        import_membership_file(engine, write_text(tmp_path / "sp500.csv", GOOD), index="S P")


def test_spans_built_in_memory_are_checked_like_a_file(engine: Engine) -> None:
    spans = [MembershipSpan("AAA", date(2010, 1, 4)), MembershipSpan("AAA", date(2011, 1, 3), date(2011, 2, 1))]
    with pytest.raises(MembershipRejected, match=r"^span 2: AAA's span 2011-01-03\.\.2011-02-01 overlaps"):
        replace_membership(engine, "SP500", spans)
    assert stored(engine) == []


# --- reading back ------------------------------------------------------------------------------------


def test_the_timeline_read_back_answers_like_the_file_and_may_be_narrowed_to_one_index(
    engine: Engine, tmp_path: Path
) -> None:
    assert not has_membership_data(engine)
    assert not MembershipTimeline.load(engine).has_data
    import_membership_file(engine, write_text(tmp_path / "sp500.csv", GOOD))
    import_membership_file(engine, write_text(tmp_path / "listed.csv", f"{HEADER}\nZZZ,2000-01-03,"), index="universe")
    assert has_membership_data(engine)
    assert has_membership_data(engine, "universe")
    assert not has_membership_data(engine, "SP400")
    both, sp500 = MembershipTimeline.load(engine), MembershipTimeline.load(engine, "SP500")
    assert both.indices == ("SP500", "universe")
    assert sp500.members_on(date(2011, 3, 1)) == {"AAA", "BBB", "CCC"}
    assert both.members_on(date(2011, 3, 1)) == {"AAA", "BBB", "CCC", "ZZZ"}
    assert sp500.tickers == {"AAA", "BBB", "CCC"}
    assert sp500.first_day == date(2010, 1, 4)


SPANS = [
    MembershipSpan("AAA", date(2020, 1, 6), date(2020, 3, 31)),
    MembershipSpan("AAA", date(2020, 4, 1)),  # rejoins the next day: no gap
    MembershipSpan("BBB", date(2020, 2, 3), date(2020, 2, 3)),  # a one-day span
    MembershipSpan("CCC", date(2020, 1, 6), date(2020, 1, 31)),
]


@pytest.mark.parametrize(
    ("day", "members"),
    [
        (date(2020, 1, 5), set()),  # before the first span nobody is a member
        (date(2020, 1, 6), {"AAA", "CCC"}),  # the start is inclusive
        (date(2020, 1, 31), {"AAA", "CCC"}),  # the end is inclusive
        (date(2020, 2, 1), {"AAA"}),  # the day after the end is out
        (date(2020, 2, 3), {"AAA", "BBB"}),
        (date(2020, 2, 4), {"AAA"}),
        (date(2020, 3, 31), {"AAA"}),
        (date(2020, 4, 1), {"AAA"}),
        (date(2099, 12, 31), {"AAA"}),  # an open span never ends
    ],
)
def test_members_on_a_day_count_both_ends_of_a_span(day: date, members: set[str]) -> None:
    assert MembershipTimeline(SPANS).members_on(day) == members


def test_members_on_a_timestamp_are_those_of_its_calendar_day() -> None:
    timeline = MembershipTimeline(SPANS)
    assert timeline.members_on(pd.Timestamp("2020-02-03")) == {"AAA", "BBB"}


def test_days_between_two_changes_share_one_member_set() -> None:
    timeline = MembershipTimeline(SPANS)
    assert timeline.members_on(date(2020, 2, 10)) is timeline.members_on(date(2020, 3, 20))


def test_a_timeline_without_spans_has_no_filter_to_hand_the_market_views() -> None:
    empty = MembershipTimeline(())
    assert not empty.has_data
    assert empty.members_filter is None
    assert empty.members_on(date(2020, 1, 6)) == frozenset()
    assert empty.first_day is None
    assert MembershipTimeline(SPANS).members_filter is not None


DAYS = st.dates(min_value=date(2019, 12, 1), max_value=date(2020, 12, 31))
SPAN = st.builds(
    lambda ticker, start, length: MembershipSpan(ticker, start, None if length < 0 else start + timedelta(length)),
    st.sampled_from(["AAA", "BBB", "CCC", "DDD"]),
    DAYS,
    st.integers(min_value=-1, max_value=120),
)


@given(spans=st.lists(SPAN, max_size=12), days=st.lists(DAYS, min_size=1, max_size=20))
def test_members_on_any_day_are_the_tickers_of_the_spans_covering_it(
    spans: list[MembershipSpan], days: list[date]
) -> None:
    timeline = MembershipTimeline(spans)
    for day in days:
        assert timeline.members_on(day) == {span.ticker for span in spans if span.covers(day)}
