"""The supervisor of a session's background tasks: start them, notice when one dies, restart it.

Why it exists: a session runs its feed, the exchange-event pump and the position monitor as asyncio
tasks. A task that raises is otherwise silent (asyncio keeps the exception until someone asks) and
a bot whose monitor died keeps trading with nobody watching its stops. Here every task runs inside
a runner that, when the task raises (or returns although it should run until the session stops):

1. marks it dead at once, so `/health` turns unhealthy before anything else happens;
2. logs it with its traceback;
3. reports a `TaskFailure` to a callback (the session publishes an `ErrorEvent`, and may halt entries);
4. restarts it from its factory after an exponential backoff, bounded and with deterministic jitter;
5. gives up when the task failed more than `max_restarts` times within `window_s`, leaving it dead.

Backoff runs on the wall clock (injectable), never on the session's simulated clock: a dead feed
is what moves the simulated clock, so waiting on it would wait forever.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..domain.events import ErrorEvent, HaltEntries
from .bus import EventBus
from .loggers import get_logger
from .logging import scrub

log = get_logger(__name__)

TaskFactory = Callable[[], Awaitable[None]]
State = Literal["running", "restarting", "failed", "finished", "stopped"]
#: States in which a task that should be working is not: /health is unhealthy while any task is in one.
DEAD: frozenset[State] = frozenset({"restarting", "failed"})


class TaskReturned(RuntimeError):
    """A task meant to run until the session stops returned on its own."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How one task is restarted.

    The n-th failure within `window_s` waits `base_delay_s * factor**(n-1)` (at most `max_delay_s`),
    stretched by up to `jitter` (a fraction) by a number derived from the task's name and n, so the
    same failures give the same delays, yet two tasks failing together do not restart in lockstep.
    """

    #: True: returning is a failure (a monitor loop); False: returning is a normal end (a finite feed).
    forever: bool = True
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.0
    #: Restarts allowed within `window_s`; one more failure there and the task stays dead. None: never give up.
    max_restarts: int | None = 5
    window_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s or self.factor < 1 or self.window_s <= 0:
            raise ValueError(f"inconsistent restart policy: {self}")
        if not 0 <= self.jitter <= 1 or (self.max_restarts is not None and self.max_restarts < 0):
            raise ValueError(f"inconsistent restart policy: {self}")

    def delay_s(self, name: str, failures: int) -> float:
        """Seconds to wait before restarting after the `failures`-th failure in the window (from 1)."""
        raw = self.base_delay_s * self.factor ** max(0, failures - 1)
        spread = zlib.crc32(f"{name}:{failures}".encode()) / 2**32  # in [0, 1), the same every run
        return min(self.max_delay_s, raw * (1 + self.jitter * spread))


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """What the failure callback is told: one death of one task."""

    name: str
    #: `Type: message`, as in logs and the journal.
    error: str
    traceback: str
    #: Failures within the policy's window, this one included.
    recent_failures: int
    #: Restarts done before this failure.
    restarts: int
    #: True: the supervisor will not restart this task again.
    gave_up: bool
    #: Seconds until the restart; None when it gave up.
    retry_in_s: float | None


@dataclass
class TaskStatus:
    name: str
    policy: RestartPolicy
    state: State = "running"
    restarts: int = 0
    failures: int = 0
    last_error: str | None = None
    #: Monotonic time of each failure still inside the policy's window.
    recent: deque[float] = field(default_factory=deque)

    @property
    def alive(self) -> bool:
        return self.state == "running"

    @property
    def dead(self) -> bool:
        return self.state in DEAD

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "alive": self.alive, "restarts": self.restarts, "failures": self.failures,
                "last_error": self.last_error}


FailureCallback = Callable[[TaskFailure], Awaitable[None] | None]


class Supervisor:
    """Starts named tasks from factories and keeps them running (see the module docstring)."""

    def __init__(self, *, on_failure: FailureCallback | None = None, stopping: asyncio.Event | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._on_failure = on_failure
        #: Once set, a task that ends (or raises) is not restarted: the session is stopping.
        self.stopping = stopping or asyncio.Event()
        self._sleep, self._monotonic = sleep, monotonic
        self._status: dict[str, TaskStatus] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, factory: TaskFactory, policy: RestartPolicy | None = None) -> None:
        if name in self._status:
            raise ValueError(f"a task named {name!r} is already supervised")
        status = TaskStatus(name, policy or RestartPolicy())
        self._status[name] = status
        self._runners[name] = asyncio.create_task(self._run(status, factory), name=f"supervised:{name}")

    @property
    def tasks(self) -> dict[str, TaskStatus]:
        return dict(self._status)

    @property
    def healthy(self) -> bool:
        """False while any task is dead (waiting for its restart, or given up)."""
        return not any(status.dead for status in self._status.values())

    def as_json(self) -> dict[str, dict[str, Any]]:
        """The `/health` document's `tasks` field."""
        return {name: status.as_json() for name, status in self._status.items()}

    async def stop(self) -> None:
        """Stop every task (no restarts from now on) and wait until they are gone."""
        self.stopping.set()
        for runner in self._runners.values():
            runner.cancel()
        await asyncio.gather(*self._runners.values(), return_exceptions=True)
        for status in self._status.values():
            if status.state in ("running", "restarting"):
                status.state = "stopped"

    async def _run(self, status: TaskStatus, factory: TaskFactory) -> None:
        while True:
            status.state = "running"
            try:
                await factory()
            except asyncio.CancelledError as exc:
                runner = asyncio.current_task()
                if self.stopping.is_set() or runner is None or runner.cancelling():
                    raise  # stop() (or whoever owns the loop) is ending this runner
                error: BaseException = exc  # a stray cancellation from inside the task is a death like any other
            except Exception as exc:
                error = exc
            else:
                if not status.policy.forever or self.stopping.is_set():
                    status.state = "finished"
                    return
                error = TaskReturned(f"{status.name} returned; it should run until the session stops")
            if self.stopping.is_set():
                status.state, status.last_error = "stopped", _describe(error)
                log.warning("background task failed while the session stops", task=status.name, exc_info=error)
                return
            failure = self._record(status, error)
            await self._report(failure)
            if failure.retry_in_s is None:
                return
            await self._sleep(failure.retry_in_s)
            if self.stopping.is_set():
                status.state = "stopped"
                return
            status.restarts += 1
            log.info("background task restarted", task=status.name, restarts=status.restarts)

    def _record(self, status: TaskStatus, error: BaseException) -> TaskFailure:
        """Mark the task dead (before any await, so /health sees it at once) and log it with its traceback."""
        policy, now = status.policy, self._monotonic()
        status.failures += 1
        status.last_error = _describe(error)
        status.recent.append(now)
        while status.recent and now - status.recent[0] > policy.window_s:
            status.recent.popleft()
        n = len(status.recent)
        gave_up = policy.max_restarts is not None and n > policy.max_restarts
        delay = None if gave_up else policy.delay_s(status.name, n)
        status.state = "failed" if gave_up else "restarting"
        if gave_up:
            log.error("background task died and will not be restarted", task=status.name, failures_in_window=n,
                      window_s=policy.window_s, exc_info=error)
        else:
            log.error("background task died; restarting", task=status.name, retry_in_s=round(delay or 0.0, 3),
                      failures_in_window=n, exc_info=error)
        return TaskFailure(name=status.name, error=status.last_error,
                           traceback="".join(traceback.format_exception(error)), recent_failures=n,
                           restarts=status.restarts, gave_up=gave_up, retry_in_s=delay)

    async def _report(self, failure: TaskFailure) -> None:
        """Tell the callback; its own failure is logged and never stops the restart."""
        if self._on_failure is None:
            return
        try:
            result = self._on_failure(failure)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("task failure callback failed", task=failure.name)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def bus_reporter(bus: EventBus, now_ms: Callable[[], int], *, halt_on_give_up: frozenset[str] = frozenset()
                 ) -> Callable[[TaskFailure], Awaitable[None]]:
    """A failure callback for a session: an `ErrorEvent` per death (journal, metrics by component, an alert; its
    text scrubbed as a log line is, the process's secrets included), and a
    `HaltEntries` when a task named in `halt_on_give_up` will not be restarted (no new positions may open
    while nothing watches their stops; the open ones and their stops stay as they are)."""

    async def report(failure: TaskFailure) -> None:
        details = {"traceback": scrub(failure.traceback[-8000:]), "restarts": str(failure.restarts),
                   "recent_failures": str(failure.recent_failures), "gave_up": str(failure.gave_up).lower()}
        if failure.retry_in_s is not None:
            details["retry_in_s"] = f"{failure.retry_in_s:.3f}"
        await bus.publish(ErrorEvent(component=f"task:{failure.name}", message=scrub(failure.error), time_ms=now_ms(),
                                     fatal=failure.gave_up, details=details))
        if failure.gave_up and failure.name in halt_on_give_up:
            await bus.publish(HaltEntries(reason=f"{failure.name} could not be restarted ({failure.error})",
                                          time_ms=now_ms()))

    return report
