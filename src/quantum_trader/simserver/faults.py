"""Network faults the simulator server injects on demand: which are armed, and how many have struck.

Binance sometimes answers 5xx, 429 or slowly, and a bot that is only ever tested against a well-behaved
server meets those answers first with real money. The live-path chaos campaign therefore arms faults here
(`POST /sim/v1/faults`, `routes_faults`) and the app asks `FaultBook.strike` before every REST request.
This module is the state only (no HTTP, no server): a list of armed faults, each limited to some paths
and methods and to a number of requests or a stretch of the server clock, and a count per kind of the
requests each kind has struck. It has its own lock because the app consults it outside `server.lock`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

SERVER_ERROR = "server_error"
RATE_LIMIT = "rate_limit"
SLOW = "slow"
BAN = "ban"
KINDS = (SERVER_ERROR, RATE_LIMIT, SLOW, BAN)
ALL_METHODS = ("GET", "POST", "PUT", "DELETE")
ALL_REST = ("/fapi/*",)


@dataclass(frozen=True)
class Scope:
    """Which requests a fault hits: exact paths or prefixes ending in `*`, and HTTP methods."""

    paths: tuple[str, ...] = ALL_REST
    methods: tuple[str, ...] = ALL_METHODS

    def matches(self, method: str, path: str) -> bool:
        if method not in self.methods:
            return False
        return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in self.paths)


@dataclass
class Fault:
    """One armed fault: for the next `remaining` matching requests, or until `until_ms` (server clock), once
    `after` matching requests have passed untouched (a fault in the middle of a paged reading)."""

    kind: str
    scope: Scope
    remaining: int | None = None
    until_ms: int | None = None
    status: int = 503
    retry_after_s: int = 2
    delay_ms: int = 1500
    after: int = 0

    def live(self, now_ms: int) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.until_ms is None or now_ms < self.until_ms

    def describe(self) -> dict[str, Any]:
        """The fault as `/sim/v1/faults` answers it: `remaining` for a count, `until` (epoch ms) for seconds."""
        row: dict[str, Any] = {"kind": self.kind, "remaining": self.remaining, "until": self.until_ms,
                               "paths": list(self.scope.paths), "methods": list(self.scope.methods)}
        if self.after:
            row["after"] = self.after
        if self.kind == SERVER_ERROR:
            row["status"] = self.status
        elif self.kind in (RATE_LIMIT, BAN):
            row["retry_after_s"] = self.retry_after_s
        else:
            row["delay_ms"] = self.delay_ms
        return row


@dataclass
class FaultBook:
    """The server's armed faults, in the order they were armed (the first live match strikes)."""

    _faults: list[Fault] = field(default_factory=list)
    _injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self, now_ms: int) -> list[dict[str, Any]]:
        """The faults still armed at `now_ms` (spent and lapsed ones are dropped)."""
        with self._lock:
            self._prune(now_ms)
            return [f.describe() for f in self._faults]

    def injected(self) -> dict[str, int]:
        """Requests struck so far, per kind (a request refused inside a 429's window is not one)."""
        with self._lock:
            return dict(self._injected)

    def strike(self, method: str, path: str, now_ms: int) -> Fault | None:
        """The first live fault matching the request, with one of its uses taken; None when none matches. A
        fault still letting `after` requests pass lets this one pass (a later fault may strike it).

        Taking the use under the lock makes a count exact when requests race: N means N requests.
        """
        with self._lock:
            self._prune(now_ms)
            for fault in self._faults:
                if fault.scope.matches(method, path):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    self._injected[fault.kind] += 1
                    return fault
            return None

    def _prune(self, now_ms: int) -> None:
        """Drop spent and lapsed faults (caller holds the lock)."""
        self._faults[:] = [f for f in self._faults if f.live(now_ms)]
