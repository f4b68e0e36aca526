"""Initial schema: the ledger, market data, decisions and model tables of trading.db.schema.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 02:29:55.870948
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_equity_history',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('equity', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('cash', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('positions_value', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('peak_equity', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'date', name=op.f('pk_account_equity_history'))
    )
    op.create_table('data_imports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('sources', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('strict', sa.Boolean(), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_inserted', sa.Integer(), nullable=False),
    sa.Column('rows_updated', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_imports'))
    )
    op.create_table('fundamentals',
    sa.Column('ticker', sa.String(length=16), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('as_of_date', sa.Date(), nullable=False),
    sa.Column('value', sa.Numeric(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('ticker', 'field', 'as_of_date', name=op.f('pk_fundamentals'))
    )
    op.create_table('market_regime',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('vix', sa.Float(), nullable=True),
    sa.Column('realized_volatility_20d', sa.Float(), nullable=True),
    sa.Column('volatility_regime', sa.String(length=16), nullable=False),
    sa.Column('spy_sma_50', sa.Float(), nullable=True),
    sa.Column('spy_sma_200', sa.Float(), nullable=True),
    sa.Column('trend_regime', sa.String(length=16), nullable=False),
    sa.Column('advance_decline_ratio', sa.Float(), nullable=True),
    sa.Column('new_highs_lows_ratio', sa.Float(), nullable=True),
    sa.Column('sector_momentum', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('regime_label', sa.String(length=32), nullable=False),
    sa.Column('regime_confidence', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('regime_confidence >= 0 AND regime_confidence <= 1', name=op.f('ck_market_regime_confidence_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_regime')),
    sa.UniqueConstraint('date', name=op.f('uq_market_regime_date'))
    )
    op.create_table('model_artifacts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('strategy', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('train_start', sa.Date(), nullable=False),
    sa.Column('train_end', sa.Date(), nullable=False),
    sa.Column('feature_set', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('artifact', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('train_end >= train_start', name=op.f('ck_model_artifacts_train_window_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_artifacts')),
    sa.UniqueConstraint('kind', 'strategy', 'version', name=op.f('uq_model_artifacts_kind_strategy_version'))
    )
    op.create_table('paper_accounts',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('cash_balance', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('buying_power', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('total_value', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('peak_value', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default=sa.text("'USD'"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cash_balance >= 0', name=op.f('ck_paper_accounts_cash_not_negative')),
    sa.CheckConstraint('peak_value >= 0', name=op.f('ck_paper_accounts_peak_not_negative')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_paper_accounts'))
    )
    op.create_table('price_bars',
    sa.Column('ticker', sa.String(length=16), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('open', sa.Numeric(), nullable=True),
    sa.Column('high', sa.Numeric(), nullable=True),
    sa.Column('low', sa.Numeric(), nullable=True),
    sa.Column('close', sa.Numeric(), nullable=True),
    sa.Column('adj_close', sa.Numeric(), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=True),
    sa.Column('dividend', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('split_coef', sa.Numeric(), server_default=sa.text('1'), nullable=False),
    sa.CheckConstraint('(open IS NULL OR open > 0) AND (high IS NULL OR high > 0) AND (low IS NULL OR low > 0) AND (close IS NULL OR close > 0)', name=op.f('ck_price_bars_ohlc_positive')),
    sa.CheckConstraint('adj_close > 0', name=op.f('ck_price_bars_adj_close_positive')),
    sa.CheckConstraint('dividend >= 0', name=op.f('ck_price_bars_dividend_not_negative')),
    sa.CheckConstraint('high IS NULL OR low IS NULL OR high >= low', name=op.f('ck_price_bars_high_not_below_low')),
    sa.CheckConstraint('split_coef > 0', name=op.f('ck_price_bars_split_coef_positive')),
    sa.CheckConstraint('volume IS NULL OR volume >= 0', name=op.f('ck_price_bars_volume_not_negative')),
    sa.PrimaryKeyConstraint('ticker', 'date', name=op.f('pk_price_bars'))
    )
    op.create_index(op.f('ix_price_bars_date'), 'price_bars', ['date'], unique=False)
    op.create_table('rebalancing_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('rebalance_date', sa.Date(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('strategy_selected', sa.String(length=32), nullable=True),
    sa.Column('meta_model_confidence', sa.Float(), nullable=True),
    sa.Column('market_regime', sa.String(length=32), nullable=True),
    sa.Column('pre_rebalance_value', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('post_rebalance_value', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('num_buys', sa.Integer(), nullable=False),
    sa.Column('num_sells', sa.Integer(), nullable=False),
    sa.Column('total_turnover', sa.Float(), nullable=True),
    sa.Column('trades', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('raw_weights', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('adjusted_weights', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('risk_verdict', sa.String(length=24), nullable=True),
    sa.Column('risk_reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('model_versions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("mode IN ('dry_run', 'paper', 'live')", name=op.f('ck_rebalancing_log_mode')),
    sa.CheckConstraint("status IN ('planned', 'submitting', 'submitted', 'completed', 'failed', 'rejected', 'dry_run', 'awaiting_approval')", name=op.f('ck_rebalancing_log_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rebalancing_log'))
    )
    op.create_index('uq_rebalancing_log_one_active_run', 'rebalancing_log', ['account_id', 'rebalance_date', 'mode'], unique=True, postgresql_where=sa.text("status IN ('planned', 'submitting', 'submitted', 'completed', 'awaiting_approval')"), sqlite_where=sa.text("status IN ('planned', 'submitting', 'submitted', 'completed', 'awaiting_approval')"))
    op.create_table('securities',
    sa.Column('ticker', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('sector', sa.String(length=64), nullable=True),
    sa.Column('asset_type', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('is_synthetic', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("asset_type IN ('stock', 'etf', 'index', 'fund', 'other')", name=op.f('ck_securities_asset_type')),
    sa.PrimaryKeyConstraint('ticker', name=op.f('pk_securities'))
    )
    op.create_table('strategy_performance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('strategy', sa.String(length=32), nullable=False),
    sa.Column('regime', sa.String(length=32), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('total_return', sa.Float(), nullable=False),
    sa.Column('sharpe_ratio', sa.Float(), nullable=True),
    sa.Column('max_drawdown', sa.Float(), nullable=True),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_strategy_performance_period_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_performance')),
    sa.UniqueConstraint('strategy', 'regime', 'period_start', 'period_end', 'source', name='uq_strategy_performance_period')
    )
    op.create_table('approvals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('rebalance_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("decision IN ('pending', 'approved', 'rejected')", name=op.f('ck_approvals_decision')),
    sa.ForeignKeyConstraint(['rebalance_id'], ['rebalancing_log.id'], name=op.f('fk_approvals_rebalance_id_rebalancing_log')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals')),
    sa.UniqueConstraint('rebalance_id', name=op.f('uq_approvals_rebalance_id'))
    )
    op.create_table('paper_positions',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('ticker', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=24, scale=9), nullable=False),
    sa.Column('avg_price', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('market_value', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_paper_positions_quantity_not_negative')),
    sa.ForeignKeyConstraint(['account_id'], ['paper_accounts.account_id'], name=op.f('fk_paper_positions_account_id_paper_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'ticker', name=op.f('pk_paper_positions'))
    )
    op.create_table('trade_executions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_order_id', sa.String(length=48), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('broker', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('rebalance_id', sa.Integer(), nullable=True),
    sa.Column('ticker', sa.String(length=16), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=24, scale=9), nullable=False),
    sa.Column('order_type', sa.String(length=8), nullable=False),
    sa.Column('limit_price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('filled_quantity', sa.Numeric(precision=24, scale=9), nullable=True),
    sa.Column('commission', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('filled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("order_type IN ('market', 'limit')", name=op.f('ck_trade_executions_order_type')),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_trade_executions_side')),
    sa.CheckConstraint("status IN ('planned', 'submitted', 'accepted', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')", name=op.f('ck_trade_executions_status')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_trade_executions_quantity_positive')),
    sa.ForeignKeyConstraint(['rebalance_id'], ['rebalancing_log.id'], name=op.f('fk_trade_executions_rebalance_id_rebalancing_log')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trade_executions')),
    sa.UniqueConstraint('broker', 'order_id', name=op.f('uq_trade_executions_broker_order_id')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_trade_executions_client_order_id'))
    )
    op.create_index(op.f('ix_trade_executions_account_id_status'), 'trade_executions', ['account_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_trade_executions_account_id_status'), table_name='trade_executions')
    op.drop_table('trade_executions')
    op.drop_table('paper_positions')
    op.drop_table('approvals')
    op.drop_table('strategy_performance')
    op.drop_table('securities')
    op.drop_index('uq_rebalancing_log_one_active_run', table_name='rebalancing_log', postgresql_where=sa.text("status IN ('planned', 'submitting', 'submitted', 'completed', 'awaiting_approval')"), sqlite_where=sa.text("status IN ('planned', 'submitting', 'submitted', 'completed', 'awaiting_approval')"))
    op.drop_table('rebalancing_log')
    op.drop_index(op.f('ix_price_bars_date'), table_name='price_bars')
    op.drop_table('price_bars')
    op.drop_table('paper_accounts')
    op.drop_table('model_artifacts')
    op.drop_table('market_regime')
    op.drop_table('fundamentals')
    op.drop_table('data_imports')
    op.drop_table('account_equity_history')
