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

With `drawdown` set (a backtest), the same sum gives the equity at every close the replay passes to a
`DrawdownWatch` (replay_drawdown.py): `record` is told each stretch of closes at which the positions stand.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from .replay_drawdown import DrawdownWatch, Reading
from .replay_grid import GridBars
from .replay_mark import recorded_price
from .state import SimState

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
#: Where a close's mark comes from: the last on the tick, a recorded mark, the simulator's own (no bar yet).
_LAST, _RECORDED, _OWN = 0, 1, 2
#: A symbol's mark at each close of the chunk, where each came from, and the simulator's own mark then.
Marks = tuple[F64, I8, Decimal]
#: Relative margin of the float search: the sum of a chunk's columns drifts far less than this, so every
#: close the exact equity puts at or below the floor is found (a few more are read and pass).
_MARGIN = 1e-9
#: The sum is worked out this many bars ahead at least: hundreds of open positions cost a numpy call each.
_BLOCK = 1024


class EquityWatch:
    """The unrealised P&L at each close of the current chunk, per open position and summed."""

    def __init__(self, state: SimState, index: dict[str, int]) -> None:
        self.state, self.index = state, index
        #: The equity at or below which the caller wants the replay to suspend; None watches nothing.
        self.floor: Decimal | None = None
        #: Told the equity at every close the replay passes (`record`); None watches nothing.
        self.drawdown: DrawdownWatch | None = None
        self._grid: GridBars | None = None
        self._path: F64 | None = None
        self._terms: dict[str, tuple[float, float]] = {}  # symbol: (Σ amount, Σ amount × entry) in the path
        self._marks: dict[str, Marks] = {}  # the chunk's mark closes per symbol and their sources, once needed
        self._dirty: set[str] = set()
        #: The last search: (from bar, need, first bar at or after it at or below need, or None before the bar it
        #: searched to, that bar). The replay asks again after every step; while neither the sum nor need
        #: changed, it is the answer.
        self._found: tuple[int, float, int | None, int] | None = None
        self._upto = 0  # the sum is right from the last start asked up to this bar
        self._wallet: tuple[Decimal, float] | None = None
        #: Closes `record` keeps for the next stretch: (from, to, the wallet and `_changes` then).
        self._waiting: tuple[int, int, Decimal, int] | None = None
        self._changes = 0  # positions that may have changed so far (`position_changed`)
        self._need: tuple[Decimal, Decimal, float] | None = None  # (floor, wallet, need) of the last reading

    def start_chunk(self, grid: GridBars) -> None:
        """A new chunk: the sum is rebuilt from the open positions when it is next needed."""
        self._grid, self._path, self._found, self._waiting = grid, None, None, None
        self._terms.clear()
        self._marks.clear()
        self._dirty.clear()

    def position_changed(self, symbol: str) -> None:
        """`symbol`'s position may have changed (a fill, a liquidation): its term is read again."""
        self._dirty.add(symbol)
        self._changes += 1

    def first_breach(self, start: int, horizon: int) -> int | None:
        """The first bar in [start, horizon) whose close may put equity at or below the floor, or None."""
        floor, grid = self.floor, self._grid
        if floor is None or grid is None or start >= horizon:
            return None
        path = self._current_path(grid, start, horizon)
        need = self._need_below(floor)
        if not self._terms:  # no open position: the equity is the wallet at every close
            return start if need >= 0 else None
        found = self._found
        if found is None or found[1] != need or found[0] > start or (found[2] is not None and found[2] < start) \
                or (found[2] is None and found[3] < horizon):
            below = (path[start:horizon] <= need).nonzero()[0]
            found = self._found = (start, need, start + int(below[0]) if below.size else None, horizon)
        return found[2] if found[2] is not None and found[2] < horizon else None

    def record(self, start: int, end: int, *, later: bool = False) -> None:
        """The closes [start, end) of the chunk, at which the wallet and every position stand as they are now,
        to `drawdown` (nothing without it). Calls come in time order; `start` never goes back. `later`: they
        may wait for the next stretch (a step's close and the quiet closes after it, told as one: this runs
        at every step); the replay calls `flush` before anything can change the account (a checkpoint)."""
        watch, grid = self.drawdown, self._grid
        if watch is None or grid is None:
            return
        wallet, waiting = self.state.account.wallet_balance, self._waiting
        if waiting is not None and waiting[1:] == (start, wallet, self._changes):
            start, self._waiting = waiting[0], None  # the same account since: one stretch
        else:
            self.flush()  # told before the step that follows (even with no close before it) changes anything
        if start >= end:
            return
        if later:
            self._waiting = (start, end, wallet, self._changes)
        else:
            self._tell(watch, grid, start, end, wallet)

    def flush(self) -> None:
        """The closes `record` was asked to keep for later, told now (before anything changes the account)."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None and self.drawdown is not None and self._grid is not None:
            self._tell(self.drawdown, self._grid, *waiting[:3])

    def _tell(self, watch: DrawdownWatch, grid: GridBars, start: int, end: int, wallet: Decimal) -> None:
        if self._path is not None and not self._dirty and not self._terms:  # flat: the wallet at every one of them
            watch.add(wallet)
            return
        path = self._current_path(grid, start, end)
        if not self._terms:
            watch.add(wallet)
            return
        watch.closes(self._wallet_float(wallet), path[start:end], lambda i: self._reading(wallet, start + i))

    def _wallet_float(self, wallet: Decimal) -> float:
        """`wallet` as a float, worked out again only when the wallet changed (a fill, funding)."""
        known = self._wallet
        if known is None or known[0] is not wallet:
            known = self._wallet = (wallet, float(wallet))
        return known[1]

    def _reading(self, wallet: Decimal, t: int) -> Reading:
        """The equity at close t in Decimal, as the account would read it there (the wallet plus each open
        position at the mark the sum holds in floats, set as the simulator sets it), worked out when asked:
        the positions are taken now, as they change; the arithmetic, which costs more, may never be needed
        (a lower close since the same peak replaces it). A symbol the replay does not play keeps its mark."""
        state, marks, held = self.state, self._marks, []
        for position in state.account.open_positions():
            if position.amount:
                symbol = position.symbol
                known = marks.get(symbol)
                if known is None and symbol in self.index and self._grid is not None:
                    known = marks[symbol] = self._mark_closes(self._grid, symbol)
                held.append((position.amount, position.entry_price, symbol, known))

        def read() -> Decimal:
            total = wallet
            for amount, entry, symbol, known in held:
                mark = state.mark_of(symbol) if known is None else _exact(known, t, state.instrument(symbol).tick_size)
                total += amount * (mark - entry)
            return total

        return read

    def _need_below(self, floor: Decimal) -> float:
        """The unrealised P&L at or below which equity is at the floor (with the search's margin): read again
        only when the floor or the wallet (a fill, funding) changed."""
        wallet, memo = self.state.account.wallet_balance, self._need
        if memo is None or memo[0] is not floor or memo[1] is not wallet:
            need = float(floor - wallet) + _MARGIN * max(1.0, abs(float(floor)))
            memo = self._need = (floor, wallet, need)
        return memo[2]

    def _current_path(self, grid: GridBars, start: int, end: int) -> F64:
        """The sum for the open positions, right on [start, end). It is worked out only as far as asked (in
        blocks of at least `_BLOCK` bars), so a position that changes costs the bars summed so far, not the
        rest of the chunk (a 50,000-bar chunk made each fill cost 50,000 bars, whether read or not); the
        search never looks back, so the bars before `start` are let go."""
        path = self._path
        if path is None:
            path = self._path = np.zeros(len(grid), np.float64)
            self._found, self._upto = None, 0
            self._dirty = {p.symbol for p in self.state.account.open_positions()}
        upto = self._upto = max(self._upto, start)
        if end <= upto and not self._dirty:
            return path
        for symbol in self._dirty:
            if symbol not in self.index:
                continue
            term = self._term(symbol)
            old = self._terms.get(symbol, (0.0, 0.0))
            if term == old:
                continue
            known = self._marks.get(symbol)
            if known is None:
                known = self._marks[symbol] = self._mark_closes(grid, symbol)
            path[start:upto] += (term[0] - old[0]) * known[0][start:upto] - (term[1] - old[1])
            self._found = None
            if term == (0.0, 0.0):
                self._terms.pop(symbol, None)
            else:
                self._terms[symbol] = term
        self._dirty.clear()
        if end > upto:
            self._extend(path, upto, min(len(path), max(end, upto + _BLOCK)))
        return path

    def _extend(self, path: F64, start: int, end: int) -> None:
        """The sum on [start, end), not worked out yet, from every open position's term."""
        part, entries = path[start:end], 0.0
        part.fill(0.0)
        for symbol, (amount, entry) in self._terms.items():
            part += amount * self._marks[symbol][0][start:end]
            entries += entry
        part -= entries
        self._upto = end

    def _term(self, symbol: str) -> tuple[float, float]:
        amount = entry_value = 0.0
        for position in self.state.account.positions_of(symbol):
            if position.amount:
                amount += float(position.amount)
                entry_value += float(position.amount * position.entry_price)
        return amount, entry_value

    def _mark_closes(self, grid: GridBars, symbol: str) -> Marks:
        """The symbol's mark at each close: the recorded mark, else the last; a bar without data keeps the
        mark before it (the simulator's own before the chunk's first); and where each came from (`_LAST`,
        `_RECORDED`, `_OWN`) with the simulator's own mark, so an exact reading sets the Decimal it would."""
        s = self.index[symbol]
        marks = grid.close[:, s].copy()
        source = np.full(len(marks), _LAST, np.int8)
        if grid.mark is not None:
            recorded = grid.mark.close[:, s]
            has = ~np.isnan(recorded)
            marks, source = np.where(has, recorded, marks), np.where(has, _RECORDED, source).astype(np.int8)
        missing = np.isnan(marks)
        if missing.any():
            held = np.where(missing, 0, np.arange(len(marks)))
            np.maximum.accumulate(held, out=held)
            marks, source = marks[held], source[held]
            own = np.isnan(marks)
            marks[own], source[own] = float(self.state.mark_of(symbol)), _OWN
        return marks, source, self.state.mark_of(symbol)


def _exact(known: Marks, t: int, tick: Decimal) -> Decimal:
    """The mark at close t as the simulator sets it from the float: a recorded mark as written, a last price in
    whole ticks, or the simulator's own mark where the chunk had no bar yet."""
    marks, source, own = known
    kind = int(source[t])
    if kind == _RECORDED:
        return recorded_price(float(marks[t]))
    if kind == _LAST:
        return Decimal(round(float(marks[t]) / float(tick))) * tick
    return own
