"""A live session turns each new bar into `BarClosed` events for whoever listens, then scores it."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import BarClosed, Signal
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.runtime.bar_publisher import signal_publisher
from quantum_trader.signals.manual import ManualOnly


class _Engine:
    def __init__(self) -> None:
        self.clock = SimulatedClock(120_000)
        self.bus = EventBus(self.clock.now_ms)


def _one_bar() -> BarChunk:
    prices = np.array([[100.5, np.nan]])
    return BarChunk(("BTCUSDT", "ETHUSDT"), np.array([60_000], np.int64), prices, prices + 1, prices - 1, prices,
                    np.array([[3.0, np.nan]]), 60_000)


def test_each_bar_reaches_subscribers_as_decimal_events_and_missing_bars_are_skipped() -> None:
    engine, seen, signals = _Engine(), [], []
    engine.bus.subscribe(BarClosed, seen.append)
    engine.bus.subscribe(Signal, signals.append)
    asyncio.run(signal_publisher(engine, ManualOnly())(_one_bar()))  # type: ignore[arg-type]
    assert seen == [BarClosed(symbol="BTCUSDT", open_time_ms=60_000, open=Decimal("100.5"), high=Decimal("101.5"),
                              low=Decimal("99.5"), close=Decimal("100.5"), volume=Decimal("3.0"), time_ms=120_000)]
    assert signals == []  # the manual strategy never signals
