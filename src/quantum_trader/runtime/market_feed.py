"""The market feed of a running session: bars, one at a time, at `--speed`, into the engine.

Synthetic and replay feeds walk bar chunks (marketdata/bars.py) and drive a simulated clock; with the
in-process simulator they also move its market first, so resting stops trigger exactly as in a
backtest. The `exchange` feed (closed klines from Binance's websockets, REST-backfilled) is in
runtime/live_feed.py; it reports through the same `FeedStatus`, so /health reads every feed alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from ..core.clock import Clock, SimulatedClock
from ..marketdata.bars import BarChunk
from ..sim.engine import ExchangeSimulator
from ..simserver.feed import on_tick

OnBar = Callable[[BarChunk], Awaitable[None]]
#: Wall seconds between clock ticks while a paced feed waits for its next bar.
TICK_S = 0.1


@dataclass
class FeedStatus:
    name: str
    bars: int = 0
    last_bar_monotonic: float | None = None
    done: bool = False

    def age_s(self) -> float | None:
        return None if self.last_bar_monotonic is None else time.monotonic() - self.last_bar_monotonic


class BarFeed:
    """Bars from chunks, paced at `speed` (None: as fast as possible), applied to `sim` when given."""

    def __init__(self, name: str, chunks: Callable[[], Iterator[BarChunk]], *, speed: float | None,
                 clock: Clock, sim: ExchangeSimulator | None = None) -> None:
        self.status = FeedStatus(name)
        self._chunks, self._speed, self._clock, self._sim = chunks, speed, clock, sim
        self._cursor: Iterator[tuple[BarChunk, int]] | None = None  # survives a restart of run()

    async def run(self, on_bar: OnBar, stop: asyncio.Event) -> None:
        """Play bars until the source ends or `stop`. Called again after a failure (the supervisor's restart),
        it continues after the last bar played: a bar already applied to the market is never applied twice."""
        if self._cursor is None:
            self._cursor = self._bars()
        while not stop.is_set():
            item = next(self._cursor, None)
            if item is None:
                self.status.done = True
                return
            chunk, t = item
            delay = None if self._speed is None else chunk.interval_ms / 1000.0 / self._speed
            self._play(chunk, t)
            await on_bar(chunk.slice(t, t + 1))
            self.status.bars += 1
            self.status.last_bar_monotonic = time.monotonic()
            await self._pause_ticking(stop, delay, int(chunk.open_time[t]) + chunk.interval_ms, chunk.interval_ms)

    def _bars(self) -> Iterator[tuple[BarChunk, int]]:
        for chunk in self._chunks():
            for t in range(len(chunk)):
                yield chunk, t

    async def _pause_ticking(self, stop: asyncio.Event, delay: float | None, close_ms: int, interval_ms: int) -> None:
        """Wait for the next bar while simulated time flows with the wall at `speed`, so whatever sleeps on
        the clock (the position monitor) runs on time between bars, not only when a bar arrives."""
        if delay is None or not isinstance(self._clock, SimulatedClock):
            await _pause(stop, delay)
            return
        started = time.monotonic()
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if elapsed >= delay:
                return
            self._clock.advance_to(close_ms + min(interval_ms - 1, int(elapsed / delay * interval_ms)))
            await _pause(stop, min(TICK_S, delay - elapsed))

    def _play(self, chunk: BarChunk, t: int) -> None:
        close_ms = int(chunk.open_time[t]) + chunk.interval_ms
        sim = self._sim
        if sim is not None:
            sim.set_time(int(chunk.open_time[t]))
            for s, symbol in enumerate(chunk.symbols):
                bar = chunk.bar(t, s)
                if symbol not in sim.state.instruments or any(math.isnan(x) for x in bar):
                    continue
                tick = sim.instrument(symbol).tick_size
                o, h, lo, c = (on_tick(x, tick) for x in bar)
                sim.apply_bar(symbol, o, max(h, o, c), min(lo, o, c), c)
        if isinstance(self._clock, SimulatedClock):
            self._clock.advance_to(close_ms)


async def _pause(stop: asyncio.Event, seconds: float | None) -> None:
    if seconds is None:
        await asyncio.sleep(0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
