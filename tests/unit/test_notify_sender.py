"""The notifier against a real webhook on 127.0.0.1 (apprise's json://): order, retries, reports, no blocking."""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_notify_order import until
from test_notify_receiver import Receiver, receiving

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.events import Direction, TradeOpened
from quantum_trader.exchange.budget import WeightBudget
from quantum_trader.notify.alerts import Alerts
from quantum_trader.notify.messages import Level, Message
from quantum_trader.notify.sender import Notifier, RetryPolicy, notifier_from_urls
from quantum_trader.notify.watch import Watcher
from quantum_trader.risk.daily_loss import REASON_PREFIX
from quantum_trader.trading.audit import audit_row
from quantum_trader.trading.stop_witness import ACTION as STOP_WITNESSED

FAST = RetryPolicy(attempts=3, base_delay_s=0.05, max_delay_s=0.1)
T = 1_800_000_000_000


def message(n: int) -> Message:
    return Message("test", f"title {n}", f"body {n}", Level.WARNING)


async def sent_through(notifier: Notifier, *messages: Message, timeout: float = 20.0) -> None:
    worker = asyncio.create_task(notifier.run())
    try:
        for m in messages:
            notifier.submit(m)
        assert await notifier.wait_idle(timeout)
    finally:
        worker.cancel()


def test_messages_arrive_in_order_through_a_slow_destination_with_apprises_json_fields() -> None:
    with receiving(delay_s=0.2) as receiver:
        notifier = notifier_from_urls([receiver.url("alerts")], retry=FAST)
        asyncio.run(sent_through(notifier, *(message(n) for n in range(5))))
        got = receiver.wait_for(5)
    assert [m["title"] for m in got] == [f"title {n}" for n in range(5)]
    assert [m["message"] for m in got] == [f"body {n}" for n in range(5)]
    assert {m["type"] for m in got} == {"warning"} and receiver.paths == ["/alerts"] * 5
    assert (notifier.sent, notifier.failed, notifier.queued) == (5, 0, 0)


def test_a_failing_destination_is_retried_with_backoff_and_succeeds() -> None:
    with receiving(fail_first=2) as receiver:
        notifier = notifier_from_urls([receiver.url()], retry=FAST)
        asyncio.run(sent_through(notifier, message(1)))
        assert receiver.requests == 3 and [m["title"] for m in receiver.received] == ["title 1"]
    assert (notifier.sent, notifier.failed, notifier.last_error) == (1, 0, None)


def test_a_destination_that_keeps_failing_is_reported_and_the_queue_goes_on() -> None:
    with receiving(always_fail=True) as bad, receiving() as good:
        notifier = notifier_from_urls([bad.url(), good.url()], retry=FAST)
        asyncio.run(sent_through(notifier, message(1), message(2)))
        # 3 attempts for the first message, which makes the destination failing; then one try for the second
        assert bad.requests == 4
        assert [m["title"] for m in good.wait_for(2)] == ["title 1", "title 2"]
    status = notifier.status()
    bad_name = f"json://127.0.0.1:{bad.port}/**********"
    assert (status["sent"], status["failed"], status["queued"], status["failing"]) == (2, 2, 0, [bad_name])
    assert status["last_error"] == f"{bad_name}: test not sent after 1 attempt (the destination refused or did not " \
        "answer)"
    assert status["per_destination"][0] == {"destination": bad_name, "sent": 0, "failed": 2, "dropped": 0,
                                            "queued": 0, "failing": True, "last_error": status["last_error"]}
    assert status["per_destination"][1] == {"destination": f"json://127.0.0.1:{good.port}/**********", "sent": 2,
                                            "failed": 0, "dropped": 0, "queued": 0, "failing": False,
                                            "last_error": None}


