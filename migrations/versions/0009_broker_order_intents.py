"""Order intents of brokers without client order ids (Schwab): what is about to be sent, written before the
send, so that a run that died between the send and the record can find the order the broker made of it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trading.db.schema import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broker_order_intents",
        sa.Column("client_order_id", sa.String(length=48), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_broker_order_intents_quantity_positive")),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_broker_order_intents_side")),
        sa.PrimaryKeyConstraint("client_order_id", name=op.f("pk_broker_order_intents")),
        sa.UniqueConstraint("broker", "order_id", name=op.f("uq_broker_order_intents_broker_order_id")),
    )
    with op.batch_alter_table("broker_order_intents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_broker_order_intents_account_id_ticker_side"), ["account_id", "ticker", "side"], unique=False
        )


def downgrade() -> None:
    op.drop_table("broker_order_intents")
