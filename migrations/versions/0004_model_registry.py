"""The model registry: training parameters beside each model, model kinds checked, and an index for
the generator's lookup (the newest model of a kind and strategy trained before a date).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 05:05:34.901104
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KINDS = "kind IN ('xgboost_ranker', 'ppo_agent')"


def upgrade() -> None:
    with op.batch_alter_table("model_artifacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parameters", JSON, server_default=sa.text("'{}'"), nullable=False))
        batch_op.create_check_constraint("kind", sa.text(KINDS))
        batch_op.create_index("ix_model_artifacts_lookup", ["kind", "strategy", "train_end"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_artifacts", schema=None) as batch_op:
        batch_op.drop_index("ix_model_artifacts_lookup")
        batch_op.drop_constraint(op.f("ck_model_artifacts_kind"), type_="check")
        batch_op.drop_column("parameters")
