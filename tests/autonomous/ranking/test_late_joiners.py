"""Late joiners (names with no fundamentals row at the decision date): the point-in-time flag on a
real database, and the figures without them on crafted rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from autonomous.ranking.baselines import baseline_scores, compare_with_baselines
from autonomous.ranking.dataset import RANKER_FEATURES, load_ranker_data
from autonomous.ranking.late_joiners import (
    LateJoinerRows,
    count_late_joiners,
    on_known_dates,
    rows_without_late_joiners,
    split_late_joiners,
)
from autonomous.ranking.metrics import ranking_metrics
from trading.settings import load_settings

DATES = pd.bdate_range("2020-01-01", periods=24, freq="5B")
TICKERS = [f"T{number:02d}" for number in range(40)]
JOINED = date(2014, 1, 2)  # the synthetic market's 2014 snapshot: the late joiners' first fundamentals row


def crafted_rows(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Scored rows where the last ten names are late joiners until the middle date; their labels are
    high and the ranker knows it (it has learned to spot them), the rest is noise."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([DATES, TICKERS], names=["date", "ticker"])
    inputs = pd.DataFrame(rng.uniform(0.01, 1.0, size=(len(index), len(RANKER_FEATURES))), index, RANKER_FEATURES)
    dates = index.get_level_values("date")
    late = index.get_level_values("ticker").isin(TICKERS[-10:]) & (dates < DATES[12])
    label = rng.normal(scale=0.05, size=len(index)) + np.where(late, 0.10, 0.0)
    prediction = rng.normal(scale=0.05, size=len(index)) + np.where(late, 0.10, 0.0)
    scored = pd.DataFrame({"prediction": prediction, "label": label}, index=index)
    has_fundamentals = pd.Series(~late, index=index, name="has_fundamentals")
    return scored, baseline_scores(inputs, pd.Series(0.0, index=index)), has_fundamentals


def test_the_figure_without_late_joiners_is_the_ranking_of_the_names_with_fundamentals_only() -> None:
    scored, baselines, has_fundamentals = crafted_rows(seed=4)
    split = split_late_joiners(scored, baselines, has_fundamentals, overlap_lags=3)

    assert split.verdict == "informative"
    assert (split.rows, split.late_joiner_rows) == (len(scored), 10 * 12)
    assert split.first_known == split.first_date == DATES[0].date()
    assert not split.starts_later
    assert split.same_dates is None
    kept = scored[has_fundamentals.to_numpy()]
    assert split.metrics == ranking_metrics(kept, overlap_lags=3)
    assert split.baselines == compare_with_baselines(kept, baselines[has_fundamentals.to_numpy()], overlap_lags=3)
    # Spotting the late joiners is what made the ranker look good: without them it ranks noise.
    everyone = ranking_metrics(scored, overlap_lags=3)
    assert everyone.rank_ic > 0.15
    assert abs(split.metrics.rank_ic) < 0.1
    stored = split.as_dict()
    assert stored["verdict"] == "informative"
    assert stored["rank_ic"] == pytest.approx(split.metrics.rank_ic)
    assert stored["baselines"]["ranker"]["rank_ic"] == pytest.approx(split.metrics.rank_ic)


def test_the_split_is_not_informative_when_every_row_or_no_row_has_fundamentals() -> None:
    scored, baselines, has_fundamentals = crafted_rows(seed=5)
    every = split_late_joiners(scored, baselines, has_fundamentals | True, overlap_lags=3)
    none = split_late_joiners(scored, baselines, has_fundamentals & False, overlap_lags=3)

    assert (every.verdict, every.late_joiner_rows, every.metrics, every.baselines) == (
        "all_have_fundamentals",
        0,
        None,
        None,
    )
    assert (none.verdict, none.late_joiner_rows, none.metrics, none.first_known) == (
        "none_has_fundamentals",
        len(scored),
        None,
        None,
    )
    assert not every.informative
    assert not none.informative
    assert "rank_ic" not in every.as_dict()


def test_fundamentals_that_start_mid_window_shorten_the_figure_without_late_joiners() -> None:
    # A snapshot dated mid-window (the shared data's 2018 one): before it, no name has a row.
    scored, baselines, has_fundamentals = crafted_rows(seed=7)
    before_snapshot = scored.index.get_level_values("date") < DATES[6]
    split = split_late_joiners(scored, baselines, has_fundamentals & ~before_snapshot, overlap_lags=3)

    assert split.informative
    assert split.starts_later
    assert (split.first_date, split.first_known) == (DATES[0].date(), DATES[6].date())
    assert split.metrics is not None
    assert split.metrics.dates == len(DATES) - 6
    # Every name over the same dates: the two figures differ by the late joiners only.
    assert split.same_dates == ranking_metrics(scored[~before_snapshot], overlap_lags=3)
    assert split.as_dict()["every_name_same_dates"]["dates"] == len(DATES) - 6


def test_the_rank_ic_without_late_joiners_is_every_names_when_all_have_fundamentals_and_absent_when_none_has() -> None:
    scored, baselines, has_fundamentals = crafted_rows(seed=8)
    everyone = ranking_metrics(scored, overlap_lags=3)
    split = split_late_joiners(scored, baselines, has_fundamentals, overlap_lags=3)
    every = split_late_joiners(scored, baselines, has_fundamentals | True, overlap_lags=3)
    none = split_late_joiners(scored, baselines, has_fundamentals & False, overlap_lags=3)

    assert split.metrics is not None
    assert split.rank_ic_without_late_joiners(everyone) == split.metrics.rank_ic
    assert split.rank_ic_every_name_same_dates(everyone) == everyone.rank_ic  # the same dates already
    # Nothing to remove: the figure without late joiners is every name's.
    assert every.rank_ic_without_late_joiners(everyone) == everyone.rank_ic
    assert every.rank_ic_every_name_same_dates(everyone) == everyone.rank_ic
    # No row with fundamentals: there is no such figure, nor a counterpart to it.
    assert none.rank_ic_without_late_joiners(everyone) is None
    assert none.rank_ic_every_name_same_dates(everyone) is None

    kept, all_kept = rows_without_late_joiners(has_fundamentals), rows_without_late_joiners(has_fundamentals | True)
    assert kept is not None
    assert kept.tolist() == has_fundamentals.tolist()
    assert all_kept is not None
    assert all_kept.all()
    assert rows_without_late_joiners(has_fundamentals & False) is None


def test_every_names_counterpart_covers_the_dates_from_the_first_fundamentals_row_on() -> None:
    scored, baselines, has_fundamentals = crafted_rows(seed=9)
    before_snapshot = scored.index.get_level_values("date") < DATES[6]
    flags = has_fundamentals & ~before_snapshot
    split = split_late_joiners(scored, baselines, flags, overlap_lags=3)

    counts = count_late_joiners(flags)
    assert counts == LateJoinerRows(len(scored), int((~flags).sum()), DATES[0].date(), DATES[6].date())
    assert counts.as_dict() == {
        "verdict": "informative",
        "rows": len(scored),
        "late_joiner_rows": int((~flags).sum()),
        "first_date": DATES[0].date().isoformat(),
        "first_known": DATES[6].date().isoformat(),
    }
    assert counts.starts_later
    assert on_known_dates(flags).tolist() == (~before_snapshot).tolist()
    assert not on_known_dates(flags & False).any()
    same_dates = ranking_metrics(scored[~before_snapshot], overlap_lags=3)
    assert split.rank_ic_every_name_same_dates(ranking_metrics(scored, overlap_lags=3)) == same_dates.rank_ic


def test_the_flag_must_be_on_the_scored_rows() -> None:
    scored, baselines, has_fundamentals = crafted_rows(seed=6)
    with pytest.raises(ValueError, match="scored"):
        split_late_joiners(scored, baselines, has_fundamentals.iloc[1:], overlap_lags=3)


def late_joiners_in(engine: Engine, count: int = 8) -> list[str]:
    """Makes `count` names late joiners: their fundamentals rows before JOINED are deleted."""
    with engine.begin() as connection:
        tickers = sorted(connection.execute(text("SELECT DISTINCT ticker FROM fundamentals")).scalars())
        chosen = tickers[::3][:count]
        for ticker in chosen:
            connection.execute(
                text("DELETE FROM fundamentals WHERE ticker = :ticker AND as_of_date < :joined"),
                {"ticker": ticker, "joined": JOINED},
            )
    return chosen


def test_a_name_is_a_late_joiner_before_its_first_fundamentals_row_and_not_after(market: Engine) -> None:
    late = late_joiners_in(market)
    data = load_ranker_data(market, load_settings(None), date(2013, 10, 1), date(2014, 3, 31), horizon=21, step=5)

    flags = data.has_fundamentals
    assert flags.index.equals(data.inputs.index)
    dates = pd.DatetimeIndex(flags.index.get_level_values("date"))
    is_late = flags.index.get_level_values("ticker").isin(late)
    before = dates < pd.Timestamp(JOINED)
    assert before.any()
    assert (~before).any()
    assert not flags[is_late & before].any()
    assert flags[is_late & ~before].all()
    assert flags[~is_late].all()
    # A row outside the inputs has no fundamentals known.
    outside = pd.MultiIndex.from_tuples([(dates[0], "NOT_A_TICKER")], names=["date", "ticker"])
    assert not data.has_fundamentals_on(outside).any()


def test_the_flag_does_not_read_a_fundamentals_row_dated_after_the_window(market: Engine) -> None:
    # Each late joiner's first row is dated JOINED: a window ending the day before cannot know it.
    late = late_joiners_in(market)
    data = load_ranker_data(market, load_settings(None), date(2013, 10, 1), date(2013, 12, 31), horizon=21, step=5)
    is_late = data.has_fundamentals.index.get_level_values("ticker").isin(late)
    assert is_late.any()
    assert not data.has_fundamentals[is_late].any()
    assert data.has_fundamentals[~is_late].all()
