"""The fundamentals timeline's market caps with the prices on their snapshot date: what lets the universes
carry a cap to another date. A known cap stays point in time; a later one is never part of the frame's
data, only attached to it (`later_market_caps`) for the stated carry-back."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from tests.factories import BAR_HEADER, write_text
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.reference_import import (
    KNOWN_CAP,
    LATER_CAP,
    FundamentalsTimeline,
    fundamentals_as_of,
    import_fundamentals,
    later_market_caps,
)

# 2024-06-08 is a Saturday: the snapshot's prices are Friday's.
FRIDAY, SNAPSHOT, MONDAY = date(2024, 6, 7), date(2024, 6, 8), date(2024, 6, 10)
BEFORE = date(2024, 6, 4)


def _value(frame: pd.DataFrame, ticker: str, column: str) -> float:
    return float(frame[column].astype(np.float64)[ticker])


@pytest.fixture
def market(engine: Engine, tmp_path: Path) -> Engine:
    """RAW with raw and adjusted closes, ADJ with adjusted closes only, and one snapshot of both caps."""
    lines = [BAR_HEADER]
    for day, raw, adjusted in ((BEFORE, "40", "30"), (FRIDAY, "50", "45"), (MONDAY, "55", "50")):
        lines.append(f"{day},RAW,{raw},{raw},{raw},{raw},{adjusted},1000,0,1")
        lines.append(f"{day},ADJ,,,,,{adjusted},,0,1")
    import_bar_files(engine, [write_text(tmp_path / "bars.csv", "\n".join(lines))], strict=True)
    snapshot = write_text(tmp_path / "fundamentals.csv", "ticker,market_cap,pe_ratio\nRAW,5000,20\nADJ,9000,10")
    import_fundamentals(engine, snapshot, SNAPSHOT, strict=True)
    return engine


def test_a_known_cap_comes_with_the_raw_and_adjusted_close_of_its_snapshot_date(market: Engine) -> None:
    known = FundamentalsTimeline.load(market, MONDAY).as_of(MONDAY)

    assert known.loc["RAW", KNOWN_CAP.market_cap] == 5000
    assert (known.loc["RAW", KNOWN_CAP.close], known.loc["RAW", KNOWN_CAP.adj_close]) == (50.0, 45.0)
    assert np.isnan(_value(known, "ADJ", KNOWN_CAP.close))
    assert known.loc["ADJ", KNOWN_CAP.adj_close] == 45.0
    assert date.fromordinal(int(_value(known, "ADJ", KNOWN_CAP.day))) == SNAPSHOT


def test_before_the_snapshot_its_cap_is_only_attached_as_a_later_one_and_the_frame_stays_empty(
    market: Engine,
) -> None:
    known = fundamentals_as_of(market, BEFORE)
    later = later_market_caps(known)

    assert known.empty
    assert _value(later, "ADJ", LATER_CAP.market_cap) == 9000
    assert _value(later, "ADJ", LATER_CAP.adj_close) == 45.0
    assert date.fromordinal(int(_value(later, "RAW", LATER_CAP.day))) == SNAPSHOT
    assert later_market_caps(fundamentals_as_of(market, MONDAY)).empty


def test_the_timeline_answers_each_day_as_a_fresh_load_would(market: Engine) -> None:
    timeline = FundamentalsTimeline.load(market, MONDAY)

    for day in (BEFORE, FRIDAY, SNAPSHOT, MONDAY):
        expected = fundamentals_as_of(market, day)
        answer = timeline.as_of(day)
        assert answer.sort_index(axis=1).equals(expected.sort_index(axis=1)), day
        assert later_market_caps(answer).equals(later_market_caps(expected)), day
