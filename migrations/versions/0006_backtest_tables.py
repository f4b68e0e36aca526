"""The backtest's results: one row per `fund backtest run`, and each variant's equity by session, its
decisions, orders and fills, written in bulk when the replay ends.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:44:14.830091
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from trading.db.schema import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("capital", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("main_variant", sa.String(length=64), nullable=False),
        sa.Column("variants", JSON, nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("code_version", sa.String(length=80), nullable=False),
        sa.Column("data_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("models", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("notes", JSON, nullable=False),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_backtest_runs_period_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )
    op.create_table(
        "backtest_decisions",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("regime", sa.String(length=32), nullable=True),
        sa.Column("strategy", sa.String(length=32), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("strategy_reason", sa.Text(), nullable=True),
        sa.Column("model_versions", JSON, nullable=False),
        sa.Column("risk_verdict", sa.String(length=24), nullable=True),
        sa.Column("risk_reasons", JSON, nullable=False),
        sa.Column("turnover", sa.Float(), nullable=True),
        sa.Column("num_buys", sa.Integer(), nullable=False),
        sa.Column("num_sells", sa.Integer(), nullable=False),
        sa.Column("needed_approval", sa.Boolean(), nullable=False),
        sa.Column("risk_shift", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["backtest_runs.id"],
            name=op.f("fk_backtest_decisions_run_id_backtest_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "variant", "session", "attempt", name=op.f("pk_backtest_decisions")),
    )
    op.create_table(
        "backtest_equity",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("equity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("cash", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("positions_value", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("turnover", sa.Float(), nullable=False),
        sa.Column("commission", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("slippage", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["backtest_runs.id"], name=op.f("fk_backtest_equity_run_id_backtest_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "variant", "session", name=op.f("pk_backtest_equity")),
    )
    op.create_table(
        "backtest_fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("gross", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("commission", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("slippage", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("at_close", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["backtest_runs.id"], name=op.f("fk_backtest_fills_run_id_backtest_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_fills")),
    )
    with op.batch_alter_table("backtest_fills", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backtest_fills_run_id_variant_session"), ["run_id", "variant", "session"], unique=False
        )

    op.create_table(
        "backtest_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("filled_quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("fill_price", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("commission", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("filled_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["backtest_runs.id"], name=op.f("fk_backtest_orders_run_id_backtest_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_orders")),
    )
    with op.batch_alter_table("backtest_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backtest_orders_run_id_variant_session"), ["run_id", "variant", "session"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("backtest_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_orders_run_id_variant_session"))

    op.drop_table("backtest_orders")
    with op.batch_alter_table("backtest_fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_fills_run_id_variant_session"))

    op.drop_table("backtest_fills")
    op.drop_table("backtest_equity")
    op.drop_table("backtest_decisions")
    op.drop_table("backtest_runs")
