"""The paper venue keeps its own books: an order book, fills, a cash journal and the non-fill changes to
positions (splits, cash in lieu, delistings), apart from the fund's trade_executions.

Accounts that existed before carry over as an opening balance (their cash), opening positions (their
holdings) and their open orders, so that the venue's books add up from here on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:06:48.558817
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trading.db.schema import UTCDateTime


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=48), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("sent_after", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("filled_quantity", sa.Numeric(precision=24, scale=9), server_default=sa.text("0"), nullable=False),
        sa.Column("average_price", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("commission", sa.Numeric(precision=20, scale=4), server_default=sa.text("0"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("filled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_paper_orders_side")),
        sa.CheckConstraint(
            "status IN ('submitted', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')",
            name=op.f("ck_paper_orders_status"),
        ),
        sa.CheckConstraint(
            "filled_quantity >= 0 AND filled_quantity <= quantity", name=op.f("ck_paper_orders_filled_within_quantity")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_paper_orders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paper_accounts.account_id"],
            name=op.f("fk_paper_orders_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_orders")),
        sa.UniqueConstraint("account_id", "client_order_id", name=op.f("uq_paper_orders_account_id_client_order_id")),
        sa.UniqueConstraint("order_id", name=op.f("uq_paper_orders_order_id")),
    )
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_orders_account_id_status"), ["account_id", "status"], unique=False)

    op.create_table(
        "paper_position_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("session", sa.Date(), nullable=True),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("split_coef", sa.Numeric(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('opening_position', 'split', 'cash_in_lieu', 'delisting')",
            name=op.f("ck_paper_position_changes_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paper_accounts.account_id"],
            name=op.f("fk_paper_position_changes_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_position_changes")),
    )
    with op.batch_alter_table("paper_position_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_paper_position_changes_account_id_ticker"), ["account_id", "ticker"], unique=False
        )

    op.create_table(
        "paper_fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("paper_order_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("gross", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("commission", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("at_close", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("filled_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_paper_fills_side")),
        sa.CheckConstraint("price > 0", name=op.f("ck_paper_fills_price_positive")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_paper_fills_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paper_accounts.account_id"],
            name=op.f("fk_paper_fills_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_order_id"],
            ["paper_orders.id"],
            name=op.f("fk_paper_fills_paper_order_id_paper_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_fills")),
    )
    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_fills_account_id_ticker"), ["account_id", "ticker"], unique=False)
        batch_op.create_index(batch_op.f("ix_paper_fills_paper_order_id"), ["paper_order_id"], unique=False)

    op.create_table(
        "paper_cash_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("session", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=True),
        sa.Column("paper_fill_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('deposit', 'opening_balance', 'fill', 'commission', 'dividend', 'cash_in_lieu', 'delisting')",
            name=op.f("ck_paper_cash_journal_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paper_accounts.account_id"],
            name=op.f("fk_paper_cash_journal_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_fill_id"],
            ["paper_fills.id"],
            name=op.f("fk_paper_cash_journal_paper_fill_id_paper_fills"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_cash_journal")),
    )
    with op.batch_alter_table("paper_cash_journal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_paper_cash_journal_account_id_session"), ["account_id", "session"], unique=False
        )

    _carry_over_existing_accounts()


def _carry_over_existing_accounts() -> None:
    """Open the new books of every existing paper account with what it holds now."""
    op.execute(
        "INSERT INTO paper_cash_journal (account_id, session, kind, amount, description, created_at) "
        "SELECT account_id, settled_through, 'opening_balance', cash_balance, "
        "'cash when the venue began keeping its own books', CURRENT_TIMESTAMP FROM paper_accounts"
    )
    op.execute(
        "INSERT INTO paper_position_changes (account_id, session, ticker, kind, quantity, description, created_at) "
        "SELECT p.account_id, a.settled_through, p.ticker, 'opening_position', p.quantity, "
        "'held when the venue began keeping its own books', CURRENT_TIMESTAMP "
        "FROM paper_positions AS p JOIN paper_accounts AS a ON a.account_id = p.account_id WHERE p.quantity > 0"
    )
    op.execute(
        "INSERT INTO paper_orders (order_id, account_id, client_order_id, ticker, side, quantity, order_type, "
        "sent_after, status, filled_quantity, reason, submitted_at, updated_at) "
        "SELECT t.order_id, t.account_id, t.client_order_id, t.ticker, t.side, t.quantity, t.order_type, "
        "t.session_date, t.status, 0, t.reason, COALESCE(t.submitted_at, t.created_at), CURRENT_TIMESTAMP "
        "FROM trade_executions AS t JOIN paper_accounts AS a ON a.account_id = t.account_id "
        "WHERE t.broker = 'paper' AND t.order_id IS NOT NULL AND t.session_date IS NOT NULL "
        "AND t.status IN ('submitted', 'partially_filled')"
    )


def downgrade() -> None:
    # The venue's history is dropped; paper_accounts and paper_positions keep its current state.
    with op.batch_alter_table("paper_cash_journal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_cash_journal_account_id_session"))

    op.drop_table("paper_cash_journal")
    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_fills_paper_order_id"))
        batch_op.drop_index(batch_op.f("ix_paper_fills_account_id_ticker"))

    op.drop_table("paper_fills")
    with op.batch_alter_table("paper_position_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_position_changes_account_id_ticker"))

    op.drop_table("paper_position_changes")
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_orders_account_id_status"))

    op.drop_table("paper_orders")
