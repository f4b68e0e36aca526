"""The daily run: run attempts and step logs, paper settlement state, order sessions, approval expiry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 04:01:54.157751
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from trading.db.schema import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ACTIVE = "status IN ('planned', 'submitting', 'submitted', 'completed', 'awaiting_approval')"
NEW_ACTIVE = "status IN ('planned', 'submitting', 'submitted', 'completed', 'awaiting_approval', 'dry_run')"
OLD_DECISIONS = "decision IN ('pending', 'approved', 'rejected')"
NEW_DECISIONS = "decision IN ('pending', 'approved', 'rejected', 'expired')"
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_approvals_decision"), type_="check")
        batch_op.create_check_constraint("decision", sa.text(NEW_DECISIONS))

    with op.batch_alter_table("paper_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fractional_shares", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.add_column(sa.Column("settled_through", sa.Date(), nullable=True))

    with op.batch_alter_table("rebalancing_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch_op.add_column(sa.Column("forced", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch_op.add_column(sa.Column("strategy_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("steps", JSON, nullable=True))
        batch_op.drop_index("uq_rebalancing_log_one_active_run")
        batch_op.create_index(
            "uq_rebalancing_log_one_active_run",
            ["account_id", "rebalance_date", "mode", "attempt"],
            unique=True,
            postgresql_where=sa.text(NEW_ACTIVE),
            sqlite_where=sa.text(NEW_ACTIVE),
        )

    with op.batch_alter_table("trade_executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trade_executions", schema=None) as batch_op:
        batch_op.drop_column("session_date")

    with op.batch_alter_table("rebalancing_log", schema=None) as batch_op:
        batch_op.drop_index("uq_rebalancing_log_one_active_run")
        batch_op.create_index(
            "uq_rebalancing_log_one_active_run",
            ["account_id", "rebalance_date", "mode"],
            unique=True,
            postgresql_where=sa.text(OLD_ACTIVE),
            sqlite_where=sa.text(OLD_ACTIVE),
        )
        batch_op.drop_column("steps")
        batch_op.drop_column("strategy_reason")
        batch_op.drop_column("forced")
        batch_op.drop_column("attempt")

    with op.batch_alter_table("paper_accounts", schema=None) as batch_op:
        batch_op.drop_column("settled_through")
        batch_op.drop_column("fractional_shares")

    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_approvals_decision"), type_="check")
        batch_op.create_check_constraint("decision", sa.text(OLD_DECISIONS))
        batch_op.drop_column("expires_at")
