"""`sma-cross`: the reference strategy, long when the fast SMA of closes crosses above the slow one.

It exists to prove the engine, not to make money: simple enough to check by hand, and a fair
benchmark workload (issue 4: 10/30 closes). A cross is a rule, not an estimate, so its confidence is
1.0; it still passes through the same risk rules as any signal.

Vectorised over a chunk with the last `slow` closes of the previous chunk carried over, so a chunk of
one bar (live) and a chunk of 10,000 bars (backtest) give identical signals. That needs each bar's
averages to be a function of its window's closes alone, to the last bit: where the two averages are equal
in exact arithmetic (flat prices, or a chance tie), the sign of a rounding error decides whether a cross
is seen. A running (cumulative) sum's rounding depends on where the chunk began: LINKUSDT 2026-02 gave
34 of ~1,600 signals differently in chunks of 1 and of 2,000 bars, and a backtest 60 or 61 trades
depending on how the reader cut the file. Each window is therefore summed in one fixed order (see
`_moving_means`).
"""

from __future__ import annotations

import numpy as np

from ..marketdata.bars import BarChunk
from .params import ParamSpec
from .strategy import F64, SignalBatch


class SmaCross:
    name = "sma-cross"
    #: Why QT_MIN_CONFIDENCE changes none of its trades (a `--param min_confidence` is refused: registry.py).
    NO_CONFIDENCE = "a cross is a rule, not an estimate: every signal has confidence 1.0, which no threshold " \
                    "from 0 to 1 refuses"
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
        fast, slow = _moving_means(closes, (self.fast, self.slow))
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


def _moving_means(values: F64, windows: tuple[int, ...]) -> list[F64]:
    """The mean of the last `w` values at each row, down each column, for each `w` of `windows`: NaN until
    `w` values, and a NaN poisons every window holding it (NaN propagates through the sums).

    Each window sum is a function of the window's values alone, whatever rows come before it: level k holds
    the sums of 2**k consecutive values, each the sum of two blocks of level k - 1 (a fixed tree), and a
    window of w adds the blocks of w's binary digits, smallest first. So a chunk of one bar and a chunk of
    a month give the same bits, as summing each window in turn would, but in about log2(w) passes over the
    chunk instead of w (10/30: 4 levels and 6 blocks; a window of 10,000 bars: 13 levels and 5 blocks).
    """
    n = len(values)
    longest = max(windows)
    totals: list[F64 | None] = [None] * len(windows)
    offsets = [0] * len(windows)
    level, size = values, 1  # level k: level[i] = the sum of values[i : i + size], size = 2**k
    while size <= longest:
        for i, window in enumerate(windows):
            count = n - window + 1  # windows ending in this chunk (with its carried history)
            if window & size and count > 0:
                part, total = level[offsets[i]:offsets[i] + count], totals[i]
                totals[i] = part.copy() if total is None else np.add(total, part, out=total)  # smallest first
                offsets[i] += size
        if 2 * size <= longest:
            level = level[:-size] + level[size:]
        size *= 2
    means = []
    for window, total in zip(windows, totals, strict=True):
        out = np.full(values.shape, np.nan)
        if total is not None:
            out[window - 1:] = total / window
        means.append(out)
    return means
