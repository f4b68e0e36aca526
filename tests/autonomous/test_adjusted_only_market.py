"""A market shipped as adjusted closes only (no raw open, high, low or close, no volume, no dividends or
splits), as some vendors give it: the daily run trades it through the paper venue end to end. Universes
are sized by the snapshot's market cap carried back before the snapshot and forward after it, orders
fill at the next session's adjusted close, flagged, the liquidity limit is skipped with a reason, and
the safe haven is priced at its adjusted close."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from autonomous.cli.assembly import assemble_daily_run
from autonomous.daily_run.run import Outcome, RunMode, RunRequest
from autonomous.marketview.database import market_state_on
from autonomous.mock_portfolio import defensive_portfolio
from trading.brokers.paper.venue import PaperVenue
from trading.db.schema import PaperFill, PaperOrder, PaperPosition, PriceBar, RebalancingLog
from trading.execution.costs import CostModels, round_money
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import TradingCalendar
from trading.marketdata.decision_view import DECISION_FIELDS, DecisionMarket, priced_at_adjusted_close
from trading.marketdata.reference_import import import_fundamentals, import_securities
from trading.marketdata.synthetic import generate_synthetic_market
from trading.marketdata.view import MarketPanel, load_panel
from trading.orders import OrderRequest, OrderSide
from trading.settings import RiskLimits, load_settings
from trading.store.accounts import create_paper_account, get_paper_account

ACCOUNT = "ADJ_ONLY"
SNAPSHOT = date(2014, 1, 2)  # the only fundamentals snapshot: two years of sessions before it, one after
RAW_FIELDS = ("open", "high", "low", "close", "volume")


@pytest.fixture
def adjusted_market(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Three synthetic years (60 stocks, SPY, GLD, ^VIX) stripped to their adjusted closes, and one
    fundamentals snapshot, imported with the real importers."""
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    monkeypatch.setenv("FUND_REGIME__VOLATILITY_LOOKBACK_SESSIONS", "300")
    # Every run is approved, so that each session trades what it decided.
    monkeypatch.setenv("FUND_RISK__APPROVAL_MIN_CONFIDENCE", "0")
    monkeypatch.setenv("FUND_RISK__APPROVAL_WEIGHT_SHIFT", "2")
    synthetic = generate_synthetic_market(seed=11, years=3, n_stocks=60)
    bars = synthetic.bars.assign(**dict.fromkeys(RAW_FIELDS, np.nan), dividend=0.0, split_coef=1.0)
    synthetic.securities.to_csv(tmp_path / "securities.csv", index=False)
    import_securities(engine, tmp_path / "securities.csv", strict=True)
    bars.to_csv(tmp_path / "bars.csv", index=False)
    import_bar_files(engine, [tmp_path / "bars.csv"], strict=True)
    synthetic.fundamentals[SNAPSHOT].to_csv(tmp_path / "fundamentals.csv", index=False)
    import_fundamentals(engine, tmp_path / "fundamentals.csv", SNAPSHOT, strict=True)
    create_paper_account(engine, ACCOUNT, Decimal("100000"))
    return engine


def _sessions_around_the_snapshot(engine: Engine) -> list[date]:
    days = [stamp.date() for stamp in TradingCalendar.from_database(engine, "SPY").history]
    at = days.index(SNAPSHOT)
    return days[at - 3 : at + 2]


def _adjusted_closes(engine: Engine) -> dict[tuple[str, date], Decimal]:
    with engine.connect() as connection:
        rows = connection.execute(select(PriceBar.ticker, PriceBar.date, PriceBar.adj_close)).all()
    return {(ticker, day): Decimal(price) for ticker, day, price in rows}


def _table(engine: Engine, table: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table.__table__)).all())


def test_the_daily_run_trades_a_market_of_adjusted_closes_only_at_the_next_adjusted_close(
    adjusted_market: Engine,
) -> None:
    settings = load_settings(None)
    sessions = _sessions_around_the_snapshot(adjusted_market)
    run = assemble_daily_run(adjusted_market, settings, RunMode.PAPER, ACCOUNT, use_mock=True)

    results = [run.run(RunRequest(ACCOUNT, RunMode.PAPER, day)) for day in sessions]

    assert all(r.outcome is Outcome.COMPLETED for r in results), [r.message for r in results]
    first = next(row for row in _table(adjusted_market, RebalancingLog) if row.rebalance_date == sessions[0])
    assert first.num_buys > 0
    assert "market cap carried back from the 2014-01-02 snapshot" in first.strategy_reason
    skipped = [r for r in first.risk_reasons["reasons"] if r["rule"] == "liquidity" and r["severity"] == "info"]
    assert skipped
    assert "no volume reported" in skipped[0]["message"]
    bought = {o.ticker for o in _table(adjusted_market, PaperOrder) if o.sent_after == sessions[0]}
    assert bought <= set(skipped[0]["tickers"])

    adjusted = _adjusted_closes(adjusted_market)
    filled = [o for o in _table(adjusted_market, PaperOrder) if o.status == "filled"]
    fills = _table(adjusted_market, PaperFill)
    assert filled
    assert len(fills) == len(filled)
    assert all(o.reason.startswith("filled at the adjusted close") for o in filled)
    assert all(f.at_close for f in fills)
    slippage = CostModels.from_settings(settings.execution).slippage
    for fill in fills:
        assert fill.price == slippage.execution_price(OrderSide(fill.side), adjusted[fill.ticker, fill.session])

    last = sessions[-1]
    for position in _table(adjusted_market, PaperPosition):
        if position.ticker in {t for t, day in adjusted if day == last}:
            # Marked as the venue keeps money: to the ledger's 4 places (trading/execution/costs.py).
            assert position.market_value == round_money(position.quantity * adjusted[position.ticker, last])
    account = get_paper_account(adjusted_market, ACCOUNT)
    positions_value = sum((p.market_value for p in _table(adjusted_market, PaperPosition)), Decimal(0))
    assert account.cash >= 0
    assert account.total_value == account.cash + positions_value


