"""A backtest's log lines say when in the data they happened (`sim_time`), besides the wall clock's timestamp.

An "emergency exit" of the daily loss limit on 2026-02-05 was logged stamped with the day the backtest ran and
nothing else: a reader could not tell when in the data it happened.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from quantum_trader.core.logging import SIMULATED_NOW, add_simulated_time
from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.strategy import SignalBatch
from quantum_trader.sim.universe import load_universe

START = 1_770_249_600_000  # 2026-02-05T00:00:00Z


class ClockWatcher:
    """No signals; notes the simulated time logging would read at each chunk."""

    name = "watcher"

    def __init__(self) -> None:
        self.seen: list[int | None] = []

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        now = SIMULATED_NOW.get()
        self.seen.append(None if now is None else now())
        return SignalBatch.empty(len(chunk), len(chunk.symbols))


def test_a_log_line_in_a_backtest_carries_the_simulated_time() -> None:
    bnb = load_universe().instrument("BNBUSDT")
    chunks = synthetic_bars(["BNBUSDT"], [600.0], 300, seed=1, chunk_bars=100, start_ms=START)
    watcher = ClockWatcher()
    asyncio.run(run_backtest(chunks, {"BNBUSDT": bnb}, watcher, TradingRules(), balance=Decimal(1000)))
    assert watcher.seen == [START, START + 100 * 60_000, START + 200 * 60_000]  # each chunk's start, not the wall
    assert SIMULATED_NOW.get() is None  # reset when the backtest ends
    token = SIMULATED_NOW.set(lambda: START + 90_000)
    try:
        assert add_simulated_time(None, "warning", {"event": "x"})["sim_time"] == "2026-02-05T00:01:30+00:00"
    finally:
        SIMULATED_NOW.reset(token)
    assert "sim_time" not in add_simulated_time(None, "warning", {"event": "x"})  # a live session: wall clock only
