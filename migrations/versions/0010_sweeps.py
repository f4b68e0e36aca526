"""Sweeps: a named set of trials (backtests or model trainings over settings, seeds and windows) and each
trial"s result, written by the trial itself on PostgreSQL or handed to the driver on SQLite.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 03:18:40.574818
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from trading.db.schema import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("search", sa.String(length=8), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("code_version", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('maximize', 'minimize')", name=op.f("ck_sweeps_direction")),
        sa.CheckConstraint("kind IN ('backtest', 'ranker', 'agent')", name=op.f("ck_sweeps_kind")),
        sa.CheckConstraint("search IN ('grid', 'optuna')", name=op.f("ck_sweeps_search")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
        sa.UniqueConstraint("name", name=op.f("uq_sweeps_name")),
    )
    op.create_table(
        "sweep_trials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("trial_key", sa.String(length=64), nullable=False),
        sa.Column("configuration", sa.String(length=64), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("metric_value", sa.Float(), nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("series", JSON, nullable=False),
        sa.Column("model_ids", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("timings", JSON, nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("code_version", sa.String(length=80), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('done', 'failed')", name=op.f("ck_sweep_trials_status")),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_trials_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_trials")),
        sa.UniqueConstraint("sweep_id", "trial_key", name=op.f("uq_sweep_trials_sweep_id_trial_key")),
    )
    with op.batch_alter_table("sweep_trials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweep_trials_sweep_id"), ["sweep_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sweep_trials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweep_trials_sweep_id"))

    op.drop_table("sweep_trials")
    op.drop_table("sweeps")
