"""The comparison of a broker's account with the ledger (trading/reconciliation.py `compare`): what matches,
what a split or the cash tolerance explains, and what stops a run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trading.orders import BrokerOrder, OrderSide, OrderStatus
from trading.reconciliation import Baseline, BrokerState, LedgerOrder, Reconciliation, compare, expected_holdings

D = Decimal
DAY = date(2024, 6, 3)
T0 = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
BASE = Baseline(DAY, T0, D("1000"), {"AAA": D(10)}, 100, {})
NO_SPLIT = (D(1), "")


_rows = iter(range(101, 10**6))


def order(cid: str, ticker: str, side: OrderSide, filled: str, price: str = "10", *, row: int = 0) -> LedgerOrder:
    """One of the ledger's orders, planned after the baseline (row id above its 100) unless `row` says."""
    return LedgerOrder(row or next(_rows), cid, ticker, side, D(filled), D(price), None, final=True)


def state(cash: str, positions: dict[str, Decimal], *open_orders: BrokerOrder) -> BrokerState:
    return BrokerState(D(cash), D(cash) + sum(positions.values(), D(0)) * 10, positions, open_orders)


def check(
    baseline: Baseline | None,
    orders: list[LedgerOrder],
    broker: BrokerState,
    splits: dict[str, tuple[Decimal, str]] | None = None,
) -> Reconciliation:
    return compare(
        "ACC",
        baseline,
        orders,
        broker,
        split_factor=lambda t: (splits or {}).get(t, NO_SPLIT),
        cash_tolerance=D("5"),
    )


def open_order(cid: str, ticker: str = "ZZZ") -> BrokerOrder:
    return BrokerOrder("b-" + cid, cid, ticker, OrderSide.BUY, D(3), D(0), None, OrderStatus.SUBMITTED, T0)


def test_the_baseline_moved_by_the_funds_fills_since_matches() -> None:
    orders = [order("buy-bbb", "BBB", OrderSide.BUY, "5"), order("sell-aaa", "AAA", OrderSide.SELL, "4", "12")]
    result = check(BASE, orders, state("998", {"AAA": D(6), "BBB": D(5)}))
    assert result.outcome == "matched"
    assert result.differences == ()


def test_fills_before_the_baseline_are_already_in_it() -> None:
    earlier = order("old", "AAA", OrderSide.BUY, "10", row=99)
    assert check(BASE, [earlier], state("1000", {"AAA": D(10)})).outcome == "matched"


def test_an_order_working_at_the_baseline_counts_only_what_it_filled_since() -> None:
    baseline = Baseline(DAY, T0, D("1000"), {"AAA": D(10)}, 100, {"partial": D(4)})
    working = LedgerOrder(98, "partial", "AAA", OrderSide.BUY, D(10), D(10), None, final=True)
    assert check(baseline, [working], state("940", {"AAA": D(16)})).outcome == "matched"


def test_a_position_nobody_ordered_and_a_missing_one_stop_the_run() -> None:
    result = check(BASE, [], state("1000", {"XYZ": D(7)}))
    assert result.outcome == "stopped"
    assert {(d.ticker, d.fund, d.broker) for d in result.unexplained} == {("AAA", D(10), D(0)), ("XYZ", D(0), D(7))}
    assert "UNEXPLAINED" in result.table()


def test_a_split_since_the_baseline_explains_a_position_and_cash_in_lieu_its_fraction() -> None:
    result = check(BASE, [], state("1000", {"AAA": D(30)}), {"AAA": (D(3), "3:1 on 2024-06-05")})
    assert result.outcome == "explained"
    (difference,) = result.differences
    assert difference.explanation == "split 3:1 on 2024-06-05 since the last reconciliation"
    odd = Baseline(DAY, T0, D("1000"), {"AAA": D(5)}, 100, {})
    assert check(odd, [], state("1000", {"AAA": D(7)}), {"AAA": (D("1.5"), "3:2")}).outcome == "explained"
    assert check(odd, [], state("1000", {"AAA": D(9)}), {"AAA": (D("1.5"), "3:2")}).outcome == "stopped"


def test_cash_within_the_tolerance_is_explained_and_beyond_it_stops() -> None:
    small = check(BASE, [], state("1004.50", {"AAA": D(10)}))
    assert small.outcome == "explained"
    assert "+4.50 within the tolerance" in (small.differences[0].explanation or "")
    deposit = check(BASE, [], state("51000", {"AAA": D(10)}))
    assert deposit.outcome == "stopped"
    assert deposit.unexplained[0].kind == "cash"


def test_an_open_order_the_fund_did_not_place_stops_until_acknowledged() -> None:
    stranger = open_order("by-hand")
    result = check(BASE, [], state("1000", {"AAA": D(10)}, stranger))
    assert [(d.kind, d.ticker, d.broker) for d in result.unexplained] == [("unknown_order", "ZZZ", D(3))]
    assert result.unknown_orders == ("b-by-hand",)
    acknowledged = Baseline(DAY, T0, D("1000"), {"AAA": D(10)}, 100, {}, frozenset({"b-by-hand"}))
    assert check(acknowledged, [], state("1000", {"AAA": D(10)}, stranger)).outcome == "matched"
    own = order("mine", "ZZZ", OrderSide.BUY, "0")
    assert check(BASE, [own], state("1000", {"AAA": D(10)}, open_order("mine"))).outcome == "matched"


def test_a_first_check_takes_an_all_cash_account_as_its_baseline_but_not_one_holding_positions() -> None:
    cash_only = check(None, [], state("100000", {}))
    assert cash_only.outcome == "explained"
    assert cash_only.differences[0].kind == "baseline"
    holding = check(None, [], state("100000", {"AAA": D(5)}))
    assert holding.outcome == "stopped"


fills = st.lists(
    st.tuples(
        st.sampled_from(["AAA", "BBB", "CCC"]),
        st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
        st.integers(min_value=1, max_value=50),
        st.integers(min_value=1, max_value=500),
    ),
    max_size=12,
)


@given(fills)
def test_any_fills_applied_alike_to_the_broker_and_the_ledger_match(
    trades: list[tuple[str, OrderSide, int, int]],
) -> None:
    positions = {"AAA": D(100), "BBB": D(100), "CCC": D(100)}
    cash = D("100000")
    orders = []
    for i, (ticker, side, quantity, price) in enumerate(trades):
        sign = 1 if side is OrderSide.BUY else -1
        positions[ticker] += sign * quantity
        cash -= sign * quantity * price
        orders.append(order(f"o{i}", ticker, side, str(quantity), str(price)))
    baseline = Baseline(DAY, T0, D("100000"), {"AAA": D(100), "BBB": D(100), "CCC": D(100)}, 100, {})
    held = {t: q for t, q in positions.items() if q}
    assert expected_holdings(baseline, orders) == (held, cash)
    assert check(baseline, orders, state(str(cash), held)).outcome == "matched"


def test_an_order_planned_before_the_baseline_and_filled_after_it_counts_through_its_working_fill() -> None:
    """A plan persisted before the check (awaiting approval, say) and sent later: it was working at the
    baseline with nothing filled, so its whole fill is new. Row ids decide, never the broker's clock."""
    baseline = Baseline(DAY, T0, D("1000"), {}, 100, {"approved-later": D(0)})
    late = LedgerOrder(97, "approved-later", "AAA", OrderSide.BUY, D(5), D(10), None, final=True)
    assert check(baseline, [late], state("950", {"AAA": D(5)})).outcome == "matched"
