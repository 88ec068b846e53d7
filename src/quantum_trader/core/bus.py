"""The in-process event bus: typed subscriptions, deterministic depth-first delivery.

`await bus.publish(event)` delivers to every handler subscribed to the event's class (or one of its
bases), in subscription order, and returns when all of them have finished, including whatever
they published in turn. That makes ordering a property of the code, not of a scheduler: the journal
subscribes before execution, so an order intent is on disk before the order is sent, and a replay
produces the same sequence every time.

A handler that raises does not stop delivery: the exception becomes an `ErrorEvent` published on
the same bus (a failing `ErrorEvent` handler is logged only, so errors cannot loop).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..domain.events import ErrorEvent

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None] | None]

log = logging.getLogger(__name__)


class EventBus:
    """Publish/subscribe by event class; handlers may be plain functions or coroutines."""

    def __init__(self, now_ms: Callable[[], int] | None = None) -> None:
        self._handlers: dict[type, list[tuple[Handler, bool]]] = {}
        self._resolved: dict[type, list[tuple[Handler, bool]]] = {}
        self._now_ms = now_ms or (lambda: 0)
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None] | None]) -> None:
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None))  # noqa: B004  (callable objects with async __call__)
        self._handlers.setdefault(event_type, []).append((handler, is_async))
        self._resolved.clear()

    def has_subscribers(self, event_type: type) -> bool:
        return bool(self._for(event_type))

    async def publish(self, event: object) -> None:
        self.published += 1
        handlers = self._resolved.get(type(event))  # the resolved list, without a call per event
        for handler, is_async in handlers if handlers is not None else self._for(type(event)):
            try:
                if is_async:
                    await handler(event)  # type: ignore[misc]
                else:
                    handler(event)
            except Exception as exc:  # a failing component must not take the bus down
                await self._report(handler, event, exc)

    def _for(self, event_type: type) -> list[tuple[Handler, bool]]:
        found = self._resolved.get(event_type)
        if found is None:
            found = [h for base in event_type.__mro__ for h in self._handlers.get(base, [])]
            self._resolved[event_type] = found
        return found

    async def _report(self, handler: Handler, event: object, exc: Exception) -> None:
        self.handler_errors += 1
        name = getattr(handler, "__qualname__", repr(handler))
        log.exception("bus handler %s failed on %s", name, type(event).__name__)
        if isinstance(event, ErrorEvent):
            return
        await self.publish(ErrorEvent(component=name, message=f"{type(exc).__name__}: {exc}",
                                      time_ms=self._now_ms()))
