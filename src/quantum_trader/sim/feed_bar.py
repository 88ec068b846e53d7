"""One bar of a price feed into the simulator, the same way wherever bars are played live-like: the
paper session's feed (feeds/market_feed.py) and `sim-server`'s feed thread (simserver/feed.py).

Recorded or drawn prices are floats; the simulator trades on the tick. A bar is snapped to its symbol's
tick, its range widened to hold the snapped open and close (a snapped high must not sit below the close),
and played as `apply_bar` plays it, or, with the bar's recorded mark-price bar, as `apply_marked_bar` does
(last and mark on their own paths: a MARK_PRICE stop fires where the recorded mark crosses it).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

from ..domain.money import from_float
from .engine import ExchangeSimulator
from .replay_mark import OHLC, apply_marked_bar


def on_tick(price: float, tick: Decimal) -> Decimal:
    """A float price snapped to the instrument's tick, as the simulator requires (never below one tick)."""
    steps = (from_float(price, "price") / tick).to_integral_value(ROUND_HALF_EVEN)
    return (max(steps, Decimal(1)) * tick).quantize(tick)


def play_bar(sim: ExchangeSimulator, symbol: str, bar: tuple[float, float, float, float],
             mark: OHLC | None = None) -> OHLC | None:
    """Play one (open, high, low, close) bar of `symbol`; the prices as the simulator traded them, or None
    for a bar with a NaN (no data: nothing is played). The clock is the caller's to set: the bar's last
    millisecond, where sim-server's feed (simserver/feed.py) and a paper session's (feeds/market_feed.py)
    play it, once their clock has reached its close."""
    if any(math.isnan(x) for x in bar):
        return None
    tick = sim.instrument(symbol).tick_size
    o, h, lo, c = (on_tick(x, tick) for x in bar)
    prices = (o, max(h, o, c), min(lo, o, c), c)
    if mark is None:
        sim.apply_bar(symbol, *prices)
    else:
        apply_marked_bar(sim, symbol, prices, mark)
    return prices
