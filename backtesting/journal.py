"""The daily run's journal in memory, for a backtest: the same records the database journal keeps (runs,
step logs, orders and the venue's answers, approvals, equity, halts), held in lists and written to the
backtest tables in bulk at the end. The selector's evidence is read once, before the replay."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from autonomous.regime import RegimeHistory
from trading.db.schema import REBALANCE_ACTIVE_STATUSES, REBALANCE_UNFINISHED_STATUSES
from trading.orders import BrokerOrder
from trading.settings import DrawdownResume
from trading.store.performance import EVIDENCE_COLUMNS
from trading.store.rebalances import ApprovalRecord, OrderRecord, RunRecord
from trading.store.risk_halts import HaltRecord

_OPEN_ORDER_STATUSES = frozenset({"submitted", "accepted", "partially_filled"})
_PENDING_STATUSES = frozenset({*REBALANCE_UNFINISHED_STATUSES, "awaiting_approval"})


@dataclass(frozen=True)
class EquityPoint:
    session: date
    cash: Decimal
    positions_value: Decimal

    @property
    def equity(self) -> Decimal:
        return self.cash + self.positions_value


@dataclass
class StoredRun:
    """A run as the journal holds it: the row the run wrote (rebalancing_log's columns) and its order ids."""

    id: int
    row: dict[str, Any]
    created_at: datetime
    order_ids: list[int] = field(default_factory=list)

    def record(self) -> RunRecord:
        row = self.row
        return RunRecord(
            id=self.id,
            rebalance_date=row["rebalance_date"],
            account_id=row["account_id"],
            mode=row["mode"],
            attempt=row["attempt"],
            forced=row.get("forced", False),
            status=row["status"],
            strategy=row.get("strategy_selected"),
            regime=row.get("market_regime"),
            risk_verdict=row.get("risk_verdict"),
            error=row.get("error"),
            created_at=self.created_at,
            updated_at=self.created_at,
        )


class MemoryJournal:
    """The Journal protocol (autonomous/daily_run/journal.py) over lists; one account per journal."""

    def __init__(self, evidence: pd.DataFrame | None = None, *, clock: Any) -> None:
        # `evidence`: strategy_performance rows (strategy, regime, period_end, total_return, sharpe_ratio,
        # max_drawdown) read once; each decision sees only the periods that ended before it.
        self._evidence = _by_period_end(evidence if evidence is not None else pd.DataFrame())
        self._evidence_ends: list[date] | None = (
            list(self._evidence["period_end"]) if not self._evidence.empty else None
        )
        # Evidence changes only when another period has ended: answers are kept by (regime, periods ended).
        self._evidence_cache: dict[tuple[str, int], pd.DataFrame] = {}
        self._clock = clock
        self.runs: dict[int, StoredRun] = {}
        self.orders: dict[int, OrderRecord] = {}
        self.approvals: dict[int, ApprovalRecord] = {}  # by run id
        self.equity: list[EquityPoint] = []
        self._peaks: list[Decimal] = []  # the running peak of `equity`, point by point
        # For a baseline start (after a lifted halt): how many settled points its peak has seen, and it.
        self._since: dict[date, tuple[int, Decimal | None]] = {}
        self.halts: list[HaltRecord] = []
        self._pending: set[int] = set()
        self._open_orders: set[int] = set()
        self._by_session: dict[tuple[str, date, str], list[int]] = {}

    @contextmanager
    def lock(self, account_id: str, mode: str) -> Iterator[None]:
        yield  # one replay owns its journal

    # --- runs ---------------------------------------------------------------------------------------

    def _session_runs(self, account_id: str, day: date, mode: str) -> list[StoredRun]:
        return [self.runs[i] for i in self._by_session.get((account_id, day, mode), [])]

    def active_run(self, account_id: str, day: date, mode: str) -> RunRecord | None:
        active = [r for r in self._session_runs(account_id, day, mode) if r.row["status"] in REBALANCE_ACTIVE_STATUSES]
        return max(active, key=lambda r: r.row["attempt"]).record() if active else None

    def next_attempt(self, account_id: str, day: date, mode: str) -> int:
        return 1 + max((r.row["attempt"] for r in self._session_runs(account_id, day, mode)), default=0)

    def pending_runs(self, account_id: str, mode: str, through: date) -> list[RunRecord]:
        found = [self.runs[i] for i in sorted(self._pending)]
        found = [r for r in found if r.row["rebalance_date"] <= through and r.row["mode"] == mode]
        return [r.record() for r in sorted(found, key=lambda r: (r.row["rebalance_date"], r.row["attempt"]))]

    def _insert_run(self, row: dict[str, Any]) -> StoredRun:
        run = StoredRun(len(self.runs) + 1, dict(row), self._clock())
        self.runs[run.id] = run
        key = (row["account_id"], row["rebalance_date"], row["mode"])
        self._by_session.setdefault(key, []).append(run.id)
        self._track(run)
        return run

    def _track(self, run: StoredRun) -> None:
        if run.row["status"] in _PENDING_STATUSES:
            self._pending.add(run.id)
        else:
            self._pending.discard(run.id)

    def persist_plan(
        self, run: dict[str, Any], orders: Sequence[dict[str, Any]], approval_expires: datetime | None
    ) -> int:
        stored = self._insert_run(run)
        for values in orders:
            order = OrderRecord(
                id=len(self.orders) + 1,
                client_order_id=values["client_order_id"],
                order_id=None,
                broker=values["broker"],
                ticker=values["ticker"],
                side=values["side"],
                quantity=values["quantity"],
                status=values["status"],
                price=None,
                filled_quantity=None,
                commission=None,
                reason=None,
                session_date=values["session_date"],
            )
            self.orders[order.id] = order
            stored.order_ids.append(order.id)
        if approval_expires is not None:
            self.approvals[stored.id] = ApprovalRecord(
                id=len(self.approvals) + 1,
                rebalance_id=stored.id,
                decision="pending",
                decided_by=None,
                reason=None,
                requested_at=self._clock(),
                expires_at=approval_expires,
                decided_at=None,
                account_id=run["account_id"],
                rebalance_date=run["rebalance_date"],
                mode=run["mode"],
                run_status=run["status"],
            )
        return stored.id

    def record_failure(self, run: dict[str, Any]) -> int:
        return self._insert_run(run).id

    def update_run(self, run_id: int, **values: Any) -> None:
        run = self.runs[run_id]
        run.row.update(values)
        self._track(run)

    def append_step(self, run_id: int, entry: dict[str, Any]) -> None:
        row = self.runs[run_id].row
        row["steps"] = [*(row.get("steps") or []), entry]

    # --- orders ---------------------------------------------------------------------------------------

    def run_orders(self, run_id: int) -> list[OrderRecord]:
        return [self.orders[i] for i in self.runs[run_id].order_ids]

    def session_orders(self, account_id: str, day: date, mode: str) -> list[OrderRecord]:
        return [self.orders[i] for run in self._session_runs(account_id, day, mode) for i in run.order_ids]

    def open_orders(self, account_id: str, broker: str) -> list[OrderRecord]:
        return [self.orders[i] for i in sorted(self._open_orders) if self.orders[i].broker == broker]

    def record_broker_order(self, order_row_id: int, order: BrokerOrder) -> None:
        filled = order.filled_quantity > 0
        current = self.orders[order_row_id]
        updated = replace(
            current,
            order_id=order.order_id,
            status=order.status.value,
            quantity=order.quantity,
            reason=order.reason,
            filled_quantity=order.filled_quantity if filled else current.filled_quantity,
            price=order.average_fill_price if filled else current.price,
            commission=order.commission if order.commission is not None else current.commission,
        )
        self.orders[order_row_id] = updated
        if updated.order_id is not None and updated.status in _OPEN_ORDER_STATUSES:
            self._open_orders.add(order_row_id)
        else:
            self._open_orders.discard(order_row_id)

    def close_orders(self, order_row_ids: Sequence[int], status: str, reason: str) -> None:
        for order_id in order_row_ids:
            order = self.orders[order_id]
            if order.status == "planned":
                self.orders[order_id] = replace(order, status=status, reason=reason)

    # --- approvals ------------------------------------------------------------------------------------

    def approval_for_run(self, run_id: int) -> ApprovalRecord | None:
        return self.approvals.get(run_id)

    def decide(self, run_id: int, decision: str, by: str, now: datetime) -> None:
        """A backtest's stand-in for a person: approve (or reject) the plan waiting on `run_id`."""
        approval = self.approvals[run_id]
        self.approvals[run_id] = replace(approval, decision=decision, decided_by=by, decided_at=now)
        if decision != "approved":
            self._close_run(run_id, f"{decision} by {by}")

    def expire_approval(self, approval: ApprovalRecord, now: datetime) -> str:
        reason = f"approval {approval.id} expired at {approval.expires_at} before the plan was sent"
        if approval.decision == "pending":
            self.approvals[approval.rebalance_id] = replace(approval, decision="expired", decided_at=now)
        self._close_run(approval.rebalance_id, reason)
        return reason

    def supersede(self, run_id: int, now: datetime) -> None:
        approval = self.approvals.get(run_id)
        if approval is not None and approval.decision == "pending":
            self.decide(run_id, "rejected", "a forced re-run", now)

    def _close_run(self, run_id: int, reason: str) -> None:
        self.close_orders(self.runs[run_id].order_ids, "canceled", reason)
        self.update_run(run_id, status="rejected", error=reason)

    # --- equity and halts -----------------------------------------------------------------------------

    def record_equity(self, account_id: str, day: date, *, cash: Decimal, positions_value: Decimal) -> None:
        point = EquityPoint(day, cash, positions_value)
        if self.equity and self.equity[-1].session == day:
            self.equity[-1] = point  # a second run of the session restates its close
            self._peaks[-1] = max(self._peaks[-2], point.equity) if len(self._peaks) > 1 else point.equity
        else:
            self.equity.append(point)
            self._peaks.append(max(self._peaks[-1], point.equity) if self._peaks else point.equity)

    def peak_equity(self, account_id: str, start: date | None, end: date) -> Decimal | None:
        # The usual question (no resume yet, through the newest session) is the running peak: no scan.
        if start is None and self._peaks and self.equity[-1].session <= end:
            return self._peaks[-1]
        if start is not None and self.equity and self.equity[-1].session <= end:
            return self._peak_since(start)
        values = [p.equity for p in self.equity if (start is None or p.session >= start) and p.session <= end]
        return max(values) if values else None

    def _peak_since(self, start: date) -> Decimal | None:
        """The peak of every point from `start` on, kept up to date as points arrive (after a halt is lifted
        the baseline starts there, and a long replay asks every session). The newest point may still be
        restated by a second run of its session, so it is never folded into the kept peak."""
        done, peak = self._since.get(start, (0, None))
        settled = len(self.equity) - 1
        for point in self.equity[done:settled]:
            if point.session >= start and (peak is None or point.equity > peak):
                peak = point.equity
        self._since = {start: (max(settled, done), peak)}
        newest = self.equity[-1]
        if newest.session >= start and (peak is None or newest.equity > peak):
            return newest.equity
        return peak

    def active_halt(self, account_id: str) -> HaltRecord | None:
        return next((h for h in reversed(self.halts) if h.resumed_at is None), None)

    def last_resume(self, account_id: str) -> datetime | None:
        return max((h.resumed_at for h in self.halts if h.resumed_at is not None), default=None)

    def open_halt(
        self, account_id: str, day: date, drawdown: float, equity: Decimal, peak: Decimal, reason: str
    ) -> None:
        if self.active_halt(account_id) is None:
            self.halts.append(
                HaltRecord(len(self.halts) + 1, account_id, day, drawdown, equity, peak, reason, self._clock())
            )

    def resume_halt(self, account_id: str, reason: str, policy: DrawdownResume, at: datetime) -> None:
        halt = self.active_halt(account_id)
        if halt is not None:
            self.halts[self.halts.index(halt)] = replace(halt, resumed_at=at, resumed_by=f"backtest ({policy})")

    # --- the market's record and the selector's evidence ----------------------------------------------

    def record_regimes(self, history: RegimeHistory) -> None:
        return None  # the backtest's decision rows carry each session's regime

    def strategy_evidence(self, regime: str, before: date) -> pd.DataFrame:
        ended = 0 if self._evidence_ends is None else bisect.bisect_left(self._evidence_ends, before)
        key = (regime, ended)
        if key not in self._evidence_cache:
            self._evidence_cache[key] = evidence_before(self._evidence.iloc[:ended], regime, before)
        return self._evidence_cache[key]


def _by_period_end(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return rows
    return rows.sort_values("period_end", kind="stable").reset_index(drop=True)


def evidence_before(rows: pd.DataFrame, regime: str, before: date) -> pd.DataFrame:
    """What trading.store.performance.performance_by_strategy answers, from rows already in memory."""
    columns = ["strategy", *EVIDENCE_COLUMNS]
    if rows.empty:
        return pd.DataFrame(columns=columns).set_index("strategy")
    usable = rows[(rows["regime"] == regime) & (rows["period_end"] < before)]
    grouped = usable.groupby("strategy", sort=True)
    frame = pd.DataFrame(
        {
            "periods": grouped.size().astype("int64"),
            "mean_return": grouped["total_return"].mean(),
            "mean_sharpe": grouped["sharpe_ratio"].mean(),
            "worst_drawdown": grouped["max_drawdown"].max(),
        }
    )
    frame.index.name = "strategy"
    return frame[list(EVIDENCE_COLUMNS)]
