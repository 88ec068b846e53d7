"""The closes a backtest report draws its trades on, kept thin as the run goes (reports only)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..domain.events import TradeClosed, TradeOpened
from ..marketdata.bars import BarChunk

Bools = npt.NDArray[np.bool_]


class PriceTape:
    """Each symbol's closes for a report's trades-on-price chart, kept only when a report is asked
    (`run_backtest(keep_prices=True)`): a backtest without a report pays nothing, and the replay is untouched.

    Reduced as the run goes, so a year of many symbols costs a few MB, not 4 bytes per symbol-bar: every
    `stride`-th bar (the stride doubles whenever more than 2 × `max_points` would be kept) plus every bar
    within `pad_bars` of a trade's entry or exit, exactly. A chunk is reduced when the next one arrives,
    once the trades near its end (which may open in the next chunk's first bars) are known.
    """

    def __init__(self, max_points: int = 5_000, pad_bars: int = 15) -> None:
        self.max_points, self.pad_bars = max_points, pad_bars
        self._stride, self._bars = 1, 0
        self._events: dict[str, list[int]] = {}
        self._pending: tuple[int, tuple[str, ...], npt.NDArray[np.int64], npt.NDArray[np.float32], int] | None = None
        #: Per symbol, per reduced chunk: (bar number in the run, open time ms, close, kept exactly).
        self._kept: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32],
                                         Bools]]] = {}

    def on_trade(self, event: TradeOpened | TradeClosed) -> None:
        """A trade opened or closed: the bars around that moment are kept exactly."""
        self._events.setdefault(event.symbol, []).append(event.time_ms)

    def add(self, chunk: BarChunk) -> None:
        self._reduce()
        self._pending = (self._bars, tuple(chunk.symbols), np.array(chunk.open_time, dtype=np.int64),
                         np.array(chunk.close, dtype=np.float32), chunk.interval_ms)
        self._bars += len(chunk)
        while self._bars // self._stride > 2 * self.max_points:
            self._stride *= 2
            for symbol, parts in self._kept.items():
                self._kept[symbol] = [_select(part, part[3] | (part[0] % self._stride == 0)) for part in parts]

    def symbols(self) -> list[str]:
        self._reduce()
        return sorted(self._kept)

    def series(self, symbol: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(bar open times in ms, closes) of the bars kept for one symbol; bars it misses (NaN) left out."""
        self._reduce()
        parts = self._kept.get(symbol) or []
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])

    def _reduce(self) -> None:
        if self._pending is None:
            return
        first, symbols, times, closes, interval_ms = self._pending
        self._pending = None
        number = np.arange(first, first + len(times), dtype=np.int64)
        sampled = number % self._stride == 0
        for s, symbol in enumerate(symbols):
            exact = self._near_trades(symbol, times, interval_ms)
            keep = (sampled | exact) & ~np.isnan(closes[:, s])
            if keep.any():
                self._kept.setdefault(symbol, []).append((number[keep], times[keep], closes[keep, s], exact[keep]))

    def _near_trades(self, symbol: str, times: npt.NDArray[np.int64], interval_ms: int) -> Bools:
        """The bars within `pad_bars` of a trade event; events too old to reach later bars are dropped."""
        exact = np.zeros(len(times), np.bool_)
        pad = self.pad_bars * interval_ms
        events = self._events.get(symbol) or []
        for start, stop in zip(np.searchsorted(times, np.array(events, np.int64) - pad, "left"),
                               np.searchsorted(times, np.array(events, np.int64) + pad, "right"), strict=True):
            exact[start:stop] = True
        if events:
            self._events[symbol] = [e for e in events if e + pad >= times[-1]]
        return exact


def _select(part: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32], Bools],
            keep: Bools) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32], Bools]:
    return part[0][keep], part[1][keep], part[2][keep], part[3][keep]
