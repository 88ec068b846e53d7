"""Each closed bar, from the feed to the strategy: the dashboard's bar tape, `BarClosed` events for whoever
listens, the strategy's scan, and a `Signal` per symbol it picks (or a journaled reason for its silence).

One function per bar, built once per session (`signal_publisher`); the scan's lateness is measured here
because only here are both the bar's arrival and the scan's end known.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ..domain.events import BarClosed
from ..domain.money import from_float
from ..marketdata.bars import BarChunk
from ..readmodels.bar_tape import BarTape
from ..signals.scanner_health import ScannerStats
from ..signals.strategy import Strategy, signal_event
from .silence import SilenceReporter, scan_safely
from .wiring import Engine


def signal_publisher(engine: Engine, strategy: Strategy, clock_speed: float | None = 1.0, *,
                      tape: BarTape | None = None,
                      market_now_ms: Callable[[], int] | None = None) -> Callable[[BarChunk], Awaitable[None]]:
    """Each new bar: a `BarClosed` per symbol on the bus (when anything listens), then the strategy's
    score of the bar and a `Signal` per symbol it picks (with the model's details, if any). A strategy
    that keeps `ScannerStats` (the AI scanner) learns how late its scan finished (`scan_lag_bars`), on
    `market_now_ms`: the clock the bars' times are on (the feed's; default the engine's)."""
    stats = getattr(strategy, "stats", None)
    market_clock = engine.clock.now_ms if market_now_ms is None else market_now_ms
    silence = SilenceReporter()  # task M: why the strategy is silent, journaled once per change

    async def on_bar(chunk: BarChunk) -> None:
        if tape is not None:
            tape.record(chunk)
        if engine.bus.has_subscribers(BarClosed):
            for bar in bars_closed(chunk, engine.clock.now_ms()):
                await engine.bus.publish(bar)
        arrived_ms, started = market_clock(), time.perf_counter()
        batch, raised = scan_safely(strategy, chunk)  # task M: a strategy's error is no signal, never a dead feed
        if isinstance(stats, ScannerStats):
            stats.note_lag(scan_lag_bars(chunk, arrived_ms, time.perf_counter() - started, clock_speed))
        t = len(chunk) - 1
        for s in batch.direction[t].nonzero()[0]:
            await engine.bus.publish(signal_event(batch, chunk, t, int(s), source=strategy.name,
                                                  time_ms=engine.clock.now_ms()))
        silent = silence.event(strategy, raised, engine.clock.now_ms())
        if silent is not None:
            await engine.bus.publish(silent)

    return on_bar


def scan_lag_bars(chunk: BarChunk, arrived_ms: int, scan_s: float, clock_speed: float | None) -> int:
    """Bars that closed after the chunk's last bar before its scan finished: the delay with which the bar
    reached the strategy (clock ms) plus the scan's wall time at the clock's speed, in bar intervals. At
    `--speed max` (None) the feed waits for the scan, so no bar can close during it: 0."""
    if clock_speed is None:
        return 0
    close_ms = int(chunk.open_time[-1]) + chunk.interval_ms
    late_ms = max(arrived_ms - close_ms, 0) + scan_s * 1000.0 * clock_speed
    return int(late_ms // chunk.interval_ms)


def bars_closed(chunk: BarChunk, time_ms: int) -> list[BarClosed]:
    """The chunk's last bar per symbol as events (symbols without data at that bar are left out)."""
    t, out = len(chunk) - 1, []
    for s, symbol in enumerate(chunk.symbols):
        o, h, lo, c = chunk.bar(t, s)
        if c == c:  # not NaN
            out.append(BarClosed(symbol=symbol, open_time_ms=int(chunk.open_time[t]), open=from_float(o),
                                 high=from_float(h), low=from_float(lo), close=from_float(c),
                                 volume=from_float(chunk.volume[t, s]), time_ms=time_ms))
    return out
