"""The bars a replay's caller asked to stop at, less the symbols it has muted.

The backtest asks the replay to stop at every bar with a signal; it mutes a symbol whose request cannot
lead anywhere (it already holds a position, or every slot is taken), so the replay does not suspend at
bars where nothing can happen. Muting changes a version number; a chunk's plan recomputes its remaining
bars only when the version it was computed under is stale, which keeps `next_stop` a binary search.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Bools = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
#: Returned by `next_stop` when nothing is requested any more in the chunk.
NEVER = 1 << 62
_NO_BARS: I64 = np.zeros(0, np.int64)


@dataclass(slots=True)
class StopPlan:
    """Requested stops of one chunk: `bars` are the rows (from `offset` on) with an unmuted request."""

    mask: Bools
    bars: I64
    offset: int
    version: int
    #: The rows with any request, muted or not: the plan's bars whenever nothing is muted.
    every_bar: I64


class StopRequests:
    """The muted symbols (columns) of one replayer, and the stop plans of its chunks."""

    def __init__(self, index: Mapping[str, int]) -> None:
        self._index = index
        self._muted = np.zeros(len(index), np.bool_)
        self._muted_set: frozenset[str] = frozenset()
        self._version = 0

    def mute(self, symbols: Iterable[str]) -> None:
        """Ignore requests for exactly these symbols from now on (an empty set unmutes all).

        The backtest calls this after every step, mostly with the set it gave last time (with hundreds
        of positions open, hundreds of symbols): an unchanged set is told by one set comparison."""
        given = symbols if isinstance(symbols, frozenset) else frozenset(symbols)
        before = self._muted_set
        if given == before:
            return
        # A step mostly adds or drops a symbol or two (a position opened or closed): only those columns change.
        muted = self._muted.copy()
        index = self._index
        for symbol in before - given:
            muted[index[symbol]] = False
        for symbol in given - before:
            muted[index[symbol]] = True
        # Another set is other columns (one column per symbol): the plans are stale.
        self._muted, self._muted_set = muted, given
        self._version += 1

    def plan(self, stops: Bools | None, n_bars: int) -> StopPlan | None:
        """The request mask and its bars; None when nothing is requested."""
        if stops is None:
            return None
        mask = np.asarray(stops, np.bool_)
        if mask.shape != (n_bars, len(self._index)):
            raise ValueError(f"stops must have the chunk's shape {(n_bars, len(self._index))}, got {mask.shape}")
        every_bar = np.flatnonzero(mask.any(axis=1))
        return StopPlan(mask, every_bar, 0, self._version - 1, every_bar)

    def next_stop(self, plan: StopPlan | None, t: int) -> int:
        """First requested (unmuted) bar at or after t; `NEVER` when there is none."""
        if plan is None:
            return NEVER
        if plan.version != self._version:  # the remaining bars without the muted columns
            plan.bars, plan.offset, plan.version = self._unmuted_bars(plan, t), t, self._version
            if plan.bars is plan.every_bar:
                plan.offset = 0
        i = int(plan.bars.searchsorted(t - plan.offset, side="left"))
        return int(plan.bars[i]) + plan.offset if i < len(plan.bars) else NEVER

    def _unmuted_bars(self, plan: StopPlan, t: int) -> I64:
        """The rows from t on with an unmuted request (offset by t), but without a pass over the rest of the
        chunk when nothing or everything is muted: a backtest of one symbol mutes it at every entry and unmutes
        it at every exit, and each pass cost the chunk's remaining rows."""
        muted = len(self._muted_set)
        if muted == 0:
            return plan.every_bar
        if muted == len(self._index):
            return _NO_BARS
        return np.flatnonzero(plan.mask[t:][:, ~self._muted].any(axis=1))

    def wanted_at(self, plan: StopPlan, t: int) -> I64:
        """The columns with an unmuted request at bar t."""
        columns: I64 = (plan.mask[t] & ~self._muted).nonzero()[0]
        return columns
