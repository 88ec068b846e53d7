"""The last few hundred closed bars of every symbol, for the dashboard's price chart.

Why not subscribe to `BarClosed` on the bus: that makes the session build 222 Decimal events per bar
whether or not anyone looks. The tape copies the chunk's last row for all symbols at once (one numpy
assignment per bar) into a ring, and converts to Decimal strings only for the one symbol a chart asks
for. The warm-up history seeds it, so a chart has history from the first second.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal

import numpy as np

from ..domain.money import fmt, from_float
from ..marketdata.bars import BarChunk

#: 12 hours of one-minute bars: enough to see a trade's context, small for 222 symbols (~2 MB).
DEFAULT_DEPTH = 720
_FIELDS = 4  # open, high, low, close


class BarTape:
    """A ring of the last `depth` bars × symbols; `record` is called by the feed, `candles` by the API."""

    def __init__(self, symbols: tuple[str, ...], depth: int = DEFAULT_DEPTH,
                 ticks: Mapping[str, Decimal] | None = None) -> None:
        """`ticks`: each symbol's tick size, so a chart shows prices as the exchange would."""
        self.symbols = symbols
        self.ticks = dict(ticks or {})
        self.depth = depth
        self._index = {symbol: s for s, symbol in enumerate(symbols)}
        self._prices = np.full((depth, len(symbols), _FIELDS), np.nan)
        self._open_time = np.zeros(depth, dtype=np.int64)
        self._count = 0  # bars recorded in all; the newest is at (count - 1) % depth
        self.interval_ms = 60_000
        self._lock = threading.Lock()  # the API reads from its own task; a bar must be read whole

    @property
    def last_open_time_ms(self) -> int | None:
        return None if self._count == 0 else int(self._open_time[(self._count - 1) % self.depth])

    def record(self, chunk: BarChunk, rows: slice | None = None) -> None:
        """Append the chunk's bars (its last one by default; a warm-up passes all) for the symbols it has."""
        rows = rows or slice(len(chunk) - 1, len(chunk))
        columns = [self._index.get(symbol, -1) for symbol in chunk.symbols]
        known = [c for c in columns if c >= 0]
        source = [s for s, c in enumerate(columns) if c >= 0]
        if not known:
            return
        self.interval_ms = chunk.interval_ms
        stacked = np.stack([chunk.open, chunk.high, chunk.low, chunk.close], axis=-1)[rows][:, source]
        with self._lock:
            for t, open_time in zip(range(len(stacked)), chunk.open_time[rows], strict=True):
                if self._count and open_time <= self._open_time[(self._count - 1) % self.depth]:
                    continue  # a bar already on the tape (warm-up overlapping the feed's first chunk)
                slot = self._count % self.depth
                self._prices[slot] = np.nan
                self._prices[slot, known] = stacked[t]
                self._open_time[slot] = open_time
                self._count += 1

    def candles(self, symbol: str, limit: int = DEFAULT_DEPTH) -> list[dict[str, object]]:
        """Oldest first: `{"time": epoch seconds, "open", "high", "low", "close"}` with prices as strings
        (as Binance sends klines); bars the symbol had no data for are left out."""
        s = self._index.get(symbol)
        if s is None:
            return []
        with self._lock:
            n = min(self._count, self.depth, limit)
            slots = [(self._count - n + i) % self.depth for i in range(n)]
            rows = self._prices[slots, s].copy()
            times = self._open_time[slots].copy()
        tick = self.ticks.get(symbol)

        def price(value: float) -> str:
            exact = from_float(value)
            return fmt(exact.quantize(tick) if tick else exact)

        return [{"time": int(t) // 1000, "open": price(o), "high": price(h), "low": price(lo), "close": price(c)}
                for t, (o, h, lo, c) in zip(times, rows, strict=True) if c == c]
