"""The order alerts go in, per destination: FIFO while it works, urgent first only while it is failing.

A user trial found one queue served destination by destination: a webhook that timed out cost every message
about 11 s of retries, so an UNPROTECTED alert waited minutes behind routine news and every healthy destination
waited too. The agreed rule (notify/lane.py): each destination has its own queue and worker; order is FIFO
while a destination is healthy; only while it is failing (from a delivery given up to its next success) do
urgent messages jump ahead of the routine ones waiting for it. The destinations here are fake `send`
functions run in threads as apprise's are (no network), on real asyncio.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from quantum_trader.domain.events import ErrorEvent, HaltEntries, KillSwitch, KillSwitchDone, ProtectionAction
from quantum_trader.notify.messages import (
    Level,
    Message,
    banned_message,
    emergency_message,
    halt_message,
    kill_done_message,
    kill_message,
    repaired_message,
    task_died_message,
    unprotected_message,
)
from quantum_trader.notify.sender import Destination, Notifier, RetryPolicy
from quantum_trader.risk.daily_loss import REASON_PREFIX

FAST = RetryPolicy(attempts=3, base_delay_s=0.05, max_delay_s=0.2)
T = 1_800_000_000_000


class Fake:
    """A destination's blocking `send`: up or down (answers False, as apprise does), slow if asked, failing its
    first `fail_tries` tries; records the title of every try and of every message that went through."""

    def __init__(self, name: str, *, up: bool = True, delay_s: float = 0.0, fail_tries: int = 0) -> None:
        self.name, self.delay_s, self.fail_tries = name, delay_s, fail_tries
        self.up = threading.Event()
        if up:
            self.up.set()
        self.tried: list[str] = []
        self.got: list[str] = []

    def send(self, message: Message) -> bool:
        time.sleep(self.delay_s)
        self.tried.append(message.title)
        if not self.up.is_set() or len(self.tried) <= self.fail_tries:
            return False
        self.got.append(message.title)
        return True

    def destination(self) -> Destination:
        return Destination(self.name, self.send)


def routine(title: str, kind: str = "entry") -> Message:
    return Message(kind, title, f"body of {title}", Level.INFO)


def unprotected() -> Message:
    return unprotected_message("BTCUSDT", 3.2, 1.0)


def kill() -> Message:
    return kill_message(KillSwitch(reason="manual kill switch", time_ms=T), daily_loss_prefix=REASON_PREFIX)


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def failing(notifier: Notifier, first: Message) -> asyncio.Task[None]:
    """The worker started and `first` given up (every attempt failed): the destination is failing now."""
    worker = asyncio.create_task(notifier.run())
    notifier.submit(first)
    await until(lambda: notifier.failed == 1)
    return worker


def test_the_urgent_messages_are_the_ones_to_act_on_now() -> None:
    action = ProtectionAction(symbol="BTCUSDT", action="placed", reason="stop-loss missing", time_ms=T)
    daily = KillSwitch(reason=f"{REASON_PREFIX} equity fell", time_ms=T)
    urgent = [unprotected(), kill(), kill_message(daily, daily_loss_prefix=REASON_PREFIX), emergency_message(action),
              banned_message({"banned_until_ms": T}), halt_message(HaltEntries(reason="monitor gone", time_ms=T)),
              task_died_message(ErrorEvent(component="task:monitor", message="boom", time_ms=T))]
    assert [m.kind for m in urgent if not m.urgent] == []
    flat = KillSwitchDone(reason="manual", summary="cancelled 2 orders, closed 1 position", time_ms=T)
    news = [routine("entry"), repaired_message(action), kill_done_message(flat), Message("exit", "x", "y",
                                                                                          Level.WARNING)]
    assert [m.kind for m in news if m.urgent] == []
    not_flat = kill_done_message(KillSwitchDone(reason="manual", summary="closed 0", time_ms=T, still_open=("BNB",)))
    assert not_flat.urgent  # a position still open after the kill switch is to act on now


def test_a_dead_destination_does_not_delay_a_healthy_one() -> None:
    """The dead one is listed first and each of its tries takes 0.5 s: on one shared queue the healthy one got
    its first message only after the dead one's three attempts (1.6 s)."""
    dead, healthy = Fake("dead", up=False, delay_s=0.5), Fake("healthy")
    notifier = Notifier([dead.destination(), healthy.destination()], retry=FAST)

    async def scenario() -> float:
        worker = asyncio.create_task(notifier.run())
        started = time.monotonic()
        for n in range(5):
            notifier.submit(routine(f"m{n}"))
        await until(lambda: len(healthy.got) == 5 or time.monotonic() - started > 3.0)
        took = time.monotonic() - started
        worker.cancel()
        return took

    took = asyncio.run(scenario())
    assert healthy.got == [f"m{n}" for n in range(5)]
    assert took < 1.0, f"the healthy destination waited for the dead one ({took:.2f} s)"


