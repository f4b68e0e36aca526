"""Notifications: the fund's messages to the people who run it, delivered through apprise to every target of
`[notify]` (Discord, Slack, Telegram, a generic JSON webhook, ...).

Delivery never fails the caller and never holds it longer than `deadline_seconds`: each message is tried
`attempts` times per target with a doubling pause, in a background thread the caller waits for at most the
deadline; what could not be delivered is logged and reported. A target URL carries its service's secret, so
only apprise's own redacted form of it (`privacy=True`) is ever logged, and apprise's log records pass through
a filter that masks the secrets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from trading.settings import NotifySettings

logger = logging.getLogger(__name__)


class EventKind(StrEnum):
    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    AWAITING_APPROVAL = "awaiting_approval"
    HALT_OPENED = "halt_opened"
    HALT_LIFTED = "halt_lifted"
    RECONCILIATION_STOPPED = "reconciliation_stopped"
    DATA_STALE = "data_stale"
    TOKEN_EXPIRING = "token_expiring"
    DAILY_REPORT = "daily_report"
    TEST = "test"

    @property
    def switch(self) -> str | None:
        """The `[notify]` setting that turns this event on or off (None: always sent)."""
        if self in (EventKind.HALT_OPENED, EventKind.HALT_LIFTED):
            return "drawdown_halt"
        # A test and a report are asked for by a person (or cron's report line): always sent.
        return None if self in (EventKind.TEST, EventKind.DAILY_REPORT) else self.value

    @property
    def severity(self) -> str:
        """apprise's notify type: how a service colours the message."""
        if self in (EventKind.RUN_FAILED, EventKind.HALT_OPENED, EventKind.RECONCILIATION_STOPPED):
            return "failure"
        if self in (EventKind.AWAITING_APPROVAL, EventKind.DATA_STALE, EventKind.TOKEN_EXPIRING):
            return "warning"
        return "success" if self in (EventKind.RUN_COMPLETED, EventKind.HALT_LIFTED) else "info"


@dataclass(frozen=True)
class Notice:
    kind: EventKind
    title: str
    body: str
    # Files sent along (a report's chart); a service that takes no attachment gets the text alone.
    attachments: tuple[Path, ...] = ()


@dataclass
class DeliveryReport:
    """What became of each (notice, target): delivered, or the attempts that failed; `timed_out` when the
    deadline passed before delivery finished."""

    delivered: list[tuple[str, str]] = field(default_factory=list)  # (event, target as shown)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (event, target as shown, why)
    skipped: list[str] = field(default_factory=list)  # events switched off
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.timed_out


Sender = Callable[[Any, Notice], bool]
"""Sends one notice through one apprise object; True when the service took it."""


def _apprise_send(target: Any, notice: Notice) -> bool:
    attach = [str(path) for path in notice.attachments] or None
    return bool(target.notify(body=notice.body, title=notice.title, notify_type=notice.kind.severity, attach=attach))


