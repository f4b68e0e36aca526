"""Start-up reconciliation of an Alpaca account, through the real `fund` commands against a local fake
Alpaca: each kind of difference, what stops a run (exit 1, the table, nothing sent), and how a person
records the broker's state with `fund accounts reconcile --accept`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from tests.autonomous.daily_run.test_alpaca_run import (
    ALPACA_ACCOUNT,
    alpaca,
    closes,
    fill_at,
    fund_orders,
    rebalance,
    run,
)
from tests.fakes.alpaca_server import FakeAlpaca
from trading.db.schema import BrokerReconciliation, PriceBar, RebalancingLog

__all__ = ["alpaca"]  # the fixture, shared with the run's own tests


def outcomes(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        query = select(BrokerReconciliation.outcome).order_by(BrokerReconciliation.id)
        return list(connection.execute(query).scalars())


def reconcile(*extra: str) -> object:
    return run("accounts", "reconcile", "--account-id", ALPACA_ACCOUNT, *extra)


def test_a_first_run_takes_the_all_cash_account_as_its_baseline_and_the_next_matches_after_the_fills(
    market: Engine, alpaca: FakeAlpaca, sessions: list[date]
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    assert rebalance(day, "--mode", "paper").exit_code == 0
    fill_at(alpaca, market, next_day)
    second = rebalance(next_day, "--mode", "paper")
    assert second.exit_code == 0, second.output
    assert outcomes(market) == ["explained", "matched"]
    with market.connect() as connection:
        steps = connection.execute(select(RebalancingLog.steps).order_by(RebalancingLog.id.desc())).scalars().first()
    assert any("reconciled with alpaca: matched" in step["message"] for step in steps)


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        ("position", "position"),
        ("deposit", "cash"),
        ("order", "unknown_order"),
    ],
)
def test_a_difference_nobody_can_explain_stops_the_run_until_a_person_accepts_it(
    market: Engine, alpaca: FakeAlpaca, sessions: list[date], change: str, shown: str
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    assert rebalance(day, "--mode", "paper").exit_code == 0
    fill_at(alpaca, market, next_day)
    posts = alpaca.order_posts
    if change == "position":
        # A name of the market the fund does not hold, bought by someone else.
        stranger = sorted(set(closes(market, next_day)) - set(alpaca.positions()) - {"SPY", "GLD", "^VIX"})[0]
        alpaca.set_position(stranger, "7", "10")
    elif change == "deposit":
        alpaca.deposit(Decimal(50000))
    else:
        alpaca.place_order_by_hand("XYZ", "buy", "3")

    stopped = rebalance(next_day, "--mode", "paper")
    assert stopped.exit_code == 1
    assert "differs from the ledger; nothing was sent" in stopped.output
    assert shown in stopped.output
    assert "UNEXPLAINED" in stopped.output
    assert "fund accounts reconcile --account-id ALPACA_PAPER --mode paper --accept" in stopped.output
    assert alpaca.order_posts == posts, "nothing is sent after a stop"

    shown_again = reconcile()
    assert shown_again.exit_code == 1
    assert "UNEXPLAINED" in shown_again.output
    refused = reconcile("--accept")
    assert refused.exit_code == 2
    assert "--accept needs --by NAME and --reason TEXT" in refused.output
    accepted = reconcile("--accept", "--by", "pm", "--reason", "checked at the broker")
    assert accepted.exit_code == 0, accepted.output
    assert "recorded the broker's state as the ledger's baseline" in accepted.output
    if change == "order":
        assert [o["status"] for o in alpaca.orders() if o["symbol"] == "XYZ"] == ["accepted"], "never canceled"

    resumed = rebalance(next_day, "--mode", "paper")
    assert resumed.exit_code == 0, resumed.output
    assert outcomes(market)[-3:] == ["stopped", "accepted", outcomes(market)[-1]]
    assert outcomes(market)[-1] in ("matched", "explained")


def test_a_split_at_the_broker_is_explained_by_the_bars(
    market: Engine, alpaca: FakeAlpaca, sessions: list[date]
) -> None:
    day, next_day = sessions[-5], sessions[-4]
    assert rebalance(day, "--mode", "paper").exit_code == 0
    fill_at(alpaca, market, next_day)
    held = {symbol: Decimal(p["qty"]) for symbol, p in alpaca.positions().items()}
    ticker = sorted(held)[0]
    with market.begin() as connection:
        connection.execute(
            PriceBar.__table__.update()
            .where(PriceBar.ticker == ticker, PriceBar.date == next_day)
            .values(split_coef=Decimal(2))
        )
    alpaca.set_position(ticker, str(held[ticker] * 2), "1")
    result = rebalance(next_day, "--mode", "paper")
    assert result.exit_code == 0, result.output
    assert outcomes(market)[-1] == "explained"


def test_reconcile_refuses_a_database_paper_account(funded: Engine, database_url: str) -> None:
    result = run("accounts", "reconcile", "--account-id", "TEST_FUND")
    assert result.exit_code == 2
    assert "is a database paper account" in result.output
    assert fund_orders(funded) == {}
