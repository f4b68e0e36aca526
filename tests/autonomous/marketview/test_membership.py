"""Point-in-time membership in the decision: where index membership rows exist, a session's universes
(and the rankers' training rows) hold only the members at that session, through both market views;
without rows they are what they always were. Also `fund data membership`, which imports the rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from autonomous.cli import fund
from autonomous.marketview import SessionMarket
from autonomous.marketview.database import DatabaseMarketView
from autonomous.marketview.preloaded import PreloadedMarketView
from autonomous.ranking.dataset import load_ranker_data
from autonomous.universes import build_universes
from tests.factories import write_text
from trading.db.schema import IndexMembership
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.reference_import import fundamentals_as_of
from trading.settings import FundSettings, load_settings
from trading.store.membership import MembershipSpan, replace_membership

EVER = date(2000, 1, 3)  # before the synthetic market's first bar: a member throughout
VIEWS = ("database", "preloaded")
Universes = dict[str, tuple[str, ...]]


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, list(args), catch_exceptions=False)


@pytest.fixture
def settings(market: Engine) -> FundSettings:
    return load_settings(None)


@pytest.fixture
def days(market: Engine) -> tuple[date, date, date]:
    """A session before the membership change, the first day of the change, and a session after it."""
    history = TradingCalendar.from_database(market, "SPY").history
    return history[-40].date(), history[-20].date(), history[-5].date()


def sessions_of(
    view: str, engine: Engine, settings: FundSettings, first: date, last: date
) -> Callable[[date], SessionMarket]:
    """A new market view (so it reads the membership table as it is now), as a day -> session function."""
    if view == "database":
        return DatabaseMarketView(engine, settings).session
    return PreloadedMarketView.load(engine, settings, first, last).session


def universes_of(session: SessionMarket) -> Universes:
    return {name: universe.tickers for name, universe in session.state.universes.items()}


def held(universes: Universes) -> set[str]:
    return {ticker for tickers in universes.values() for ticker in tickers}


def stocks(session: SessionMarket) -> list[str]:
    return list(session.decision_market.stocks)


def members_but(engine: Engine, everyone: list[str], late: list[str], *, joined: date) -> None:
    """Every stock a member throughout, except `late`, members from `joined` on."""
    spans = [MembershipSpan(ticker, joined if ticker in late else EVER) for ticker in everyone]
    replace_membership(engine, "SP500", spans)


def late_joiners(universes: Universes) -> list[str]:
    """The two best names of each universe: a change that must show in every one of them."""
    return sorted({ticker for tickers in universes.values() for ticker in tickers[:2]})


@pytest.mark.parametrize("view", VIEWS)
def test_before_a_name_joins_the_index_no_universe_holds_it_and_after_it_may(
    market: Engine, settings: FundSettings, days: tuple[date, date, date], view: str
) -> None:
    before, joined, after = days
    without = sessions_of(view, market, settings, before, after)
    baseline_before, baseline_after = universes_of(without(before)), universes_of(without(after))
    everyone = stocks(without(before))
    late = late_joiners(baseline_before)
    assert late

    members_but(market, everyone, late, joined=joined)
    with_rows = sessions_of(view, market, settings, before, after)
    early, later = with_rows(before), with_rows(after)

    assert held(universes_of(early)).isdisjoint(late)
    assert set(early.state.stocks) == set(everyone) - set(late)
    assert any(universe.available for universe in early.state.universes.values())
    # After joining they are members like every other stock: the universes are those without rows.
    assert universes_of(later) == baseline_after
    assert held(universes_of(later)) & set(late)


@pytest.mark.parametrize("view", VIEWS)
def test_without_membership_rows_the_universes_are_cut_from_every_stock_with_bars(
    market: Engine, settings: FundSettings, days: tuple[date, date, date], view: str
) -> None:
    before, _, after = days
    for day in (before, after):
        session = sessions_of(view, market, settings, before, after)(day)
        everyone = build_universes(
            session.state.cross_section,
            stocks=session.decision_market.stocks,
            close=session.decision_market.close_on(day),
            fundamentals=fundamentals_as_of(market, day),
            settings=settings.universe,
        )
        assert universes_of(session) == {name: universe.tickers for name, universe in everyone.items()}
        assert session.state.stocks == tuple(session.decision_market.stocks)


def test_names_that_left_the_index_by_a_file_import_are_out_of_the_universes_after_their_last_day(
    market: Engine, database_url: str, settings: FundSettings, days: tuple[date, date, date], tmp_path: Path
) -> None:
    before, left, after = days
    without = DatabaseMarketView(market, settings)
    baseline_before = universes_of(without.session(before))
    leavers = late_joiners(universes_of(without.session(after)))
    last_day = left - timedelta(days=1)
    lines = [f"{t},{EVER},{last_day if t in leavers else ''}" for t in stocks(without.session(before))]
    path = write_text(tmp_path / "sp500.csv", "\n".join(["ticker,start_date,end_date", *lines]))

    result = run("data", "membership", str(path))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"SP500 membership: {len(lines)} span(s) of {len(lines)} ticker(s) read from")
    view = DatabaseMarketView(market, settings)
    assert universes_of(view.session(before)) == baseline_before
    assert held(universes_of(view.session(after))).isdisjoint(leavers)


def test_the_rankers_training_rows_hold_only_the_members_of_each_date_like_the_sessions_universes(
    market: Engine, settings: FundSettings, days: tuple[date, date, date]
) -> None:
    before, joined, after = days
    view = DatabaseMarketView(market, settings)
    everyone = stocks(view.session(before))
    late = late_joiners(universes_of(view.session(before)))
    members_but(market, everyone, late, joined=joined)

    data = load_ranker_data(market, settings, before, after, horizon=5, step=5)

    dates = data.inputs.index.get_level_values("date")
    tickers = data.inputs.index.get_level_values("ticker")
    assert set(tickers[dates < pd.Timestamp(joined)]).isdisjoint(late)
    assert set(tickers[dates >= pd.Timestamp(joined)]) & set(late)
    day = dates[0]
    session = DatabaseMarketView(market, settings).session(day.date())
    for strategy, universe in session.state.universes.items():
        rows = data.members[strategy]
        assert sorted(rows[rows.get_level_values("date") == day].get_level_values("ticker")) == sorted(
            universe.tickers
        ), strategy


# --- the command -------------------------------------------------------------------------------------


def stored_spans(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(IndexMembership)).scalar_one())


def test_fund_data_membership_reports_the_spans_it_imported_into_the_named_index(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = write_text(tmp_path / "listed.csv", "ticker,start_date,end_date\nAAA,2010-01-04,2012-12-31\nBBB,2011-01-03,")
    result = run("data", "membership", str(path), "--index", "universe")
    assert result.exit_code == 0
    assert result.stdout == (
        f"universe membership: 2 span(s) of 2 ticker(s) read from {path}, from 2010-01-04, 1 still open\n"
    )
    assert stored_spans(engine) == 2


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        ("AAA,2010-01-04,\nBBB,2010-1-4,", 3, "start_date '2010-1-4' is not a date in YYYY-MM-DD form"),
        ("AAA,2012-01-03,2011-01-03", 2, "end_date 2011-01-03 is before start_date 2012-01-03"),
        ("AAA,2010-01-04,2012-01-03\nAAA,2012-01-03,", 3, "AAA's span 2012-01-03..open overlaps its span"),
    ],
    ids=["a bad date", "an end before its start", "overlapping spans"],
)
def test_a_bad_membership_file_exits_1_naming_the_line_and_writes_nothing(
    engine: Engine, database_url: str, tmp_path: Path, rows: str, line: int, reason: str
) -> None:
    path = write_text(tmp_path / "sp500.csv", f"ticker,start_date,end_date\n{rows}")
    result = run("data", "membership", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"  {path}:{line}: {reason}" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"Error: {path}:{line}: {reason}")
    assert result.stderr.endswith("nothing was written\n")
    assert "Traceback" not in result.stderr
    assert stored_spans(engine) == 0
