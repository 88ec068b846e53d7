"""The live campaign's market: seeded price steps through the server's own control path.

Every 0.5–1 s of wall time the campaign moves the simulated clock up to the server's clock, the wall's as its
clock faults step it (`POST /sim/v1/advance`, so one-minute klines close every minute and stream to the bot as
on Binance; moved to the wall itself, fills were stamped 3 s after `serverTime` or 7 s before it while the clock
stood stepped), and then every symbol one step (`POST /sim/v1/prices`): a small random move, and now and then a gap
straight through a position's working stop, so stop-outs happen while the bot is under fire. The walk
and the gaps are seeded; which position a gap hits depends on what is open at that moment.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from ...sim.feed_bar import on_tick
from ..report import is_working_stop
from .server import SimServer


@dataclass(frozen=True, slots=True)
class MarketConfig:
    min_step_s: float = 0.5
    max_step_s: float = 1.0
    #: Per-step volatility of the walk (a lively market: take-profits and trailing moves do happen).
    vol: float = 0.0012
    #: Chance per step that one position's stop is gapped through (from the far side, by `gap_pct`..2x).
    gap_prob: float = 0.04
    gap_pct: float = 0.004


@dataclass
class Market:
    server: SimServer
    rng: random.Random
    config: MarketConfig = field(default_factory=MarketConfig)
    steps: int = 0
    gaps: int = 0

    def next_step_in(self) -> float:
        return self.rng.uniform(self.config.min_step_s, self.config.max_step_s)

    async def step(self) -> None:
        """Move the simulated clock up to the server's, then one price step for every symbol."""
        with self.server.lock:
            behind_ms = max(0, self.server.state.clock() - self.server.sim.now_ms)
        await self.server.control("/sim/v1/advance", {"seconds": f"{behind_ms / 1000:.3f}"})
        await self.server.control("/sim/v1/prices", {"prices": self._prices()})
        self.steps += 1

    def _prices(self) -> dict[str, str]:
        sim = self.server.sim
        with self.server.lock:
            last = {s: sim.last_price(s) for s in sim.state.instruments}
            stops = {s: [a.trigger_price for a in sim.open_algo_orders(s) if is_working_stop(a, sim.position(s).amount)]
                     for s in last}
            signs = {s: (sim.position(s).amount > 0) - (sim.position(s).amount < 0) for s in last}
        prices = {s: float(p) * math.exp(self.rng.gauss(0.0, self.config.vol)) for s, p in last.items()}
        gap_roll, gap_pick, gap_size = self.rng.random(), self.rng.random(), self.rng.uniform(1.0, 2.0)
        targets = sorted(s for s, found in stops.items() if found)
        if gap_roll < self.config.gap_prob and targets:
            symbol = targets[int(gap_pick * len(targets))]
            beyond = 1 - signs[symbol] * self.config.gap_pct * gap_size  # below a long's stop, above a short's
            prices[symbol] = float(stops[symbol][0]) * beyond
            self.gaps += 1
        ticks = {s: sim.state.instruments[s].tick_size for s in prices}
        return {s: str(on_tick(p, ticks[s])) for s, p in prices.items()}
