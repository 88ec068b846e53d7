"""The supervisor of background tasks: a death is seen at once, logged with its traceback, reported, and
restarted with bounded exponential backoff until the policy gives up; a session's reporter journals it and
halts entries (and only entries) when the monitor cannot be restarted.

Backoff runs on an injected sleep that records each delay and the task's state at that moment, and an
injected monotonic clock, so these tests take no wall time and see exactly what /health would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from structlog.testing import capture_logs
from test_risk_manager import Harness, signal

from quantum_trader.core.bus import EventBus
from quantum_trader.core.supervisor import RestartPolicy, Supervisor, TaskFailure, TaskReturned, bus_reporter
from quantum_trader.domain.events import ErrorEvent, HaltEntries, KillSwitch
from quantum_trader.risk.rules import UNTIL_RESUMED


class Rig:
    """A supervisor whose sleep records (delay, state of every task, healthy) and whose time is `now`."""

    def __init__(self, *, on_failure: Callable[[TaskFailure], Awaitable[None] | None] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[tuple[float, dict[str, str], bool]] = []
        self.failures: list[TaskFailure] = []
        self.sup = Supervisor(on_failure=on_failure or self.failures.append, sleep=self._sleep,
                              monotonic=lambda: self.now)

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append((seconds, {n: t.state for n, t in self.sup.tasks.items()}, self.sup.healthy))
        self.now += seconds
        await asyncio.sleep(0)

    @property
    def delays(self) -> list[float]:
        return [delay for delay, _, _ in self.sleeps]


async def settle(until: Callable[[], bool], turns: int = 200) -> None:
    for _ in range(turns):
        if until():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def flaky(failures: int, calls: list[int], forever: asyncio.Event) -> Callable[[], Awaitable[None]]:
    """Raises on its first `failures` starts, then runs until `forever` is set."""

    async def task() -> None:
        calls.append(len(calls) + 1)
        if len(calls) <= failures:
            raise RuntimeError(f"boom {len(calls)}")
        await forever.wait()

    return task


def test_a_task_that_raises_is_dead_at_once_reported_and_restarted_with_exponential_backoff() -> None:
    async def main() -> None:
        rig, release = Rig(), asyncio.Event()
        calls: list[int] = []
        rig.sup.start("feed", flaky(3, calls, release), RestartPolicy(base_delay_s=0.5, factor=2, max_delay_s=30))
        await settle(lambda: len(calls) == 4)
        assert rig.delays == [0.5, 1.0, 2.0]
        # at every backoff the task was dead and the supervisor unhealthy: /health is 503 before the restart
        assert all(states == {"feed": "restarting"} and not healthy for _, states, healthy in rig.sleeps)
        assert [f.error for f in rig.failures] == ["RuntimeError: boom 1", "RuntimeError: boom 2",
                                                   "RuntimeError: boom 3"]
        assert all("in task" in f.traceback and "raise RuntimeError" in f.traceback for f in rig.failures)
        assert [f.restarts for f in rig.failures] == [0, 1, 2]
        assert [f.retry_in_s for f in rig.failures] == [0.5, 1.0, 2.0]
        assert not any(f.gave_up for f in rig.failures)
        status = rig.sup.tasks["feed"]
        assert (status.state, status.alive, status.restarts, status.failures) == ("running", True, 3, 3)
        assert status.last_error == "RuntimeError: boom 3" and rig.sup.healthy
        assert rig.sup.as_json()["feed"] == {"state": "running", "alive": True, "restarts": 3, "failures": 3,
                                             "last_error": "RuntimeError: boom 3"}
        await rig.sup.stop()
        assert rig.sup.tasks["feed"].state == "stopped"

    asyncio.run(main())


def test_the_death_is_logged_with_its_traceback() -> None:
    async def main() -> None:
        rig, release = Rig(), asyncio.Event()
        calls: list[int] = []
        with capture_logs() as logs:
            rig.sup.start("monitor", flaky(1, calls, release))
            await settle(lambda: len(calls) == 2)
            await rig.sup.stop()
        [died] = [e for e in logs if e["event"].startswith("background task died")]
        assert died["log_level"] == "error" and died["task"] == "monitor"
        assert isinstance(died["exc_info"], RuntimeError) and died["exc_info"].__traceback__ is not None

    asyncio.run(main())


def test_a_task_that_should_run_forever_and_returns_is_a_failure() -> None:
    async def main() -> None:
        rig = Rig()
        calls: list[int] = []

        async def returns() -> None:
            calls.append(1)
            if len(calls) == 3:
                await asyncio.Event().wait()

        rig.sup.start("monitor", returns)
        await settle(lambda: len(calls) == 3)
        assert [f.error.split(":")[0] for f in rig.failures] == [TaskReturned.__name__] * 2
        await rig.sup.stop()

    asyncio.run(main())


def test_a_finite_task_that_returns_has_finished_and_is_not_restarted() -> None:
    async def main() -> None:
        rig = Rig()
        calls: list[int] = []

        async def replay() -> None:
            calls.append(1)

        rig.sup.start("feed", replay, RestartPolicy(forever=False))
        await settle(lambda: rig.sup.tasks["feed"].state == "finished")
        for _ in range(10):
            await asyncio.sleep(0)
        assert calls == [1] and rig.failures == [] and rig.sup.healthy
        assert rig.sup.as_json()["feed"]["alive"] is False
        await rig.sup.stop()
        assert rig.sup.tasks["feed"].state == "finished"

    asyncio.run(main())


def test_gives_up_after_max_restarts_within_the_window_and_stays_dead() -> None:
    async def main() -> None:
        rig = Rig()
        calls: list[int] = []
        rig.sup.start("monitor", flaky(99, calls, asyncio.Event()), RestartPolicy(max_restarts=2, window_s=60))
        await settle(lambda: rig.sup.tasks["monitor"].state == "failed")
        for _ in range(10):
            await asyncio.sleep(0)
        assert len(calls) == 3  # the first start and two restarts; the third failure is one too many
        assert [f.gave_up for f in rig.failures] == [False, False, True]
        assert rig.failures[-1].retry_in_s is None and rig.failures[-1].recent_failures == 3
        assert not rig.sup.healthy and rig.sup.as_json()["monitor"]["state"] == "failed"
        await rig.sup.stop()
        assert rig.sup.tasks["monitor"].state == "failed"  # stopping does not make a dead task look fine

    asyncio.run(main())


def test_failures_further_apart_than_the_window_do_not_add_up() -> None:
    async def main() -> None:
        rig = Rig()
        calls: list[int] = []

        async def fails_after_a_while() -> None:
            calls.append(1)
            rig.now += 100.0  # each run lasts longer than the window
            raise RuntimeError("again")

        rig.sup.start("feed", fails_after_a_while, RestartPolicy(max_restarts=1, window_s=60, base_delay_s=1))
        await settle(lambda: len(calls) >= 6)
        await rig.sup.stop()
        assert not any(f.gave_up for f in rig.failures)
        assert set(rig.delays) == {1.0}  # never escalates: each failure is the first in its window

    asyncio.run(main())


def test_backoff_is_bounded_and_its_jitter_deterministic() -> None:
    plain = RestartPolicy(base_delay_s=1, factor=3, max_delay_s=20)
    assert [plain.delay_s("x", n) for n in range(1, 6)] == [1, 3, 9, 20, 20]
    jittered = RestartPolicy(base_delay_s=1, factor=2, max_delay_s=1000, jitter=0.5)
    delays = [jittered.delay_s("feed", n) for n in range(1, 8)]
    assert delays == [jittered.delay_s("feed", n) for n in range(1, 8)]  # same inputs, same delays
    assert all(2 ** (n - 1) <= d < 1.5 * 2 ** (n - 1) for n, d in enumerate(delays, start=1))
    assert delays != [float(2 ** (n - 1)) for n in range(1, 8)]  # the jitter does spread them
    assert jittered.delay_s("feed", 3) != jittered.delay_s("monitor", 3)  # tasks do not restart in lockstep
    assert RestartPolicy(base_delay_s=5, max_delay_s=8, jitter=1).delay_s("x", 1) <= 8
    with pytest.raises(ValueError, match="restart policy"):
        RestartPolicy(base_delay_s=10, max_delay_s=1)


def test_stopping_ends_tasks_without_restart_or_report() -> None:
    async def main() -> None:
        rig = Rig()
        calls: list[int] = []
        stopping = rig.sup.stopping

        async def until_stopped() -> None:
            calls.append(1)
            await stopping.wait()  # returns when the session stops, as the monitor loop does

        rig.sup.start("monitor", until_stopped)
        await settle(lambda: calls == [1])
        stopping.set()
        await settle(lambda: rig.sup.tasks["monitor"].state == "finished")
        await rig.sup.stop()
        assert calls == [1] and rig.failures == [] and rig.sleeps == []

    asyncio.run(main())


def test_a_failing_callback_does_not_stop_the_restart() -> None:
    async def main() -> None:
        def broken(failure: TaskFailure) -> None:
            raise ValueError("reporter is down")

        rig, release = Rig(on_failure=broken), asyncio.Event()
        calls: list[int] = []
        rig.sup.start("feed", flaky(2, calls, release))
        await settle(lambda: len(calls) == 3)
        assert rig.sup.tasks["feed"].alive and rig.sup.tasks["feed"].restarts == 2
        await rig.sup.stop()

    asyncio.run(main())


def test_the_bus_reporter_journals_every_death_and_halts_entries_when_the_monitor_is_given_up() -> None:
    async def main() -> None:
        bus = EventBus()
        seen: list[object] = []
        bus.subscribe(ErrorEvent, seen.append)
        bus.subscribe(HaltEntries, seen.append)
        bus.subscribe(KillSwitch, seen.append)
        rig = Rig(on_failure=bus_reporter(bus, lambda: 42, halt_on_give_up=frozenset({"monitor"})))
        rig.sup.start("feed", flaky(99, [], asyncio.Event()), RestartPolicy(max_restarts=1))
        rig.sup.start("monitor", flaky(99, [], asyncio.Event()), RestartPolicy(max_restarts=1))
        await settle(lambda: all(t.state == "failed" for t in rig.sup.tasks.values()))
        errors = [e for e in seen if isinstance(e, ErrorEvent)]
        assert sorted((e.component, e.fatal) for e in errors) == [("task:feed", False), ("task:feed", True),
                                                                  ("task:monitor", False), ("task:monitor", True)]
        assert all("RuntimeError: boom" in e.message and "Traceback" in e.details["traceback"] for e in errors)
        [halt] = [e for e in seen if not isinstance(e, ErrorEvent)]
        assert isinstance(halt, HaltEntries) and halt.time_ms == 42  # a halt, never a KillSwitch (no flattening)
        assert halt.reason.startswith("monitor could not be restarted")
        await rig.sup.stop()

    asyncio.run(main())


def test_risk_refuses_entries_after_halt_entries_until_resumed() -> None:
    h = Harness()
    refused = h.send(HaltEntries(reason="monitor could not be restarted", time_ms=1), signal())
    assert not refused.approved
    assert refused.reason == f"trading halted: monitor could not be restarted ({UNTIL_RESUMED})"
    assert h.risk.state == "HALTED"
    h.risk.resume()
    assert h.send(signal()).approved


def test_a_stray_cancellation_inside_a_task_is_a_death_but_stop_is_not() -> None:
    async def main() -> None:
        rig = Rig()
        calls: list[int] = []

        async def cancelled_from_inside() -> None:
            calls.append(1)
            if len(calls) == 1:
                raise asyncio.CancelledError  # e.g. a future it awaited was cancelled by someone else
            await asyncio.Event().wait()

        rig.sup.start("feed", cancelled_from_inside)
        await settle(lambda: len(calls) == 2)
        assert [f.error.split(":")[0] for f in rig.failures] == ["CancelledError"]
        assert rig.sup.tasks["feed"].alive
        await rig.sup.stop()
        assert len(rig.failures) == 1 and rig.sup.tasks["feed"].state == "stopped"

    asyncio.run(main())


def test_the_bus_reporter_scrubs_secrets_from_what_it_journals() -> None:
    async def main() -> None:
        bus = EventBus()
        seen: list[ErrorEvent] = []
        bus.subscribe(ErrorEvent, seen.append)
        rig = Rig(on_failure=bus_reporter(bus, lambda: 0))

        async def leaks() -> None:
            raise RuntimeError("GET /fapi/v2/account?timestamp=1&signature=deadbeef42 failed")

        rig.sup.start("exchange-events", leaks, RestartPolicy(max_restarts=0))
        await settle(lambda: bool(seen))
        await rig.sup.stop()
        [error] = seen
        assert "deadbeef42" not in error.message + error.details["traceback"]
        assert "signature=" in error.message and error.fatal

    asyncio.run(main())
