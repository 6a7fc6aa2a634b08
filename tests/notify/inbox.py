"""A loopback HTTP server that records the JSON POSTed to it (Apprise's ``json://``)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT_S = 30.0  # bound on every wait for the server; a healthy run takes milliseconds


class Inbox:
    """What the local server received, by path; ``/slow...`` answers only once released,
    ``/fail...`` answers 503."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any], str]] = []  # path, JSON, Authorization
        self.arrived = threading.Condition()
        self.release = threading.Event()

    def wait_for(self, count: int, path: str = "") -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.bodies(path)) >= count, timeout=WAIT_S)
            return self.bodies(path)

    def bodies(self, path: str = "") -> list[dict[str, Any]]:
        return [body for p, body, _ in self.posts if p.startswith(path)]


@contextlib.contextmanager
def serve_inbox() -> Iterator[tuple[str, Inbox]]:
    """A JSON-receiving HTTP server on 127.0.0.1 (any free port): ``(host:port, inbox)``."""
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.startswith("/slow"):
                inbox.release.wait(WAIT_S)
            with inbox.arrived:
                inbox.posts.append((self.path, body, self.headers.get("Authorization", "")))
                inbox.arrived.notify_all()
            self.send_response(503 if self.path.startswith("/fail") else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", inbox
    finally:
        inbox.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(WAIT_S)
