"""The market feed of a running session: bars, one at a time, at `--speed`, into the engine.

Synthetic and replay feeds walk bar chunks (marketdata/bars.py) and drive a simulated clock; with the
in-process simulator they also move its market first, so resting stops trigger exactly as in a
backtest. Each bar is played when the clock reaches its close, as a live feed hears a closed kline:
the clock starts where the session starts (the wall's time, or the saved account's) and runs at
`--speed` from there, so at `--speed 1` it is the wall clock, never a bar ahead of it.

The `exchange` feed (closed klines from Binance's websockets, REST-backfilled) is in feeds/live_feed.py;
it reports through the same `FeedStatus`, so /health reads every feed alike, plus its `FeedCounters`
(`FeedStatus.repairs`): what it had to repair and how far behind the stream runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core.clock import Clock, SimulatedClock
from ..core.loggers import get_logger
from ..marketdata.bars import BarChunk
from ..marketdata.holes import DataHole, refuse_holes
from ..sim.engine import ExchangeSimulator
from ..sim.feed_bar import play_bar
from ..sim.replay_mark import MarkBars, recorded_mark
from ..sim.traded_prices import admit_traded_prices

log = get_logger(__name__)

OnBar = Callable[[BarChunk], Awaitable[None]]
#: Wall seconds between clock ticks while a paced feed waits for its next bar.
TICK_S = 0.1
#: A first bar further away than this (wall time) is announced in the log.
FIRST_BAR_NOTICE_MS = 2_000


@dataclass
class FeedCounters:
    """How often a stream feed had to repair itself, and how far behind it runs: /health's `feed_stream`
    and the `qt_feed_*` metrics. A feed that drops bars quietly would still deliver rows; these say how
    many came from REST or were NaN, which is what an operator needs to trust (or not) what a strategy saw.
    """

    connects: int = 0
    #: Connects after a connection's first: every one is followed by a backfill.
    reconnects: int = 0
    stalls: int = 0
    #: REST kline reads (`GET /fapi/v1/klines`) and the bars they added.
    backfill_calls: int = 0
    backfilled_bars: int = 0
    #: Closed bars that arrived after a missing minute (the gap was backfilled first).
    gaps: int = 0
    #: Symbols a row waited for past the grace period, then found over REST.
    late_filled: int = 0
    #: Rows delivered with NaN for a symbol neither the stream nor REST supplied, and such bars in all.
    nan_rows: int = 0
    nan_bars: int = 0
    errors: list[str] = field(default_factory=list)
    #: Receipt time minus the exchange's event time `E` of the newest message (ms; None before one).
    lag_ms: int | None = None
    #: Per connection: monotonic time of its last message (silence for `stall_s` is a stall).
    heard: dict[int, float] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """The /health `feed_stream` object: counts since start, the current lag and the longest silence."""
        now = time.monotonic()
        silent = max((now - t for t in self.heard.values()), default=None)
        return {"connects": self.connects, "reconnects": self.reconnects, "stalls": self.stalls,
                "backfills": self.backfill_calls, "backfilled_bars": self.backfilled_bars, "gaps": self.gaps,
                "late_symbols_filled": self.late_filled, "nan_rows": self.nan_rows, "nan_bars": self.nan_bars,
                "backfill_errors": len(self.errors), "lag_ms": self.lag_ms,
                "silent_s": None if silent is None else round(silent, 3)}


@dataclass
class FeedStatus:
    name: str
    bars: int = 0
    last_bar_monotonic: float | None = None
    done: bool = False
    #: Why a replay ended before its data did (a hole in it), for /health; None otherwise.
    stopped: str | None = None
    #: A stream feed's repair counters (None for synthetic and replay feeds: nothing to repair).
    repairs: FeedCounters | None = None

    def age_s(self) -> float | None:
        return None if self.last_bar_monotonic is None else time.monotonic() - self.last_bar_monotonic


class BarFeed:
    """Bars from chunks, each at its close on a clock paced at `speed` from the clock's start (None: as fast
    as possible), applied to `sim` when given; `marks` gives a chunk's recorded mark-price bars (a replay with
    markPriceKlines/ beside its klines), asked once per chunk in time order: a bar with one moves last and
    mark on their own paths (sim/replay_mark.py)."""

    def __init__(self, name: str, chunks: Callable[[], Iterator[BarChunk]], *, speed: float | None,
                 clock: Clock, sim: ExchangeSimulator | None = None,
                 marks: Callable[[BarChunk], MarkBars] | None = None) -> None:
        self.status = FeedStatus(name)
        self._chunks, self._speed, self._clock, self._sim = chunks, speed, clock, sim
        self._cursor: Iterator[tuple[BarChunk, int]] | None = None  # survives a restart of run()
        self._waiting: tuple[BarChunk, int] | None = None  # the next bar, taken from the cursor, not yet played
        #: The clock's start and the wall's monotonic time then: the pace is measured from here (`paced_ms`).
        self._anchor = (clock.now_ms(), time.monotonic())
        self._marks = marks
        self._marked: tuple[BarChunk, MarkBars] | None = None

    def now_ms(self) -> int:
        """The market's clock: the session's (simulated for paper, and what the bars are played against)."""
        return self._clock.now_ms()

    async def run(self, on_bar: OnBar, stop: asyncio.Event) -> None:
        """Play bars until the source ends or `stop`. Called again after a failure (the supervisor's restart),
        it continues after the last bar played: a bar already applied to the market is never applied twice,
        and one still waiting for its close is not lost."""
        if self._cursor is None:
            self._cursor = self._bars()
        while not stop.is_set():
            item = self._waiting or self._next_bar()
            if item is None:
                self.status.done = True
                return
            self._waiting = item
            chunk, t = item
            if self.status.bars == 0:
                self._announce_first(int(chunk.open_time[t]) + chunk.interval_ms)
            if not await self._until_close(stop, int(chunk.open_time[t]) + chunk.interval_ms):
                return
            self._waiting = None
            await on_bar(self._play(chunk, t))
            self.status.bars += 1
            self.status.last_bar_monotonic = time.monotonic()

    def _announce_first(self, close_ms: int) -> None:
        """Say when the first bar comes if that is a while: at `--speed 1` it is when the current minute closes, up
        to a minute after the start, and a new user looking at an idle dashboard should know it is waiting."""
        paced = self.paced_ms()
        if paced is None or self._speed is None or close_ms - paced < FIRST_BAR_NOTICE_MS * self._speed:
            return
        wait_s = (close_ms - paced) / 1000.0 / self._speed
        closes_at = dt.datetime.fromtimestamp(close_ms / 1000, dt.UTC).strftime("%H:%M:%S UTC")
        log.info("the first bar comes when its minute closes on the session's clock", feed=self.status.name,
                 in_s=round(wait_s, 1), closes_at=closes_at)

    def _next_bar(self) -> tuple[BarChunk, int] | None:
        assert self._cursor is not None
        try:
            return next(self._cursor, None)
        except DataHole as hole:  # not a failure to retry: the data ends here
            self.status.stopped = f"the data has {hole}: replay each period on its own"
            log.error("feed stopped at a hole in the data", feed=self.status.name, bars=self.status.bars,
                      hole=str(hole))
            return None

    def _bars(self) -> Iterator[tuple[BarChunk, int]]:
        """The bars that close after the clock's start: those closing at or before it are the past (played
        by the session before a restart, or during its downtime)."""
        start = self._clock.now_ms()
        # From the session's clock: a paper account resumed after a hole must not jump it either.
        for chunk in refuse_holes(self._chunks(), after_ms=start):
            if self._sim is not None:
                admit_traded_prices(self._sim, chunk)
            first = int(np.searchsorted(chunk.open_time, start - chunk.interval_ms, side="right"))
            for t in range(first, len(chunk)):
                yield chunk, t

    def paced_ms(self) -> int | None:
        """Where the clock would stand now had it run at `speed` since the feed was made, on the wall's
        monotonic time (None at `--speed max`). At speed 1 a clock started at the wall's time is the wall."""
        if self._speed is None:
            return None
        start_ms, start_s = self._anchor
        return start_ms + int((time.monotonic() - start_s) * 1000.0 * self._speed)

    async def _until_close(self, stop: asyncio.Event, close_ms: int) -> bool:
        """Wait until the paced clock reaches the bar's close (at once at `--speed max`, or when the session
        is behind the pace); False if `stop` came first. Meanwhile simulated time flows with the wall, short
        of the close, so whatever sleeps on the clock (the position monitor) runs on time between bars, and
        the clock never shows a time whose bar has not been played."""
        while not stop.is_set():
            paced = self.paced_ms()
            if paced is None or paced >= close_ms:
                await asyncio.sleep(0)  # the loop's other tasks run between bars, however far behind the pace
                return not stop.is_set()
            if isinstance(self._clock, SimulatedClock):
                self._clock.advance_to(min(paced, close_ms - 1))
            assert self._speed is not None
            await _pause(stop, min(TICK_S, (close_ms - paced) / 1000.0 / self._speed))
        return False

    def _play(self, chunk: BarChunk, t: int) -> BarChunk:
        """Bar t into the simulator (if any), at its close; returns it as the strategy must see it: with a
        simulator, each symbol's prices as the simulator traded them (on its tick, the range widened to the
        open and close), so a signal's reference price, the journal and the charts show prices the market had.

        The simulator trades the bar at its last millisecond (Binance's kline `closeTime`), so a fill in it is
        never stamped before an order sent while the clock ran towards the close; then its time is the close,
        which a restart resumes from (funding due then is paid after the bar, on its closing mark)."""
        close_ms = int(chunk.open_time[t]) + chunk.interval_ms
        if isinstance(self._clock, SimulatedClock):
            self._clock.advance_to(close_ms)
        played = chunk.slice(t, t + 1)
        sim = self._sim
        if sim is not None:
            sim.set_time(close_ms - 1)
            traded = np.stack([played.open[0], played.high[0], played.low[0], played.close[0]])
            for s, symbol in enumerate(chunk.symbols):
                if symbol not in sim.state.instruments:
                    continue
                prices = play_bar(sim, symbol, chunk.bar(t, s), recorded_mark(self._mark_bars(chunk), t, s))
                if prices is not None:
                    traded[:, s] = [float(price) for price in prices]
            played = replace(played, open=traded[0:1], high=traded[1:2], low=traded[2:3], close=traded[3:4])
            sim.set_time(close_ms)
        return played

    def _mark_bars(self, chunk: BarChunk) -> MarkBars | None:
        if self._marks is None:
            return None
        if self._marked is None or self._marked[0] is not chunk:
            self._marked = (chunk, self._marks(chunk))
        return self._marked[1]


async def _pause(stop: asyncio.Event, seconds: float | None) -> None:
    if seconds is None:
        await asyncio.sleep(0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
