"""Validation of price-bar rows, vectorised over a chunk: parses dates and numbers, applies the
bar rules, and returns the clean rows plus one reason per problem with its line number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from trading.marketdata.calendar import ExchangeSessions
from trading.marketdata.csv_source import EXTRA_FIELDS, UNDECODABLE

REQUIRED_COLUMNS = ("date", "ticker", "open", "high", "low", "close", "adj_close", "volume")
OPTIONAL_COLUMNS = ("dividend", "split_coef")
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")
NUMBER_COLUMNS = (*PRICE_COLUMNS, "volume", "dividend", "split_coef")
OUTPUT_COLUMNS = ("ticker", "date", *NUMBER_COLUMNS)
DEFAULTS = {"dividend": 0.0, "split_coef": 1.0}

# Letters, digits and the punctuation real symbols use (BRK.B, ^VIX, BF-B, EUR/USD, ES=F).
TICKER_PATTERN = r"^[A-Za-z0-9.^\-/=]{1,16}$"
_DAY = np.timedelta64(1, "D")
# Volume is stored as a signed 64-bit integer; every float64 below 2**63 fits one.
_VOLUME_LIMIT = 2.0**63


def header_problems(columns: list[str]) -> list[str]:
    """Why a header cannot be imported; empty when it can."""
    problems = []
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        problems.append(f"repeated column(s) {', '.join(map(repr, repeated))}")
    return problems


@dataclass(frozen=True)
class SessionRule:
    """A bar must be dated on a session of the exchange, and not after today there."""

    sessions: ExchangeSessions
    today: date  # in the exchange's time zone


@dataclass
class KeyRegistry:
    """The (ticker, date) keys already seen in one file, to reject duplicates across chunks.

    Keys are exact int64s (ticker code, day number), kept sorted with the line that first
    used them, so a duplicate can name the line it repeats. Registries of one import share
    `codes`, so a key means the same (ticker, date) in every file.
    """

    codes: dict[str, int] = field(default_factory=dict)
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    lines: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def encode(self, tickers: pd.Series, days: np.ndarray) -> np.ndarray:
        local_codes, uniques = pd.factorize(tickers)
        global_codes = np.array([self.codes.setdefault(t, len(self.codes)) for t in uniques], dtype=np.int64)
        # Days since 1970 fit in 24 bits (with an offset) for any date this fund will see.
        return (global_codes[local_codes] << 24) | (days.astype(np.int64) + (1 << 23))

    def first_lines(self, keys: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """For each key, the line that used it first (in earlier chunks or this one), or 0 when
        this row is the first; then remembers the new keys."""
        earlier = np.zeros(len(keys), dtype=np.int64)
        if len(self.keys):
            pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            hit = self.keys[pos] == keys
            earlier[hit] = self.lines[pos[hit]]
        frame = pd.DataFrame({"key": keys, "line": lines})
        first_in_chunk = frame.groupby("key")["line"].transform("first").to_numpy()
        repeated_in_chunk = (first_in_chunk != lines) & (earlier == 0)
        earlier[repeated_in_chunk] = first_in_chunk[repeated_in_chunk]
        new = earlier == 0
        new_keys, new_idx = np.unique(keys[new], return_index=True)
        all_keys = np.concatenate([self.keys, new_keys])
        all_lines = np.concatenate([self.lines, lines[new][new_idx]])
        order = np.argsort(all_keys, kind="stable")
        self.keys, self.lines = all_keys[order], all_lines[order]
        return earlier


@dataclass
class ImportKeys:
    """The keys written by the earlier files of one import, each with the file and line it came
    from, so a later file's row for the same key can name the row it replaces."""

    keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    files: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    lines: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def earlier(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key, the index of the earlier file that wrote it (-1: none) and its line there."""
        files = np.full(len(keys), -1, dtype=np.int64)
        lines = np.zeros(len(keys), dtype=np.int64)
        if len(self.keys) and len(keys):
            pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            hit = self.keys[pos] == keys
            files[hit], lines[hit] = self.files[pos[hit]], self.lines[pos[hit]]
        return files, lines

    def add_file(self, file_index: int, keys: np.ndarray, lines: np.ndarray) -> None:
        """Remember a finished file's written keys; they replace the same keys of earlier files."""
        kept = ~np.isin(self.keys, keys)
        all_keys = np.concatenate([self.keys[kept], keys])
        all_files = np.concatenate([self.files[kept], np.full(len(keys), file_index, dtype=np.int64)])
        all_lines = np.concatenate([self.lines[kept], lines])
        order = np.argsort(all_keys, kind="stable")
        self.keys, self.files, self.lines = all_keys[order], all_files[order], all_lines[order]


@dataclass(frozen=True)
class ValidatedChunk:
    bars: pd.DataFrame  # OUTPUT_COLUMNS; date as 'YYYY-MM-DD' str, numbers float64 (NaN = empty)
    problems: pd.DataFrame  # columns: line (int), reason (str)
    rows_read: int
    keys: np.ndarray  # the KeyRegistry key of each row of `bars`
    lines: np.ndarray  # the file line of each row of `bars`


Reasons = Callable[[np.ndarray], "Sequence[str] | np.ndarray"]


class _Problems:
    """Collects (line, reason) pairs; reasons are built only for the rows that fail."""

    def __init__(self, lines: np.ndarray) -> None:
        self._lines = lines
        self._parts: list[pd.DataFrame] = []
        self.bad = np.zeros(len(lines), dtype=bool)
        # Rows already explained in full (an empty line) get no further, derivative reasons.
        self.explained = np.zeros(len(lines), dtype=bool)

    def add(self, mask: np.ndarray, reasons: str | Reasons) -> None:
        mask = mask & ~self.explained
        if not mask.any():
            return
        self.bad |= mask
        text = reasons if isinstance(reasons, str) else reasons(mask)
        self._parts.append(pd.DataFrame({"line": self._lines[mask], "reason": text}))

    def replace(self, mask: np.ndarray, reasons: str | Reasons) -> None:
        """Give the rows in `mask` these reasons instead of any they had."""
        if not mask.any():
            return
        lines = self._lines[mask]
        self._parts = [part[~np.isin(part["line"].to_numpy(), lines)] for part in self._parts]
        self.explained &= ~mask
        self.add(mask, reasons)
        self.explained |= mask

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({"line": pd.Series(dtype=np.int64), "reason": pd.Series(dtype=object)})
        return pd.concat(self._parts, ignore_index=True)


def _described(template: str, values: np.ndarray | pd.Series) -> Reasons:
    """Reasons that show each failing row's value: template.format(value), text cut to 40 chars."""
    array = values.to_numpy() if isinstance(values, pd.Series) else values
    return lambda mask: [template.format(v[:40] if isinstance(v, str) else v) for v in array[mask]]


def validate_chunk(
    raw: pd.DataFrame, lines: np.ndarray, registry: KeyRegistry, sessions: SessionRule
) -> ValidatedChunk:
    problems = _Problems(lines)
    # Cells are not stripped one by one (a quarter of the validation time): the parser drops
    # leading spaces and the number parser ignores trailing ones; a padded date or ticker is
    # reported as unparseable rather than silently repaired.
    text = {c: raw[c] for c in raw.columns if c != EXTRA_FIELDS}
    empty_line = np.logical_and.reduce([(column == "").to_numpy() for column in text.values()])
    problems.add(empty_line, "empty line")
    problems.explained |= empty_line
    problems.add(
        (raw[EXTRA_FIELDS] != "").to_numpy(),
        f"too many fields: the header has {len(text)}, this line has {len(text) + 1}",
    )

    tickers = text["ticker"]
    # A file holds a few hundred distinct tickers: match the pattern once per ticker, not per row.
    codes, distinct = pd.factorize(tickers)
    ticker_ok = pd.Series(distinct).str.match(TICKER_PATTERN).to_numpy(dtype=bool)[codes]
    problems.add(~ticker_ok & (tickers == "").to_numpy(), "missing ticker")
    problems.add(~ticker_ok & (tickers != "").to_numpy(), _described("invalid ticker '{}'", tickers))

    dates = pd.to_datetime(text["date"], format="%Y-%m-%d", errors="coerce")
    date_ok = dates.notna().to_numpy()
    problems.add(~date_ok, _described("unparseable date '{}'", text["date"]))
    _check_dates(dates.to_numpy().astype("datetime64[D]"), date_ok, sessions, problems)

    numbers = _parse_numbers(text, problems)
    _check_bar_rules(numbers, problems)

    key_ok = ticker_ok & date_ok
    days = (dates[key_ok].to_numpy() - np.datetime64("1970-01-01")) // _DAY
    keys = np.zeros(len(lines), dtype=np.int64)
    keys[key_ok] = registry.encode(tickers[key_ok], days)
    first = registry.first_lines(keys[key_ok], lines[key_ok])
    duplicate = np.zeros(len(lines), dtype=bool)
    duplicate[key_ok] = first > 0
    first_line = np.zeros(len(lines), dtype=np.int64)
    first_line[key_ok] = first
    problems.add(duplicate, _described("duplicate (ticker, date) key; first seen at line {}", first_line))
    _explain_undecodable(raw, problems)

    good = ~problems.bad
    bars = pd.DataFrame({"ticker": tickers[good].to_numpy()})
    bars["date"] = np.datetime_as_string(dates[good].to_numpy().astype("datetime64[D]"), unit="D")
    for column in NUMBER_COLUMNS:
        bars[column] = numbers[column][good]
    return ValidatedChunk(
        bars=bars, problems=problems.frame(), rows_read=len(lines), keys=keys[good], lines=lines[good]
    )


def _check_dates(days: np.ndarray, date_ok: np.ndarray, rule: SessionRule, problems: _Problems) -> None:
    """A bar after today, or on a day the exchange did not trade, is bad: one such benchmark bar
    would otherwise make the fund's calendar wrong."""
    future = date_ok & (days > np.datetime64(rule.today, "D"))
    problems.add(future, _described(f"date {{}} is after today ({rule.today} in New York)", days))
    past = date_ok & ~future
    on_session = np.zeros(len(days), dtype=bool)
    on_session[past] = rule.sessions.are_sessions(days[past])
    problems.add(past & ~on_session, _described(f"{{}} is not a {rule.sessions.exchange} session", days))


def _explain_undecodable(raw: pd.DataFrame, problems: _Problems) -> None:
    """Rows holding bytes that are not UTF-8 get that one reason instead of the ones it caused.

    Only rows already bad are searched: every column is checked (ticker pattern, ISO date,
    numbers, the extra-fields sentinel), and none of them accepts a lone surrogate.
    """
    candidates = np.flatnonzero(problems.bad)
    if not len(candidates):
        return
    found = np.full(len(candidates), "", dtype=object)
    for column in raw.columns:
        first = raw[column].iloc[candidates].str.extract(f"({UNDECODABLE})", expand=False).to_numpy()
        hit = pd.notna(first) & (found == "")
        label = "a field past the header's" if column == EXTRA_FIELDS else column
        found[hit] = [f"byte 0x{ord(c) - 0xDC00:02x} in {label}" for c in first[hit]]
    undecodable = np.zeros(len(problems.bad), dtype=bool)
    undecodable[candidates] = found != ""
    where = found[found != ""]
    problems.replace(undecodable, lambda _mask: [f"not valid UTF-8 ({w})" for w in where])


def _parse_numbers(text: dict[str, pd.Series], problems: _Problems) -> dict[str, np.ndarray]:
    numbers: dict[str, np.ndarray] = {}
    for column in NUMBER_COLUMNS:
        if column not in text:
            numbers[column] = np.full(len(problems.bad), DEFAULTS[column])
            continue
        raw = text[column]
        empty = (raw == "").to_numpy()
        parsed = pd.to_numeric(raw.where(~empty), errors="coerce").to_numpy(dtype=np.float64)
        problems.add(~empty & ~np.isfinite(parsed), _described(f"unparseable {column} '{{}}'", raw))
        parsed[~np.isfinite(parsed)] = np.nan
        if column in DEFAULTS:
            parsed[empty] = DEFAULTS[column]
        numbers[column] = parsed
    problems.add(np.isnan(numbers["adj_close"]) & (text["adj_close"] == "").to_numpy(), "missing adj_close")
    return numbers


def _check_bar_rules(numbers: dict[str, np.ndarray], problems: _Problems) -> None:
    for column in PRICE_COLUMNS:
        problems.add(numbers[column] <= 0, _described(f"{column} <= 0 ({column}={{:g}})", numbers[column]))
    high, low = numbers["high"], numbers["low"]
    problems.add(
        high < low, lambda m: [f"high < low (high={h:g}, low={lo:g})" for h, lo in zip(high[m], low[m], strict=True)]
    )
    volume = numbers["volume"]
    problems.add(volume < 0, _described("negative volume ({:g})", volume))
    problems.add(
        volume >= _VOLUME_LIMIT, _described("volume out of range ({:g}): it must fit a signed 64-bit integer", volume)
    )
    fractional = np.isfinite(volume) & (volume != np.floor(volume))
    problems.add(fractional, _described("volume is not a whole number ({:g})", volume))
    problems.add(numbers["dividend"] < 0, _described("negative dividend ({:g})", numbers["dividend"]))
    problems.add(numbers["split_coef"] <= 0, _described("split_coef <= 0 ({:g})", numbers["split_coef"]))
