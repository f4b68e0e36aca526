"""The two market views give the same market, and so the same decision, on the same data: the database
view (one panel per session, the daily run's) and the preloaded one (one panel for a span, features
and regimes computed once, the backtest's). Neither lets a bar after the session change anything."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, update

from autonomous.generators import MockGenerator
from autonomous.marketview import SessionMarket
from autonomous.marketview.database import DatabaseMarketView
from autonomous.marketview.preloaded import PreloadedMarketView
from autonomous.order_planning import plan_orders
from autonomous.risk import RiskInput, evaluate_risk
from autonomous.selector import CONFIRM_LOOKBACK_SESSIONS, select_strategy
from trading.db.schema import PriceBar
from trading.marketdata.calendar import TradingCalendar
from trading.settings import FundSettings, load_settings

HELD = {"DSCA": Decimal("40"), "TECA": Decimal("25")}


@pytest.fixture
def settings(market: Engine) -> FundSettings:
    return load_settings(None)


@pytest.fixture
def days(market: Engine) -> list[date]:
    history = TradingCalendar.from_database(market, "SPY").history
    return [stamp.date() for stamp in history[-60::12]]


def _decision(session: SessionMarket, settings: FundSettings) -> dict[str, object]:
    """Everything the decision steps derive from the market, for an account holding HELD and cash."""
    state = session.state
    available = {name for name, universe in state.universes.items() if universe.available}
    choice = select_strategy(session.regime, settings.strategy, available=available)
    target = MockGenerator(settings).generate(state, choice, {})
    tickers = sorted(set(HELD) | set(target.weights))
    quotes = session.quotes(tickers)
    risk = evaluate_risk(
        RiskInput(
            target=target.weights,
            quantities=HELD,
            cash=Decimal("50000"),
            prices={t: q.close for t, q in quotes.items()},
            peak_equity=Decimal("60000"),
            sectors=dict(session.sectors),
            average_daily_volume=session.average_volume(tickers),
            confidence=choice.confidence,
        ),
        settings.risk,
    )
    plan = plan_orders(
        {t: w for t, w in risk.adjusted_weights.items() if w > 0},
        HELD,
        Decimal("50000"),
        {t: Decimal(repr(q.close)) for t, q in quotes.items()},
        fractional=False,
        min_order_value=settings.execution.min_order_value,
        cash_buffer=float(settings.execution.cash_buffer),
    )
    return {
        "gate": (session.gate.reasons, session.gate.universe_size, session.gate.covered),
        "regime": (session.regime.label, round(session.regime.confidence, 9)),
        "universes": {name: u.tickers for name, u in state.universes.items()},
        "strategy": (choice.strategy, choice.confidence),
        "target": dict(target.weights),
        "adjusted": {t: round(w, 9) for t, w in risk.adjusted_weights.items()},
        "verdict": risk.verdict,
        "orders": plan.to_json()["orders"],
    }


def test_the_database_and_the_preloaded_views_give_the_same_decision_on_the_same_data(
    market: Engine, settings: FundSettings, days: list[date]
) -> None:
    database = DatabaseMarketView(market, settings)
    preloaded = PreloadedMarketView.load(market, settings, days[0], days[-1])
    compared = 0
    for day in days:
        by_db, by_panel = database.session(day), preloaded.session(day)
        assert _decision(by_db, settings) == _decision(by_panel, settings), day
        pd.testing.assert_frame_equal(
            by_db.state.cross_section.sort_index(), by_panel.state.cross_section.sort_index(), rtol=1e-9
        )
        pd.testing.assert_series_equal(by_db.state.close.dropna(), by_panel.state.close.dropna(), check_names=False)
        assert by_db.quotes(HELD) == by_panel.quotes(HELD)
        compared += 1
    assert compared == len(days) >= 4


def test_a_preloaded_session_ignores_every_bar_after_it(
    market: Engine, settings: FundSettings, days: list[date]
) -> None:
    day = days[2]
    before = PreloadedMarketView.load(market, settings, days[0], days[-1]).session(day)
    expected = _decision(before, settings)
    cross_section = before.state.cross_section.copy()

    with market.begin() as connection:
        connection.execute(
            update(PriceBar)
            .where(PriceBar.date > day)
            .values(adj_close=PriceBar.adj_close * 3, close=PriceBar.close * 3, volume=PriceBar.volume * 7)
        )
    after = PreloadedMarketView.load(market, settings, days[0], days[-1]).session(day)

    assert _decision(after, settings) == expected
    assert np.allclose(after.state.cross_section.to_numpy(), cross_section.to_numpy(), equal_nan=True)
    assert after.regime == before.regime


def test_a_quote_finds_a_last_price_older_than_the_recent_rows_it_searches_first(
    market: Engine, settings: FundSettings
) -> None:
    """A name silent for longer than QUOTE_TAIL_ROWS sessions is quoted at its last bar all the same,
    with that bar's date and its age in sessions, by both views."""
    from autonomous.marketview.session import QUOTE_TAIL_ROWS

    history = TradingCalendar.from_database(market, "SPY").history
    day, silent_from = history[-1].date(), history[-QUOTE_TAIL_ROWS - 10].date()
    with market.begin() as connection:
        connection.execute(PriceBar.__table__.delete().where(PriceBar.ticker == "DSCA", PriceBar.date >= silent_from))
        last_close = connection.execute(
            PriceBar.__table__.select()
            .with_only_columns(PriceBar.date, PriceBar.close)
            .where(PriceBar.ticker == "DSCA")
            .order_by(PriceBar.date.desc())
            .limit(1)
        ).one()
    preloaded = PreloadedMarketView.load(market, settings, history[-60].date(), day).session(day)
    quote = preloaded.quotes(["DSCA", "TECA"])["DSCA"]
    assert (quote.as_of, quote.close) == (last_close.date, float(last_close.close))
    assert quote.age == QUOTE_TAIL_ROWS + 10
    assert preloaded.quotes(["DSCA"]) == DatabaseMarketView(market, settings).session(day).quotes(["DSCA"])