def test_universes_of_a_market_without_volume_carry_the_snapshot_cap_back_before_it_and_forward_after(
    adjusted_market: Engine,
) -> None:
    settings = load_settings(None)
    before, *_, after = _sessions_around_the_snapshot(adjusted_market)

    for day, source, how in (
        (before, "market_cap_carried_back", "market cap carried back from the 2014-01-02 snapshot"),
        (after, "market_cap", "carried forward from the 2014-01-02 snapshot"),
    ):
        universes = market_state_on(adjusted_market, settings, day).universes
        sized = [u for name, u in universes.items() if name != "dividend"]
        assert all(u.available for u in sized), day
        assert {u.size_source for u in sized} == {source}
        assert all(how in u.reason for u in sized)


# --- the decision side's prices, without a database --------------------------------------------------


def _market_with_an_adjusted_only_safe_haven() -> DecisionMarket:
    dates = pd.DatetimeIndex([pd.Timestamp("2019-01-14"), pd.Timestamp("2019-01-15")], name="date")
    close = pd.DataFrame({"SPY": [258.0, 260.0], "AAA": [10.0, 11.0], "GLD": [np.nan, np.nan]}, index=dates)
    adj_close = pd.DataFrame({"SPY": [250.0, 252.0], "AAA": [9.0, 10.0], "GLD": [121.5, 122.0]}, index=dates)
    panel = MarketPanel(as_of=date(2019, 1, 15), frames={"close": close, "adj_close": adj_close})
    return DecisionMarket(
        as_of=panel.as_of,
        panel=panel,
        stocks=["AAA"],
        sectors={"AAA": "Energy"},
        benchmark=adj_close["SPY"],
        volatility_index=None,
        safe_haven="GLD",
    )


def test_the_decision_side_prices_a_series_without_raw_closes_at_its_adjusted_close_and_names_it() -> None:
    close = _market_with_an_adjusted_only_safe_haven().close_on(date(2019, 1, 15))

    assert close.to_dict() == {"SPY": 260.0, "AAA": 11.0, "GLD": 122.0}
    assert priced_at_adjusted_close(close) == {"GLD"}


def test_the_defensive_portfolio_holds_a_safe_haven_priced_at_its_adjusted_close_and_says_so() -> None:
    close = _market_with_an_adjusted_only_safe_haven().close_on(date(2019, 1, 15))

    portfolio = defensive_portfolio(close, safe_haven="GLD", risk=RiskLimits())

    assert set(portfolio.weights) == {"GLD"}
    assert "GLD priced at its adjusted close" in portfolio.reason


# --- GLD in the shared real data: adjusted closes only ----------------------------------------------------

REAL_WINDOW = (date(2018, 12, 3), date(2019, 1, 31))


def _import_real_spy_and_gld(engine: Engine, real_data_dir: Path, folder: Path) -> None:
    """SPY (raw bars and volume) and GLD (adjusted closes only) of the shared benchmarks file, around January
    2019: a few hundred rows instead of the whole file."""
    first, last = (day.isoformat() for day in REAL_WINDOW)
    path = folder / "spy_gld.csv"
    with gzip.open(real_data_dir / "benchmarks.csv.gz", "rt", encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        rows = [next(reader)] + [row for row in reader if row[1] in ("SPY", "GLD") and first <= row[0] <= last]
    with path.open("w", encoding="utf-8", newline="") as target:
        csv.writer(target, lineterminator="\n").writerows(rows)
    import_bar_files(engine, [path], strict=True)


@pytest.mark.realdata
def test_on_the_shared_data_gld_is_held_by_the_defensive_portfolio_in_january_2019_and_fills_at_its_adjusted_close(
    engine: Engine, real_data_dir: Path, tmp_path: Path
) -> None:
    _import_real_spy_and_gld(engine, real_data_dir, tmp_path)
    panel = load_panel(engine, REAL_WINDOW[1], start=REAL_WINDOW[0], fields=DECISION_FIELDS)
    market = DecisionMarket(panel.as_of, panel, [], {}, panel.adj_close["SPY"], None, "GLD")
    january = [stamp.date() for stamp in panel.dates if stamp >= pd.Timestamp("2019-01-01")]
    for day in january:
        portfolio = defensive_portfolio(market.close_on(day), safe_haven="GLD", risk=RiskLimits())
        assert set(portfolio.weights) == {"GLD"}, (day, portfolio.reason)

    create_paper_account(engine, ACCOUNT, Decimal("100000"))
    settings = load_settings(None)
    costs = CostModels.from_settings(settings.execution)
    venue = PaperVenue(
        engine,
        ACCOUNT,
        costs=costs,
        calendar=TradingCalendar.from_database(engine, "SPY"),
        benchmark="SPY",
        delisted_after_sessions=5,
        clock=lambda: datetime(2019, 1, 2, 22, tzinfo=UTC),
    )
    venue.sync(date(2019, 1, 2))
    venue.submit(OrderRequest("gld-2019-01-02", "GLD", OrderSide.BUY, Decimal("10")))
    venue.sync(date(2019, 1, 3))

    [fill] = _table(engine, PaperFill)
    assert fill.price == costs.slippage.execution_price(OrderSide.BUY, Decimal("122.43"))  # GLD's adjusted close
    assert fill.at_close
    [position] = venue.positions()
    assert position.market_value == Decimal("1224.30")
