"""What a daily run is asked to do, what it answers, and the names of its steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class RunMode(StrEnum):
    DRY_RUN = "dry_run"
    PAPER = "paper"
    LIVE = "live"

    @property
    def sends(self) -> bool:
        """Whether the mode sends orders and writes the ledger (a dry run only reads and plans)."""
        return self is not RunMode.DRY_RUN


class Step(StrEnum):
    """The steps of a run, in order; `after_step` hooks fire after each (SUBMIT_ORDER after every send)."""

    GATE = "gate"
    SYNC = "sync"
    REGIME = "regime"
    STRATEGY = "strategy"
    TARGET = "target"
    RISK = "risk"
    PLAN = "plan"
    PERSIST = "persist"
    SUBMIT_ORDER = "submit_order"
    SUBMIT = "submit"
    RECORD = "record"


class Outcome(StrEnum):
    NOT_A_SESSION = "not_a_session"
    ALREADY_DONE = "already_done"
    NOTHING_TO_RESUME = "nothing_to_resume"
    COMPLETED = "completed"
    DRY_RUN = "dry_run"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def exit_code(self) -> int:
        """0 for every outcome cron should not alarm about; 3 for a risk rejection; 1 for a failure."""
        if self is Outcome.FAILED:
            return 1
        if self is Outcome.REJECTED:
            return 3
        return 0


@dataclass(frozen=True)
class RunRequest:
    account_id: str
    mode: RunMode
    session: date
    force: bool = False
    # Only finish unfinished or approved runs; never plan a new one.
    resume_only: bool = False


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    session: date
    message: str
    run_id: int | None = None
    orders_sent: int = 0
    # What the venue did on the sync (fills, splits, delistings...), for the caller's summary.
    events: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code


StepHook = Callable[[Step], None]


def no_hook(_step: Step) -> None:
    return None


# Compares a live broker's account with the ledger before a sending run plans on it: answers a line
# for the run's log, or raises (trading.reconciliation.ReconciliationStopped) when a difference
# nobody can explain means nothing may be sent.
Reconciler = Callable[["RunRequest"], str]


@dataclass
class StepLog:
    """The run's own log, stored with its row: one entry per finished step, and the facts a failure
    row keeps (the regime and strategy, when they were reached)."""

    clock: Callable[[], datetime]
    after_step: StepHook = no_hook
    entries: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def entry(self, step: Step, message: str) -> dict[str, Any]:
        return {"step": step.value, "at": self.clock().isoformat(), "message": message}

    def note(self, step: Step, message: str, **facts: Any) -> None:
        self.entries.append(self.entry(step, message))
        self.facts.update(facts)
        self.after_step(step)
