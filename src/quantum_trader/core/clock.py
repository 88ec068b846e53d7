"""The clock every component reads time from: wall time for paper and live, simulated for backtests.

No component knows which one it has. Both answer `now_ms()` and `sleep(seconds)`; the simulated
clock only moves when its driver (the feed or the backtest loop) calls `advance_to`, and a sleeper
wakes when simulated time reaches its deadline, so a monitor that sleeps one interval runs once per
simulated interval whatever `--speed` is.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch, UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` of this clock's time have passed."""
        ...


class WallClock:
    """Real time; `sleep` is asyncio's."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "WallClock()"


class SimulatedClock:
    """Time that moves only when told; sleepers wake in deadline order as it passes their deadline."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"SimulatedClock(now_ms={self._now})"

    def now_ms(self) -> int:
        return self._now

    def advance_to(self, time_ms: int) -> None:
        """Move time forward (never back) and wake every sleeper whose deadline has come."""
        if time_ms > self._now:
            self._now = time_ms
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + round(seconds * 1000))

    @property
    def next_deadline_ms(self) -> int | None:
        """The earliest pending sleeper's deadline: a driver may jump straight to it."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + max(0, round(seconds * 1000))
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future
