"""Drawdown halts: one row per breach, at most one active (unresumed) per account.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 03:17:03.733343
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('risk_halts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('triggered_on', sa.Date(), nullable=False),
    sa.Column('drawdown', sa.Float(), nullable=False),
    sa.Column('equity', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('peak_equity', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resumed_by', sa.String(length=100), nullable=True),
    sa.Column('resume_reason', sa.Text(), nullable=True),
    sa.Column('resume_policy', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("resume_policy IS NULL OR resume_policy IN ('manual', 'after_sessions', 'on_recovery')", name=op.f('ck_risk_halts_resume_policy')),
    sa.CheckConstraint('(resumed_at IS NULL AND resumed_by IS NULL AND resume_reason IS NULL AND resume_policy IS NULL) OR (resumed_at IS NOT NULL AND resumed_by IS NOT NULL AND resume_reason IS NOT NULL AND resume_policy IS NOT NULL)', name=op.f('ck_risk_halts_resume_complete')),
    sa.CheckConstraint('drawdown >= 0 AND drawdown <= 1', name=op.f('ck_risk_halts_drawdown_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_halts'))
    )
    op.create_index('uq_risk_halts_one_active', 'risk_halts', ['account_id'], unique=True, postgresql_where=sa.text('resumed_at IS NULL'), sqlite_where=sa.text('resumed_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_risk_halts_one_active', table_name='risk_halts', postgresql_where=sa.text('resumed_at IS NULL'), sqlite_where=sa.text('resumed_at IS NULL'))
    op.drop_table('risk_halts')
