"""A chunk of bars on each symbol's tick grid: what the replay's float search and Decimal replay share.

The trigger search compares floats and `apply_bar` replays in Decimal; both must see the same prices,
so every price is snapped to its symbol's tick once per chunk, and a price handed to the simulator is a
whole number of ticks (exact in Decimal). Recorded mark prices stay as recorded (a trigger compares the
mark truncated to the tick, as Binance does); with them, the search covers the union of both ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .replay_mark import MarkBars

F64 = npt.NDArray[np.float64]
#: Below this many ticks a price rounds to int64 exactly as Python's round() does (beyond, astype would wrap).
_EXACT_TICKS = float(2**62)


class BarChunk(MarkBars, Protocol):
    """What the replay needs of a chunk of bars (marketdata.bars.BarChunk is one); T bars × S symbols: the
    same OHLC arrays as mark bars, with the symbols and the bars' open times."""

    @property
    def symbols(self) -> tuple[str, ...]: ...
    @property
    def open_time(self) -> npt.NDArray[np.int64]: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class GridBars:
    """A chunk with prices snapped to each symbol's tick; with recorded marks, those too (`mark`: open,
    high, low, close) and the ranges the trigger search must cover (`reach_high`/`reach_low`)."""

    symbols: tuple[str, ...]
    open_time: npt.NDArray[np.int64]
    open: F64
    high: F64
    low: F64
    close: F64
    mark: MarkBars | None = None
    reach_high: F64 | None = None
    reach_low: F64 | None = None

    def mark_close(self, t: int, s: int) -> float:
        """The recorded mark close of bar t, symbol s (NaN when there is none)."""
        return math.nan if self.mark is None else float(self.mark.close[t, s])

    def __len__(self) -> int:
        return len(self.open_time)


def on_tick_grid(chunk: BarChunk, ticks: F64, marks: MarkBars | None = None) -> GridBars:
    """`chunk` with its prices snapped to `ticks` (one per symbol column), and `marks` alongside."""

    def snap(values: F64) -> F64:
        return np.asarray(np.round(values / ticks) * ticks, np.float64)

    o, h, lo, c = snap(chunk.open), snap(chunk.high), snap(chunk.low), snap(chunk.close)
    if marks is None:
        return GridBars(tuple(chunk.symbols), chunk.open_time, o, h, lo, c)
    # Either series may reach a level; NaN where the last has no bar (such a bar is never replayed).
    reach_high = np.where(np.isnan(h), np.nan, np.fmax(h, marks.high))
    reach_low = np.where(np.isnan(lo), np.nan, np.fmin(lo, marks.low))
    return GridBars(tuple(chunk.symbols), chunk.open_time, o, h, lo, c, marks, reach_high, reach_low)


def whole_ticks(prices: F64, ticks: F64) -> tuple[list[int], list[bool]]:
    """Each price as a whole number of its tick, rounded half to even as Python's round() does, and whether
    it had one (NaN: no data at this bar; its count is 0 and must not be used)."""
    in_ticks = prices / ticks
    valid = ~np.isnan(in_ticks)
    # One array operation, rint rounding half to even, unless some price is infinite or astronomically large
    # (count_nonzero: a plain C count, where np.all costs a reduction's set-up at every signal step).
    if not np.count_nonzero(valid & ~(np.abs(in_ticks) < _EXACT_TICKS)):
        units: list[int] = np.where(valid, np.rint(in_ticks), 0).astype(np.int64).tolist()
    else:  # an infinite or astronomically large price: round() raises or stays exact, as it always did
        units = [round(x) if ok else 0 for x, ok in zip(in_ticks.tolist(), valid.tolist(), strict=True)]
    return units, valid.tolist()