class Notifier:
    """The configured targets; `send` delivers notices to all of them within the deadline."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        sender: Sender = _apprise_send,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._sender = sender
        self._sleep = sleep
        self._secrets = [secret for target in settings.targets for secret in _secret_parts(target.get_secret_value())]
        self._targets: list[tuple[str, Any]] = []
        self.problems: list[str] = []  # targets apprise does not understand, as "target #n"
        if settings.targets:
            _mask_apprise_logs(self._secrets)
            self._targets = self._load_targets()

    @property
    def configured(self) -> bool:
        return bool(self._targets)

    @property
    def targets(self) -> list[str]:
        """The targets as they may be shown: apprise's redacted URLs."""
        return [shown for shown, _ in self._targets]

    def _load_targets(self) -> list[tuple[str, Any]]:
        import apprise

        loaded = []
        for number, url in enumerate(self._settings.targets, start=1):
            target = apprise.Apprise()
            if not target.add(url.get_secret_value()):
                # Never the URL itself: it holds the service's secret.
                self.problems.append(f"[notify] target #{number} is not a notification URL apprise understands")
                logger.warning("%s; it is skipped", self.problems[-1])
                continue
            # apprise's redacted form keeps a webhook's path (json://host/SECRET): mask what may be a secret.
            secret_parts = _secret_parts(url.get_secret_value())[1:]  # the pieces, not the whole URL: keep the host
            shown = _masked(", ".join(target.urls(privacy=True)), secret_parts) or f"target #{number}"
            loaded.append((shown, target))
        return loaded

    def wanted(self, notice: Notice) -> bool:
        switch = notice.kind.switch
        return switch is None or bool(getattr(self._settings, switch))

    def send(self, notices: Sequence[Notice]) -> DeliveryReport:
        """Deliver every wanted notice to every target; at most `deadline_seconds`, never an exception."""
        report = DeliveryReport()
        wanted = [notice for notice in notices if self.wanted(notice)]
        report.skipped = [notice.kind.value for notice in notices if not self.wanted(notice)]
        if not wanted or not self._targets:
            return report
        deadline = time.monotonic() + self._settings.deadline_seconds
        worker = threading.Thread(target=self._deliver_all, args=(wanted, report, deadline), daemon=True)
        worker.start()
        worker.join(self._settings.deadline_seconds)
        if worker.is_alive():
            report.timed_out = True
            logger.warning(
                "notifications: gave up after %.0f s with deliveries unfinished; the run goes on",
                self._settings.deadline_seconds,
            )
        return report

    def _deliver_all(self, notices: Sequence[Notice], report: DeliveryReport, deadline: float) -> None:
        for notice in notices:
            for shown, target in self._targets:
                problem = self._deliver(target, notice, deadline)
                if problem is None:
                    report.delivered.append((notice.kind.value, shown))
                else:
                    report.failed.append((notice.kind.value, shown, problem))
                    logger.warning("notification %s to %s not delivered: %s", notice.kind.value, shown, problem)

    def _deliver(self, target: Any, notice: Notice, deadline: float) -> str | None:
        """None when delivered; else why not, after every attempt the deadline left room for."""
        pause = self._settings.retry_seconds
        why = "not attempted: the deadline had passed"
        for attempt in range(1, self._settings.attempts + 1):
            if time.monotonic() >= deadline:
                break
            try:
                if self._sender(target, notice):
                    return None
                why = f"the service refused it (attempt {attempt} of {self._settings.attempts})"
            except Exception as exc:  # a broken target must not stop the others, nor the run
                why = f"{type(exc).__name__}: {_masked(str(exc), self._secrets)} (attempt {attempt})"
            if attempt < self._settings.attempts and time.monotonic() + pause < deadline:
                self._sleep(pause)
                pause *= 2
        return why


def _secret_parts(url: str) -> list[str]:
    """The pieces of a target URL that may be secret: the whole URL first, then its user and password, each
    path segment and query value of some length (tokens, webhook ids, chat ids)."""
    parts: list[str] = []
    try:
        split = urlsplit(url)
    except ValueError:
        return [url]
    parts += [p for p in (split.username, split.password) if p]
    parts += [segment for segment in split.path.split("/") if len(segment) >= 6]
    parts += [value for _, value in parse_qsl(split.query) if len(value) >= 6]
    host = split.hostname or ""
    if len(host) >= 12 and "." not in host:  # Telegram's and Discord's tokens sit where a host would be
        parts.append(host)
    # The whole URL first (it is the longest), then its pieces longest first, so a piece never splits another.
    return [url, *sorted(set(parts) - {url}, key=len, reverse=True)]


def _masked(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class _MaskSecrets(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _masked(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


# apprise logs what it sends (at DEBUG, the full service URL), and urllib3 each request's path.
_CHATTY_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")


def _mask_apprise_logs(secrets: Sequence[str]) -> None:
    """Every record of the loggers that may show a target's URL is masked."""
    for name in _CHATTY_LOGGERS:
        chatty = logging.getLogger(name)
        found = next((f for f in chatty.filters if isinstance(f, _MaskSecrets)), None)
        if found is None:
            chatty.addFilter(_MaskSecrets(secrets))
        else:
            found.secrets = sorted({*found.secrets, *secrets}, key=len, reverse=True)
