"""The notifier: a FIFO queue the bus handlers only append to, and one worker that sends it in order.

Why a queue and one worker: a bus handler that waited for Telegram would stall the engine (the bus
awaits every handler before the next event), and two workers could deliver an exit before its entry.
Apprise's `notify` is synchronous (requests under the hood), so each send runs in a thread
(`asyncio.to_thread`) while the loop goes on. A destination that fails is retried with a bounded
backoff, then reported (a structlog warning and the `failed` counter in /health) and the queue goes
on: one dead webhook never holds back the others, nor later messages. A failure is never published
on the bus (an `ErrorEvent` would become an alert about the alert, and so on).

The queue is bounded: if every destination is down for hours, the newest messages are dropped and
counted rather than growing memory without end. At shutdown `drain` sends what is left (the final
exit) within a short timeout, including the rest of a message the worker was cancelled in.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from .messages import Message
from .redact import Scrubber, guard_apprise_logs, redact_url

log = structlog.get_logger(__name__)
#: Messages waiting at most; beyond it new ones are dropped (and counted), older ones keep their order.
QUEUE_MAX = 1000


class NotifierError(RuntimeError):
    """The worker failed; its message is already scrubbed of the notification URLs' secrets."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries per destination and message, waiting base x 2^n (capped) between them."""

    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 4.0

    def delay_s(self, failures: int) -> float:
        return float(min(self.base_delay_s * 2 ** (failures - 1), self.max_delay_s))


SendFn = Callable[[Message], bool]


@dataclass
class Destination:
    """One notification URL: `name` is its redacted form (the only one ever shown), `send` is blocking."""

    name: str
    send: SendFn
    sent: int = 0
    failed: int = 0


def apprise_destination(url: str) -> Destination:
    """A destination from one apprise URL; ValueError (with the URL redacted) if apprise cannot read it."""
    import apprise

    plugin = apprise.Apprise.instantiate(url.strip())
    name = redact_url(url)
    if plugin is None:
        raise ValueError(f"{name} is not a notification URL apprise understands")

    def send(message: Message) -> bool:
        return bool(plugin.notify(body=message.body, title=message.title, notify_type=message.level.value))

    return Destination(name, send)


@dataclass
class _InFlight:
    message: Message
    done: set[int] = field(default_factory=set)


class Notifier:
    """Queue + worker + counters. `submit` is what bus handlers call; `run` is the (supervised) worker."""

    def __init__(self, destinations: Sequence[Destination], *, retry: RetryPolicy | None = None,
                 scrubber: Scrubber | None = None, queue_max: int = QUEUE_MAX,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.destinations = list(destinations)
        self.retry = retry or RetryPolicy()
        self.scrubber = scrubber or Scrubber(())
        self.queue_max = queue_max
        self._sleep = sleep
        self._queue: deque[Message] = deque()
        self._wake = asyncio.Event()
        self._inflight: _InFlight | None = None
        self.sent = self.failed = self.dropped = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.submitted: list[str] = []  # kinds, in order (bounded below): what tests and /health may check
        self._idle = asyncio.Event()
        self._idle.set()

    # --- the engine's side: never blocks, never raises ---------------------------------------------
    def submit(self, message: Message) -> None:
        if len(self._queue) >= self.queue_max:
            self.dropped += 1
            log.warning("notification dropped: queue full", kind=message.kind, queued=len(self._queue))
            return
        self._queue.append(message)
        self.submitted.append(message.kind)
        del self.submitted[:-100]
        self._idle.clear()
        self._wake.set()

    # --- the worker -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Send queued messages in order, forever (until cancelled). A bug that escapes the worker reaches the
        supervisor, which shows its text in /health's `tasks`, the journal and an alert: it is re-raised with
        the URLs' secrets scrubbed (and without its cause, whose text would carry them again)."""
        try:
            await self._send_forever()
        except Exception as exc:
            raise NotifierError(self.scrubber.text(f"{type(exc).__name__}: {exc}")) from None

    async def _send_forever(self) -> None:
        while True:
            if not self._queue and self._inflight is None:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            await self._next()

    async def _next(self) -> None:
        if self._inflight is None:
            if not self._queue:
                return
            self._inflight = _InFlight(self._queue.popleft())
        inflight = self._inflight
        for index, destination in enumerate(self.destinations):
            if index not in inflight.done:
                await self._deliver(destination, inflight.message)
                inflight.done.add(index)
        self._inflight = None
        if not self._queue:
            self._idle.set()

    async def _deliver(self, destination: Destination, message: Message) -> None:
        """Up to `retry.attempts` tries with backoff; then count, warn and move on."""
        error = "refused"
        for attempt in range(1, self.retry.attempts + 1):
            try:
                if await asyncio.to_thread(destination.send, message):
                    destination.sent += 1
                    self.sent += 1
                    return
                error = "the destination refused or did not answer"
            except Exception as exc:  # a plugin bug must not kill the worker
                error = self.scrubber.text(f"{type(exc).__name__}: {exc}")
            if attempt < self.retry.attempts:
                await self._sleep(self.retry.delay_s(attempt))
        destination.failed += 1
        self.failed += 1
        self.last_error = f"{destination.name}: {message.kind} not sent after {self.retry.attempts} attempts ({error})"
        self.last_error_at = time.time()
        log.warning("notification failed", destination=destination.name, kind=message.kind,
                    attempts=self.retry.attempts, error=error, failed_total=self.failed)

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once everything submitted so far was handled (sent or given up) by the running worker."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def drain(self, timeout_s: float = 5.0) -> int:
        """At shutdown, with the worker stopped: send what is left, in order, for at most `timeout_s`.
        Returns how many messages were left unsent."""
        try:
            await asyncio.wait_for(self._drain_all(), timeout_s)
        except TimeoutError:
            log.warning("notifications left unsent at shutdown", left=self.queued, timeout_s=timeout_s)
        return self.queued

    async def _drain_all(self) -> None:
        while self._queue or self._inflight is not None:
            await self._next()

    @property
    def queued(self) -> int:
        return len(self._queue) + (1 if self._inflight is not None else 0)

    def status(self) -> dict[str, Any]:
        """The `notify` object of /health: only redacted names and scrubbed errors."""
        return {"destinations": [d.name for d in self.destinations], "sent": self.sent, "failed": self.failed,
                "queued": self.queued, "dropped": self.dropped, "last_error": self.last_error,
                "per_destination": [{"destination": d.name, "sent": d.sent, "failed": d.failed}
                                    for d in self.destinations]}


def notifier_from_urls(urls: Sequence[str], *, retry: RetryPolicy | None = None) -> Notifier:
    """The session's notifier; apprise's loggers are guarded against the URLs' secrets first."""
    scrubber = Scrubber(urls)
    guard_apprise_logs(scrubber)
    return Notifier([apprise_destination(url) for url in urls], retry=retry, scrubber=scrubber)
