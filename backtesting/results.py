"""What a replay leaves behind, as frames and rows: each variant's equity, turnover and costs by session,
its orders and fills, and one decision row per run (regime, strategy, confidence, generator and model
versions, risk verdict and reasons). The store writes these; the metrics and the report read them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from backtesting.engine import Replay
from backtesting.venue import FillBars
from trading.orders import OrderSide

EQUITY_COLUMNS = ("equity", "cash", "positions_value", "turnover", "commission", "slippage", "costs", "exposure")


@dataclass(frozen=True)
class VariantResult:
    """One variant's replay, in frames: equity by session, decisions, orders and fills."""

    name: str
    description: str
    equity: pd.DataFrame  # by session: EQUITY_COLUMNS
    decisions: pd.DataFrame  # one row per run
    orders: pd.DataFrame
    fills: pd.DataFrame

    @property
    def equity_curve(self) -> pd.Series:
        return self.equity["equity"]

    def decided(self) -> pd.DataFrame:
        """Each session's deciding run (the first attempt): strategy, regime, confidence, verdict."""
        if self.decisions.empty:
            return self.decisions
        first = self.decisions.sort_values(["session", "attempt"]).drop_duplicates("session")
        return first.set_index("session")


def variant_result(one: Replay, bars: FillBars) -> VariantResult:
    fills = fills_frame(one, bars)
    return VariantResult(
        name=one.variant.name,
        description=one.variant.description,
        equity=equity_frame(one, fills),
        decisions=decisions_frame(one),
        orders=orders_frame(one),
        fills=fills,
    )


def fills_frame(one: Replay, bars: FillBars) -> pd.DataFrame:
    """Every fill, with what slippage cost against the session's open (the price a cost-free fill gets)."""
    rows = []
    for record in one.venue.ledger.fills:
        fill = record.fill
        bar = bars.get((fill.ticker, fill.session))
        reference = (bar.open if bar is not None and bar.open is not None else None) or fill.price
        moved = fill.price - reference if fill.side is OrderSide.BUY else reference - fill.price
        rows.append(
            {
                "session": fill.session,
                "ticker": fill.ticker,
                "side": fill.side.value,
                "quantity": fill.quantity,
                "price": fill.price,
                "gross": fill.gross,
                "commission": fill.commission,
                "slippage": max(moved, Decimal(0)) * fill.quantity,
                "at_close": fill.flagged_no_open,
            }
        )
    columns = ["session", "ticker", "side", "quantity", "price", "gross", "commission", "slippage", "at_close"]
    return pd.DataFrame(rows, columns=columns)


def equity_frame(one: Replay, fills: pd.DataFrame) -> pd.DataFrame:
    """By session: the close's equity, cash and positions, and the trading that happened at its open."""
    closes = one.closes
    index = pd.DatetimeIndex([pd.Timestamp(c.session) for c in closes], name="session")
    frame = pd.DataFrame(
        {
            "equity": [float(c.equity) for c in closes],
            "cash": [float(c.cash) for c in closes],
            "positions_value": [float(c.positions_value) for c in closes],
        },
        index=index,
    )
    if fills.empty:
        traded = pd.DataFrame(0.0, index=index, columns=["gross", "commission", "slippage"])
    else:
        money = fills[["gross", "commission", "slippage"]].astype(np.float64)
        money.index = pd.DatetimeIndex(pd.to_datetime(fills["session"]))
        traded = money.groupby(level=0).sum().reindex(index, fill_value=0.0)
    # Trades fill at a session's open, against the equity of the close before it.
    previous = frame["equity"].shift(1).fillna(frame["equity"])
    frame["turnover"] = traded["gross"] / previous
    frame["commission"] = traded["commission"]
    frame["slippage"] = traded["slippage"]
    frame["costs"] = traded["commission"] + traded["slippage"]
    frame["exposure"] = frame["positions_value"] / frame["equity"]
    return frame[list(EQUITY_COLUMNS)]


def decisions_frame(one: Replay) -> pd.DataFrame:
    rows = [_decision_row(run.row, one.journal.approvals.get(run.id) is not None) for run in one.journal.runs.values()]
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))


DECISION_COLUMNS = (
    "session",
    "attempt",
    "status",
    "regime",
    "strategy",
    "confidence",
    "strategy_reason",
    "model_versions",
    "risk_verdict",
    "risk_reasons",
    "turnover",
    "num_buys",
    "num_sells",
    "needed_approval",
    "adjusted",
    "error",
)


def _decision_row(row: dict[str, Any], needed_approval: bool) -> dict[str, Any]:
    risk = row.get("risk_reasons") or {}
    reasons = [r for r in risk.get("reasons", []) if r.get("severity") in ("breach", "reject", "adjusted")]
    raw, adjusted = row.get("raw_weights") or {}, row.get("adjusted_weights") or {}
    names = set(raw) | set(adjusted)
    shift = sum(abs(float(adjusted.get(t, 0.0)) - float(raw.get(t, 0.0))) for t in names)
    return {
        "session": row["rebalance_date"],
        "attempt": row["attempt"],
        "status": row["status"],
        "regime": row.get("market_regime"),
        "strategy": row.get("strategy_selected"),
        "confidence": row.get("meta_model_confidence"),
        "strategy_reason": row.get("strategy_reason"),
        "model_versions": row.get("model_versions") or {},
        "risk_verdict": row.get("risk_verdict"),
        "risk_reasons": [f"{r.get('rule')}: {r.get('message')}" for r in reasons],
        "turnover": row.get("total_turnover"),
        "num_buys": row.get("num_buys", 0),
        "num_sells": row.get("num_sells", 0),
        "needed_approval": needed_approval,
        # How far the risk manager moved the generator's target (sum of |adjusted - raw| weights).
        "adjusted": shift,
        "error": row.get("error"),
    }


def orders_frame(one: Replay) -> pd.DataFrame:
    rows = [
        {
            "client_order_id": order.client_order_id,
            "broker_order_id": order.order_id,
            "session": sent_after,
            "ticker": order.ticker,
            "side": order.side.value,
            "quantity": order.quantity,
            "status": order.status.value,
            "filled_quantity": order.filled_quantity,
            "fill_price": order.average_fill_price,
            "commission": order.commission,
            "filled_on": order.filled_at.date() if order.filled_at else None,
            "reason": order.reason,
        }
        for sent_after, order in one.venue.book()
    ]
    columns = [
        "client_order_id",
        "broker_order_id",
        "session",
        "ticker",
        "side",
        "quantity",
        "status",
        "filled_quantity",
        "fill_price",
        "commission",
        "filled_on",
        "reason",
    ]
    return pd.DataFrame(rows, columns=columns)
