"""One destination's queue: the order its messages go in, how hard each is tried, and whether it is failing.

Why one queue per destination: with a single queue served destination by destination, a webhook that timed
out cost every message about 11 s of retries, and every healthy destination waited for it (a user trial).
Each destination now has its own queue and worker (notify/sender.py), so a dead one delays only itself.

The order (agreed after that trial): first in, first out while the destination works, so an exit never
arrives before its entry, nor a kill switch alert before the entries it follows, whatever the timing. A
destination is *failing* from a delivery that gave up until its next success. Only then does the oldest
urgent message waiting for it (`Message.urgent`: a position UNPROTECTED, a kill switch, ...) go ahead of
the routine ones, and a routine message gets one try instead of the whole retry budget, with a growing
backoff between tries: a dead destination's queue moves at one try per backoff instead of 11 s a message,
and no message is given up without having been tried. An urgent one keeps every attempt, and skips the
backoff: it is tried as soon as it is queued, even if the worker was waiting out the backoff with a routine
message (`hurry` wakes it). The backoff spares a dead destination routine news; it held an UNPROTECTED or
kill switch alert up to 4 s before its first try (and a destination that came back heard it that late). For
the same reason an urgent message's retries wait in the queue, not in its worker (`Pending.due`): an urgent
message queued meanwhile gets its first try before them, where it waited 1.5 s for each urgent message ahead
of it (two positions UNPROTECTED at once). The first success makes the destination FIFO again.

The queue is bounded: when it is full the newest message is dropped and counted, but an urgent message
takes the place of the newest routine one instead, so a queue full of entries never costs an UNPROTECTED
alert.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .messages import Message


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries per destination and message, waiting base x 2^n (capped) between them; a failing
    destination waits the same backoff, by deliveries given up in a row, between its tries."""

    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 4.0

    def delay_s(self, failures: int) -> float:
        return float(min(self.base_delay_s * 2 ** (failures - 1), self.max_delay_s))


SendFn = Callable[[Message], bool]


@dataclass(eq=False, slots=True)
class Pending:
    """A queued message and its tries so far: while its destination is failing, an urgent message waits for its
    next try here (`due`), so a message queued meanwhile can be tried first."""

    message: Message
    #: Its place in submission order: where a message put back for its next try goes again.
    seq: int
    tries: int = 0
    #: Monotonic time of its next try (0: at once).
    due: float = 0.0


@dataclass
class Destination:
    """One notification URL: `name` is its redacted form (the only one ever shown), `send` is blocking."""

    name: str
    send: SendFn
    sent: int = 0
    failed: int = 0


class Lane:
    """A destination's bounded queue, the message its worker holds (`inflight`) and its failure state.

    The worker (or `drain` at shutdown) `take`s the message `next_due` names, delivers it with up to
    `attempts(message)` tries and calls `succeeded` or `gave_up` (or, for an urgent message to a failing
    destination, `later` after a failed try), then `done`. A message taken stays `inflight` until `done`, so one
    whose worker was cancelled mid-send is sent again by `drain`, not lost."""

    def __init__(self, destination: Destination, limit: int, retry: RetryPolicy) -> None:
        self.destination, self.limit, self.retry = destination, limit, retry
        self.queue: deque[Pending] = deque()
        self.inflight: Pending | None = None
        self._seq = 0
        self.failing = False
        #: Deliveries given up in a row: the failing destination's backoff grows with them.
        self.failures = 0
        #: Monotonic time before which a failing destination is not tried again.
        self.retry_at = 0.0
        self.dropped = 0
        self.last_error: str | None = None
        self.wake = asyncio.Event()
        #: Set when an urgent message is queued: cuts a failing destination's wait short (`next_due`).
        self.hurry = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def empty(self) -> bool:
        return not self.queue and self.inflight is None

    @property
    def queued(self) -> int:
        return len(self.queue) + (0 if self.inflight is None else 1)

    @property
    def full(self) -> bool:
        """Dropping: a message submitted now would not be queued (or would push out a routine one)."""
        return len(self.queue) >= self.limit

    def put(self, message: Message) -> Message | None:
        """Queue `message`; returns the message dropped to keep the bound (the new one, or for an urgent one the
        newest routine one waiting), or None."""
        dropped: Message | None = None
        if self.full:
            at = self._newest_routine() if message.urgent else None
            if at is None:
                self.dropped += 1
                return message
            dropped = self.queue[at].message
            del self.queue[at]
            self.dropped += 1
        self._seq += 1
        self.queue.append(Pending(message, self._seq))
        self.idle.clear()
        self.wake.set()
        if message.urgent:
            self.hurry.set()
        return dropped

    def _newest_routine(self) -> int | None:
        return next((i for i in range(len(self.queue) - 1, -1, -1) if not self.queue[i].message.urgent), None)

    def next_due(self, now: float) -> tuple[int | None, float]:
        """(index of the queued message to try now, 0) or (None, seconds until one is due); the queue is not empty.
        Working: the oldest. Failing: the urgent message due first (one never tried is due at once, before any
        retry; the oldest among equals), else, with no urgent one waiting, the oldest once the backoff has passed."""
        if not self.failing:
            return 0, 0.0
        urgent = ((p.due, i) for i, p in enumerate(self.queue) if p.message.urgent)
        due, at = min(urgent, default=(self.retry_at, 0))
        return (at, 0.0) if due <= now else (None, due - now)

    def take(self, at: int) -> Pending:
        """The queued message at `at` (`next_due`'s), held as `inflight`."""
        pending = self.inflight = self.queue[at]
        del self.queue[at]
        return pending

    def later(self, pending: Pending, now: float) -> None:
        """Put a message back for its next try, due after the backoff of its tries so far, in its submission place
        (so once the destination works again, what is left goes first in, first out)."""
        pending.due = now + self.retry.delay_s(pending.tries)
        at = next((i for i, p in enumerate(self.queue) if p.seq > pending.seq), len(self.queue))
        self.queue.insert(at, pending)
        self.inflight = None

    def attempts(self, message: Message) -> int:
        """The whole retry budget, except for a routine message to a failing destination: one try."""
        return 1 if self.failing and not message.urgent else self.retry.attempts

    def succeeded(self) -> bool:
        """Count a delivery; True if it ended a failure (the destination is FIFO again)."""
        self.destination.sent += 1
        recovered, self.failing, self.failures = self.failing, False, 0
        return recovered

    def gave_up(self, error: str, now: float) -> bool:
        """Count a delivery given up (`error` already scrubbed); True if the destination just began failing."""
        self.destination.failed += 1
        began, self.failing = not self.failing, True
        self.failures += 1
        self.retry_at = now + self.retry.delay_s(self.failures)
        self.last_error = error
        return began

    def done(self) -> None:
        self.inflight = None
        if not self.queue:
            self.idle.set()

    def status(self) -> dict[str, Any]:
        """This destination in /health's `notify.per_destination`: its redacted name and scrubbed error only."""
        d = self.destination
        return {"destination": d.name, "sent": d.sent, "failed": d.failed, "dropped": self.dropped,
                "queued": self.queued, "failing": self.failing, "last_error": self.last_error}
