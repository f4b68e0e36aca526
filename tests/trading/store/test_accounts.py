from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, insert, select

from trading.db.schema import AccountEquity, PaperAccount, PaperPosition
from trading.store.accounts import (
    DEFAULT_ACCOUNT_ID,
    MAX_ACCOUNT_ID_LENGTH,
    AccountExists,
    EquityRecord,
    PositionRecord,
    UnknownAccount,
    create_paper_account,
    equity_history,
    get_paper_account,
    list_paper_accounts,
    paper_positions,
    peak_equity_between,
    record_equity,
)

D = Decimal
MON, TUE, WED, THU, FRI = (date(2024, 3, day) for day in (4, 5, 6, 7, 8))


def account_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(PaperAccount)).scalar_one())


def record(engine: Engine, day: date, equity: str, account: str = "A") -> EquityRecord:
    return record_equity(engine, account, day, cash=D(equity), positions_value=D(0))


# --- accounts ------------------------------------------------------------------------------------


def test_a_new_account_holds_its_cash_as_buying_power_value_and_peak(engine: Engine) -> None:
    before = datetime.now(UTC)
    created = create_paper_account(engine, "PAPER_1", D("100000.00"))
    assert (created.account_id, created.currency, created.fractional_shares) == ("PAPER_1", "USD", False)
    assert created.cash == created.buying_power == created.total_value == created.peak_value == D("100000")
    assert created.settled_through is None
    assert created.created_at.tzinfo is not None
    assert created.created_at >= before.replace(microsecond=0)
    assert get_paper_account(engine, "PAPER_1") == created
    assert paper_positions(engine, "PAPER_1") == []


def test_an_account_can_be_fractional_and_its_currency_is_stored_upper_case(engine: Engine) -> None:
    created = create_paper_account(engine, "F", D("10"), fractional_shares=True, currency="eur")
    assert (created.fractional_shares, created.currency) == (True, "EUR")
    assert get_paper_account(engine, "F").fractional_shares is True


def test_starting_cash_is_rounded_to_four_places_half_even(engine: Engine) -> None:
    assert create_paper_account(engine, "A", D("100.12345")).cash == D("100.1234")
    assert create_paper_account(engine, "B", D("100.12355")).cash == D("100.1236")
    assert create_paper_account(engine, "C", D("0")).total_value == D("0")


def test_a_duplicate_account_id_is_refused_and_the_first_account_is_untouched(engine: Engine) -> None:
    first = create_paper_account(engine, "A", D("500"))
    with pytest.raises(AccountExists, match="'A' already exists"):
        create_paper_account(engine, "A", D("900"), fractional_shares=True)
    assert get_paper_account(engine, "A") == first
    assert account_rows(engine) == 1


@pytest.mark.parametrize("cash", [D("-0.01"), D("NaN"), D("Infinity"), D("-Infinity"), 100.0, 100])
def test_starting_cash_that_is_negative_not_finite_or_not_a_decimal_is_refused(engine: Engine, cash: object) -> None:
    with pytest.raises(ValueError, match="starting cash must be a finite, non-negative amount"):
        create_paper_account(engine, "A", cash)  # type: ignore[arg-type]
    assert account_rows(engine) == 0


@pytest.mark.parametrize("account_id", ["", " A", "A ", "\tA", "x" * (MAX_ACCOUNT_ID_LENGTH + 1)])
def test_an_empty_padded_or_too_long_account_id_is_refused(engine: Engine, account_id: str) -> None:
    with pytest.raises(ValueError, match="must be 1 to 64 characters"):
        create_paper_account(engine, account_id, D("1"))
    assert account_rows(engine) == 0


def test_an_account_id_of_the_maximum_length_is_accepted(engine: Engine) -> None:
    longest = "x" * MAX_ACCOUNT_ID_LENGTH
    assert create_paper_account(engine, longest, D("1")).account_id == longest


@pytest.mark.parametrize("currency", ["US", "USDT", "U5D", ""])
def test_a_currency_that_is_not_three_letters_is_refused(engine: Engine, currency: str) -> None:
    with pytest.raises(ValueError, match="three-letter code"):
        create_paper_account(engine, "A", D("1"), currency=currency)
    assert account_rows(engine) == 0


def test_an_unknown_account_names_the_accounts_that_exist_and_how_to_create_it(engine: Engine) -> None:
    create_paper_account(engine, "ZED", D("1"))
    create_paper_account(engine, DEFAULT_ACCOUNT_ID, D("1"))
    with pytest.raises(UnknownAccount) as caught:
        get_paper_account(engine, "NOPE")
    message = str(caught.value)
    assert f"no paper account 'NOPE' (existing: {DEFAULT_ACCOUNT_ID}, ZED)" in message
    assert "fund accounts create --account-id NOPE" in message


def test_an_unknown_account_with_no_accounts_at_all_says_none_exist(engine: Engine) -> None:
    with pytest.raises(UnknownAccount, match=r"\(existing: none\)"):
        get_paper_account(engine, "NOPE")


