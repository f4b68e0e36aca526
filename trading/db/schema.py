"""Every table of the fund in one module: the database is the system's center, and a reader
should see all of it here. Alembic migrations (migrations/) are the only way it is created.

Money, prices and quantities are Numeric (Decimal in Python); analytics numbers (regime
measures, performance statistics) are Float; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that must be timezone-aware going in and is UTC-aware coming out.

    SQLite stores no zone, so naive values read back are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: Autofund stores timezone-aware UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The newest migration: `fund` checks a database against it with one query instead of importing Alembic
# (a test keeps it equal to Alembic's head).
SCHEMA_REVISION = "0010"


def utcnow() -> datetime:
    return datetime.now(UTC)


# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

Ticker = Annotated[str, mapped_column(String(16))]
AccountId = Annotated[str, mapped_column(String(64))]
Money = Annotated[Decimal, mapped_column(Numeric(20, 4))]
Price = Annotated[Decimal, mapped_column(Numeric(20, 6))]
# Nine places: Alpaca accepts fractional quantities to 9 decimals.
Qty = Annotated[Decimal, mapped_column(Numeric(24, 9))]
# Market data keeps the vendor's digits exactly (adjusted closes can be 0.0000123...).
BarNumber = Annotated[Decimal, mapped_column(Numeric)]
CreatedAt = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow)]
UpdatedAt = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)]
JSONData = Annotated[Any, mapped_column(JSONType)]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

REBALANCE_STATUSES = (
    "planned",
    "submitting",
    "submitted",
    "completed",
    "failed",
    "rejected",
    "dry_run",
    "awaiting_approval",
)
# A run in any of these states owns its (account, date, mode): a second one must not start.
# A dry run counts too: a repeated dry run of the same session is refused like any other unless forced.
REBALANCE_ACTIVE_STATUSES = ("planned", "submitting", "submitted", "completed", "awaiting_approval", "dry_run")
# A run in one of these has a plan whose orders may be in flight: the next run must finish it.
REBALANCE_UNFINISHED_STATUSES = ("planned", "submitting", "submitted")
ORDER_STATUSES = (
    "planned",
    "submitted",
    "accepted",
    "partially_filled",
    "filled",
    "canceled",
    "rejected",
    "expired",
)
RUN_MODES = ("dry_run", "paper", "live")
# The live brokers an account can be linked to; an account without a link trades the paper venue.
LIVE_BROKERS = ("alpaca", "schwab")
RECONCILIATION_OUTCOMES = ("matched", "explained", "stopped", "accepted")
# The paper venue's own books (paper_orders, paper_fills, paper_cash_journal, paper_position_changes):
# what the venue did, kept apart from the fund's record of what it planned and sent (trade_executions).
VENUE_ORDER_STATUSES = ("submitted", "partially_filled", "filled", "canceled", "rejected", "expired")
# opening_balance and opening_position carry an account's state from before the venue kept these books.
CASH_ENTRY_KINDS = ("deposit", "opening_balance", "fill", "commission", "dividend", "cash_in_lieu", "delisting")
POSITION_CHANGE_KINDS = ("opening_position", "split", "cash_in_lieu", "delisting")
APPROVAL_DECISIONS = ("pending", "approved", "rejected", "expired")
ASSET_TYPES = ("stock", "etf", "index", "fund", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- market data -----------------------------------------------------------------------------


class Security(Base):
    """What a ticker is. Bars do not require a row here: a bar file can arrive first."""

    __tablename__ = "securities"
    __table_args__ = (CheckConstraint(_in("asset_type", ASSET_TYPES), name="asset_type"),)

    ticker: Mapped[Ticker] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    sector: Mapped[str | None] = mapped_column(String(64))
    asset_type: Mapped[str] = mapped_column(String(16), default="stock")
    # Where the row came from, e.g. "synthetic-demo seed=7" or a file name: outputs that show
    # synthetic data say so by reading this.
    source: Mapped[str | None] = mapped_column(String(200))
    is_synthetic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    updated_at: Mapped[UpdatedAt]


class PriceBar(Base):
    """One daily bar. OHLC are raw as-traded prices, adj_close is split and dividend adjusted.

    Rows carrying only adj_close (OHLC and volume empty) are valid: some vendors give no more.
    """

    __tablename__ = "price_bars"
    __table_args__ = (
        CheckConstraint("adj_close > 0", name="adj_close_positive"),
        CheckConstraint(
            "(open IS NULL OR open > 0) AND (high IS NULL OR high > 0) "
            "AND (low IS NULL OR low > 0) AND (close IS NULL OR close > 0)",
            name="ohlc_positive",
        ),
        CheckConstraint("high IS NULL OR low IS NULL OR high >= low", name="high_not_below_low"),
        CheckConstraint("volume IS NULL OR volume >= 0", name="volume_not_negative"),
        CheckConstraint("dividend >= 0", name="dividend_not_negative"),
        CheckConstraint("split_coef > 0", name="split_coef_positive"),
        # The primary key serves per-ticker reads; this one serves the point-in-time view's
        # date-range scans over all tickers.
        Index(None, "date"),
    )

    ticker: Mapped[Ticker] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    open: Mapped[Decimal | None] = mapped_column(Numeric)
    high: Mapped[Decimal | None] = mapped_column(Numeric)
    low: Mapped[Decimal | None] = mapped_column(Numeric)
    close: Mapped[Decimal | None] = mapped_column(Numeric)
    adj_close: Mapped[BarNumber]
    volume: Mapped[int | None] = mapped_column(BigInteger)
    dividend: Mapped[BarNumber] = mapped_column(default=Decimal(0), server_default=text("0"))
    split_coef: Mapped[BarNumber] = mapped_column(default=Decimal(1), server_default=text("1"))


class Fundamental(Base):
    """A point-in-time fundamental value: usable from as_of_date on, never before."""

    __tablename__ = "fundamentals"

    ticker: Mapped[Ticker] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of_date: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[BarNumber]
    source: Mapped[str | None] = mapped_column(String(200))


class DataImport(Base):
    """One completed import, so a reader can see when and from where data arrived.

    A rejected import writes nothing, this row included; its reasons go to the log and the caller.
    """

    __tablename__ = "data_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    sources: Mapped[JSONData]
    strict: Mapped[bool] = mapped_column(Boolean, default=False)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- decisions -------------------------------------------------------------------------------


class MarketRegime(Base):
    __tablename__ = "market_regime"
    __table_args__ = (CheckConstraint("regime_confidence >= 0 AND regime_confidence <= 1", name="confidence_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    date: Mapped[date] = mapped_column(Date, unique=True)
    vix: Mapped[float | None] = mapped_column(Float)
    realized_volatility_20d: Mapped[float | None] = mapped_column(Float)
    volatility_regime: Mapped[str] = mapped_column(String(16))
    spy_sma_50: Mapped[float | None] = mapped_column(Float)
    spy_sma_200: Mapped[float | None] = mapped_column(Float)
    trend_regime: Mapped[str] = mapped_column(String(16))
    advance_decline_ratio: Mapped[float | None] = mapped_column(Float)
    new_highs_lows_ratio: Mapped[float | None] = mapped_column(Float)
    sector_momentum: Mapped[JSONData | None]
    regime_label: Mapped[str] = mapped_column(String(32))
    regime_confidence: Mapped[float] = mapped_column(Float)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class StrategyPerformance(Base):
    """Returns by strategy and regime over a period, filled by backtests and live runs."""

    __tablename__ = "strategy_performance"
    __table_args__ = (
        UniqueConstraint(
            "strategy", "regime", "period_start", "period_end", "source", name="uq_strategy_performance_period"
        ),
        CheckConstraint("period_end >= period_start", name="period_order"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy: Mapped[str] = mapped_column(String(32))
    regime: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    total_return: Mapped[float] = mapped_column(Float)
    sharpe_ratio: Mapped[float | None] = mapped_column(Float)
    max_drawdown: Mapped[float | None] = mapped_column(Float)
    # Which backtest or live account produced it, so evidence can be traced and replaced.
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[CreatedAt]


class RiskHalt(Base):
    """A drawdown breach: the account may only reduce risk until the halt is lifted.

    resumed_at is empty while the halt is active; a lifted halt records when, by whom, why and
    under which policy (manual, after_sessions, on_recovery), all four together.
    """

    __tablename__ = "risk_halts"
    __table_args__ = (
        CheckConstraint("drawdown >= 0 AND drawdown <= 1", name="drawdown_range"),
        CheckConstraint(
            "resume_policy IS NULL OR " + _in("resume_policy", ("manual", "after_sessions", "on_recovery")),
            name="resume_policy",
        ),
        CheckConstraint(
            "(resumed_at IS NULL AND resumed_by IS NULL AND resume_reason IS NULL AND resume_policy IS NULL) OR "
            "(resumed_at IS NOT NULL AND resumed_by IS NOT NULL AND resume_reason IS NOT NULL "
            "AND resume_policy IS NOT NULL)",
            name="resume_complete",
        ),
        # At most one active halt per account: a second breach while halted is the same halt,
        # and two daily runs racing to open one cannot both succeed.
        Index(
            "uq_risk_halts_one_active",
            "account_id",
            unique=True,
            postgresql_where=text("resumed_at IS NULL"),
            sqlite_where=text("resumed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[AccountId]
    triggered_on: Mapped[date] = mapped_column(Date)
    drawdown: Mapped[float] = mapped_column(Float)
    equity: Mapped[Money]
    peak_equity: Mapped[Money]
    reason: Mapped[str] = mapped_column(Text)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumed_by: Mapped[str | None] = mapped_column(String(100))
    resume_reason: Mapped[str | None] = mapped_column(Text)
    resume_policy: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[CreatedAt]


class ModelArtifact(Base):
    """A trained model (XGBoost ranker, PPO agent) with its training window and its bytes.

    `feature_set` lists the model's inputs in order, `parameters` how it was trained (hyper-
    parameters, label horizon, seed) and `metrics` its walk-forward and held-out evaluation.
    `sha256` is of `artifact`: a loader refuses bytes that no longer match it.
    """

    __tablename__ = "model_artifacts"
    __table_args__ = (
        UniqueConstraint("kind", "strategy", "version"),
        CheckConstraint("train_end >= train_start", name="train_window_order"),
        CheckConstraint("kind IN ('xgboost_ranker', 'ppo_agent')", name="kind"),
        # The generator's question: the newest model of a kind and strategy trained before a date.
        Index("ix_model_artifacts_lookup", "kind", "strategy", "train_end"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    strategy: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    train_start: Mapped[date] = mapped_column(Date)
    train_end: Mapped[date] = mapped_column(Date)
    feature_set: Mapped[JSONData]
    parameters: Mapped[JSONData] = mapped_column(JSONType, server_default=text("'{}'"))
    metrics: Mapped[JSONData]
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]


# --- the ledger ------------------------------------------------------------------------------


class BrokerAccount(Base):
    """An account of the fund held at a live broker: which broker, and which of its accounts.

    An account id with no row here is a database paper account (paper_accounts). Alpaca's paper and
    live environments are two accounts with different keys, so the mode, not this row, picks the
    endpoint; `external_account` is the broker's account number, checked against what the keys
    reach (Alpaca) or used to find the account's hash (Schwab).
    """

    __tablename__ = "broker_accounts"
    __table_args__ = (CheckConstraint(_in("broker", LIVE_BROKERS), name="broker"),)

    account_id: Mapped[AccountId] = mapped_column(primary_key=True)
    broker: Mapped[str] = mapped_column(String(16))
    external_account: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]


class BrokerReconciliation(Base):
    """One comparison of a live broker's account with the fund's ledger, before a run trades it (or by
    `fund accounts reconcile`). A row that did not stop is the next comparison's baseline: its
    positions are what the broker held then, and `order_fills` what each of the fund's orders still
    working had filled by then, so fills after it are the only change the fund expects.

    outcome: matched (nothing differed), explained (every difference explained: a split, cash within
    tolerance), stopped (a difference nobody can explain: the run sent nothing), accepted (a person
    recorded the broker's state as the truth, with who and why).
    """

    __tablename__ = "broker_reconciliations"
    __table_args__ = (
        CheckConstraint(_in("outcome", RECONCILIATION_OUTCOMES), name="outcome"),
        CheckConstraint(_in("mode", RUN_MODES), name="mode"),
        CheckConstraint(
            "(outcome = 'accepted') = (accepted_by IS NOT NULL AND reason IS NOT NULL)", name="accepted_with_reason"
        ),
        Index(None, "account_id", "mode", "checked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[AccountId]
    broker: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    # The session whose close the check follows: splits after it are what the next check allows for.
    session: Mapped[date] = mapped_column(Date)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    cash: Mapped[Money]
    equity: Mapped[Money]
    # {ticker: quantity as a string}: the broker's positions at the check.
    positions: Mapped[JSONData]
    # The newest trade_executions row at the check, and {client order id: filled quantity as a string}
    # of the fund's orders still working then: fills beyond those are what the next check expects.
    last_order_row: Mapped[int] = mapped_column(Integer)
    order_fills: Mapped[JSONData]
    # Broker order ids of open orders the fund did not place, acknowledged by a person (--accept).
    acknowledged_orders: Mapped[JSONData]
    # [{kind, ticker, fund, broker, explanation}], empty when everything matched.
    differences: Mapped[JSONData]
    accepted_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)


class BrokerOrderIntent(Base):
    """An order about to be sent to a broker that takes no client order id (Schwab), written before the send.

    After a crash between the send and the record, the adapter finds the order the broker made of it by
    these fields (ticker, side, quantity, type, and an entered time at or after `sent_at`); `order_id` is
    filled in as soon as the broker's answer is read.
    """

    __tablename__ = "broker_order_intents"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(_in("side", ("buy", "sell")), name="side"),
        UniqueConstraint("broker", "order_id"),
        Index(None, "account_id", "ticker", "side"),
    )

    client_order_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    account_id: Mapped[AccountId]
    broker: Mapped[str] = mapped_column(String(16))
    ticker: Mapped[Ticker]
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Qty]
    order_type: Mapped[str] = mapped_column(String(8), default="market")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    order_id: Mapped[str | None] = mapped_column(String(64))


class PaperAccount(Base):
    __tablename__ = "paper_accounts"
    __table_args__ = (
        CheckConstraint("cash_balance >= 0", name="cash_not_negative"),
        CheckConstraint("peak_value >= 0", name="peak_not_negative"),
    )

    account_id: Mapped[AccountId] = mapped_column(primary_key=True)
    cash_balance: Mapped[Money]
    buying_power: Mapped[Money]
    total_value: Mapped[Money]
    peak_value: Mapped[Money]
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default=text("'USD'"))
    # Whether orders may be for fractions of a share (Alpaca-like) or whole shares only (Schwab-like).
    fractional_shares: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The last session whose bars (fills, splits, dividends, closing prices) the ledger has applied;
    # None until the account is first brought up to date.
    settled_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class PaperPosition(Base):
    __tablename__ = "paper_positions"
    # Long-only fund: a paper position never goes short.
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    account_id: Mapped[AccountId] = mapped_column(
        ForeignKey("paper_accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    ticker: Mapped[Ticker] = mapped_column(primary_key=True)
    quantity: Mapped[Qty]
    avg_price: Mapped[Price]
    market_value: Mapped[Money]
    updated_at: Mapped[UpdatedAt]


class PaperOrder(Base):
    """An order in the paper venue's own book: what the venue accepted, and what became of it.

    The fund's record of the same order is its trade_executions row (same client_order_id); the
    fund learns this row's fate only through the Broker interface, as it would from Alpaca.
    """

    __tablename__ = "paper_orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="filled_within_quantity"),
        CheckConstraint(_in("side", ("buy", "sell")), name="side"),
        CheckConstraint(_in("status", VENUE_ORDER_STATUSES), name="status"),
        UniqueConstraint("account_id", "client_order_id"),
        Index(None, "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The venue's id, as a broker would give it ("paper-<n>").
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[AccountId] = mapped_column(ForeignKey("paper_accounts.account_id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String(48))
    ticker: Mapped[Ticker]
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Qty]
    order_type: Mapped[str] = mapped_column(String(8), default="market")
    # The session after whose close the order arrived: it fills at the next session's open.
    sent_after: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(24))
    filled_quantity: Mapped[Qty] = mapped_column(default=Decimal(0), server_default=text("0"))
    average_price: Mapped[Decimal | None] = mapped_column(Numeric(20, 6))
    commission: Mapped[Money] = mapped_column(default=Decimal(0), server_default=text("0"))
    reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[UpdatedAt]


class PaperFill(Base):
    """One execution of a paper order, priced by trading/execution/fills.py."""

    __tablename__ = "paper_fills"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint(_in("side", ("buy", "sell")), name="side"),
        Index(None, "account_id", "ticker"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    paper_order_id: Mapped[int] = mapped_column(ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[AccountId] = mapped_column(ForeignKey("paper_accounts.account_id", ondelete="CASCADE"))
    ticker: Mapped[Ticker]
    side: Mapped[str] = mapped_column(String(4))
    session: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Qty]
    price: Mapped[Price]
    gross: Mapped[Money]
    commission: Mapped[Money]
    # The bar had no open, so the fill used its close.
    at_close: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    filled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaperCashEntry(Base):
    """One movement of a paper account's cash: the sum of an account's entries is its cash balance."""

    __tablename__ = "paper_cash_journal"
    __table_args__ = (
        CheckConstraint(_in("kind", CASH_ENTRY_KINDS), name="kind"),
        Index(None, "account_id", "session"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[AccountId] = mapped_column(ForeignKey("paper_accounts.account_id", ondelete="CASCADE"))
    # The session whose events moved the cash (None for a deposit made outside any session).
    session: Mapped[date | None] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Money]  # signed: money in is positive
    ticker: Mapped[str | None] = mapped_column(String(16))
    paper_fill_id: Mapped[int | None] = mapped_column(ForeignKey("paper_fills.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[CreatedAt]


class PaperPositionChange(Base):
    """A change to a paper position that is not a fill: a split, shares paid out as cash in lieu, a
    delisting. Fills plus these rebuild every position."""

    __tablename__ = "paper_position_changes"
    __table_args__ = (
        CheckConstraint(_in("kind", POSITION_CHANGE_KINDS), name="kind"),
        Index(None, "account_id", "ticker"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[AccountId] = mapped_column(ForeignKey("paper_accounts.account_id", ondelete="CASCADE"))
    session: Mapped[date | None] = mapped_column(Date)
    ticker: Mapped[Ticker]
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Qty]  # signed change in shares
    split_coef: Mapped[Decimal | None] = mapped_column(Numeric)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[CreatedAt]


class RebalancingLog(Base):
    """The whole decision of one daily run, and the status machine that makes it resumable."""

    __tablename__ = "rebalancing_log"
    __table_args__ = (
        CheckConstraint(_in("status", REBALANCE_STATUSES), name="status"),
        CheckConstraint(_in("mode", RUN_MODES), name="mode"),
        # At most one live-or-finished run per account, date and mode: a second cron firing
        # (or a resumed crash) finds the first instead of trading twice.
        # `attempt` is in the key so that a forced re-run (attempt 2, 3, ...) can sit beside the run it
        # repeats. The daily run's lock serialises runs and refuses an unforced second one; this index
        # still makes two runs of the same attempt impossible if two processes got past that check.
        Index(
            "uq_rebalancing_log_one_active_run",
            "account_id",
            "rebalance_date",
            "mode",
            "attempt",
            unique=True,
            postgresql_where=text(_in("status", REBALANCE_ACTIVE_STATUSES)),
            sqlite_where=text(_in("status", REBALANCE_ACTIVE_STATUSES)),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rebalance_date: Mapped[date] = mapped_column(Date)
    account_id: Mapped[AccountId]
    mode: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    forced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    strategy_selected: Mapped[str | None] = mapped_column(String(32))
    meta_model_confidence: Mapped[float | None] = mapped_column(Float)
    market_regime: Mapped[str | None] = mapped_column(String(32))
    pre_rebalance_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    post_rebalance_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    num_buys: Mapped[int] = mapped_column(Integer, default=0)
    num_sells: Mapped[int] = mapped_column(Integer, default=0)
    total_turnover: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[JSONData | None]
    raw_weights: Mapped[JSONData | None]
    adjusted_weights: Mapped[JSONData | None]
    risk_verdict: Mapped[str | None] = mapped_column(String(24))
    risk_reasons: Mapped[JSONData | None]
    model_versions: Mapped[JSONData | None]
    # Why the strategy and the target portfolio are what they are, in words.
    strategy_reason: Mapped[str | None] = mapped_column(Text)
    # One entry per finished step of the run (step, time, message): the run's own log, in the database.
    steps: Mapped[JSONData | None]
    status: Mapped[str] = mapped_column(String(24))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class TradeExecution(Base):
    """One order as the fund planned, sent and learned of it. Written with its deterministic client order
    id before it is sent; the broker's answers (its order id, status and fills) are copied onto it."""

    __tablename__ = "trade_executions"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(_in("side", ("buy", "sell")), name="side"),
        CheckConstraint(_in("order_type", ("market", "limit")), name="order_type"),
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        # A broker's order id identifies one order at that broker.
        UniqueConstraint("broker", "order_id"),
        Index(None, "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(48), unique=True)
    order_id: Mapped[str | None] = mapped_column(String(64))
    broker: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[AccountId]
    # The session after whose close the order was sent: a market order fills at the next session's open.
    session_date: Mapped[date | None] = mapped_column(Date)
    rebalance_id: Mapped[int | None] = mapped_column(ForeignKey("rebalancing_log.id"))
    ticker: Mapped[Ticker]
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Qty]
    order_type: Mapped[str] = mapped_column(String(8), default="market")
    limit_price: Mapped[Decimal | None] = mapped_column(Numeric(20, 6))
    price: Mapped[Decimal | None] = mapped_column(Numeric(20, 6))
    filled_quantity: Mapped[Decimal | None] = mapped_column(Numeric(24, 9))
    commission: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    status: Mapped[str] = mapped_column(String(24), default="planned")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[UpdatedAt]


class Approval(Base):
    """A human decision on a run whose risk verdict was needs_approval."""

    __tablename__ = "approvals"
    __table_args__ = (CheckConstraint(_in("decision", APPROVAL_DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rebalance_id: Mapped[int] = mapped_column(ForeignKey("rebalancing_log.id"), unique=True)
    decision: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[CreatedAt]
    # The next session's open: a plan priced at one close must not trade after the market has moved on.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountEquity(Base):
    """End-of-day equity per account: the drawdown limit reads its peak from here."""

    __tablename__ = "account_equity_history"

    account_id: Mapped[AccountId] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    equity: Mapped[Money]
    cash: Mapped[Money]
    positions_value: Mapped[Money]
    peak_equity: Mapped[Money]
    recorded_at: Mapped[CreatedAt]


# --- backtests (written in bulk at the end of `fund backtest run`) ------------------------------------


class BacktestRun(Base):
    """One `fund backtest run`: what was replayed, with what, and the headline figures of each variant."""

    __tablename__ = "backtest_runs"
    __table_args__ = (CheckConstraint("end_date >= start_date", name="period_order"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    sessions: Mapped[int] = mapped_column(Integer)
    capital: Mapped[Money]
    # The variant the decision rows describe first (hybrid, ranker-equal or mock).
    main_variant: Mapped[str] = mapped_column(String(64))
    variants: Mapped[JSONData]  # name -> description
    parameters: Mapped[JSONData]  # the command's options
    settings: Mapped[JSONData]  # the fund's settings as replayed (secrets left out)
    code_version: Mapped[str] = mapped_column(String(80))
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    models: Mapped[JSONData]  # the model ids each retraining put in force, for the lineage
    metrics: Mapped[JSONData]  # variant -> headline metrics
    notes: Mapped[JSONData]  # assumptions and caveats the report repeats (survivorship, fills, costs)
    elapsed_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[CreatedAt]


class BacktestEquity(Base):
    """A variant's account at each session's close, and the trading at that session's open."""

    __tablename__ = "backtest_equity"

    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"), primary_key=True)
    variant: Mapped[str] = mapped_column(String(64), primary_key=True)
    session: Mapped[date] = mapped_column(Date, primary_key=True)
    equity: Mapped[Money]
    cash: Mapped[Money]
    positions_value: Mapped[Money]
    turnover: Mapped[float] = mapped_column(Float)  # traded value over the previous close's equity
    commission: Mapped[Money]
    slippage: Mapped[Money]  # what fills cost against the session's open


class BacktestDecision(Base):
    """One run of the daily run in a backtest: the columns of rebalancing_log that say what it decided."""

    __tablename__ = "backtest_decisions"

    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"), primary_key=True)
    variant: Mapped[str] = mapped_column(String(64), primary_key=True)
    session: Mapped[date] = mapped_column(Date, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(24))
    regime: Mapped[str | None] = mapped_column(String(32))
    strategy: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column(Float)
    strategy_reason: Mapped[str | None] = mapped_column(Text)
    model_versions: Mapped[JSONData]
    risk_verdict: Mapped[str | None] = mapped_column(String(24))
    risk_reasons: Mapped[JSONData]
    turnover: Mapped[float | None] = mapped_column(Float)
    num_buys: Mapped[int] = mapped_column(Integer, default=0)
    num_sells: Mapped[int] = mapped_column(Integer, default=0)
    needed_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sum of |adjusted - raw| weights: how far the risk manager moved the generator's target.
    risk_shift: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class BacktestOrder(Base):
    """An order a backtest's run sent to the simulated venue, and what became of it."""

    __tablename__ = "backtest_orders"
    __table_args__ = (Index(None, "run_id", "variant", "session"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(64))
    session: Mapped[date] = mapped_column(Date)  # the close it was sent after
    client_order_id: Mapped[str] = mapped_column(String(64))
    ticker: Mapped[Ticker]
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Qty]
    status: Mapped[str] = mapped_column(String(24))
    filled_quantity: Mapped[Qty]
    fill_price: Mapped[Decimal | None] = mapped_column(Numeric(20, 6))
    commission: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    filled_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)


class BacktestFill(Base):
    """One fill in a backtest, priced by the same engine as the paper venue's."""

    __tablename__ = "backtest_fills"
    __table_args__ = (Index(None, "run_id", "variant", "session"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(64))
    session: Mapped[date] = mapped_column(Date)
    ticker: Mapped[Ticker]
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Qty]
    price: Mapped[Price]
    gross: Mapped[Money]
    commission: Mapped[Money]
    slippage: Mapped[Money]
    at_close: Mapped[bool] = mapped_column(Boolean, default=False)


# --- point-in-time universe membership ---------------------------------------------------------------


class IndexMembership(Base):
    """A span of days on which a ticker belonged to an index ('SP500'), or to a generic 'universe' of
    listed names. Where an index has rows, its universes at t hold only its members at t
    (trading/store/membership.py); without rows the universes are every stock with bars, which is
    survivorship-biased when the bars are today's constituents.

    Both ends are inclusive: start_date is the first day a member, end_date the last (empty while it
    still is one). The import refuses overlapping spans of one ticker in one index.
    """

    __tablename__ = "index_membership"
    __table_args__ = (CheckConstraint("end_date IS NULL OR end_date >= start_date", name="span_order"),)

    # "index" is a reserved word in SQL.
    index_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticker: Mapped[Ticker] = mapped_column(primary_key=True)
    start_date: Mapped[date] = mapped_column(Date, primary_key=True)
    end_date: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(200))  # the file the span came from


# --- sweeps: many trials of backtests or trainings, ranked by one metric --------------------------------


class Sweep(Base):
    """A named set of trials (`fund sweep run SPEC.toml`): what each trial runs, the metric that ranks them,
    and the spec as last run. A rerun of the same name resumes it: trials already done are skipped."""

    __tablename__ = "sweeps"
    __table_args__ = (
        CheckConstraint("kind IN ('backtest', 'ranker', 'agent')", name="kind"),
        CheckConstraint("direction IN ('maximize', 'minimize')", name="direction"),
        CheckConstraint("search IN ('grid', 'optuna')", name="search"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    search: Mapped[str] = mapped_column(String(8))
    spec: Mapped[JSONData]  # the spec file as parsed, the last time the sweep ran
    code_version: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SweepTrial(Base):
    """One trial of a sweep: one configuration (`settings`) with one seed on one window. Its key (a hash of
    the three) is what a rerun matches to skip it. `series` holds the trial's per-session figures (daily
    returns of a backtest, daily rank IC of a ranker) for the deflated metric and the overfitting test."""

    __tablename__ = "sweep_trials"
    __table_args__ = (
        UniqueConstraint("sweep_id", "trial_key"),
        CheckConstraint("status IN ('done', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    trial_key: Mapped[str] = mapped_column(String(64))
    configuration: Mapped[str] = mapped_column(String(64))  # a hash of the settings alone, across seeds/windows
    settings: Mapped[JSONData]
    seed: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8))
    metric_value: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[JSONData]
    series: Mapped[JSONData]  # {"dates": [...], "values": [...]}, or null
    model_ids: Mapped[JSONData]
    error: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float] = mapped_column(Float)
    timings: Mapped[JSONData]  # seconds by phase: load, features, decisions, training, evaluation
    worker: Mapped[str] = mapped_column(String(200))  # host:pid that ran it
    code_version: Mapped[str] = mapped_column(String(80))  # the code it ran (a rerun keeps a trial done before)
    finished_at: Mapped[CreatedAt]
