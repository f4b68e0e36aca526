"""Accounts held at a live broker (Alpaca, Schwab): the fund's account id, the broker, and the broker's
account number (an account id without a row trades the database paper venue, as before); and the
reconciliations of such an account's broker state with the fund's ledger.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from trading.db.schema import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "broker_accounts",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("external_account", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("broker IN ('alpaca', 'schwab')", name=op.f("ck_broker_accounts_broker")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_broker_accounts")),
    )
    op.create_table(
        "broker_reconciliations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("checked_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("cash", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("equity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("positions", JSON, nullable=False),
        sa.Column("last_order_row", sa.Integer(), nullable=False),
        sa.Column("order_fills", JSON, nullable=False),
        sa.Column("acknowledged_orders", JSON, nullable=False),
        sa.Column("differences", JSON, nullable=False),
        sa.Column("accepted_by", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('matched', 'explained', 'stopped', 'accepted')", name=op.f("ck_broker_reconciliations_outcome")
        ),
        sa.CheckConstraint("mode IN ('dry_run', 'paper', 'live')", name=op.f("ck_broker_reconciliations_mode")),
        sa.CheckConstraint(
            "(outcome = 'accepted') = (accepted_by IS NOT NULL AND reason IS NOT NULL)",
            name=op.f("ck_broker_reconciliations_accepted_with_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broker_reconciliations")),
    )
    with op.batch_alter_table("broker_reconciliations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_broker_reconciliations_account_id_mode_checked_at"),
            ["account_id", "mode", "checked_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("broker_reconciliations")
    op.drop_table("broker_accounts")