def test_accounts_are_listed_by_id(engine: Engine) -> None:
    assert list_paper_accounts(engine) == []
    for account_id in ("b", "C", "a"):
        create_paper_account(engine, account_id, D("1"))
    listed = list_paper_accounts(engine)
    assert [a.account_id for a in listed] == sorted(["b", "C", "a"])
    assert listed[0] == get_paper_account(engine, listed[0].account_id)


def create_then_fail(engine: Engine) -> None:
    with engine.begin() as connection:
        create_paper_account(connection, "A", D("1"))
        assert get_paper_account(connection, "A").cash == D("1")
        raise RuntimeError("the use case failed after creating the account")


def test_a_create_inside_a_callers_transaction_rolls_back_with_it(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="use case failed"):
        create_then_fail(engine)
    assert list_paper_accounts(engine) == []


# --- positions -----------------------------------------------------------------------------------


def test_positions_are_the_accounts_holdings_above_zero_by_ticker(engine: Engine) -> None:
    create_paper_account(engine, "A", D("1"))
    create_paper_account(engine, "B", D("1"))
    rows = [
        ("A", "MSFT", "3", "400.5", "1203"),
        ("A", "AAPL", "10.5", "150.123456", "1600.25"),
        ("A", "GONE", "0", "20", "0"),
        ("B", "AAPL", "1", "1", "1"),
    ]
    with engine.begin() as connection:
        connection.execute(
            insert(PaperPosition),
            [
                {"account_id": a, "ticker": t, "quantity": D(q), "avg_price": D(p), "market_value": D(v)}
                for a, t, q, p, v in rows
            ],
        )
    assert paper_positions(engine, "A") == [
        PositionRecord("AAPL", D("10.5"), D("150.123456"), D("1600.25")),
        PositionRecord("MSFT", D("3"), D("400.5"), D("1203")),
    ]
    assert [p.ticker for p in paper_positions(engine, "B")] == ["AAPL"]


# --- equity history ------------------------------------------------------------------------------


def test_recorded_equity_is_cash_plus_positions_and_the_first_day_is_its_own_peak(engine: Engine) -> None:
    recorded = record_equity(engine, "A", MON, cash=D("100.00005"), positions_value=D("900.5"))
    assert recorded == EquityRecord(MON, D("1000.5000"), D("100.0000"), D("900.5000"), D("1000.5000"))
    assert equity_history(engine, "A") == [recorded]


def test_the_peak_is_the_running_maximum_of_equity(engine: Engine) -> None:
    equities = [(MON, "100"), (TUE, "120"), (WED, "90"), (THU, "130"), (FRI, "125")]
    peaks = [record(engine, day, equity).peak_equity for day, equity in equities]
    assert peaks == [D("100"), D("120"), D("120"), D("130"), D("130")]
    assert [(r.day, r.equity, r.peak_equity) for r in equity_history(engine, "A")] == [
        (day, D(equity), peak) for (day, equity), peak in zip(equities, peaks, strict=True)
    ]


def test_recording_a_day_again_overwrites_it_instead_of_adding_a_row(engine: Engine) -> None:
    record(engine, MON, "100")
    record(engine, TUE, "150")
    again = record_equity(engine, "A", TUE, cash=D("20"), positions_value=D("60"))
    assert again == EquityRecord(TUE, D("80"), D("20"), D("60"), D("100"))
    assert equity_history(engine, "A")[-1] == again
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AccountEquity)).scalar_one() == 2
    # The overwritten 150 is gone, so it no longer counts towards the peak.
    assert peak_equity_between(engine, "A", None, TUE) == D("100")


def test_the_peak_ignores_later_days_and_other_accounts(engine: Engine) -> None:
    record(engine, WED, "500")
    record(engine, MON, "999", account="OTHER")
    assert record(engine, TUE, "100").peak_equity == D("100")


def test_peak_equity_between_reads_only_the_window(engine: Engine) -> None:
    for day, equity in [(MON, "300"), (TUE, "100"), (WED, "200"), (THU, "150"), (FRI, "400")]:
        record(engine, day, equity)
    record(engine, WED, "999", account="OTHER")
    assert peak_equity_between(engine, "A", None, THU) == D("300")
    assert peak_equity_between(engine, "A", TUE, THU) == D("200")
    assert peak_equity_between(engine, "A", THU, THU) == D("150")
    assert peak_equity_between(engine, "A", TUE, FRI) == D("400")
    assert peak_equity_between(engine, "A", date(2024, 3, 9), date(2024, 3, 31)) is None
    assert peak_equity_between(engine, "NOBODY", None, FRI) is None


def test_every_stored_peak_is_the_running_maximum_even_when_days_arrive_out_of_order(engine: Engine) -> None:
    record(engine, TUE, "100")
    record(engine, MON, "300")
    history = equity_history(engine, "A")
    running = [max(r.equity for r in history[: i + 1]) for i in range(len(history))]
    assert [r.peak_equity for r in history] == running
