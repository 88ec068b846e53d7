"""EventBus: typed, depth-first, awaited delivery in subscription order; handler errors become ErrorEvents."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.events import ErrorEvent


@dataclass(frozen=True)
class Base:
    n: int


@dataclass(frozen=True)
class Child(Base):
    pass


@dataclass(frozen=True)
class Other:
    n: int


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_only_subscribers_of_the_type_receive_it() -> None:
    bus = EventBus()
    got: list[object] = []
    bus.subscribe(Base, got.append)
    bus.subscribe(Other, lambda e: got.append(("other", e)))
    run(bus.publish(Base(1)))
    assert got == [Base(1)]
    assert bus.published == 1


def test_handlers_run_in_subscription_order_sync_and_async_mixed() -> None:
    bus = EventBus()
    order: list[str] = []

    async def second(_: Base) -> None:
        await asyncio.sleep(0)
        order.append("async-2")

    bus.subscribe(Base, lambda _: order.append("sync-1"))
    bus.subscribe(Base, second)
    bus.subscribe(Base, lambda _: order.append("sync-3"))
    run(bus.publish(Base(1)))
    assert order == ["sync-1", "async-2", "sync-3"]


def test_publish_awaits_async_handlers_before_returning() -> None:
    bus = EventBus()
    done: list[int] = []

    async def slow(event: Base) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        done.append(event.n)

    bus.subscribe(Base, slow)

    async def main() -> None:
        await bus.publish(Base(7))
        assert done == [7]

    run(main())


def test_async_callable_object_is_awaited() -> None:
    bus = EventBus()
    got: list[int] = []

    class Handler:
        async def __call__(self, event: Base) -> None:
            await asyncio.sleep(0)
            got.append(event.n)

    bus.subscribe(Base, Handler())
    run(bus.publish(Base(3)))
    assert got == [3]


def test_delivery_is_depth_first() -> None:
    bus = EventBus()
    order: list[str] = []

    async def on_base(event: Base) -> None:
        order.append(f"base-a{event.n}")
        if event.n == 1:
            await bus.publish(Other(1))
        order.append(f"base-a-end{event.n}")

    bus.subscribe(Base, on_base)
    bus.subscribe(Base, lambda e: order.append(f"base-b{e.n}"))
    bus.subscribe(Other, lambda e: order.append("other"))
    run(bus.publish(Base(1)))
    assert order == ["base-a1", "other", "base-a-end1", "base-b1"]


def test_subscription_to_a_base_class_receives_subclasses_but_not_the_reverse() -> None:
    bus = EventBus()
    base_got: list[object] = []
    child_got: list[object] = []
    bus.subscribe(Base, base_got.append)
    bus.subscribe(Child, child_got.append)
    run(bus.publish(Child(1)))
    run(bus.publish(Base(2)))
    assert base_got == [Child(1), Base(2)]
    assert child_got == [Child(1)]


def test_object_subscription_sees_everything() -> None:
    bus = EventBus()
    got: list[object] = []
    bus.subscribe(object, got.append)
    run(bus.publish(Other(1)))
    run(bus.publish(Child(2)))
    assert got == [Other(1), Child(2)]


def test_subscribing_after_a_publish_is_seen_next_time() -> None:
    bus = EventBus()
    got: list[str] = []
    bus.subscribe(Base, lambda _: got.append("first"))
    run(bus.publish(Child(1)))  # caches the resolution for Child
    bus.subscribe(Base, lambda _: got.append("late"))
    run(bus.publish(Child(2)))
    assert got == ["first", "first", "late"]


def test_has_subscribers_follows_the_mro() -> None:
    bus = EventBus()
    assert not bus.has_subscribers(Child)
    bus.subscribe(Base, lambda _: None)
    assert bus.has_subscribers(Child)
    assert not bus.has_subscribers(Other)


def test_a_raising_handler_becomes_an_error_event_and_delivery_continues() -> None:
    bus = EventBus(now_ms=lambda: 1234)
    after: list[int] = []
    errors: list[ErrorEvent] = []

    def boom(_: Base) -> None:
        raise RuntimeError("kaput")

    bus.subscribe(ErrorEvent, errors.append)
    bus.subscribe(Base, boom)
    bus.subscribe(Base, lambda e: after.append(e.n))
    run(bus.publish(Base(5)))
    assert after == [5]
    assert len(errors) == 1
    assert errors[0].message == "RuntimeError: kaput"
    assert "boom" in errors[0].component
    assert errors[0].time_ms == 1234
    assert bus.handler_errors == 1


def test_a_raising_async_handler_is_reported_too() -> None:
    bus = EventBus()
    errors: list[ErrorEvent] = []

    async def boom(_: Base) -> None:
        await asyncio.sleep(0)
        raise ValueError("bad")

    bus.subscribe(ErrorEvent, errors.append)
    bus.subscribe(Base, boom)
    run(bus.publish(Base(1)))
    assert [e.message for e in errors] == ["ValueError: bad"]


def test_a_failing_error_handler_does_not_loop() -> None:
    bus = EventBus()
    calls: list[ErrorEvent] = []
    others: list[ErrorEvent] = []

    def bad_error_handler(event: ErrorEvent) -> None:
        calls.append(event)
        raise RuntimeError("error handler broken")

    def boom(_: Base) -> None:
        raise RuntimeError("first")

    bus.subscribe(ErrorEvent, bad_error_handler)
    bus.subscribe(ErrorEvent, others.append)
    bus.subscribe(Base, boom)
    run(bus.publish(Base(1)))
    assert len(calls) == 1
    assert len(others) == 1  # the error handler failing does not stop delivery of the ErrorEvent
    assert bus.handler_errors == 2
    assert bus.published == 2  # Base + one ErrorEvent, no ErrorEvent about the ErrorEvent


def test_publishing_with_no_subscribers_is_a_no_op() -> None:
    bus = EventBus()
    run(bus.publish(Other(1)))
    assert bus.published == 1
    assert bus.handler_errors == 0
