"""Await a call by a deadline, arming the timer only if the call waits.

`asyncio.timeout_at` schedules a timer on entry and cancels it on exit. A call that answers without ever
waiting (the in-process adapter of a backtest answers every order at once) cannot be cut short by it, yet
each left a cancelled timer in the event loop's heap, removed only when the loop next runs a cycle, which a
backtest never does: one timer per stop-loss sent or read back stayed for the whole run (3,344 in the peers'
backtest of 1M bars), memory growing with the number of trades. Here the call runs to its first wait first;
only then is the deadline armed, for the rest of it. Whatever waits is bounded exactly as before.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlineReached(Exception):
    """The deadline came while the call was still waiting; the call was cancelled."""


async def await_by(call: Awaitable[T], when: float) -> T:
    """`call`'s result; if it is still waiting at the event loop's time `when`, it is cancelled and
    DeadlineReached raised (a TimeoutError of the call's own passes through as itself)."""
    steps = call.__await__()
    try:
        waiting_on = steps.send(None)
    except StopIteration as answered:
        return answered.value  # type: ignore[no-any-return]
    scope = asyncio.timeout_at(when)
    try:
        async with scope:
            return await _resume(steps, waiting_on)  # type: ignore[no-any-return]
    except TimeoutError:
        if not scope.expired():
            raise
        raise DeadlineReached from None


@types.coroutine
def _resume(steps: Generator[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    """The rest of a call already started: each thing it waits on goes to the task, and each answer (or
    exception: a cancellation at the deadline) goes back to the call, as `await` itself would pass them."""
    while True:
        try:
            answer = yield waiting_on
        except BaseException as exc:  # handed to the call, which decides
            try:
                waiting_on = steps.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting_on = steps.send(answer)
            except StopIteration as done:
                return done.value
