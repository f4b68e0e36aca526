from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from trading.db import migrate
from trading.db.engine import make_session_factory
from trading.db.schema import (
    Base,
    MarketRegime,
    PaperAccount,
    PaperPosition,
    PriceBar,
    RebalancingLog,
    TradeExecution,
)


def test_migrations_create_exactly_the_models_schema(blank_engine: Engine) -> None:
    assert migrate.current_revision(blank_engine) is None
    migrate.upgrade(blank_engine)
    assert migrate.current_revision(blank_engine) == migrate.head_revision()
    assert migrate.schema_diff(blank_engine) == []
    tables = set(inspect(blank_engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)


def test_migrations_downgrade_to_nothing_and_back(blank_engine: Engine) -> None:
    migrate.upgrade(blank_engine)
    migrate.downgrade(blank_engine, "base")
    assert set(inspect(blank_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(blank_engine)
    assert migrate.schema_diff(blank_engine) == []


def _session(engine: Engine) -> Session:
    return make_session_factory(engine)()


def _order(client_order_id: str, **overrides: object) -> TradeExecution:
    fields: dict[str, object] = {
        "client_order_id": client_order_id,
        "broker": "paper",
        "account_id": "A",
        "ticker": "AAA",
        "side": "buy",
        "quantity": Decimal("10"),
        "order_type": "market",
        "status": "planned",
    }
    return TradeExecution(**(fields | overrides))


def test_a_client_order_id_can_be_used_only_once(engine: Engine) -> None:
    with _session(engine) as session:
        session.add(_order("fund-2024-01-02-AAA-buy"))
        session.commit()
        session.add(_order("fund-2024-01-02-AAA-buy", ticker="BBB"))
        with pytest.raises(IntegrityError):
            session.commit()


def _account(cash: Decimal, **overrides: Decimal) -> PaperAccount:
    """Account "A" whose cash, buying power, value and peak all equal `cash` unless overridden."""
    fields = {"cash_balance": cash, "buying_power": cash, "total_value": cash, "peak_value": cash}
    return PaperAccount(account_id="A", **(fields | overrides))


def _run(status: str, mode: str = "paper") -> RebalancingLog:
    return RebalancingLog(rebalance_date=date(2024, 1, 2), account_id="A", mode=mode, status=status)


def test_a_second_active_run_for_the_same_account_date_and_mode_is_impossible(engine: Engine) -> None:
    with _session(engine) as session:
        session.add(_run("completed"))
        session.commit()
        session.add(_run("planned"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_failed_runs_do_not_block_a_retry_and_modes_are_independent(engine: Engine) -> None:
    with _session(engine) as session:
        session.add_all([_run("failed"), _run("failed"), _run("completed"), _run("completed", mode="dry_run")])
        session.commit()
        assert session.scalar(select(RebalancingLog.id).where(RebalancingLog.status == "completed").limit(1))


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (PriceBar(ticker="AAA", date=date(2024, 1, 2), adj_close=Decimal("-1")), "non-positive adjusted close"),
        (
            PriceBar(ticker="AAA", date=date(2024, 1, 2), adj_close=Decimal(1), high=Decimal(1), low=Decimal(2)),
            "high below low",
        ),
        (_order("x", quantity=Decimal(0)), "zero quantity"),
        (_order("x", side="hold"), "unknown side"),
        (_run("exploded"), "unknown run status"),
        (
            _account(Decimal("-0.01"), peak_value=Decimal(0)),
            "negative cash",
        ),
        (
            MarketRegime(
                date=date(2024, 1, 2),
                volatility_regime="low",
                trend_regime="bull",
                regime_label="bull_low_vol",
                regime_confidence=1.5,
            ),
            "confidence above 1",
        ),
    ],
)
def test_the_database_refuses_rows_that_break_the_ledger_rules(engine: Engine, row: Base, why: str) -> None:
    with _session(engine) as session:
        session.add(row)
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_paper_position_never_goes_short(engine: Engine) -> None:
    with _session(engine) as session:
        session.add(_account(Decimal(100)))
        session.commit()
        session.add(
            PaperPosition(
                account_id="A", ticker="AAA", quantity=Decimal(-1), avg_price=Decimal(1), market_value=Decimal(-1)
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_money_round_trips_as_exact_decimals(engine: Engine) -> None:
    with _session(engine) as session:
        session.add(_account(Decimal("100000.0123"), buying_power=Decimal("0.1")))
        session.commit()
    with _session(engine) as session:
        account = session.get(PaperAccount, "A")
        assert account is not None
        assert account.cash_balance == Decimal("100000.0123")
        assert isinstance(account.cash_balance, Decimal)


def test_timestamps_are_stored_and_returned_as_utc(engine: Engine) -> None:
    filled = datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
    with _session(engine) as session:
        session.add(_order("c1", filled_at=filled))
        session.commit()
    with _session(engine) as session:
        order = session.scalars(select(TradeExecution)).one()
        assert order.filled_at == filled
        assert order.filled_at is not None
        assert order.filled_at.tzinfo is not None
        assert order.created_at.tzinfo is not None


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with _session(engine) as session:
        session.add(_order("c1", filled_at=datetime(2024, 1, 2, 21, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_the_schema_revision_the_cli_checks_is_alembics_head(blank_engine: Engine) -> None:
    from trading.db.engine import stored_revision
    from trading.db.migrate import head_revision, upgrade
    from trading.db.schema import SCHEMA_REVISION

    assert head_revision() == SCHEMA_REVISION
    assert stored_revision(blank_engine) is None
    upgrade(blank_engine)
    assert stored_revision(blank_engine) == SCHEMA_REVISION
