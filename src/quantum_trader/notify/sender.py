"""The notifier: bus handlers only append to it, and one worker per destination sends, never blocking the engine.

Why queues and workers: a bus handler that waited for Telegram would stall the engine (the bus awaits every
handler before the next event). Apprise's `notify` is synchronous (requests under the hood), so each send runs
in a thread (`asyncio.to_thread`) while the loop goes on. Each destination has its own queue and one worker
(notify/lane.py says why, and in which order it sends): one worker keeps a destination's order, and a dead
webhook holds back only itself, never the other destinations. A delivery that fails is retried with a bounded
backoff, then reported (a structlog warning, the `failed` counter and the destination's `failing` in /health,
which turns degraded) and that destination's queue goes on. A failure is never published on the bus (an
`ErrorEvent` would become an alert about the alert, and so on).

Each queue is bounded: if a destination is down for hours, its newest messages are dropped and counted
rather than growing memory without end. At shutdown `drain` sends what is left (the final exit) to every
destination at once within a short timeout, including the message a worker was cancelled in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..core.loggers import get_logger
from .lane import Destination, Lane, Pending, RetryPolicy
from .messages import Message
from .redact import Scrubber, guard_apprise_logs, redact_url

log = get_logger(__name__)
#: Messages waiting at most, per destination; beyond it new ones are dropped (and counted), older ones keep
#: their order (an urgent one pushes out the newest routine one: notify/lane.py).
QUEUE_MAX = 1000


class NotifierError(RuntimeError):
    """The worker failed; its message is already scrubbed of the notification URLs' secrets."""


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


