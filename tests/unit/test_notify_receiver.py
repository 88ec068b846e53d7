"""A real webhook receiver on 127.0.0.1 for the alert tests (apprise's `json://` posts to it).

It records every JSON body apprise posts ({"version", "title", "message", "type", ...}) with its path and
arrival time (and the arrival time of every request, answered 500 or not), can answer 500 to the first N
requests (a failing destination) and can sleep before answering (a slow one). The tests of this module check
the receiver itself, so a broken receiver cannot make the alert tests pass by accident.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class Receiver:
    """Thread-safe record of what arrived; `fail_first` requests answer 500, each request waits `delay_s`."""

    def __init__(self, *, fail_first: int = 0, delay_s: float = 0.0, always_fail: bool = False) -> None:
        self.fail_first, self.delay_s, self.always_fail = fail_first, delay_s, always_fail
        self.requests = 0
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.times: list[float] = []
        self.arrivals: list[float] = []  # every request's, failed ones too (`times` holds only the received)
        self._cond = threading.Condition()
        self.port = 0

    def url(self, path: str = "hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def record(self, path: str, body: dict[str, Any]) -> int:
        """Count the request and decide its answer; only successful ones are recorded as received."""
        time.sleep(self.delay_s)
        with self._cond:
            self.requests += 1
            now = time.monotonic()
            self.arrivals.append(now)
            if self.always_fail or self.requests <= self.fail_first:
                return 500
            self.received.append(body)
            self.paths.append(path)
            self.times.append(now)
            self._cond.notify_all()
            return 200

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.received)} of {count}: {self.received}")
                self._cond.wait(left)
            return list(self.received)

    def wait_for_kind(self, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.received if predicate(m)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message: {self.received}")
                self._cond.wait(left)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status = receiver.record(self.path, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

    return Handler


@contextmanager
def receiving(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def test_receiver_records_posts_and_fails_the_first_ones_on_request() -> None:
    with receiving(fail_first=1) as receiver:
        url = f"http://127.0.0.1:{receiver.port}/x"
        assert httpx.post(url, json={"a": 1}).status_code == 500
        assert httpx.post(url, json={"a": 2}).status_code == 200
        assert receiver.wait_for(1) == [{"a": 2}] and receiver.paths == ["/x"] and receiver.requests == 2
        assert len(receiver.arrivals) == 2 and receiver.arrivals[1] == receiver.times[0]
