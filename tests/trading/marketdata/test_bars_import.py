from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import BAR_HEADER, bar_line, market_file, weekdays, write_text
from trading.db.schema import DataImport, PriceBar
from trading.errors import ImportRejected
from trading.marketdata.bars_import import BarImportRejected, import_bar_files

DAY = date(2024, 1, 2)


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
    path = market_file(tmp_path / "bars.csv.gz", ["AAA", "BBB", "CCC"], weekdays(DAY, 30))
    first = import_bar_files(engine, [path])
    second = import_bar_files(engine, [path])
    assert first.rows_inserted == 90
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (0, 0, 90)
    assert _bar_count(engine) == 90


def test_a_corrected_file_updates_only_the_rows_it_corrects(engine: Engine, tmp_path: Path) -> None:
    days = weekdays(DAY, 5)
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
]


@pytest.mark.parametrize(("line", "reason"), BAD_ROWS, ids=[reason for _, reason in BAD_ROWS])
def test_a_bad_row_is_reported_with_file_line_and_reason_and_skipped(
    engine: Engine, tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(f"{BAR_HEADER}\n{bar_line(DAY, 'GOOD', 10)}\n{line}\n{bar_line(DAY, 'ALSO', 20)}\n")
    report = import_bar_files(engine, [path])
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
        import_bar_files(engine, [path], strict=True)
    assert [str(p) for p in rejected.value.report.problems] == [f"{path}:3: {reason}"]
    assert _bar_count(engine) == 0
    assert _imports(engine) == 0


def test_a_duplicate_key_names_the_line_it_repeats_even_across_chunks(engine: Engine, tmp_path: Path) -> None:
    rows = [bar_line(day, "AAA", 10) for day in weekdays(DAY, 2500)]
    rows.append(bar_line(DAY, "AAA", 99))  # repeats line 2, far past the first chunk
    rows.append(bar_line(DAY, "BBB", 5))
    rows.append(bar_line(DAY, "BBB", 6))  # repeats the line just above, within a chunk
    path = write_text(tmp_path / "bars.csv", "\n".join([BAR_HEADER, *rows]))
    report = import_bar_files(engine, [path], chunk_rows=1000)
    assert [str(p) for p in report.problems] == [
        f"{path}:2502: duplicate (ticker, date) key; first seen at line 2",
        f"{path}:2504: duplicate (ticker, date) key; first seen at line 2503",
    ]
    assert _bar(engine, "AAA", DAY).close == Decimal(10)
    assert _bar(engine, "BBB", DAY).close == Decimal(5)


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
    good = market_file(tmp_path / "good.csv", ["AAA"], weekdays(DAY, 3))
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
    full = market_file(tmp_path / "full.csv.gz", ["AAA", "BBB"], weekdays(DAY, 400))
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


def test_later_files_win_when_two_files_carry_the_same_key(engine: Engine, tmp_path: Path) -> None:
    first = write_text(tmp_path / "a.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'AAA', 10)}")
    second = write_text(tmp_path / "b.csv", f"{BAR_HEADER}\n{bar_line(DAY, 'AAA', 11)}")
    report = import_bar_files(engine, [first, second])
    assert (report.rows_inserted, report.rows_updated) == (1, 1)
    assert _bar(engine, "AAA", DAY).close == Decimal(11)


def test_progress_is_reported_in_bytes_up_to_the_file_size(engine: Engine, tmp_path: Path) -> None:
    path = market_file(tmp_path / "bars.csv.gz", ["AAA", "BBB"], weekdays(DAY, 2000))
    seen: list[int] = []
    import_bar_files(engine, [path], chunk_rows=1000, on_progress=lambda _path, done: seen.append(done))
    assert len(seen) == 4
    assert seen == sorted(seen)
    assert seen[-1] == path.stat().st_size
