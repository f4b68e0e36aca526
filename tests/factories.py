"""Small builders for test inputs: bar files and rows."""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from pathlib import Path

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


def market_file(path: Path, tickers: list[str], days: list[date], base: float = 100.0) -> Path:
    """A clean bar file: every ticker on every day, prices drifting up by 1 a day."""
    lines = [BAR_HEADER]
    for i, day in enumerate(days):
        lines += [bar_line(day, ticker, base + i + j) for j, ticker in enumerate(tickers)]
    return write_text(path, "\n".join(lines))
