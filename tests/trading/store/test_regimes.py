from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from trading.db.schema import MarketRegime
from trading.store.regimes import REGIME_FIELDS, load_regimes, regime_on, upsert_regimes

DAYS = pd.bdate_range("2024-01-02", periods=5, name="date")


def regime_frame(days: pd.DatetimeIndex = DAYS, /, **columns: Any) -> pd.DataFrame:
    """A valid regime frame over `days`; keyword arguments replace whole columns."""
    n = len(days)
    base: dict[str, Any] = {
        "vix": np.linspace(12.0, 16.0, n),
        "realized_volatility_20d": np.linspace(0.10, 0.14, n),
        "volatility_regime": ["low"] * n,
        "spy_sma_50": np.linspace(400.0, 404.0, n),
        "spy_sma_200": np.linspace(380.0, 382.0, n),
        "trend_regime": ["bull"] * n,
        "advance_decline_ratio": np.linspace(1.1, 1.5, n),
        "new_highs_lows_ratio": np.linspace(0.6, 0.8, n),
        "sector_momentum": [{"Technology": 0.05 + i / 100, "Energy": -0.02} for i in range(n)],
        "regime_label": ["bull_low_vol"] * n,
        "regime_confidence": np.linspace(0.5, 0.9, n),
    }
    return pd.DataFrame(base | columns, index=days)


def stored_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(MarketRegime)).scalar_one())


def test_upserted_regimes_load_back_as_written(engine: Engine) -> None:
    frame = regime_frame()
    assert upsert_regimes(engine, frame) == 5
    loaded = load_regimes(engine)
    assert list(loaded.columns) == list(REGIME_FIELDS)
    assert loaded.index.name == "date"
    assert isinstance(loaded.index, pd.DatetimeIndex)
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)


def test_nan_and_none_are_stored_as_null(engine: Engine) -> None:
    frame = regime_frame(
        vix=[np.nan, 13.0, 14.0, 15.0, 16.0],
        sector_momentum=[None, np.nan, {"Energy": np.nan, "Utilities": 0.01}, {}, {"Energy": 0.1}],
    )
    upsert_regimes(engine, frame)
    with engine.connect() as connection:
        null_vix = connection.scalar(select(func.count()).where(MarketRegime.vix.is_(None)))
        # SQL NULL, not the JSON text 'null': a psql reader can filter on IS NULL.
        null_sectors = connection.scalar(select(func.count()).where(MarketRegime.sector_momentum.is_(None)))
    assert (null_vix, null_sectors) == (1, 2)
    loaded = load_regimes(engine)
    assert np.isnan(loaded["vix"].iloc[0])
    assert loaded["sector_momentum"].tolist() == [None, None, {"Energy": None, "Utilities": 0.01}, {}, {"Energy": 0.1}]


def test_writing_the_same_frame_twice_changes_nothing_but_updated_at(engine: Engine) -> None:
    frame = regime_frame()
    upsert_regimes(engine, frame)
    with engine.connect() as connection:
        first = connection.execute(select(MarketRegime).order_by(MarketRegime.date)).all()
    upsert_regimes(engine, frame)
    with engine.connect() as connection:
        second = connection.execute(select(MarketRegime).order_by(MarketRegime.date)).all()
    assert len(second) == 5

    def without_updated_at(rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row._mapping.items() if k != "updated_at"} for row in rows]

    assert without_updated_at(second) == without_updated_at(first)
    assert all(b.updated_at >= a.updated_at for a, b in zip(first, second, strict=True))


def test_a_rewritten_date_is_updated_in_place(engine: Engine) -> None:
    upsert_regimes(engine, regime_frame())
    changed = regime_frame(DAYS[-1:], trend_regime=["bear"], regime_label=["bear_low_vol"], regime_confidence=[0.4])
    upsert_regimes(engine, changed)
    assert stored_rows(engine) == 5
    latest = load_regimes(engine, last=1)
    assert latest[["trend_regime", "regime_label", "regime_confidence"]].iloc[0].tolist() == [
        "bear",
        "bear_low_vol",
        0.4,
    ]


