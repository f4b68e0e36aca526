from __future__ import annotations

import gzip
import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import BAR_HEADER, bar_line, market_file, sessions, write_text
from trading.db.schema import DataImport, PriceBar
from trading.errors import ImportRejected
from trading.marketdata.bars_import import BarImportRejected, import_bar_files
from trading.marketdata.calendar import TradingCalendar, exchange_today

DAY = date(2024, 1, 2)
TODAY = date(2024, 6, 28)  # the exchange's "today" the rows below are judged against
LONG_HISTORY = date(2010, 1, 4)  # thousands of sessions from here still end in the past


def _bar_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(PriceBar)).scalar_one())


def _bar(engine: Engine, ticker: str, day: date) -> PriceBar:
    with engine.connect() as connection:
        row = connection.execute(select(PriceBar).where(PriceBar.ticker == ticker, PriceBar.date == day)).one()
    return PriceBar(**row._asdict())


def _imports(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(DataImport)).scalar_one())


def test_a_clean_file_is_imported_with_exact_values(engine: Engine, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "bars.csv",
        f"""{BAR_HEADER}
        1999-11-01,AAPL,80.0,80.69,77.37,77.62,0.59687874,2487300,0.0,1.0
        1999-11-01,BRK.B,10,11,9,10.5,10.5,100,0.25,1.0""",
    )
    report = import_bar_files(engine, [path])
    assert (report.rows_read, report.rows_inserted, report.rows_updated, report.rows_rejected) == (2, 2, 0, 0)
    bar = _bar(engine, "AAPL", date(1999, 11, 1))
    assert bar.close == Decimal("77.62")
    assert bar.adj_close == Decimal("0.59687874")
    assert bar.volume == 2487300
    assert _bar(engine, "BRK.B", date(1999, 11, 1)).dividend == Decimal("0.25")
    assert _imports(engine) == 1


def test_importing_the_same_file_again_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = market_file(tmp_path / "bars.csv.gz", ["AAA", "BBB", "CCC"], sessions(DAY, 30))
    first = import_bar_files(engine, [path])
    second = import_bar_files(engine, [path])
    assert first.rows_inserted == 90
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (0, 0, 90)
    assert _bar_count(engine) == 90


def test_a_corrected_file_updates_only_the_rows_it_corrects(engine: Engine, tmp_path: Path) -> None:
    days = sessions(DAY, 5)
    original = market_file(tmp_path / "v1.csv", ["AAA"], days)
    import_bar_files(engine, [original])
    lines = original.read_text().splitlines()
    lines[3] = bar_line(days[2], "AAA", 55.5)
    corrected = write_text(tmp_path / "v2.csv", "\n".join(lines))
    report = import_bar_files(engine, [corrected])
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged) == (0, 1, 4)
    assert _bar(engine, "AAA", days[2]).close == Decimal("55.5")


def test_rows_with_only_an_adjusted_close_are_valid(engine: Engine, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "etf.csv",
        """date,ticker,open,high,low,close,adj_close,volume
        2024-01-02,GLD,,,,,190.25,
        2024-01-02,^VIX,13.2,14.1,12.9,13.5,13.5,""",
    )
    report = import_bar_files(engine, [path])
    assert report.rows_rejected == 0
    gld = _bar(engine, "GLD", DAY)
    assert (gld.open, gld.close, gld.volume, gld.adj_close) == (None, None, None, Decimal("190.25"))
    assert (gld.dividend, gld.split_coef) == (Decimal(0), Decimal(1))
    assert _bar(engine, "^VIX", DAY).volume is None


