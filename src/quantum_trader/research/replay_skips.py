"""What the risk rules say a backtest's replay may skip: the signal bars it need not stop at, and the symbols to mute.

Asked of the rules live uses (risk/rules.py), never of risk's internals (see research/backtest.py's module doc):
a signal a rule refuses on its own is dropped before the replay, and symbols the rules block until something
changes are muted. With `skip_refused=False` nothing is skipped, which must give the same trades.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..core.clock import SimulatedClock
from ..domain.events import Direction, Signal
from ..risk.rules import ALL, NONE, Blocked, RiskPipeline
from ..signals.strategy import SignalBatch

Bools = npt.NDArray[np.bool_]


class ReplaySkips:
    """What the risk rules say the replay may skip in one chunk; with `skip_refused=False`, nothing."""

    def __init__(self, rules: RiskPipeline, clock: SimulatedClock, symbols: tuple[str, ...], on: bool) -> None:
        self.rules, self.clock, self.symbols, self.on = rules, clock, symbols, on
        self._set = frozenset(symbols)

    def blocked(self) -> Blocked:
        """What the rules block now, until risk's state changes."""
        return self.rules.blocked(self._set, self.clock.now_ms())

    def muted(self) -> tuple[str, ...] | frozenset[str]:
        """The symbols to mute in the replay: those blocked (none with `skip_refused=False`)."""
        blocked = self.blocked() if self.on else NONE
        return self.symbols if blocked is ALL else blocked

    def wanted(self, batch: SignalBatch, source: str) -> Bools:
        """The signal bars to stop at: all of them, less the signals a rule refuses on their own (asked
        once per kind of signal: symbol, direction, confidence, since such an answer reads nothing else)."""
        wanted = batch.mask  # a fresh array
        rows, cols = np.nonzero(wanted)
        if not self.on or not len(rows):
            return wanted
        # Group the signals by kind in numpy: a Python object per signal would cost more than the skip saves.
        sides, confidences = batch.direction[rows, cols], batch.confidence[rows, cols]
        order = np.lexsort((confidences, sides, cols))
        rows, cols, sides, confidences = rows[order], cols[order], sides[order], confidences[order]
        first = np.ones(len(order), np.bool_)
        first[1:] = (cols[1:] != cols[:-1]) | (sides[1:] != sides[:-1]) | (confidences[1:] != confidences[:-1])
        starts = np.flatnonzero(first)
        refused = np.array([self._refused(int(cols[i]), int(sides[i]), float(confidences[i]), source) for i in starts])
        if refused.any():
            drop = refused[np.cumsum(first) - 1]
            wanted[rows[drop], cols[drop]] = False
        return wanted

    def _refused(self, s: int, side: int, confidence: float, source: str) -> bool:
        direction = Direction.LONG if side > 0 else Direction.SHORT
        return self.rules.signal_refusal(Signal(self.symbols[s], direction, confidence, source, 0)) is not None
