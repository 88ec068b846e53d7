"""Closed klines of many symbols, arriving one by one and out of step, assembled into minute rows.

The live bar feed (feeds/live_feed.py) receives each symbol's closed kline on its own, from several
websocket connections and from REST backfills, possibly twice (a backfill overlapping the stream) and
possibly late. A strategy must instead see what a backtest sees: one `BarChunk` row per minute with every
symbol of the universe, in order, each minute once. `MinuteRows` does that bookkeeping and nothing else:
no I/O and no clock, so it is deterministic and tested without a network. The feed decides *when* to
backfill or give up on a late symbol; this class tells it *what* is missing.

Rules:
- rows are released strictly in order from `next_open`, each once, when every symbol's bar is in;
- a bar for a minute already released, or one already held, is ignored (counted in `duplicates`);
- `force()` releases the oldest incomplete row with NaN for the symbols still missing (BarChunk's mark of
  a missing bar, as the replay feed uses for a symbol without data); their bars, if they come later,
  are ignored, so nothing is delivered twice;
- `behind(symbol)` says from which open a symbol lacks bars, so the feed can backfill exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..domain.kline import Kline
from .bars import BarChunk

Ohlcv = tuple[float, float, float, float, float]
_MISSING: Ohlcv = (math.nan,) * 5


class MinuteRows:
    """Minute rows of `symbols` from `next_open` (epoch ms, a multiple of `interval_ms`) on."""

    def __init__(self, symbols: Iterable[str], interval_ms: int, next_open: int) -> None:
        self.symbols = tuple(symbols)
        self.interval_ms = interval_ms
        self.next_open = next_open
        self._index = {s: i for i, s in enumerate(self.symbols)}
        self._pending: dict[int, dict[int, Ohlcv]] = {}
        self.duplicates = 0
        self.forced_missing = 0

    def add(self, symbol: str, kline: Kline) -> bool:
        """Hold one closed bar; False when it is not new (already held, already released, or unknown)."""
        s = self._index.get(symbol)
        t = kline.open_ms
        if s is None or t < self.next_open or s in self._pending.get(t, {}):
            self.duplicates += s is not None
            return False
        self._pending.setdefault(t, {})[s] = (float(kline.open), float(kline.high), float(kline.low),
                                              float(kline.close), float(kline.volume))
        return True

    def behind(self, symbol: str) -> int:
        """The first open from `next_open` on that `symbol` has no bar for: a closed bar arriving later than
        this reveals a gap, and a backfill starts here."""
        s = self._index[symbol]
        t = self.next_open
        while s in self._pending.get(t, {}):
            t += self.interval_ms
        return t

    def missing(self) -> tuple[str, ...]:
        """Symbols whose bar the oldest unreleased row (`next_open`) still waits for."""
        row = self._pending.get(self.next_open, {})
        return tuple(s for i, s in enumerate(self.symbols) if i not in row)

    def started(self) -> bool:
        """Whether any bar of the oldest unreleased row is in (its minute has closed somewhere)."""
        return bool(self._pending.get(self.next_open)) or any(t > self.next_open for t in self._pending)

    def ready(self) -> list[BarChunk]:
        """Every complete row from `next_open` on, oldest first, each as a one-row chunk; released for good."""
        out: list[BarChunk] = []
        while len(self._pending.get(self.next_open, {})) == len(self.symbols):
            out.append(self._release())
        return out

    def force(self) -> BarChunk:
        """Release the oldest row as it stands, NaN for the symbols still missing."""
        self.forced_missing += len(self.missing())
        return self._release()

    def _release(self) -> BarChunk:
        row = self._pending.pop(self.next_open, {})
        values = np.array([[*row.get(s, _MISSING)] for s in range(len(self.symbols))], np.float64).T[:, None, :]
        chunk = BarChunk(self.symbols, np.array([self.next_open], np.int64), values[0], values[1], values[2],
                         values[3], values[4], self.interval_ms)
        self.next_open += self.interval_ms
        return chunk
