"""Facts stated in the shared data set's PROVENANCE.md, checked through the fund's own imports and
views on both backends. Fast: the benchmarks file in full, the stock file only for its first
three months (1999-11-01 .. 2000-01-31). The whole stock file is the `fullreal` test."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from trading.db.schema import PriceBar, Security
from trading.errors import ImportRejected
from trading.marketdata.bars_import import ImportReport, import_bar_files
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.quality import check_data_gate, data_status
from trading.marketdata.reference_import import fundamentals_as_of, import_fundamentals, import_securities
from trading.marketdata.view import load_panel
from trading.settings import DataSettings

pytestmark = pytest.mark.realdata

FIRST_DAY = date(1999, 11, 1)
LAST_DAY = date(2021, 4, 21)
SLICE_LAST_DAY = date(2000, 1, 31)
BENCHMARK_ROWS = 140_316
STOCK_ROWS = 2_402_891
SNAPSHOT_DATE = date(2018, 2, 8)
SNAPSHOT_FILE = "fundamentals_snapshot_2018-02-08.csv"


@dataclass(frozen=True)
class StockSlice:
    path: Path
    rows: int


def _write_stock_slice(source: Path, target: Path, last_day: date) -> int:
    """Copy the header and the rows up to `last_day` (the file is sorted by date), stopping at the
    first later row instead of reading all 2.4 M rows."""
    rows = 0
    with (
        gzip.open(source, "rt", encoding="utf-8", newline="") as src,
        gzip.open(target, "wt", encoding="utf-8", newline="") as dst,
    ):
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        writer.writerow(next(reader))
        for row in reader:
            if date.fromisoformat(row[0]) > last_day:
                break
            writer.writerow(row)
            rows += 1
    return rows


@pytest.fixture
def stock_slice(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> StockSlice:
    """The stock file's first three months, written once per session and shared by the tests."""
    folder = tmp_path_factory.getbasetemp() / "realdata-slice"
    path, count_file = folder / "prices_stocks_1999-11_2000-01.csv.gz", folder / "rows"
    if not count_file.is_file():
        folder.mkdir(exist_ok=True)
        rows = _write_stock_slice(real_data_dir / "prices_stocks.csv.gz", path, SLICE_LAST_DAY)
        count_file.write_text(str(rows))
    return StockSlice(path, int(count_file.read_text()))


@dataclass(frozen=True)
class Market:
    benchmarks: ImportReport
    stocks: ImportReport


@pytest.fixture
def market(engine: Engine, real_data_dir: Path, stock_slice: StockSlice) -> Market:
    """The engine with the whole benchmarks file and the stock slice imported."""
    benchmarks = import_bar_files(engine, [real_data_dir / "benchmarks.csv.gz"])
    stocks = import_bar_files(engine, [stock_slice.path])
    return Market(benchmarks, stocks)


