"""Notifications through apprise to real HTTP endpoints (a local server): delivered to every target, retried
with backoff, bounded in time, switched off by event, and never a secret in the log."""

from __future__ import annotations

import logging
import time

import pytest
from pydantic import SecretStr

from tests.fakes.webhook_server import webhook_server
from trading.notify import EventKind, Notice, Notifier
from trading.settings import NotifySettings

NOTICE = Notice(EventKind.RUN_COMPLETED, "Run completed: TEST 2014-06-02", "Regime bull_low_vol, 12 orders sent.")


def settings(*urls: str, **values: object) -> NotifySettings:
    return NotifySettings.model_validate({"targets": [SecretStr(u) for u in urls], **values})


def test_a_notice_reaches_every_target_as_a_json_post() -> None:
    with webhook_server() as first, webhook_server() as second:
        report = Notifier(settings(first.url("a-secret-hook"), second.url())).send([NOTICE])
    assert report.ok
    assert len(report.delivered) == 2
    for hook in (first, second):
        [message] = hook.messages
        assert message["title"] == NOTICE.title
        assert message["message"] == NOTICE.body
        assert message["type"] == "success"
    assert first.posts[0][0] == "/a-secret-hook"


def test_a_refused_delivery_is_retried_with_a_doubling_pause() -> None:
    pauses: list[float] = []
    with webhook_server(failures=2) as hook:
        notifier = Notifier(settings(hook.url(), attempts=3, retry_seconds=0.5), sleep=pauses.append)
        report = notifier.send([NOTICE])
    assert report.ok
    assert hook.attempts == 3
    assert len(hook.messages) == 1
    assert pauses == [0.5, 1.0]


def test_a_delivery_that_keeps_failing_is_logged_without_its_secret_and_the_others_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "hook-token-4f9a2c7e1b"
    with webhook_server(failures=100) as broken, webhook_server() as working:
        notifier = Notifier(settings(broken.url(secret), working.url(), attempts=2, retry_seconds=0))
        report = notifier.send([NOTICE, Notice(EventKind.RUN_FAILED, "Run failed", "failed, nothing sent: boom")])
    assert not report.ok
    assert len(report.failed) == 2
    assert all("the service refused it (attempt 2 of 2)" in why for _, _, why in report.failed)
    assert len(working.messages) == 2
    assert broken.attempts == 4
    assert "not delivered" in caplog.text
    assert secret not in caplog.text
    assert all(secret not in shown for _, shown, _ in report.failed)


def test_delivery_never_holds_the_caller_past_the_deadline() -> None:
    with webhook_server(delay=3.0) as slow:
        notifier = Notifier(settings(slow.url(), deadline_seconds=0.5))
        started = time.monotonic()
        report = notifier.send([NOTICE])
        waited = time.monotonic() - started
    assert report.timed_out
    assert not report.ok
    assert waited < 1.5


def test_an_event_switched_off_is_not_sent() -> None:
    with webhook_server() as hook:
        notifier = Notifier(settings(hook.url(), run_completed=False))
        report = notifier.send([NOTICE, Notice(EventKind.HALT_OPENED, "Halt", "drawdown")])
        off = Notifier(settings(hook.url(), drawdown_halt=False)).send([Notice(EventKind.HALT_LIFTED, "Lifted", "")])
    assert report.skipped == ["run_completed"]
    assert [m["title"] for m in hook.messages] == ["Halt"]
    assert off.skipped == ["halt_lifted"]


def test_a_target_apprise_does_not_understand_is_named_by_number_not_by_its_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = Notifier(settings("nosuchservice://secret-token-123456/x"))
    assert not notifier.configured
    assert notifier.problems == ["[notify] target #1 is not a notification URL apprise understands"]
    assert "secret-token-123456" not in caplog.text


def test_without_targets_nothing_is_sent_and_nothing_waits() -> None:
    report = Notifier(NotifySettings()).send([NOTICE])
    assert report.ok
    assert report.delivered == []