def test_an_index_of_date_objects_is_accepted(engine: Engine) -> None:
    frame = regime_frame()
    frame.index = pd.Index([d.date() for d in DAYS])
    upsert_regimes(engine, frame)
    assert load_regimes(engine).index.equals(DAYS)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("regime_confidence", [0.5, 0.5, 1.5, 0.5, 0.5], "2024-01-04 regime_confidence=1.5 is outside [0, 1]"),
        ("regime_confidence", [0.5, -0.1, 0.5, 0.5, 0.5], "2024-01-03 regime_confidence=-0.1 is outside [0, 1]"),
        ("regime_confidence", [0.5, 0.5, 0.5, 0.5, np.nan], "2024-01-08 regime_confidence is missing"),
        ("regime_label", ["x", "x", "x", None, "x"], "2024-01-05 regime_label is missing"),
        ("regime_label", ["x", " ", "x", "x", "x"], "2024-01-03 regime_label is missing"),
        ("regime_label", ["x" * 33, "x", "x", "x", "x"], "2024-01-02 regime_label is longer than 32 characters"),
        ("regime_label", [7, "x", "x", "x", "x"], "2024-01-02 regime_label is not text"),
        ("volatility_regime", ["low", "calm", "low", "low", "low"], "2024-01-03 volatility_regime is not one of"),
        ("trend_regime", ["bull", "bull", "up", "bull", "bull"], "2024-01-04 trend_regime is not one of"),
        ("vix", [12.0, "high", 12.0, 12.0, 12.0], "2024-01-03 vix is not a number"),
        ("advance_decline_ratio", [1.0, 1.0, 1.0, np.inf, 1.0], "2024-01-05 advance_decline_ratio is not finite"),
        ("sector_momentum", [None, None, [0.1], None, None], "2024-01-04 sector_momentum is a list"),
        ("sector_momentum", [None, {"Energy": "up"}, None, None, None], "2024-01-03 sector_momentum entry 'Energy'"),
    ],
)
def test_a_bad_cell_is_refused_naming_its_date_and_column_and_nothing_is_written(
    engine: Engine, column: str, values: list[Any], message: str
) -> None:
    with pytest.raises(ValueError, match="nothing written") as refused:
        upsert_regimes(engine, regime_frame(**{column: values}))
    assert message in str(refused.value)
    assert stored_rows(engine) == 0


def test_every_bad_cell_is_counted_even_when_only_the_first_few_are_shown(engine: Engine) -> None:
    days = pd.bdate_range("2024-01-02", periods=8)
    with pytest.raises(ValueError, match=r"2024-01-02 regime_confidence=2\.0 .*\(and 3 more\)"):
        upsert_regimes(engine, regime_frame(days, regime_confidence=[2.0] * 8))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (regime_frame().drop(columns="vix"), r"missing column\(s\) \['vix'\]"),
        (regime_frame().assign(colour="red"), r"unknown column\(s\) \['colour'\]"),
        (regime_frame(pd.DatetimeIndex(["2024-01-02"] * 5)), "date 2024-01-02 appears more than once"),
        (regime_frame(pd.date_range("2024-01-02 15:30", periods=5)), "is not a plain date"),
        (regime_frame(pd.DatetimeIndex(["2024-01-02", None, "2024-01-04", "2024-01-05", "2024-01-08"])), "empty"),
        (regime_frame().set_axis(list("abcde")), "must be indexed by date"),
    ],
)
def test_a_malformed_frame_is_refused_and_nothing_is_written(engine: Engine, frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        upsert_regimes(engine, frame)
    assert stored_rows(engine) == 0


def test_an_empty_frame_writes_nothing(engine: Engine) -> None:
    assert upsert_regimes(engine, regime_frame().iloc[:0]) == 0
    assert load_regimes(engine).empty
    assert list(load_regimes(engine).columns) == list(REGIME_FIELDS)


def test_load_regimes_keeps_dates_from_start_to_end_or_the_last_few(engine: Engine) -> None:
    upsert_regimes(engine, regime_frame())
    window = load_regimes(engine, start=date(2024, 1, 3), end=date(2024, 1, 5))
    assert window.index.equals(DAYS[1:4])
    assert load_regimes(engine, last=2).index.equals(DAYS[-2:])
    assert load_regimes(engine, end=date(2024, 1, 4), last=2).index.equals(DAYS[1:3])
    with pytest.raises(ValueError, match="start 2024-01-05 is after end 2024-01-03"):
        load_regimes(engine, start=date(2024, 1, 5), end=date(2024, 1, 3))
    with pytest.raises(ValueError, match="last must be at least 1"):
        load_regimes(engine, last=0)


def test_regime_on_gives_the_days_record_or_none(engine: Engine) -> None:
    upsert_regimes(engine, regime_frame(vix=[np.nan, 13.0, 14.0, 15.0, 16.0]))
    record = regime_on(engine, date(2024, 1, 2))
    assert record is not None
    assert record["date"] == date(2024, 1, 2)
    assert record["vix"] is None
    assert (record["regime_label"], record["regime_confidence"]) == ("bull_low_vol", 0.5)
    assert record["sector_momentum"] == {"Technology": 0.05, "Energy": -0.02}
    assert regime_on(engine, date(2024, 1, 1)) is None


def test_writes_through_a_connection_commit_or_roll_back_with_the_callers_transaction(engine: Engine) -> None:
    with engine.connect() as connection:
        upsert_regimes(connection, regime_frame())
        assert len(load_regimes(connection)) == 5
        connection.rollback()
    assert stored_rows(engine) == 0
    with engine.begin() as connection:
        upsert_regimes(connection, regime_frame())
    assert stored_rows(engine) == 5


def test_twenty_two_years_of_regimes_are_written_in_well_under_two_seconds(engine: Engine) -> None:
    days = pd.bdate_range("2000-01-03", periods=5_500, name="date")
    frame = regime_frame(days)
    started = time.perf_counter()
    upsert_regimes(engine, frame)
    upsert_regimes(engine, frame)
    elapsed = (time.perf_counter() - started) / 2
    assert stored_rows(engine) == 5_500
    assert elapsed < 1.0, f"{elapsed:.2f} s per write of 5,500 regimes"