def test_an_unprotected_alert_goes_first_to_a_failing_destination_when_it_comes_back_then_fifo() -> None:
    dest = Fake("webhook", up=False)
    notifier = Notifier([dest.destination()], retry=FAST)

    async def scenario() -> None:
        worker = await failing(notifier, routine("entry 0"))
        for message in (routine("entry 1"), routine("exit 1", "exit"), routine("entry 2"), unprotected()):
            notifier.submit(message)
        dest.up.set()  # back, before the failing destination's backoff lets it try again
        assert await notifier.wait_idle(10.0)
        for message in (routine("entry 3"), routine("entry 4"), kill(), routine("exit 4", "exit")):
            notifier.submit(message)  # recovered: first in, first out again
        assert await notifier.wait_idle(10.0)
        worker.cancel()

    asyncio.run(scenario())
    assert dest.got == [unprotected().title, "entry 1", "exit 1", "entry 2",
                        "entry 3", "entry 4", kill().title, "exit 4"]
    assert (notifier.sent, notifier.failed) == (8, 1)  # entry 0 was given up when it failed, not resent
    assert notifier.status()["failing"] == [] and not notifier.degraded


def test_a_dead_destination_tries_urgent_alerts_first_and_routine_ones_once_each() -> None:
    """Every message is still tried (none given up untried), an urgent one with every attempt, a routine one
    once: the queue no longer costs the whole retry budget a message while the destination is known dead. The
    urgent ones take turns: the unprotected alert's first try comes before the kill switch alert's retries."""
    dest = Fake("webhook", up=False)
    notifier = Notifier([dest.destination()], retry=FAST)

    async def scenario() -> None:
        worker = await failing(notifier, routine("entry 0"))
        for message in (routine("entry 1"), routine("entry 2"), kill(), unprotected()):
            notifier.submit(message)
        assert await notifier.wait_idle(10.0)
        worker.cancel()

    asyncio.run(scenario())
    assert dest.tried == ["entry 0"] * 3 + [kill().title, unprotected().title] * 3 + ["entry 1", "entry 2"]
    status = notifier.status()
    assert (status["failed"], status["queued"], status["failing"]) == (5, 0, ["webhook"])
    assert status["last_error"] == "webhook: entry not sent after 1 attempt (the destination refused or did not answer)"
    assert status["per_destination"][0]["failing"] is True


def test_with_healthy_destinations_the_order_is_exactly_fifo() -> None:
    """The rejected fix put urgent kinds first always: a kill switch alert overtook the entries before it. A
    healthy destination (even one that needs a retry, or is slow) keeps the order messages were submitted in.
    This passes on the old code too: it guards the rule against that fix."""
    slow, flaky = Fake("slow", delay_s=0.02), Fake("flaky", fail_tries=1)
    notifier = Notifier([slow.destination(), flaky.destination()], retry=FAST)
    messages = [routine("entry 1"), routine("entry 2"), kill(), routine("exit 1 (kill_switch)", "exit"),
                unprotected(), routine("exit 2 (kill_switch)", "exit")]

    async def scenario() -> None:
        worker = asyncio.create_task(notifier.run())
        for message in messages:
            notifier.submit(message)
        assert await notifier.wait_idle(10.0)
        worker.cancel()

    asyncio.run(scenario())
    titles = [m.title for m in messages]
    assert slow.got == titles and flaky.got == titles and notifier.failed == 0


def test_a_full_queue_drops_the_newest_routine_message_for_an_urgent_one() -> None:
    dest = Fake("webhook")
    notifier = Notifier([dest.destination()], retry=FAST, queue_max=3)
    for n in range(4):
        notifier.submit(routine(f"entry {n}"))  # the fourth is dropped: the queue holds three
    notifier.submit(unprotected())  # takes the place of entry 2, the newest routine one
    assert (notifier.dropped, notifier.queued) == (2, 3)
    dropping = notifier.status()
    assert asyncio.run(notifier.drain(10.0)) == 0
    assert dest.got == ["entry 0", "entry 1", unprotected().title]
    assert dropping["per_destination"][0]["dropped"] == 2 and dropping["failing"] == []
