"""`sma-cross`: the reference strategy, long when the fast SMA of closes crosses above the slow one.

It exists to prove the engine, not to make money: simple enough to check by hand, and a fair
benchmark workload (issue 4: 10/30 closes). A cross is a rule, not an estimate, so its confidence is
1.0; it still passes through the same risk rules as any signal.

Vectorised over a chunk with the last `slow - 1` closes of the previous chunk carried over, so a
chunk of one bar (live) and a chunk of 10,000 bars (backtest) give identical signals.
"""

from __future__ import annotations

import numpy as np

from ..marketdata.bars import BarChunk
from .params import ParamSpec
from .strategy import F64, SignalBatch


class SmaCross:
    name = "sma-cross"
    #: What `--param` and `sweep --grid` may set (the constructor's keywords).
    PARAMS = (ParamSpec("fast", "int", 1, 10_000, 10, "fast SMA window, bars (below slow)"),
              ParamSpec("slow", "int", 2, 10_000, 30, "slow SMA window, bars"))

    def __init__(self, fast: int = 10, slow: int = 30) -> None:
        if not 1 <= fast < slow:
            raise ValueError(f"sma-cross: fast ({fast}) must be at least 1 and below slow ({slow})")
        self.fast, self.slow = fast, slow
        self._tail: F64 | None = None  # the last `slow` closes seen, per symbol (NaN where unknown)

    @property
    def history_bars(self) -> int:
        """The slow average's window: with that much history the first live bar can already cross."""
        return self.slow

    def warm_up(self, history: BarChunk) -> None:
        """Carry the closes before the session's start, as if they had come as an earlier chunk (no signal)."""
        if len(history):
            self._tail = self._with_history(history.close)[-self.slow:]

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        if len(chunk) == 0:
            return SignalBatch.empty(0, chunk.n_symbols)
        closes = self._with_history(chunk.close)
        fast, slow = _sma(closes, self.fast), _sma(closes, self.slow)
        above = np.where(np.isnan(fast) | np.isnan(slow), np.nan, np.sign(fast - slow))
        self._tail = closes[-self.slow:]
        n = len(chunk)
        now, before = above[-n:], above[-n - 1:-1]
        crossed = (now != before) & (now != 0) & ~np.isnan(now) & ~np.isnan(before)
        direction = np.where(crossed, now, 0).astype(np.int8)
        return SignalBatch(direction, np.where(crossed, 1.0, 0.0))

    def _with_history(self, closes: F64) -> F64:
        width = closes.shape[1]
        if self._tail is None or self._tail.shape[1] != width:
            self._tail = np.full((self.slow, width), np.nan)
        return np.concatenate([self._tail, closes], axis=0)


def _sma(values: F64, window: int) -> F64:
    """Simple moving average down each column; NaN until `window` values (a NaN poisons its window)."""
    out = np.full(values.shape, np.nan)
    csum = np.cumsum(np.nan_to_num(values), axis=0)
    nans = np.cumsum(np.isnan(values), axis=0)
    csum = np.vstack([np.zeros((1, values.shape[1])), csum])
    nans = np.vstack([np.zeros((1, values.shape[1]), np.int64), nans])
    sums = csum[window:] - csum[:-window]
    gaps = nans[window:] - nans[:-window]
    out[window - 1:] = np.where(gaps == 0, sums / window, np.nan)
    return out
