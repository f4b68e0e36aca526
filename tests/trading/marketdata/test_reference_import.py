from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import write_text
from trading.db.schema import Fundamental, Security
from trading.errors import ImportRejected
from trading.marketdata.reference_import import (
    ReferenceImportRejected,
    fundamentals_as_of,
    import_fundamentals,
    import_securities,
)


def _count(engine: Engine, model: type[Security] | type[Fundamental]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def test_securities_import_accepts_vendor_column_names_and_ignores_extras(engine: Engine, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "tickers.csv",
        """ticker,name,asset_type,gics_sector,has_prices
        MMM,3M Company,stock,Industrials,True
        SPY,SPDR S&P 500,etf,,True
        ^VIX,CBOE Volatility Index,index,,True""",
    )
    report = import_securities(engine, path)
    assert report.ignored_columns == ["has_prices"]
    with engine.connect() as connection:
        rows = {r.ticker: r for r in connection.execute(select(Security)).all()}
    assert rows["MMM"].sector == "Industrials"
    assert (rows["SPY"].asset_type, rows["SPY"].sector) == ("etf", None)
    assert rows["^VIX"].is_synthetic is False
    assert rows["MMM"].source == "tickers.csv"


def test_securities_import_updates_on_a_second_import(engine: Engine, tmp_path: Path) -> None:
    import_securities(engine, write_text(tmp_path / "a.csv", "ticker,name\nAAA,Old Name"))
    import_securities(engine, write_text(tmp_path / "b.csv", "ticker,name\nAAA,New Name"))
    with engine.connect() as connection:
        assert connection.execute(select(Security.name)).scalar_one() == "New Name"


def test_bad_securities_rows_are_reported_and_strict_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "s.csv",
        """ticker,asset_type
        AAA,stock
        BB B,stock
        CCC,bond
        AAA,etf""",
    )
    with pytest.raises(ReferenceImportRejected) as rejected:
        import_securities(engine, path, strict=True)
    assert sorted(str(p) for p in rejected.value.report.problems) == [
        f"{path}:3: invalid ticker 'BB B'",
        f"{path}:4: unknown asset_type 'bond'; expected one of stock, etf, index, fund, other",
        f"{path}:5: duplicate ticker 'AAA'; first seen at line 2",
    ]
    assert _count(engine, Security) == 0
    report = import_securities(engine, path)
    assert report.rows_written == 1
    assert _count(engine, Security) == 1


def test_a_securities_file_without_a_ticker_column_is_rejected(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match=r"s\.csv:1: missing column 'ticker'"):
        import_securities(engine, write_text(tmp_path / "s.csv", "symbol_name,sector\nA,B"))


SNAPSHOT = """ticker,name,gics_sector,price,pe_ratio,market_cap,snapshot_date
AAA,Alpha,Tech,10.5,20.1,1000000,2018-02-08
BBB,Beta,Energy,20,,2500000,2018-02-08"""


def test_a_fundamentals_snapshot_is_invisible_before_its_as_of_date(engine: Engine, tmp_path: Path) -> None:
    report = import_fundamentals(engine, write_text(tmp_path / "f.csv", SNAPSHOT), date(2018, 2, 8))
    assert report.ignored_columns == ["name", "gics_sector", "snapshot_date"]
    assert report.rows_written == 5  # BBB has no P/E: no row rather than a made-up value
    assert fundamentals_as_of(engine, date(2018, 2, 7)).empty
    visible = fundamentals_as_of(engine, date(2018, 2, 8))
    assert visible.loc["AAA", "pe_ratio"] == pytest.approx(20.1)
    assert visible.loc["BBB", "market_cap"] == 2_500_000


def test_the_latest_snapshot_on_or_before_the_date_wins(engine: Engine, tmp_path: Path) -> None:
    import_fundamentals(engine, write_text(tmp_path / "a.csv", "ticker,market_cap\nAAA,100"), date(2020, 1, 2))
    import_fundamentals(engine, write_text(tmp_path / "b.csv", "ticker,market_cap\nAAA,200"), date(2021, 1, 4))
    assert fundamentals_as_of(engine, date(2020, 12, 31)).loc["AAA", "market_cap"] == 100
    assert fundamentals_as_of(engine, date(2021, 1, 4)).loc["AAA", "market_cap"] == 200
    assert fundamentals_as_of(engine, date(2021, 6, 1), ["pe_ratio"]).empty


def test_an_as_of_date_before_the_snapshot_date_is_refused_as_look_ahead(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match="before the file's snapshot_date 2018-02-08"):
        import_fundamentals(engine, write_text(tmp_path / "f.csv", SNAPSHOT), date(2018, 2, 7))
    assert _count(engine, Fundamental) == 0


def test_unparseable_fundamental_values_are_reported_per_row(engine: Engine, tmp_path: Path) -> None:
    path = write_text(tmp_path / "f.csv", "ticker,pe_ratio,market_cap\nAAA,12,100\nBBB,n/a,200\nCCC,14,300")
    with pytest.raises(ReferenceImportRejected):
        import_fundamentals(engine, path, date(2020, 1, 2), strict=True)
    assert _count(engine, Fundamental) == 0
    report = import_fundamentals(engine, path, date(2020, 1, 2))
    assert [str(p) for p in report.problems] == [f"{path}:3: unparseable pe_ratio 'n/a'"]
    assert sorted(fundamentals_as_of(engine, date(2020, 1, 2)).index) == ["AAA", "CCC"]
