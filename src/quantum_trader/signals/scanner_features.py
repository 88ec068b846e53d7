"""The scanner's inputs: features of every symbol at every closed bar of a chunk, from closed bars only.

The scanner keeps the last `WARMUP_BARS + 1` bars between chunks (ml/features.py `RollingWindow`). A
live chunk of one bar is scored from that window alone (`latest_features`: the tail it needs, fast); a
backtest chunk of many bars is scored in one vectorised pass over the carried history followed by the
chunk (`compute_features`, row t from bars ≤ t only: no look-ahead). Every feature has finite memory, so
both give the same values up to float rounding in the rolling sums (the features are float32, which
absorbs it; the scanner's tests compare the signals of one-bar chunks with those of one big chunk).

A row's bar must be new (after the last bar held) to be scored: a repaired bar sent again is not scored
twice. Rows before the warm-up, or with a missing bar in a feature's window, are NaN and left unscored.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..marketdata.bars import BarChunk
from ..ml.features import FEATURE_NAMES, WARMUP_BARS, BarWindow, RollingWindow, compute_features, latest_features

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
#: Features that may be NaN in a scored row: LightGBM routes a missing funding rate down a learned branch.
MAY_BE_MISSING = frozenset({"funding_rate"})
_REQUIRED = np.array([name not in MAY_BE_MISSING for name in FEATURE_NAMES])


class ScanWindow:
    """History between chunks, and the features of each new closed bar of a chunk."""

    def __init__(self, symbols: tuple[str, ...]) -> None:
        self.symbols = symbols
        self._window = RollingWindow(symbols, WARMUP_BARS + 1)

    def features(self, chunk: BarChunk) -> tuple[I64, F32]:
        """(rows, X): the chunk rows that are new closed bars, and their features [len(rows), S, F]."""
        if len(chunk) == 1:
            return self._one_bar(chunk)
        prior = self._window.window()
        self._window.append(chunk)
        rows = np.flatnonzero(chunk.open_time > prior.open_time[-1]) if len(prior) else np.arange(len(chunk))
        if not len(rows):
            return rows, np.empty((0, len(self.symbols), len(FEATURE_NAMES)), np.float32)
        joined = _joined(prior, chunk)
        feats = compute_features(joined)
        at = np.searchsorted(joined.open_time, chunk.open_time[rows])
        return rows, feats[at]

    def warm(self, history: BarChunk) -> None:
        """Hold `history` (bars before the first live one) without scoring it: the next new bar is scored
        from it as from bars seen earlier in the session."""
        self._window.append(history)

    def warm_symbols(self) -> int:
        """Symbols whose next closed bar can be scored: the last WARMUP_BARS bars held, none missing."""
        window = self._window.window()
        if len(window) < WARMUP_BARS:
            return 0
        return int((~np.isnan(window.close[-WARMUP_BARS:])).all(axis=0).sum())

    def _one_bar(self, chunk: BarChunk) -> tuple[I64, F32]:
        self._window.append(chunk)
        window = self._window.window()
        if len(window) < WARMUP_BARS + 1 or window.open_time[-1] != chunk.open_time[0]:
            return np.empty(0, np.int64), np.empty((0, len(self.symbols), len(FEATURE_NAMES)), np.float32)
        return np.zeros(1, np.int64), latest_features(window)[None]


def complete(x: F32) -> npt.NDArray[np.bool_]:
    """Rows (any leading shape, features last) with every required feature present."""
    return np.asarray(~np.isnan(x[..., _REQUIRED]).any(axis=-1), np.bool_)


def _joined(prior: BarWindow, chunk: BarChunk) -> BarWindow:
    """The carried history followed by the chunk, one row per interval (holes in time become NaN rows)."""
    span = (int(chunk.open_time[-1]) - int(prior.open_time[0] if len(prior) else chunk.open_time[0]))
    window = RollingWindow(chunk.symbols, span // chunk.interval_ms + 1)
    if len(prior):
        window.append(BarChunk(chunk.symbols, prior.open_time, prior.open, prior.high, prior.low, prior.close,
                               prior.volume, chunk.interval_ms))
    window.append(chunk)
    return window.window()