def test_bus_publish_is_not_delayed_by_a_destination_that_takes_two_seconds() -> None:
    opened = TradeOpened(trade_id="t1", symbol="BTCUSDT", direction=Direction.LONG, quantity=Decimal("0.1"),
                         entry_price=Decimal("50000"), planned_stop=Decimal("49000"), planned_take_profit=None,
                         planned_loss=Decimal("100"), leverage=5, equity=Decimal("10000"), time_ms=T)

    async def scenario(receiver: Receiver) -> float:
        notifier = notifier_from_urls([receiver.url()], retry=FAST)
        bus = EventBus(lambda: T)
        Alerts(notifier.submit, judge=audit_row, daily_loss_prefix=REASON_PREFIX,
               stop_witnessed=STOP_WITNESSED).attach(bus)
        worker = asyncio.create_task(notifier.run())
        await asyncio.sleep(0)
        started = time.monotonic()
        await bus.publish(opened)
        await asyncio.sleep(0.05)  # the worker is now inside the 2 s request
        await bus.publish(opened)
        took = time.monotonic() - started
        assert notifier.queued == 2
        assert await notifier.wait_idle(20.0)
        worker.cancel()
        return took

    with receiving(delay_s=2.0) as receiver:
        took = asyncio.run(scenario(receiver))
        assert len(receiver.wait_for(2)) == 2
    assert took < 1.0, f"bus.publish waited for the destination ({took:.2f} s)"


def test_drain_at_shutdown_sends_what_the_stopped_worker_left() -> None:
    async def scenario(receiver: Receiver) -> int:
        notifier = notifier_from_urls([receiver.url()], retry=FAST)
        for n in range(3):
            notifier.submit(message(n))
        assert notifier.queued == 3
        return await notifier.drain(10.0)

    with receiving() as receiver:
        assert asyncio.run(scenario(receiver)) == 0
        assert [m["title"] for m in receiver.wait_for(3)] == ["title 0", "title 1", "title 2"]


def test_the_watcher_announces_each_unprotected_episode_once_after_one_interval() -> None:
    clock = SimulatedClock(T)
    naked: dict[str, int] = {}
    got: list[Message] = []
    watcher = Watcher(got.append, now_ms=clock.now_ms, interval_s=1.0, unprotected=lambda: naked)
    naked["BTCUSDT"] = T
    clock.advance_to(T + 1000)
    watcher.check()
    assert got == []  # exactly one interval: not yet more than one
    clock.advance_to(T + 1500)
    watcher.check()
    watcher.check()
    assert [m.kind for m in got] == ["unprotected"] and got[0].title == "BTCUSDT: UNPROTECTED for 1.5 s"
    del naked["BTCUSDT"]  # protected again
    watcher.check()
    naked["BTCUSDT"] = T + 5000
    clock.advance_to(T + 7000)
    watcher.check()
    assert [m.title for m in got][1:] == ["BTCUSDT: UNPROTECTED for 2.0 s"]


def test_the_watcher_announces_a_request_budget_ban_once() -> None:
    budget = WeightBudget()
    got: list[Message] = []
    watcher = Watcher(got.append, now_ms=lambda: T, interval_s=1.0, unprotected=dict, budget=budget.snapshot)
    watcher.check()
    budget.rate_limited(418, 120.0, "IP banned until ...")
    watcher.check()
    watcher.check()
    assert [m.kind for m in got] == ["request_ban"] and "banned_until_ms=" in got[0].body


async def arrived(receiver: Receiver, count: int, since: float) -> float:
    """Seconds from `since` to the receiver's `count`th request (answered 500 or not)."""
    deadline = time.monotonic() + 10.0
    while len(receiver.arrivals) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert len(receiver.arrivals) >= count, f"{len(receiver.arrivals)} requests of {count}"
    return receiver.arrivals[count - 1] - since