def _tickers_csv(real_data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(real_data_dir / "tickers.csv", dtype={"first_date": str, "last_date": str})


def _bars(engine: Engine, ticker: str) -> pd.DataFrame:
    """A ticker's bars by date (Decimal prices, None where empty)."""
    columns = ["date", "open", "high", "low", "close", "adj_close", "volume"]
    with engine.connect() as connection:
        rows = connection.execute(
            select(*(getattr(PriceBar, c) for c in columns)).where(PriceBar.ticker == ticker).order_by(PriceBar.date)
        ).all()
    return pd.DataFrame(rows, columns=columns).set_index("date")


def test_the_benchmarks_file_imports_completely(market: Market, stock_slice: StockSlice) -> None:
    assert market.benchmarks.rows_read == BENCHMARK_ROWS
    assert (market.benchmarks.rows_inserted, market.benchmarks.rows_rejected) == (BENCHMARK_ROWS, 0)
    assert market.benchmarks.problems == []
    assert stock_slice.rows > 20_000
    assert (market.stocks.rows_read, market.stocks.rows_inserted, market.stocks.rows_rejected) == (
        stock_slice.rows,
        stock_slice.rows,
        0,
    )


def test_spy_defines_the_5402_sessions_and_the_stocks_trade_on_exactly_those(market: Market, engine: Engine) -> None:
    calendar = TradingCalendar.from_database(engine, "SPY")
    assert calendar.first_session == date(1993, 1, 29)
    assert calendar.last_session == LAST_DAY
    assert len(calendar.sessions_in(FIRST_DAY, LAST_DAY)) == 5_402
    assert not calendar.is_session(date(2000, 1, 1))
    assert calendar.is_session(date(1999, 12, 31))
    with engine.connect() as connection:
        stock_days = connection.execute(
            select(PriceBar.date).where(PriceBar.ticker == "AAPL").order_by(PriceBar.date)
        ).scalars()
        assert pd.DatetimeIndex(pd.to_datetime(list(stock_days))).equals(
            pd.DatetimeIndex(calendar.sessions_in(FIRST_DAY, SLICE_LAST_DAY))
        )


def test_vix_has_its_documented_history_and_holes(market: Market, engine: Engine) -> None:
    vix = _bars(engine, "^VIX")
    first = vix.loc[date(1990, 1, 2)]
    assert first["close"] == Decimal("17.24")
    assert first["open"] == first["high"] == first["low"] == first["adj_close"] == Decimal("17.24")
    assert vix["volume"].isna().all()
    assert (vix["adj_close"] == vix["close"]).all()
    # From SPY's first day on, VIX rows are on SPY sessions only, minus the three Cboe is missing.
    spy_days = set(_bars(engine, "SPY").index)
    vix_days = {day for day in vix.index if day >= date(1993, 1, 29)}
    assert vix_days <= spy_days
    assert spy_days - vix_days == {date(1997, 1, 31), date(1997, 11, 26), date(1999, 12, 31)}
    assert date(1999, 12, 31) not in vix.index


def test_only_spy_and_the_nine_sector_spdrs_carry_ohlc_and_only_until_2020_04_22(
    market: Market, engine: Engine, real_data_dir: Path
) -> None:
    gld = _bars(engine, "GLD")
    assert len(gld) == 4_133
    assert gld["adj_close"].notna().all()
    assert gld[["open", "high", "low", "close"]].isna().all().all()
    assert gld["volume"].isna().all()

    spy = _bars(engine, "SPY")
    with_ohlc = spy[spy["close"].notna()]
    assert with_ohlc.index.max() == date(2020, 4, 22)
    assert spy.loc[spy.index > date(2020, 4, 22), ["open", "high", "low", "close"]].isna().all().all()
    assert spy.loc[spy.index > date(2020, 4, 22), "volume"].isna().all()
    assert spy["adj_close"].notna().all()

    stocks = set(_tickers_csv(real_data_dir).query("asset_type == 'stock'")["ticker"])
    sector_spdrs = ["XLB", "XLE", "XLF", "XLI", "XLK", "XLP", "XLU", "XLV", "XLY"]
    with engine.connect() as connection:
        with_close = set(
            connection.execute(select(PriceBar.ticker).where(PriceBar.close.is_not(None)).distinct()).scalars()
        )
        last_close = connection.execute(
            select(func.max(PriceBar.date)).where(PriceBar.close.is_not(None), PriceBar.ticker.in_(sector_spdrs))
        ).scalar_one()
    assert with_close - stocks == {"SPY", "^VIX", *sector_spdrs}
    assert last_close == date(2020, 4, 22)


def test_spy_total_return_1999_to_2021_is_x4_574_through_the_point_in_time_view(market: Market, engine: Engine) -> None:
    panel = load_panel(engine, LAST_DAY, start=FIRST_DAY, fields=("adj_close",), tickers=["SPY", "^VIX"])
    spy = panel.adj_close["SPY"]
    assert panel.adj_close.index[0] == pd.Timestamp(FIRST_DAY)
    assert panel.adj_close.index[-1] == pd.Timestamp(LAST_DAY)
    assert len(spy) == 5_402
    assert spy.notna().all()
    assert spy.iloc[-1] / spy.iloc[0] == pytest.approx(4.574, rel=1e-3)
    years = (LAST_DAY - FIRST_DAY).days / 365.25
    assert (spy.iloc[-1] / spy.iloc[0]) ** (1 / years) - 1 == pytest.approx(0.0734, abs=5e-4)

    # Nothing after as_of: the same view a day earlier ends a session earlier.
    earlier = load_panel(engine, date(2021, 4, 20), start=FIRST_DAY, fields=("adj_close",), tickers=["SPY"])
    assert earlier.adj_close.index[-1] == pd.Timestamp(2021, 4, 20)
    assert len(earlier.adj_close) == 5_401


def test_the_stock_slice_has_the_documented_values(
    engine: Engine, stock_slice: StockSlice, real_data_dir: Path
) -> None:
    report = import_bar_files(engine, [stock_slice.path])
    assert (report.rows_inserted, report.rows_rejected) == (stock_slice.rows, 0)

    aapl = _bars(engine, "AAPL").loc[FIRST_DAY]
    assert aapl["close"] == Decimal("77.62")
    assert aapl["adj_close"] == Decimal("0.59687874")
    assert (aapl["open"], aapl["high"], aapl["low"]) == (Decimal("80.0"), Decimal("80.69"), Decimal("77.37"))
    assert aapl["volume"] == 2_487_300

    tickers = _tickers_csv(real_data_dir)
    full_history = tickers[(tickers["asset_type"] == "stock") & (tickers["first_date"] == FIRST_DAY.isoformat())]
    with engine.connect() as connection:
        on_first_day = set(connection.execute(select(PriceBar.ticker).where(PriceBar.date == FIRST_DAY)).scalars())
        on_last_day = set(connection.execute(select(PriceBar.ticker).where(PriceBar.date == SLICE_LAST_DAY)).scalars())
    assert on_first_day == set(full_history["ticker"])
    assert len(on_first_day) == 365
    # Every stock whose history starts inside the slice is in it from its first_date on.
    started = tickers[(tickers["first_date"] <= SLICE_LAST_DAY.isoformat()) & (tickers["asset_type"] == "stock")]
    assert on_last_day == set(started["ticker"])
    assert {"BRK.B", "AAPL", "MSFT"} <= on_first_day
    assert "BF.B" not in on_last_day


def test_the_data_gate_passes_on_a_session_and_refuses_a_holiday(
    market: Market, engine: Engine, real_data_dir: Path
) -> None:
    import_securities(engine, real_data_dir / "tickers.csv")
    tickers = _tickers_csv(real_data_dir)
    # The active universe: stocks with a bar in the 20 sessions before the date.
    expected_universe = int(
        ((tickers["asset_type"] == "stock") & (tickers["first_date"] < date(2000, 1, 3).isoformat())).sum()
    )

    verdict = check_data_gate(engine, date(2000, 1, 3), DataSettings())
    assert verdict.passed, verdict.reasons
    assert verdict.universe_size == expected_universe == 368
    assert (verdict.covered, verdict.missing) == (expected_universe, [])

    # 1999-12-31 is a session although Cboe has no VIX print for it: the gate does not need VIX.
    assert check_data_gate(engine, date(1999, 12, 31), DataSettings()).passed

    holiday = check_data_gate(engine, date(2000, 1, 1), DataSettings())
    assert not holiday.passed
    assert len(holiday.reasons) == 1
    assert "not a trading session" in holiday.reasons[0]


def test_the_fundamentals_snapshot_is_invisible_before_its_date(engine: Engine, real_data_dir: Path) -> None:
    path = real_data_dir / SNAPSHOT_FILE
    with pytest.raises(ImportRejected, match="snapshot_date"):
        import_fundamentals(engine, path, date(2018, 2, 7))
    assert fundamentals_as_of(engine, date(2030, 1, 1)).empty

    report = import_fundamentals(engine, path, SNAPSHOT_DATE)
    assert (report.rows_read, report.rows_rejected) == (505, 0)
    assert {"name", "gics_sector", "snapshot_date", "in_price_universe"} <= set(report.ignored_columns)

    assert fundamentals_as_of(engine, date(2018, 2, 7)).empty
    snapshot = fundamentals_as_of(engine, SNAPSHOT_DATE)
    assert len(snapshot) == 505
    assert snapshot["pe_ratio"].isna().sum() == 2
    assert snapshot["price_to_book"].isna().sum() == 8
    # The source's swapped 52-week columns were put right: low <= high in every row.
    assert (snapshot["week52_low"] <= snapshot["week52_high"]).all()
    assert snapshot.loc["MMM", "dividend_yield_pct"] == pytest.approx(2.3328617)
    assert snapshot.loc["MMM", "price"] == pytest.approx(222.89)
    shares = snapshot["market_cap"] / snapshot["price"]
    assert (shares / snapshot["shares_outstanding_est"]).dropna().between(0.999, 1.001).all()

    later = fundamentals_as_of(engine, date(2021, 4, 21), ["price"])
    assert list(later.columns) == ["price"]
    assert len(later) == 505


def test_tickers_csv_gives_534_securities(engine: Engine, real_data_dir: Path) -> None:
    report = import_securities(engine, real_data_dir / "tickers.csv")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (534, 534, 0)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Security)).scalar_one() == 534
        by_type = dict(
            connection.execute(select(Security.asset_type, func.count()).group_by(Security.asset_type)).tuples().all()
        )
        brk = connection.execute(select(Security.name, Security.sector).where(Security.ticker == "BRK.B")).one()
    assert by_type == {"stock": 505, "etf": 28, "index": 1}
    assert brk.sector == "Financials"
    assert brk.name is not None
    assert brk.name.startswith("Berkshire")