class Notifier:
    """Queues + workers + counters. `submit` is what bus handlers call; `run` is the (supervised) worker."""

    def __init__(self, destinations: Sequence[Destination], *, retry: RetryPolicy | None = None,
                 scrubber: Scrubber | None = None, queue_max: int = QUEUE_MAX,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.retry = retry or RetryPolicy()
        self.scrubber = scrubber or Scrubber(())
        self.queue_max = queue_max
        self._sleep = sleep
        self.lanes = [Lane(destination, queue_max, self.retry) for destination in destinations]
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.submitted: list[str] = []  # kinds, in order (bounded below): what tests and /health may check

    @property
    def destinations(self) -> list[Destination]:
        return [lane.destination for lane in self.lanes]

    # --- the engine's side: never blocks, never raises ---------------------------------------------
    def submit(self, message: Message) -> None:
        self.submitted.append(message.kind)
        del self.submitted[:-100]
        for lane in self.lanes:
            dropped = lane.put(message)
            if dropped is not None:
                log.warning("notification dropped: queue full", destination=lane.destination.name,
                            kind=dropped.kind, queued=len(lane.queue))

    # --- the workers ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Send every destination's queue, forever (until cancelled). A bug that escapes a worker stops them all
        and reaches the supervisor, which shows its text in /health's `tasks`, the journal and an alert, and
        restarts them: it is re-raised with the URLs' secrets scrubbed (and without its cause, whose text would
        carry them again)."""
        try:
            async with asyncio.TaskGroup() as workers:
                for lane in self.lanes:
                    workers.create_task(self._serve(lane))
            await asyncio.Event().wait()  # no destination: nothing to send, ever
        except ExceptionGroup as crashed:
            bug = crashed.exceptions[0]
            raise NotifierError(self.scrubber.text(f"{type(bug).__name__}: {bug}")) from None

    async def _serve(self, lane: Lane) -> None:
        while True:
            if lane.empty:
                lane.idle.set()
                lane.wake.clear()
                await lane.wake.wait()
            await self._step(lane)

    async def _step(self, lane: Lane) -> None:
        """One message to the lane's destination: the one a cancelled worker held, else the next one due."""
        pending = lane.inflight if lane.inflight is not None else await self._next(lane)
        if pending is None:
            return
        await self._deliver(lane, pending)
        lane.done()

    @staticmethod
    async def _next(lane: Lane) -> Pending | None:
        """The queued message to try now (lane.py `next_due`), once it is due: a failing destination's backoff
        or an urgent message's next try; an urgent message queued meanwhile cuts the wait short."""
        while lane.queue:
            at, wait = lane.next_due(time.monotonic())
            if at is not None:
                return lane.take(at)
            lane.hurry.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lane.hurry.wait(), wait)
        return None

    async def _deliver(self, lane: Lane, pending: Pending) -> None:
        """Up to `lane.attempts` tries with backoff; then count, warn and move on. While the destination works the
        retries wait here (first in, first out); an urgent message to a failing one waits for its next try in the
        queue instead (`lane.later`), so one queued meanwhile is tried first."""
        message, error = pending.message, "refused"
        while pending.tries < lane.attempts(message):
            error = await self._try(lane.destination, message)
            pending.tries += 1
            if not error:
                if lane.succeeded():
                    log.info("notification destination recovered", destination=lane.destination.name)
                return
            if pending.tries < lane.attempts(message):
                if lane.failing:
                    lane.later(pending, time.monotonic())
                    return
                await self._sleep(self.retry.delay_s(pending.tries))
        attempts = pending.tries
        name, tries = lane.destination.name, f"{attempts} attempt{'s' if attempts > 1 else ''}"
        self.last_error = f"{name}: {message.kind} not sent after {tries} ({error})"
        self.last_error_at = time.time()
        began = lane.gave_up(self.last_error, time.monotonic())
        log.warning("notification failed", destination=name, kind=message.kind, attempts=attempts, error=error,
                    failed_total=self.failed, began_failing=began)

    async def _try(self, destination: Destination, message: Message) -> str:
        """One send: "" if it went through, else why not (scrubbed)."""
        try:
            if await asyncio.to_thread(destination.send, message):
                return ""
            return "the destination refused or did not answer"
        except Exception as exc:  # a plugin bug must not kill the worker
            return self.scrubber.text(f"{type(exc).__name__}: {exc}")

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once everything submitted so far was handled (sent or given up) for every destination."""
        try:
            await asyncio.wait_for(asyncio.gather(*(lane.idle.wait() for lane in self.lanes)), timeout_s)
        except TimeoutError:
            return False
        return True

    async def drain(self, timeout_s: float = 5.0) -> int:
        """At shutdown, with the workers stopped: send what is left, every destination at once, each in its
        order, for at most `timeout_s`. Returns how many deliveries were left unsent."""
        try:
            await asyncio.wait_for(asyncio.gather(*(self._drain(lane) for lane in self.lanes)), timeout_s)
        except TimeoutError:
            log.warning("notifications left unsent at shutdown", left=self.queued, timeout_s=timeout_s)
        return self.queued

    async def _drain(self, lane: Lane) -> None:
        while not lane.empty:
            await self._step(lane)

    @property
    def queued(self) -> int:
        """Deliveries waiting (a message waiting for two destinations counts twice)."""
        return sum(lane.queued for lane in self.lanes)

    @property
    def sent(self) -> int:
        return sum(lane.destination.sent for lane in self.lanes)

    @property
    def failed(self) -> int:
        return sum(lane.destination.failed for lane in self.lanes)

    @property
    def dropped(self) -> int:
        return sum(lane.dropped for lane in self.lanes)

    @property
    def degraded(self) -> bool:
        """A destination is failing or dropping messages: the user may not hear the next alert (/health)."""
        return any(lane.failing or lane.full for lane in self.lanes)

    def status(self) -> dict[str, Any]:
        """The `notify` object of /health: only redacted names and scrubbed errors."""
        return {"destinations": [d.name for d in self.destinations], "sent": self.sent, "failed": self.failed,
                "queued": self.queued, "dropped": self.dropped, "last_error": self.last_error,
                "failing": [lane.destination.name for lane in self.lanes if lane.failing],
                "per_destination": [lane.status() for lane in self.lanes]}


def notifier_from_urls(urls: Sequence[str], *, retry: RetryPolicy | None = None) -> Notifier:
    """The session's notifier; apprise's loggers are guarded against the URLs' secrets first."""
    scrubber = Scrubber(urls)
    guard_apprise_logs(scrubber)
    return Notifier([apprise_destination(url) for url in urls], retry=retry, scrubber=scrubber)