def test_an_urgent_alert_skips_a_failing_destinations_backoff_and_never_waits_for_it_elsewhere() -> None:
    """One webhook answers 500, one 200. The failing one backs off 3 s between tries; a kill switch alert
    (urgent) submitted during that backoff was tried there only when it ended (3 s: up to 4 s with the
    production policy). It is now tried at once on both, the failing destination's routine news still waits
    for its backoff, and /metrics' `qt_notify_destinations_failing` says 1 until that destination answers."""
    policy = RetryPolicy(attempts=1, base_delay_s=3.0, max_delay_s=3.0)
    kill = Message("kill_switch", "Kill switch", "manual", Level.FAILURE)
    unprotected = Message("unprotected", "BTCUSDT: UNPROTECTED", "no stop", Level.FAILURE)

    def failing_gauge(notifier: Notifier) -> str:
        metrics = Metrics()
        metrics.observe_health({"notify": notifier.status()})
        return next(line for line in metrics.render().decode().splitlines()
                    if line.startswith("qt_notify_destinations_failing "))

    async def scenario(bad: Receiver, good: Receiver) -> dict[str, float]:
        notifier = notifier_from_urls([bad.url(), good.url()], retry=policy)
        worker = asyncio.create_task(notifier.run())
        notifier.submit(message(0))
        await until(lambda: notifier.failed == 1)  # the 500 one is failing: its next try only in 3 s
        notifier.submit(message(1))  # its worker now waits out the backoff with this routine message
        await asyncio.sleep(0.2)
        took, event = {}, time.monotonic()
        notifier.submit(kill)
        took["kill, failing"], took["kill, healthy"] = await arrived(bad, 2, event), await arrived(good, 3, event)
        await until(lambda: notifier.failed == 2)
        assert failing_gauge(notifier) == "qt_notify_destinations_failing 1.0"
        bad.always_fail, event = False, time.monotonic()  # back, while it still backs off after the kill alert
        notifier.submit(unprotected)
        took["unprotected, recovered"] = await arrived(bad, 3, event)
        took["routine, recovered"] = await arrived(bad, 4, event)  # FIFO again at once: no backoff left
        assert await notifier.wait_idle(10.0)
        assert failing_gauge(notifier) == "qt_notify_destinations_failing 0.0"
        worker.cancel()
        return took

    with receiving(always_fail=True) as bad, receiving() as good:
        took = asyncio.run(scenario(bad, good))
        assert [m["title"] for m in bad.received] == ["BTCUSDT: UNPROTECTED", "title 1"]
        assert bad.requests == 4  # title 1 waited out the backoff: tried once, after the destination came back
        assert [m["title"] for m in good.received] == ["title 0", "title 1", "Kill switch", "BTCUSDT: UNPROTECTED"]
    assert max(took.values()) < 1.0, took


def test_a_second_urgent_alert_is_tried_on_a_failing_destination_before_the_first_ones_retries() -> None:
    """Two positions UNPROTECTED at once, one webhook answering 500 (already failing), one 200. The second
    alert's first try waited for the first alert's retries there (1 s here, 0.5 s + 1 s with the production
    policy, for every urgent alert ahead of it); it is now tried at once, then both are retried in turn."""
    policy = RetryPolicy(attempts=2, base_delay_s=1.0, max_delay_s=1.0)
    btc, eth = (Message("unprotected", f"{s}: UNPROTECTED", "no stop", Level.FAILURE) for s in ("BTCUSDT", "ETHUSDT"))

    async def scenario(bad: Receiver, good: Receiver) -> dict[str, float]:
        notifier = notifier_from_urls([bad.url(), good.url()], retry=policy)
        worker = asyncio.create_task(notifier.run())
        notifier.submit(message(0))
        await until(lambda: notifier.failed == 1)  # failing: 2 tries 1 s apart, given up
        event = time.monotonic()
        notifier.submit(btc)
        notifier.submit(eth)
        took = {"btc, failing": await arrived(bad, 3, event), "eth, failing": await arrived(bad, 4, event),
                "both, healthy": await arrived(good, 3, event)}
        assert await notifier.wait_idle(10.0)
        worker.cancel()
        return took

    with receiving(always_fail=True) as bad, receiving() as good:
        took = asyncio.run(scenario(bad, good))
        assert bad.requests == 6 and [m["title"] for m in good.received] == ["title 0", btc.title, eth.title]
    assert max(took.values()) < 0.5, took