def test_a_preloaded_span_viewed_under_other_settings_decides_as_a_span_loaded_under_them(
    market: Engine, settings: FundSettings, days: list[date]
) -> None:
    # A sweep's worker reads a span once and views it under each trial's settings (with_settings): what
    # the settings leave unchanged is shared, the rest computed under the trial's own settings.
    base = PreloadedMarketView.load(market, settings, days[0], days[-1])
    base.cross_sections  # noqa: B018
    base.regimes  # noqa: B018
    band = settings.regime.model_copy(update={"sideways_band": 0.2, "full_trend_distance": 0.3})
    other = settings.model_copy(update={"regime": band, "strategy": settings.strategy.model_copy(update={"top_n": 5})})
    viewed = base.with_settings(other)
    assert viewed.features is base.features
    assert viewed.cross_sections is base.cross_sections
    assert viewed.regimes is not base.regimes
    fresh = PreloadedMarketView.load(market, other, days[0], days[-1])
    labels = set()
    for day in days:
        assert _decision(viewed.session(day), other) == _decision(fresh.session(day), other), day
        labels.add((viewed.session(day).regime.label, base.session(day).regime.label))
    assert any(mine != theirs for mine, theirs in labels), "the regime settings changed no label: a weak test"
    same = base.with_settings(
        settings.model_copy(update={"risk": settings.risk.model_copy(update={"max_drawdown": 0.3})})
    )
    assert same.regimes is base.regimes


def test_both_views_give_the_selector_the_same_earlier_regimes_and_so_the_same_confirmed_choice(
    market: Engine, settings: FundSettings
) -> None:
    confirming = settings.model_copy(update={"strategy": settings.strategy.model_copy(update={"confirm_sessions": 3})})
    history = TradingCalendar.from_database(market, "SPY").history
    days = [stamp.date() for stamp in history[-90::3]]
    database = DatabaseMarketView(market, confirming)
    preloaded = PreloadedMarketView.load(market, confirming, days[0], days[-1])
    kept = 0
    labels: set[str] = set()
    for day in days:
        by_db, by_panel = database.session(day), preloaded.session(day)
        earlier = by_db.earlier_regimes
        assert len(earlier) == CONFIRM_LOOKBACK_SESSIONS
        assert earlier[-1].date < day
        assert [(r.date, r.label) for r in earlier] == [(r.date, r.label) for r in by_panel.earlier_regimes], day
        choices = []
        for session in (by_db, by_panel):
            available = {name for name, universe in session.state.universes.items() if universe.available}
            choices.append(
                select_strategy(
                    session.regime, confirming.strategy, available=available, earlier=session.earlier_regimes
                )
            )
        assert choices[0] == choices[1], day
        kept += choices[0].pending is not None
        labels |= {r.label for r in earlier}
    assert len(labels) > 1, "the look-backs saw one regime only: a weak test"
    assert kept, "no session kept an earlier strategy: a weak test"
