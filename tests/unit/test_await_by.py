"""core/deadline.py `await_by`: a call bounded by a deadline, the timer armed only if the call waits."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from quantum_trader.core.deadline import DeadlineReached, await_by


def in_a_loop(case: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """The test runs `case` in a fresh event loop (the suite runs no pytest asyncio plugin)."""
    @functools.wraps(case)
    def run() -> None:
        asyncio.run(case())  # type: ignore[arg-type]
    return run


def counting_timers(loop: asyncio.AbstractEventLoop) -> list[float]:
    """Every timer scheduled on `loop` from now on (its time)."""
    armed: list[float] = []
    call_at = loop.call_at

    def counted(when: float, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counted  # type: ignore[method-assign,assignment]
    return armed


def waiting_for_ever(seen: list[str]) -> Callable[[], Awaitable[None]]:
    """A call that waits until cancelled, and notes in `seen` that it was."""
    async def hangs() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
    return hangs


async def at_once(value: int) -> int:
    return value * 2


@in_a_loop
async def test_an_answer_without_a_wait_arms_no_timer() -> None:
    loop = asyncio.get_running_loop()
    armed = counting_timers(loop)
    assert [await await_by(at_once(n), loop.time() + 5) for n in range(3)] == [0, 2, 4]
    assert armed == []


@in_a_loop
async def test_a_call_that_waits_is_bounded_and_cancelled_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    armed = counting_timers(loop)
    seen: list[str] = []

    hangs = waiting_for_ever(seen)

    started = loop.time()
    with pytest.raises(DeadlineReached):
        await await_by(hangs(), started + 0.05)
    assert seen == ["cancelled"]
    assert loop.time() - started < 1
    assert len(armed) >= 1


@in_a_loop
async def test_a_call_that_waits_and_answers_in_time_gets_every_answer() -> None:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[int] = loop.create_future()
    second: asyncio.Future[int] = loop.create_future()
    failing: asyncio.Future[int] = loop.create_future()

    async def waits_thrice() -> tuple[int, int, str]:
        a = await first
        b = await second
        try:
            await failing
        except KeyError as exc:  # an exception the awaited thing raised reaches the call
            return a, b, str(exc)
        return a, b, "no error"

    loop.call_soon(first.set_result, 1)
    loop.call_later(0.01, second.set_result, 2)
    loop.call_later(0.02, failing.set_exception, KeyError("gone"))
    assert await await_by(waits_thrice(), loop.time() + 5) == (1, 2, "'gone'")


@in_a_loop
async def test_the_calls_own_timeout_is_not_the_deadline() -> None:
    loop = asyncio.get_running_loop()

    async def own_timeout() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(10)

    with pytest.raises(TimeoutError) as raised:
        await await_by(own_timeout(), loop.time() + 5)
    assert not isinstance(raised.value, DeadlineReached)


@in_a_loop
async def test_an_error_before_any_wait_is_the_calls() -> None:
    async def refuses() -> None:
        raise ValueError("refused at once")

    with pytest.raises(ValueError, match="refused at once"):
        await await_by(refuses(), asyncio.get_running_loop().time() + 5)


@in_a_loop
async def test_a_deadline_already_passed_cuts_a_call_that_waits() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(DeadlineReached):
        await await_by(asyncio.sleep(1), loop.time() - 1)
    assert await await_by(at_once(4), loop.time() - 1) == 8  # answered without a wait: nothing to cut


@in_a_loop
async def test_cancelling_the_caller_reaches_the_call() -> None:
    loop = asyncio.get_running_loop()
    seen: list[str] = []

    hangs = waiting_for_ever(seen)

    task = asyncio.create_task(await_by(hangs(), loop.time() + 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


@in_a_loop
async def test_a_cancellation_beside_an_answer_reaches_the_call() -> None:
    """A cancellation that comes when the awaited thing has just answered is thrown into the task (the future
    can no longer be cancelled): it must reach the call, not be dropped for the answer."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[int] = loop.create_future()
    seen: list[str] = []

    async def waits() -> int:
        try:
            return await answer
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = asyncio.create_task(await_by(waits(), loop.time() + 5))
    await asyncio.sleep(0)  # the call now waits on `answer`

    def answer_then_cancel() -> None:
        answer.set_result(1)
        task.cancel()

    loop.call_soon(answer_then_cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]
