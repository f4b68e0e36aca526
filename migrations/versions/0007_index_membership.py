"""Point-in-time universe membership: spans of days on which a ticker belonged to an index (or to a
generic 'universe' of listed names), both ends inclusive, so universes at t hold only members at t.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:56:20.387402
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "index_membership",
        sa.Column("index_name", sa.String(length=32), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name=op.f("ck_index_membership_span_order")),
        sa.PrimaryKeyConstraint("index_name", "ticker", "start_date", name=op.f("pk_index_membership")),
    )


def downgrade() -> None:
    op.drop_table("index_membership")
