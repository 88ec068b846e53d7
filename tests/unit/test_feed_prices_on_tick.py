"""What a paper session's strategy sees of a synthetic bar is what the simulator traded: prices on the tick.

The synthetic market is drawn in floats. The feed puts each bar on the simulator's tick grid before the
market moves, and the strategy used to get the raw floats: a signal's reference price, journaled and
served at /api/v1/signals, read like 5.398844744839898 for a symbol whose tick is 0.001, a price the
market never had. A live strategy sees Binance's klines, always on the tick; a paper one must too.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.feeds.market_feed import BarFeed
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.signals.strategy import SignalBatch, signal_event
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOLS = ("ICPUSDT", "BTCUSDT", "NOTINTHESIM")
START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000


def off_grid_chunk() -> BarChunk:
    """Three bars whose prices are not on any tick (and a symbol the simulator does not trade)."""
    opens = np.array([[5.398844744839898, 96001.23456, 1.0000001],
                      [5.402211111111111, 96010.98765, 1.0000002],
                      [5.401000000000001, 95990.55555, 1.0000003]])
    return BarChunk(SYMBOLS, START + 60_000 * np.arange(3, dtype=np.int64), opens, opens * 1.0011, opens * 0.9987,
                    opens * 1.0003, np.ones_like(opens), 60_000)


def test_the_strategy_gets_the_bar_the_simulator_traded() -> None:
    universe = load_universe()
    traded = SYMBOLS[:2]
    sim = ExchangeSimulator({s: universe.instrument(s) for s in traded}, SimConfig(start_time_ms=START))
    raw = off_grid_chunk()
    feed = BarFeed("synthetic", lambda: iter([raw]), speed=None, clock=SimulatedClock(START), sim=sim)
    seen: list[tuple[BarChunk, dict[str, Decimal]]] = []

    async def on_bar(bar: BarChunk) -> None:
        seen.append((bar, {s: sim.last_price(s) for s in traded}))

    asyncio.run(feed.run(on_bar, asyncio.Event()))
    assert len(seen) == 3
    for t, (bar, last) in enumerate(seen):
        assert len(bar) == 1 and int(bar.open_time[0]) == int(raw.open_time[t])
        for s, symbol in enumerate(traded):
            tick = universe.instrument(symbol).tick_size
            for field in (bar.open, bar.high, bar.low, bar.close):
                assert Decimal(repr(float(field[0, s]))) % tick == 0, (symbol, field[0, s])
            assert Decimal(repr(float(bar.close[0, s]))) == last[symbol]  # the simulator's price at the close
            assert bar.low[0, s] <= min(bar.open[0, s], bar.close[0, s])
            assert bar.high[0, s] >= max(bar.open[0, s], bar.close[0, s])
            batch = SignalBatch(np.ones((1, len(SYMBOLS)), np.int8), np.ones((1, len(SYMBOLS))))
            signal = signal_event(batch, bar, 0, s, source="test", time_ms=START)
            assert signal.reference_price == last[symbol]
        assert bar.close[0, 2] == raw.close[t, 2]  # a symbol the simulator does not trade is left as it came
    assert raw.close[0, 0] == 5.398844744839898 * 1.0003  # the feed's own chunk is not changed
