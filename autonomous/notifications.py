"""What the daily run tells people (trading/notify.py delivers it): the run completed (a paragraph), failed,
awaits approval (its reasons and expiry), a drawdown halt opened or lifted by it, a reconciliation that
stopped it, stale data that stopped it, and a Schwab token near its end. Read from what the run recorded in
the database, after it finished, so a notification says exactly what the tables say."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from autonomous.daily_run.request import Outcome, RunMode, RunResult
from trading.errors import FundError
from trading.notify import DeliveryReport, EventKind, Notice, Notifier
from trading.settings import FundSettings
from trading.store.rebalances import RunRecord, approval_for_run, recent_runs
from trading.store.risk_halts import recent_halts

logger = logging.getLogger(__name__)

# The prefixes a failed run's recorded error starts with (autonomous/daily_run/records.py: "Type: message").
DATA_GATE_ERROR = "DataGateFailed"
RECONCILIATION_ERROR = "ReconciliationStopped"


def run_notices(
    engine: Engine,
    settings: FundSettings,
    account_id: str,
    mode: RunMode,
    result: RunResult,
    *,
    started_at: datetime,
    now: datetime,
    token_age_days: float | None = None,
) -> list[Notice]:
    """The notices one `fund rebalance` gives rise to (every kind; the notifier drops those switched off)."""
    where = f"{account_id} ({mode.value}), session {result.session}"
    run = _run(engine, account_id, result.run_id)
    notices: list[Notice] = []
    if result.outcome is Outcome.COMPLETED:
        notices.append(Notice(EventKind.RUN_COMPLETED, f"Run completed: {where}", _paragraph(result, run)))
    elif result.outcome is Outcome.FAILED:
        error = (run.error if run is not None else None) or ""
        notices.append(Notice(EventKind.RUN_FAILED, f"Run failed: {where}", result.message))
        if error.startswith(DATA_GATE_ERROR):
            notices.append(Notice(EventKind.DATA_STALE, f"Data stale, nothing traded: {where}", error))
        if error.startswith(RECONCILIATION_ERROR):
            notices.append(Notice(EventKind.RECONCILIATION_STOPPED, f"Reconciliation stopped the run: {where}", error))
    elif result.outcome is Outcome.AWAITING_APPROVAL and result.run_id is not None:
        approval = approval_for_run(engine, result.run_id)
        expiry = f"It expires at {approval.expires_at:%Y-%m-%d %H:%M} UTC. " if approval and approval.expires_at else ""
        ident = f" {approval.id}" if approval else ""
        body = (
            f"{result.message}. {expiry}Approve with `fund approvals approve{ident} --by NAME`, "
            f"or reject with `fund approvals reject{ident} --by NAME --reason TEXT`."
        )
        notices.append(Notice(EventKind.AWAITING_APPROVAL, f"Plan awaits approval: {where}", body))
    notices += _halt_notices(engine, account_id, started_at)
    if token_age_days is not None:
        notices += _token_notice(settings, token_age_days)
    return notices


def _run(engine: Engine, account_id: str, run_id: int | None) -> RunRecord | None:
    if run_id is None:
        return None
    return next((run for run in recent_runs(engine, account_id, limit=20) if run.id == run_id), None)


def _paragraph(result: RunResult, run: RunRecord | None) -> str:
    """One paragraph: what the run decided and did."""
    parts = []
    if run is not None:
        decided = f"Regime {run.regime or 'unknown'}, strategy {run.strategy or 'none'}"
        parts.append(f"{decided}, risk verdict {run.risk_verdict or 'none'}.")
    parts.append(f"{result.orders_sent} order(s) sent. {result.message}.")
    if result.events:
        shown = "; ".join(result.events[:5])
        more = f" (and {len(result.events) - 5} more)" if len(result.events) > 5 else ""
        parts.append(f"At the venue: {shown}{more}.")
    return " ".join(parts)


def _halt_notices(engine: Engine, account_id: str, since: datetime) -> list[Notice]:
    notices = []
    for halt in recent_halts(engine, account_id, limit=5):
        if halt.created_at >= since:
            body = (
                f"Drawdown {halt.drawdown:.1%} from the peak {halt.peak_equity:,.2f} (equity {halt.equity:,.2f}) on "
                f"{halt.triggered_on}: {halt.reason}. Nothing new is bought until it is lifted "
                f"(`fund risk resume --account-id {account_id} --by NAME --reason TEXT`)."
            )
            notices.append(Notice(EventKind.HALT_OPENED, f"Drawdown halt opened: {account_id}", body))
        if halt.resumed_at is not None and halt.resumed_at >= since:
            body = f"Lifted by {halt.resumed_by or 'the policy'}: {halt.resume_reason or halt.resume_policy or ''}."
            notices.append(Notice(EventKind.HALT_LIFTED, f"Drawdown halt lifted: {account_id}", body))
    return notices


def _token_notice(settings: FundSettings, age_days: float) -> list[Notice]:
    from trading.brokers.schwab.tokens import REFRESH_TOKEN_DAYS

    left = REFRESH_TOKEN_DAYS - age_days
    if left > settings.notify.token_warning_days:
        return []
    state = f"expires in {left:.1f} days" if left > 0 else "has expired"
    body = f"The Schwab refresh token {state} ({age_days:.1f} days old). Log in again: `fund broker login schwab`."
    return [Notice(EventKind.TOKEN_EXPIRING, "Schwab token expiring", body)]


def schwab_token_age(settings: FundSettings, now: datetime, default_dir: Path) -> float | None:
    """The age in days of the Schwab token file, None when there is none to read."""
    from trading.brokers.schwab.tokens import TokenFile

    try:
        return TokenFile.from_settings(settings.brokers.schwab_token_path, default_dir).age_days(now)
    except (OSError, ValueError, FundError) as exc:  # no token file (yet): `fund broker check` says how to make one
        logger.info("no Schwab token age to report on: %s", exc)
        return None


def notify_run(
    engine: Engine,
    settings: FundSettings,
    account_id: str,
    mode: RunMode,
    result: RunResult,
    *,
    started_at: datetime,
    now: datetime,
    default_dir: Path,
) -> DeliveryReport | None:
    """Send the run's notices; None when no target is configured. Never raises: a notification must not
    change what the run did nor how cron sees it."""
    if not settings.notify.targets:
        return None
    try:
        from trading.store.broker_accounts import broker_of

        age = schwab_token_age(settings, now, default_dir) if broker_of(engine, account_id) == "schwab" else None
        notices = run_notices(
            engine, settings, account_id, mode, result, started_at=started_at, now=now, token_age_days=age
        )
        return Notifier(settings.notify).send(notices)
    except Exception:
        logger.exception("notifications for run %s could not be prepared; the run itself is unaffected", result.run_id)
        return None