BAD_ROWS = [
    ("2024-13-01,AAA,1,1,1,1,1,10,0,1", "unparseable date '2024-13-01'"),
    ("yesterday,AAA,1,1,1,1,1,10,0,1", "unparseable date 'yesterday'"),
    ("2024-01-02,AAA,1,1,1,abc,1,10,0,1", "unparseable close 'abc'"),
    ("2024-01-02,AAA,1,1,1,1,inf,10,0,1", "unparseable adj_close 'inf'"),
    ("2024-01-02,AAA,1,1,1,1,1,10,0,nan", "unparseable split_coef 'nan'"),
    ("2024-01-02,AAA,1,1,1,0,1,10,0,1", "close <= 0 (close=0)"),
    ("2024-01-02,AAA,-2,1,1,1,1,10,0,1", "open <= 0 (open=-2)"),
    ("2024-01-02,AAA,1,1,1,1,-0.5,10,0,1", "adj_close <= 0 (adj_close=-0.5)"),
    ("2024-01-02,AAA,1,9,10,9.5,9.5,10,0,1", "high < low (high=9, low=10)"),
    ("2024-01-02,AAA,1,1,1,1,1,-5,0,1", "negative volume (-5)"),
    ("2024-01-02,AAA,1,1,1,1,1,10.5,0,1", "volume is not a whole number (10.5)"),
    ("2024-01-02,AAA,1,1,1,1,1,10,-1,1", "negative dividend (-1)"),
    ("2024-01-02,AAA,1,1,1,1,1,10,0,0", "split_coef <= 0 (0)"),
    ("2024-01-02,AAA,1,1,1,1,,10,0,1", "missing adj_close"),
    ("2024-01-02,,1,1,1,1,1,10,0,1", "missing ticker"),
    ("2024-01-02,A A,1,1,1,1,1,10,0,1", "invalid ticker 'A A'"),
    ("2024-01-02,AAA,1,1,1,1,1,10,0,1,99", "too many fields: the header has 10, this line has 11"),
    ("2024-01-02,AAA,1,1,1,1,1,10,0,1,99,98", "too many fields: the header has 10, this line has 12"),
    ("", "empty line"),
    (",,,,,,,,,", "empty line"),
    ("2024-07-01,AAA,1,1,1,1,1,10,0,1", "date 2024-07-01 is after today (2024-06-28 in New York)"),
    ("2099-01-02,AAA,1,1,1,1,1,10,0,1", "date 2099-01-02 is after today (2024-06-28 in New York)"),
    ("2024-01-06,AAA,1,1,1,1,1,10,0,1", "2024-01-06 is not a XNYS session"),  # a Saturday
    ("2024-01-15,AAA,1,1,1,1,1,10,0,1", "2024-01-15 is not a XNYS session"),  # Martin Luther King Jr. Day
    ("2024-06-19,AAA,1,1,1,1,1,10,0,1", "2024-06-19 is not a XNYS session"),  # Juneteenth
    ("2024-01-02,AAA,1,1,1,1,1,1e30,0,1", "volume out of range (1e+30): it must fit a signed 64-bit integer"),
    ("2024-01-02,AAA,1,1,1,1,1,9.3e18,0,1", "volume out of range (9.3e+18): it must fit a signed 64-bit integer"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_ROWS, ids=[reason for _, reason in BAD_ROWS])
def test_a_bad_row_is_reported_with_file_line_and_reason_and_skipped(
    engine: Engine, tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(f"{BAR_HEADER}\n{bar_line(DAY, 'GOOD', 10)}\n{line}\n{bar_line(DAY, 'ALSO', 20)}\n")
    report = import_bar_files(engine, [path], today=TODAY)
    assert report.rows_rejected == 1
    assert [str(p) for p in report.problems] == [f"{path}:3: {reason}"]
    assert report.rows_inserted == 2
    assert _bar_count(engine) == 2


@pytest.mark.parametrize(("line", "reason"), BAD_ROWS, ids=[reason for _, reason in BAD_ROWS])
def test_under_strict_a_bad_row_aborts_with_nothing_written(
    engine: Engine, tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(f"{BAR_HEADER}\n{bar_line(DAY, 'GOOD', 10)}\n{line}\n")
    with pytest.raises(BarImportRejected, match="1 bad row") as rejected:
        import_bar_files(engine, [path], strict=True, today=TODAY)
    assert [str(p) for p in rejected.value.report.problems] == [f"{path}:3: {reason}"]
    assert _bar_count(engine) == 0
    assert _imports(engine) == 0


def test_a_duplicate_key_names_the_line_it_repeats_even_across_chunks(engine: Engine, tmp_path: Path) -> None:
    rows = [bar_line(day, "AAA", 10) for day in sessions(LONG_HISTORY, 2500)]
    rows.append(bar_line(LONG_HISTORY, "AAA", 99))  # repeats line 2, far past the first chunk
    rows.append(bar_line(LONG_HISTORY, "BBB", 5))
    rows.append(bar_line(LONG_HISTORY, "BBB", 6))  # repeats the line just above, within a chunk
    path = write_text(tmp_path / "bars.csv", "\n".join([BAR_HEADER, *rows]))
    report = import_bar_files(engine, [path], chunk_rows=1000)
    assert [str(p) for p in report.problems] == [
        f"{path}:2502: duplicate (ticker, date) key; first seen at line 2",
        f"{path}:2504: duplicate (ticker, date) key; first seen at line 2503",
    ]
    assert _bar(engine, "AAA", LONG_HISTORY).close == Decimal(10)
    assert _bar(engine, "BBB", LONG_HISTORY).close == Decimal(5)


def test_line_numbers_stay_true_after_a_malformed_line(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        f"{BAR_HEADER}\n2024-01-02,AAA,1,1,1,1,1,10,0,1,extra\n{bar_line(DAY, 'BBB', 1)}\n"
        "2024-01-02,CCC,1,1,1,1,-1,10,0,1\n"
    )
    report = import_bar_files(engine, [path])
    assert sorted(str(p) for p in report.problems) == [
        f"{path}:2: too many fields: the header has 10, this line has 11",
        f"{path}:4: adj_close <= 0 (adj_close=-1)",
    ]


def test_every_row_problem_is_listed_when_a_row_has_several(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(f"{BAR_HEADER}\n2024-01-02,AAA,1,5,6,-1,1,10,0,1\n")
    report = import_bar_files(engine, [path])
    assert report.rows_rejected == 1
    assert {p.reason for p in report.problems} == {"close <= 0 (close=-1)", "high < low (high=5, low=6)"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (f"{BAR_HEADER},comment", "unknown column(s) 'comment'"),
        ("date,ticker,open,high,low,close,volume", "missing column(s) 'adj_close'"),
        ("date,ticker,open,high,low,close,adj_close,volume,volume", "repeated column(s) 'volume'"),
    ],
)
def test_a_bad_header_rejects_the_import_with_nothing_written(
    engine: Engine, tmp_path: Path, header: str, message: str
) -> None:
    good = market_file(tmp_path / "good.csv", ["AAA"], sessions(DAY, 3))
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{header}\n")
    with pytest.raises(ImportRejected) as rejected:
        import_bar_files(engine, [good, bad])
    assert str(rejected.value) == f"{bad}:1: {message}"
    assert _bar_count(engine) == 0


def test_a_missing_or_empty_file_rejects_the_import(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match=r"nope\.csv: no such file"):
        import_bar_files(engine, [tmp_path / "nope.csv"])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ImportRejected, match=r"empty\.csv:1: the file is empty"):
        import_bar_files(engine, [tmp_path / "empty.csv"])
    assert _bar_count(engine) == 0


def test_a_truncated_gzip_file_rejects_the_import_with_nothing_written(engine: Engine, tmp_path: Path) -> None:
    full = market_file(tmp_path / "full.csv.gz", ["AAA", "BBB"], sessions(LONG_HISTORY, 400))
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImportRejected, match=r"truncated\.csv\.gz: unreadable CSV"):
        import_bar_files(engine, [truncated])
    assert _bar_count(engine) == 0


def test_header_names_are_matched_without_case_or_spaces_and_optional_columns_default(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_text(
        tmp_path / "bars.csv", " Date , Ticker,Open,High,Low,Close,Adj_Close,Volume\n2024-01-02,AAA,1,2,1,2,2,5"
    )
    import_bar_files(engine, [path])
    bar = _bar(engine, "AAA", DAY)
    assert (bar.high, bar.dividend, bar.split_coef) == (Decimal(2), Decimal(0), Decimal(1))


def test_later_files_win_when_two_files_carry_the_same_key_and_the_report_names_both_rows(
    engine: Engine, tmp_path: Path
) -> None:
    first = write_text(tmp_path / "a.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'BBB', 5)}\n{bar_line(DAY, 'AAA', 10)}")
    second = write_text(tmp_path / "b.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'AAA', 11)}")
    report = import_bar_files(engine, [first, second])
    assert (report.rows_inserted, report.rows_updated) == (2, 1)
    assert _bar(engine, "AAA", DAY).close == Decimal(11)
    assert report.keys_conflicting == 1
    assert [str(c) for c in report.conflicts] == [
        f"{second}:2: (AAA, 2024-01-02) is also at {first}:3; this row, from the later file, was kept"
    ]
    assert "1 row(s) repeat a (ticker, date) of an earlier file: the later file's row was kept" in report.summary()


def test_a_third_file_names_the_row_it_replaces_not_the_first_one(engine: Engine, tmp_path: Path) -> None:
    paths = [write_text(tmp_path / f"{n}.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'AAA', 10 + n)}") for n in range(3)]
    report = import_bar_files(engine, paths)
    assert [(c.path, c.earlier_path) for c in report.conflicts] == [
        (str(paths[1]), str(paths[0])),
        (str(paths[2]), str(paths[1])),
    ]
    assert _bar(engine, "AAA", DAY).close == Decimal(12)


def test_under_strict_the_same_key_in_two_files_aborts_with_nothing_written(engine: Engine, tmp_path: Path) -> None:
    first = write_text(tmp_path / "a.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'AAA', 10)}")
    second = write_text(tmp_path / "b.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'AAA', 11)}")
    expected = re.escape("--strict: 1 row(s) repeating a (ticker, date) of an earlier file; nothing was written")
    with pytest.raises(BarImportRejected, match=expected) as rejected:
        import_bar_files(engine, [first, second], strict=True)
    assert [str(c) for c in rejected.value.report.conflicts] == [
        f"{second}:2: (AAA, 2024-01-02) is also at {first}:2; under --strict a key may come from one file only"
    ]
    assert (_bar_count(engine), _imports(engine)) == (0, 0)


def test_a_bad_row_in_a_later_file_is_no_conflict_with_an_earlier_good_one(engine: Engine, tmp_path: Path) -> None:
    first = write_text(tmp_path / "a.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'AAA', 10)}")
    second = write_text(tmp_path / "b.csv", f"{BAR_HEADER}\n2024-01-02,AAA,1,1,1,-1,1,10,0,1")
    report = import_bar_files(engine, [first, second])
    assert (report.keys_conflicting, report.rows_rejected) == (0, 1)
    assert _bar(engine, "AAA", DAY).close == Decimal(10)


def test_a_file_with_only_a_header_is_refused_and_records_no_import(engine: Engine, tmp_path: Path) -> None:
    empty = write_text(tmp_path / "empty.csv", BAR_HEADER)
    with pytest.raises(ImportRejected) as rejected:
        import_bar_files(engine, [empty])
    assert str(rejected.value) == f"{empty}: held no rows (only a header); nothing was imported"
    also_empty = write_text(tmp_path / "also.csv.gz", BAR_HEADER)
    with pytest.raises(ImportRejected, match="none of the files held any rows; nothing was imported"):
        import_bar_files(engine, [empty, also_empty])
    assert (_bar_count(engine), _imports(engine)) == (0, 0)


def test_a_header_only_file_beside_others_is_reported_as_holding_no_rows(engine: Engine, tmp_path: Path) -> None:
    empty = write_text(tmp_path / "empty.csv", BAR_HEADER)
    good = market_file(tmp_path / "good.csv", ["AAA"], sessions(DAY, 3))
    report = import_bar_files(engine, [empty, good])
    assert report.empty_files == [str(empty)]
    assert report.summary().endswith("; 1 file(s) held no rows")
    assert (_bar_count(engine), _imports(engine)) == (3, 1)


NOT_UTF8 = b"2024-01-02,B\xe9B,1,1,1,1,1,10,0,1"  # Latin-1 e-acute inside the ticker


def _latin1_file(path: Path, good_rows: int) -> Path:
    days = sessions(LONG_HISTORY, (good_rows + 1) // 2)
    rows = [bar_line(day, ticker, 10).encode() for ticker in ("AAA", "BBB") for day in days][:good_rows]
    path.write_bytes(b"\n".join([BAR_HEADER.encode(), *rows, NOT_UTF8, bar_line(DAY, "ZZZ", 5).encode()]) + b"\n")
    return path


def test_a_row_that_is_not_utf8_is_reported_on_its_true_line_and_skipped(engine: Engine, tmp_path: Path) -> None:
    # Far past the text decoder's first block, so a decode error would have named the wrong place.
    path = _latin1_file(tmp_path / "latin1.csv", 5000)
    report = import_bar_files(engine, [path], chunk_rows=1000)
    assert [str(p) for p in report.problems] == [f"{path}:5002: not valid UTF-8 (byte 0xe9 in ticker)"]
    assert (report.rows_read, report.rows_rejected) == (5002, 1)
    assert _bar(engine, "ZZZ", DAY).close == Decimal(5)
    assert _bar_count(engine) == 5001


def test_under_strict_a_row_that_is_not_utf8_aborts_with_nothing_written(engine: Engine, tmp_path: Path) -> None:
    path = _latin1_file(tmp_path / "latin1.csv", 3)
    with pytest.raises(BarImportRejected, match="1 bad row") as rejected:
        import_bar_files(engine, [path], strict=True)
    assert [str(p) for p in rejected.value.report.problems] == [f"{path}:5: not valid UTF-8 (byte 0xe9 in ticker)"]
    assert (_bar_count(engine), _imports(engine)) == (0, 0)


def test_a_header_that_is_not_utf8_rejects_the_import(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(
        BAR_HEADER.replace("ticker", "tick\xe9r").encode("latin-1") + b"\n" + bar_line(DAY, "A", 1).encode()
    )
    with pytest.raises(ImportRejected) as rejected:
        import_bar_files(engine, [path])
    assert str(rejected.value) == f"{path}:1: the header is not valid UTF-8 (byte 0xe9)"


def test_gzip_garbage_after_the_header_rejects_the_import_with_one_line_naming_the_file(
    engine: Engine, tmp_path: Path
) -> None:
    good = gzip.compress(market_file(tmp_path / "plain.csv", ["AAA"], sessions(DAY, 3)).read_bytes())
    garbage = tmp_path / "garbage.csv.gz"
    garbage.write_bytes(good[:10] + bytes(range(256)) * 4)  # a gzip header, then no deflate stream
    with pytest.raises(ImportRejected) as rejected:
        import_bar_files(engine, [garbage])
    message = str(rejected.value)
    assert message.startswith(f"{garbage}:1: cannot read the header (corrupt or truncated gzip data: ")
    assert "\n" not in message
    assert (_bar_count(engine), _imports(engine)) == (0, 0)


def test_gzip_garbage_past_the_first_chunks_names_the_last_good_line_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    full = market_file(tmp_path / "full.csv.gz", ["AAA", "BBB"], sessions(LONG_HISTORY, 3000)).read_bytes()
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(full[: len(full) // 2] + os.urandom(4096))
    with pytest.raises(ImportRejected, match=r"damaged\.csv\.gz: unreadable CSV after line \d+ \(corrupt or truncated"):
        import_bar_files(engine, [damaged], chunk_rows=500)
    assert (_bar_count(engine), _imports(engine)) == (0, 0)


def test_a_bar_dated_after_todays_date_in_new_york_is_refused_by_default(engine: Engine, tmp_path: Path) -> None:
    today = exchange_today()
    path = write_text(
        tmp_path / "spy.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'SPY', 470)}\n2099-01-02,SPY,1,1,1,1,1,1,0,1"
    )
    with pytest.raises(BarImportRejected) as rejected:
        import_bar_files(engine, [path], strict=True)
    assert [p.reason for p in rejected.value.report.problems] == [
        f"date 2099-01-02 is after today ({today} in New York)"
    ]
    report = import_bar_files(engine, [path])
    assert report.rows_rejected == 1
    # Without the 2099 bar in the benchmark's history, real dates stay sessions.
    calendar = TradingCalendar.from_database(engine, "SPY")
    assert (calendar.last_session, calendar.is_session(date(2024, 1, 3))) == (DAY, True)


def test_a_bar_dated_today_is_accepted_and_one_dated_tomorrow_is_not(engine: Engine, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "bars.csv",
        f"{BAR_HEADER}\n{bar_line(date(2024, 6, 27), 'AAA', 10)}\n{bar_line(date(2024, 6, 28), 'AAA', 11)}",
    )
    assert import_bar_files(engine, [path], today=date(2024, 6, 27)).rows_rejected == 1
    assert import_bar_files(engine, [path], today=date(2024, 6, 28)).rows_rejected == 0


def test_progress_is_reported_in_bytes_up_to_the_file_size(engine: Engine, tmp_path: Path) -> None:
    path = market_file(tmp_path / "bars.csv.gz", ["AAA", "BBB"], sessions(LONG_HISTORY, 2000))
    seen: list[int] = []
    import_bar_files(engine, [path], chunk_rows=1000, on_progress=lambda _path, done: seen.append(done))
    assert len(seen) == 4
    assert seen == sorted(seen)
    assert seen[-1] == path.stat().st_size
