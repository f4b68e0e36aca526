"""Series shipped as adjusted closes only (GLD in the shared data): the fill engine, the settlement and the
database paper venue fill them at the next session's adjusted close, flagged, book no dividend or split
for them (both are inside the adjusted series) and mark them at their adjusted close."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.factories import BAR_HEADER, write_text
from trading.brokers.base import VenueEventKind
from trading.brokers.paper.settlement import DayBar, Holding, Ledger, OpenOrder, SettlementRules, settle
from trading.brokers.paper.venue import PaperVenue
from trading.db.schema import PaperCashEntry, PaperFill, PaperOrder, PaperPosition
from trading.errors import DataError
from trading.execution.costs import CommissionModel, CostModels, SlippageModel
from trading.execution.fills import BarPrices, fill_market_order
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.calendar import TradingCalendar
from trading.orders import OrderRequest, OrderSide, OrderStatus, deterministic_client_order_id
from trading.store.accounts import create_paper_account

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
# Real XNYS sessions without a holiday between them.
DAYS = [date(2024, 6, day) for day in (3, 4, 5, 6, 7)]
T0, T1, T2, T3, T4 = DAYS
# 10 bps against the order; no commission, so the cash arithmetic stays readable.
COSTS = CostModels(SlippageModel(D("10")), CommissionModel(D("0"), D("0")))
NOW = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
RULES = SettlementRules(COSTS, delisted_after=5, sessions_since=lambda start, end: sum(start < d <= end for d in DAYS))


def adjusted_only(adj_close: str, dividend: str = "0", split: str = "1") -> DayBar:
    return DayBar(None, None, D(dividend), D(split), D(adj_close))


# --- the fill engine -------------------------------------------------------------------------------


def test_an_order_on_a_bar_without_raw_prices_fills_at_its_adjusted_close_and_is_flagged() -> None:
    fill = fill_market_order(BUY, D("10"), BarPrices("GLD", T1, None, None, D("120")), COSTS)

    assert fill.price == D("120.12")  # the adjusted close, 10 bps against the buyer
    assert fill.at_adjusted_close
    assert fill.flagged_no_open


def test_a_bar_with_a_raw_open_fills_at_the_open_whatever_its_adjusted_close() -> None:
    fill = fill_market_order(SELL, D("10"), BarPrices("AAA", T1, D("100"), D("101"), D("80")), COSTS)

    assert fill.price == D("99.90")
    assert not fill.at_adjusted_close
    assert not fill.flagged_no_open


def test_a_bar_with_no_price_at_all_cannot_price_a_fill() -> None:
    with pytest.raises(DataError, match="no open, close or adjusted close"):
        BarPrices("GLD", T1, None, None, None)


# --- the settlement ----------------------------------------------------------------------------------


def test_the_settlement_fills_an_adjusted_only_bar_at_its_adjusted_close_and_the_order_says_so() -> None:
    ledger = Ledger(D("10000"), {}, fractional=False)
    buy = OpenOrder(1, "c-1", "GLD", BUY, D("10"), T1)

    settle(ledger, [T1], {("GLD", T1): adjusted_only("120")}, [buy], RULES)

    update = ledger.order_updates[1]
    assert update.status is OrderStatus.FILLED
    assert update.reason is not None
    assert update.reason.startswith(f"filled at the adjusted close: the {T1} bar has no raw open or close")
    assert ledger.fills[0].fill.price == D("120.12")
    assert ledger.cash == D("10000") - D("1201.20")
    assert ledger.holdings["GLD"].last_close == D("120")  # marked at the adjusted close


def test_an_adjusted_only_series_books_no_dividend_and_no_split() -> None:
    ledger = Ledger(D("0"), {"GLD": Holding(D("10"), D("100"), T0, D("100"))}, fractional=False)

    settle(ledger, [T1], {("GLD", T1): adjusted_only("101", dividend="2", split="2")}, [], RULES)

    assert ledger.cash == 0
    assert ledger.holdings["GLD"].quantity == D("10")
    assert ledger.position_changes == []
    assert not {e.kind for e in ledger.events} & {VenueEventKind.DIVIDEND, VenueEventKind.SPLIT}
    assert ledger.holdings["GLD"].last_close == D("101")


def test_an_order_for_an_adjusted_only_series_is_not_split_adjusted() -> None:
    ledger = Ledger(D("10000"), {}, fractional=False)
    buy = OpenOrder(1, "c-1", "GLD", BUY, D("10"), T1)

    settle(ledger, [T1], {("GLD", T1): adjusted_only("50", split="2")}, [buy], RULES)

    assert ledger.fills[0].fill.quantity == D("10")


def test_a_bar_with_an_open_but_no_close_still_expires_the_order() -> None:
    ledger = Ledger(D("10000"), {}, fractional=False)
    buy = OpenOrder(1, "c-1", "AAA", BUY, D("10"), T1)

    settle(ledger, [T1], {("AAA", T1): DayBar(D("100"), None, D("0"), D("1"), D("90"))}, [buy], RULES)

    assert ledger.order_updates[1].status is OrderStatus.EXPIRED


# --- the database paper venue --------------------------------------------------------------------------

GLD_ADJ = {T0: "120", T1: "121", T2: "122.5", T3: "121.75", T4: "123"}


def _import_market(engine: Engine, folder: Path) -> None:
    """SPY with raw bars; GLD with adjusted closes only (no open, high, low, close or volume), a dividend and
    a split in the file that the adjusted series already holds."""
    lines = [BAR_HEADER]
    for i, day in enumerate(DAYS):
        lines.append(f"{day},SPY,{400 + i},{401 + i},{399 + i},{400 + i},{400 + i},1000000,0,1")
        dividend, split = ("1.5", "2") if day == T2 else ("0", "1")
        lines.append(f"{day},GLD,,,,,{GLD_ADJ[day]},,{dividend},{split}")
    import_bar_files(engine, [write_text(folder / "bars.csv", "\n".join(lines))], strict=True)


def _venue(engine: Engine) -> PaperVenue:
    return PaperVenue(
        engine,
        "A",
        costs=COSTS,
        calendar=TradingCalendar.from_database(engine, "SPY"),
        benchmark="SPY",
        delisted_after_sessions=3,
        clock=lambda: NOW,
    )


def _buy(ticker: str, quantity: str, day: date) -> OrderRequest:
    client_id = deterministic_client_order_id("A", day, ticker, BUY, 0, broker="paper", mode="paper")
    return OrderRequest(client_id, ticker, BUY, D(quantity))


def test_the_paper_venue_fills_an_adjusted_only_series_at_the_next_adjusted_close_flagged(
    engine: Engine, tmp_path: Path
) -> None:
    _import_market(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    venue = _venue(engine)
    venue.sync(T0)
    venue.submit(_buy("GLD", "10", T0))

    report = venue.sync(T1)

    assert [e.kind for e in report.events] == [VenueEventKind.FILL]
    with engine.connect() as connection:
        fill = connection.execute(select(PaperFill.price, PaperFill.at_close)).one()
        placed = connection.execute(select(PaperOrder.status, PaperOrder.reason)).one()
    assert fill.price == D("121.121")  # T1's adjusted close 121, 10 bps against the buyer
    assert fill.at_close
    assert placed.status == "filled"
    assert "filled at the adjusted close" in placed.reason
    [position] = venue.positions()
    assert position.market_value == D("1210.00")  # marked at T1's adjusted close
    assert venue.account().cash == D("10000") - D("1211.21")


def test_the_paper_venue_marks_an_adjusted_only_position_at_its_adjusted_close_and_books_no_corporate_action(
    engine: Engine, tmp_path: Path
) -> None:
    _import_market(engine, tmp_path)
    create_paper_account(engine, "A", D("10000"))
    venue = _venue(engine)
    venue.sync(T0)
    venue.submit(_buy("GLD", "10", T0))
    venue.sync(T1)

    venue.sync(T3)  # over T2's dividend and split, which the adjusted series holds already

    with engine.connect() as connection:
        kinds = set(connection.execute(select(PaperCashEntry.kind)).scalars())
        quantity, value = connection.execute(select(PaperPosition.quantity, PaperPosition.market_value)).one()
    assert kinds == {"deposit", "fill"}
    assert quantity == D("10")
    assert value == D("1217.50")
    # A venue opened afresh reads the mark back from the bars.
    [position] = _venue(engine).positions()
    assert position.market_value == D("1217.50")
