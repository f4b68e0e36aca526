"""Small builders for test inputs: bar files and rows."""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.reference_import import import_fundamentals, import_securities
from trading.marketdata.synthetic import generate_synthetic_market

BAR_HEADER = "date,ticker,open,high,low,close,adj_close,volume,dividend,split_coef"


def write_text(path: Path, text: str) -> Path:
    """Write `text` (dedented lines) to path, gzip-compressed when the name ends in .gz."""
    body = "\n".join(line.strip() for line in text.strip().splitlines()) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(body)
    else:
        path.write_text(body, encoding="utf-8")
    return path


def bar_line(day: date, ticker: str, close: float, volume: int = 1000, dividend: float = 0.0) -> str:
    return f"{day},{ticker},{close},{close * 1.01:.4f},{close * 0.99:.4f},{close},{close},{volume},{dividend},1.0"


def weekdays(start: date, count: int) -> list[date]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def sessions(start: date, count: int) -> list[date]:
    """The first `count` XNYS sessions from `start` on: bar dates the import accepts (unlike
    `weekdays`, which keeps holidays)."""
    # count sessions always lie within 2 * count + 14 calendar days.
    days = TradingCalendar(pd.DatetimeIndex([])).sessions_in(start, start + timedelta(days=2 * count + 14))
    return [day.date() for day in days[:count]]


def market_file(path: Path, tickers: list[str], days: list[date], base: float = 100.0) -> Path:
    """A clean bar file: every ticker on every day, prices drifting up by 1 a day."""
    lines = [BAR_HEADER]
    for i, day in enumerate(days):
        lines += [bar_line(day, ticker, base + i + j) for j, ticker in enumerate(tickers)]
    return write_text(path, "\n".join(lines))


def import_synthetic_market(engine: Engine, folder: Path) -> None:
    """Three years of 60 synthetic stocks (2012-2014), securities, bars and fundamentals, into `engine`
    (the `market` fixture's data; `folder` holds the CSV files on the way)."""
    synthetic = generate_synthetic_market(seed=11, years=3, n_stocks=60)
    synthetic.securities.to_csv(folder / "securities.csv", index=False)
    import_securities(engine, folder / "securities.csv", strict=True)
    synthetic.bars.to_csv(folder / "bars.csv", index=False)
    import_bar_files(engine, [folder / "bars.csv"], strict=True)
    for as_of, snapshot in synthetic.fundamentals.items():
        path = folder / f"fundamentals_{as_of}.csv"
        snapshot.to_csv(path, index=False)
        import_fundamentals(engine, path, as_of, strict=True)
