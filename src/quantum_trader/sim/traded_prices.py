"""A symbol's minimum price lowered to what its replayed data traded at, loudly.

Why: the packaged universe is Binance's exchangeInfo of one day (2024-10-02), and Binance lowers a symbol's
PRICE_FILTER `minPrice` as its price falls (BTCUSDT's was 556.80 then and 261.10 in late 2025). Replayed
against a later period, a stale minimum refuses orders the real exchange took: FILUSDT's was 1.381, and its
February 2026 bars trade at 0.774-1.112, so every stop-loss there was refused (-4006) and a backtest of that
month opened no position at all. Every trade Binance printed was inside the filter it had then, so a bar
below the packaged minimum proves the minimum was lower; how much lower no file says, so it is taken as the
tick (the grid's own floor, what Binance now lists for many symbols) and a warning names the symbol, both
prices and the snapshot's date. A synthetic market drifting below a minimum is treated alike: refusing every
stop there would test nothing. Nothing is raised: a maximum no replayed data has reached stays as it is.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..core.loggers import get_logger
from ..domain.money import Rounding, fmt, from_float, round_to_grid
from .engine import ExchangeSimulator
from .replay_grid import BarChunk

log = get_logger(__name__)
#: The day of the packaged exchangeInfo (sim/data/universe.json.gz), for the warning.
SNAPSHOT_DAY = "2024-10-02"


def admit_traded_prices(sim: ExchangeSimulator, chunk: BarChunk) -> list[str]:
    """Lower the minimum price of each of the chunk's symbols whose bars trade below it; one line per change."""
    lows = _column_lows(chunk)
    notes: list[str] = []
    for s, symbol in enumerate(chunk.symbols):
        instrument = sim.state.instruments.get(symbol)
        low = lows[s]
        if instrument is None or math.isnan(low):
            continue
        pf = instrument.price_filter
        traded = from_float(low, "low")
        if pf.min_price == 0 or traded >= pf.min_price or pf.min_price == pf.tick_size:
            continue
        shown = max(round_to_grid(traded, pf.tick_size, Rounding.DOWN), pf.tick_size)  # as the market trades it
        note = (f"{symbol}: the bars trade down to {fmt(shown)}, below the minPrice {fmt(pf.min_price)} of Binance's "
                f"exchangeInfo of {SNAPSHOT_DAY} that the simulator packages; a market trading there has a lower "
                f"minimum (Binance lowers it as prices fall), so this run takes minPrice {fmt(pf.tick_size)} "
                "(the tick)")
        sim.state.replace_instrument(replace(instrument, price_filter=replace(pf, min_price=pf.tick_size)))
        log.warning(note)
        notes.append(note)
    return notes


def _column_lows(chunk: BarChunk) -> list[float]:
    """Each symbol's lowest low in the chunk (NaN for a symbol with no bar in it)."""
    if not len(chunk):
        return [math.nan] * len(chunk.symbols)
    present = ~np.isnan(chunk.low)
    lows = np.where(present, chunk.low, np.inf).min(axis=0)
    return [float(x) if math.isfinite(x) else math.nan for x in lows]
