"""The strategy plug-in interface: signals for a whole chunk of bars, all symbols at once.

A strategy sees bars as columns (`marketdata.bars.BarChunk`: T bars × S symbols) and answers, for
every bar and symbol, a direction (+1 long, -1 short, 0 nothing) and a confidence in [0, 1]. A live
session feeds it chunks of one bar; a backtest feeds it thousands at a time. The strategy keeps
whatever history it needs between chunks itself, so both paths give the same signals bar for bar,
and the backtest can jump straight to the bars that carry one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..marketdata.bars import BarChunk

I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class SignalBatch:
    """Signals for one chunk: `direction[t, s]` in {-1, 0, +1}, `confidence[t, s]` in [0, 1]."""

    direction: I8
    confidence: F64

    @classmethod
    def empty(cls, n_bars: int, n_symbols: int) -> SignalBatch:
        return cls(np.zeros((n_bars, n_symbols), np.int8), np.zeros((n_bars, n_symbols), np.float64))

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.direction != 0, np.bool_)


@runtime_checkable
class Strategy(Protocol):
    #: The name used by QT_STRATEGY and the journal.
    name: str

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        """Signals for every bar of the chunk, decided at each bar's close."""
        ...