@pytest.mark.fullreal
def test_the_whole_stock_file_imports_with_the_documented_rows_and_gaps(engine: Engine, real_data_dir: Path) -> None:
    tickers = _tickers_csv(real_data_dir)
    with_prices = tickers[(tickers["asset_type"] == "stock") & (tickers["has_prices"].astype(str) == "True")]

    report = import_bar_files(engine, [real_data_dir / "prices_stocks.csv.gz"])
    assert (report.rows_read, report.rows_inserted, report.rows_rejected) == (STOCK_ROWS, STOCK_ROWS, 0)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(PriceBar)).scalar_one() == STOCK_ROWS
        distinct = connection.execute(select(func.count(PriceBar.ticker.distinct()))).scalar_one()
    assert distinct == len(with_prices) == 504
    assert int(with_prices["n_rows"].sum()) == STOCK_ROWS

    import_bar_files(engine, [real_data_dir / "benchmarks.csv.gz"])
    status = data_status(engine, "SPY").per_ticker.set_index("ticker")
    stocks = status.loc[list(with_prices["ticker"])]
    assert stocks["rows"].to_dict() == with_prices.set_index("ticker")["n_rows"].astype(int).to_dict()
    gaps = stocks.loc[stocks["gaps"] > 0, "gaps"].to_dict()
    assert gaps == {"KIM": 3, "RHI": 1, "SPGI": 6, "VIAC": 5, "WELL": 12}
    assert sum(gaps.values()) == 27
