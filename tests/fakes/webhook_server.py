"""A local HTTP server that receives webhook posts (what apprise's json:// target sends), for the notification
tests: it records each post and answers 200, or 500 for the first `failures` posts, or waits `delay` seconds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Webhook:
    port: int = 0
    failures: int = 0
    delay: float = 0.0
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [body for _, body in self.posts]


@contextmanager
def webhook_server(failures: int = 0, delay: float = 0.0) -> Iterator[Webhook]:
    hook = Webhook(failures=failures, delay=delay)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                hook.attempts += 1
                failing = hook.attempts <= hook.failures
            if hook.delay:
                time.sleep(hook.delay)
            if failing:
                self.send_response(500)
                self.end_headers()
                return
            with lock:
                hook.posts.append((self.path, json.loads(body or b"{}")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
