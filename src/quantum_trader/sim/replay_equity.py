"""Where a chunk's equity first closes at or below a floor: the daily loss limit's watch, in arrays.

A live session reads its equity at least once a minute, so its daily loss limit acts within a minute of
the account crossing it, open losses included. A replay that skips quiet bars must not skip that moment:
between two events the positions stand still, so the equity at each bar's close is the wallet plus
Σ amount × (mark close − entry), one array per chunk. `first_breach` finds the first close at or below
the floor in floats (with a margin, so a close exactly at the floor is never missed); the replay then
suspends there and the caller reads the exact Decimal equity, which decides.

The sum is kept per symbol and updated only for symbols whose position may have changed (the replay's
event sink names them), so hundreds of open positions cost one column each when they change, not on
every step.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from .replay_grid import GridBars
from .state import SimState

F64 = npt.NDArray[np.float64]
#: Relative margin of the float search: the sum of a chunk's columns drifts far less than this, so every
#: close the exact equity puts at or below the floor is found (a few more are read and pass).
_MARGIN = 1e-9


class EquityWatch:
    """The unrealised P&L at each close of the current chunk, per open position and summed."""

    def __init__(self, state: SimState, index: dict[str, int]) -> None:
        self.state, self.index = state, index
        #: The equity at or below which the caller wants the replay to suspend; None watches nothing.
        self.floor: Decimal | None = None
        self._grid: GridBars | None = None
        self._path: F64 | None = None
        self._terms: dict[str, tuple[float, float]] = {}  # symbol: (Σ amount, Σ amount × entry) in the path
        self._marks: dict[str, F64] = {}  # the chunk's mark closes per symbol, once needed
        self._dirty: set[str] = set()
        #: The last search: (from bar, need, first bar at or after it at or below need, or None to the chunk's
        #: end). The replay asks again after every step; while neither the sum nor need changed, it is the answer.
        self._found: tuple[int, float, int | None] | None = None
        self._need: tuple[Decimal, Decimal, float] | None = None  # (floor, wallet, need) of the last reading

    def start_chunk(self, grid: GridBars) -> None:
        """A new chunk: the sum is rebuilt from the open positions when it is next needed."""
        self._grid, self._path, self._found = grid, None, None
        self._terms.clear()
        self._marks.clear()
        self._dirty.clear()

    def position_changed(self, symbol: str) -> None:
        """`symbol`'s position may have changed (a fill, a liquidation): its term is read again."""
        self._dirty.add(symbol)

    def first_breach(self, start: int, horizon: int) -> int | None:
        """The first bar in [start, horizon) whose close may put equity at or below the floor, or None."""
        floor, grid = self.floor, self._grid
        if floor is None or grid is None or start >= horizon:
            return None
        path = self._current_path(grid, start)
        need = self._need_below(floor)
        if not self._terms:  # no open position: the equity is the wallet at every close
            return start if need >= 0 else None
        found = self._found
        if found is None or found[1] != need or found[0] > start or (found[2] is not None and found[2] < start):
            below = np.flatnonzero(path[start:] <= need)
            found = self._found = (start, need, start + int(below[0]) if below.size else None)
        return found[2] if found[2] is not None and found[2] < horizon else None

    def _need_below(self, floor: Decimal) -> float:
        """The unrealised P&L at or below which equity is at the floor (with the search's margin): read again
        only when the floor or the wallet (a fill, funding) changed."""
        wallet, memo = self.state.account.wallet_balance, self._need
        if memo is None or memo[0] is not floor or memo[1] is not wallet:
            need = float(floor - wallet) + _MARGIN * max(1.0, abs(float(floor)))
            memo = self._need = (floor, wallet, need)
        return memo[2]

    def _current_path(self, grid: GridBars, start: int) -> F64:
        """The sum for the open positions, kept right from bar `start` on (the search never looks back)."""
        path = self._path
        if path is None:
            path = self._path = np.zeros(len(grid), np.float64)
            self._found = None
            self._dirty = {p.symbol for p in self.state.account.open_positions()}
        for symbol in self._dirty:
            if symbol not in self.index:
                continue
            term = self._term(symbol)
            old = self._terms.get(symbol, (0.0, 0.0))
            if term == old:
                continue
            marks = self._marks.get(symbol)
            if marks is None:
                marks = self._marks[symbol] = self._mark_closes(grid, symbol)
            path[start:] += (term[0] - old[0]) * marks[start:] - (term[1] - old[1])
            self._found = None
            if term == (0.0, 0.0):
                self._terms.pop(symbol, None)
            else:
                self._terms[symbol] = term
        self._dirty.clear()
        return path

    def _term(self, symbol: str) -> tuple[float, float]:
        amount = entry_value = 0.0
        for position in self.state.account.positions_of(symbol):
            if position.amount:
                amount += float(position.amount)
                entry_value += float(position.amount * position.entry_price)
        return amount, entry_value

    def _mark_closes(self, grid: GridBars, symbol: str) -> F64:
        """The symbol's mark at each close: the recorded mark, else the last; a bar without data keeps the
        mark before it (the simulator's own before the chunk's first)."""
        s = self.index[symbol]
        marks = grid.close[:, s].copy()
        if grid.mark is not None:
            recorded = grid.mark.close[:, s]
            marks = np.where(np.isnan(recorded), marks, recorded)
        missing = np.isnan(marks)
        if missing.any():
            held = np.where(missing, 0, np.arange(len(marks)))
            np.maximum.accumulate(held, out=held)
            marks = marks[held]
            marks[np.isnan(marks)] = float(self.state.mark_of(symbol))
        return marks
