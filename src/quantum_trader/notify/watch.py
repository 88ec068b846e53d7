"""Alerts for states no event announces: a position without a stop for too long, a request-budget ban.

Why polling: the monitor measures how long each position has gone without a working stop
(trading/monitor_state.py `unprotected_since_ms`, on the session's clock) but publishes nothing when
that passes a threshold, and the request budget (exchange/budget.py `snapshot()`) changes status
inside the adapter (a 418 ban shows as `banned_until_ms`, status `unhealthy`). Publishing new events
from trading for alerts would change the event log; a small watcher that reads both once a second
changes nothing. Each episode is announced once: a symbol is announced again only after it was
protected in between, a ban only after one has lifted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .messages import Message, banned_message, unprotected_message

#: How often the watcher looks (wall seconds).
POLL_S = 1.0


class Watcher:
    """Reads `unprotected()` (symbol -> since_ms on the session clock) and `budget()` (a budget snapshot)."""

    def __init__(self, submit: Callable[[Message], None], *, now_ms: Callable[[], int], interval_s: float,
                 unprotected: Callable[[], Mapping[str, int]],
                 budget: Callable[[], Mapping[str, object]] | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._submit, self._now_ms, self.interval_s = submit, now_ms, interval_s
        self._unprotected, self._budget, self._sleep = unprotected, budget, sleep
        #: Symbol -> the since_ms of the episode already announced.
        self.announced: dict[str, int] = {}
        self.banned = False

    async def run(self, poll_s: float = POLL_S) -> None:
        while True:
            self.check()
            await self._sleep(poll_s)

    def check(self) -> None:
        self._check_unprotected()
        self._check_budget()

    def _check_unprotected(self) -> None:
        now, limit_ms = self._now_ms(), self.interval_s * 1000
        current = dict(self._unprotected())
        for symbol in [s for s in self.announced if current.get(s) != self.announced[s]]:
            del self.announced[symbol]  # protected again (or a new episode began): may be announced anew
        for symbol, since in sorted(current.items()):
            if symbol not in self.announced and now - since > limit_ms:
                self.announced[symbol] = since
                self._submit(unprotected_message(symbol, (now - since) / 1000, self.interval_s))

    def _check_budget(self) -> None:
        if self._budget is None:
            return
        snapshot = self._budget()
        banned = snapshot.get("banned_until_ms") is not None or snapshot.get("status") == "banned"
        if banned and not self.banned:
            self._submit(banned_message(snapshot))
        self.banned = banned
