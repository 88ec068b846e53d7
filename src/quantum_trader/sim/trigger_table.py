"""The TriggerTable: every resting trigger as float64/int8 columns, the input of the vectorised search.

Split out of triggers.py (a module past ~400 lines is split along its seams): this module owns the
*storage* of resting triggers — `TriggerKind`, the `direction` each (kind, side) fires in, and the
struct-of-arrays table the engine adds to and removes from — while trigger_search.py reads the table
and triggers.py keeps the exact Decimal predicates. `TriggerKind` and `trigger_direction` live here,
not in triggers.py, because they define the table's `kind` and `direction` columns and triggers.py
re-exports this module: putting them there would make the two modules import each other.
Import everything from `quantum_trader.sim.triggers`; that is the public face.

Sign conventions: `side_sign` is the side of the order that the trigger fires (+1 BUY, −1 SELL); for
LIQUIDATION it is the side of the liquidation order, so a long's liquidation price (mark ≤ LP) is a
SELL and behaves like a SELL stop. A trailing order's `trigger` column holds its activation price
(NaN: none, i.e. active from placement) and `extreme` the highest (SELL) / lowest (BUY) price seen
since placement, which the engine keeps current with `TriggerTable.advance_trailing`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.enums import OrderType

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
G = TypeVar("G", bound=np.generic)


class TriggerKind(IntEnum):
    """Families of trigger condition; the value is what the `kind` column of a TriggerTable holds."""

    STOP = 0
    TAKE_PROFIT = 1
    TRAILING = 2
    LIQUIDATION = 3

    @classmethod
    def from_order_type(cls, order_type: OrderType) -> TriggerKind:
        if order_type.is_stop_family:
            return cls.STOP
        if order_type.is_take_profit_family:
            return cls.TAKE_PROFIT
        if order_type is OrderType.TRAILING_STOP_MARKET:
            return cls.TRAILING
        raise ValueError(f"{order_type.value} has no trigger")


def check_side(side_sign: int) -> None:
    """Reject a `side_sign` other than +1 (BUY) or −1 (SELL)."""
    if side_sign not in (1, -1):
        raise ValueError(f"side_sign must be +1 (BUY) or -1 (SELL), got {side_sign}")


def trigger_direction(kind: TriggerKind, side_sign: int) -> int:
    """+1 when the order fires on P ≥ trigger, −1 on P ≤ trigger (trailing: the side of the final move)."""
    check_side(side_sign)
    return -side_sign if kind is TriggerKind.TAKE_PROFIT else side_sign


_TRAILING = int(TriggerKind.TRAILING)  # a plain int: comparing an int8 array with an IntEnum is 7x slower


class TriggerTable:
    """Struct-of-arrays of N resting triggers, O(1) amortised add/remove by the engine's integer key.

    Removal swaps the last row into the freed slot, so slots are not stable: address orders by key.
    Column properties return read-only views of the first N rows.
    """

    def __init__(self, capacity: int = 64) -> None:
        capacity = max(1, capacity)
        self._n = 0
        self._slots: dict[int, int] = {}
        self._version = 0
        #: (cache key, search plan) of the last search; owned by `trigger_search._Plan.of`.
        self.search_cache: tuple[tuple[int, int, float, bool], object] | None = None
        self._symbol_index = np.zeros(capacity, np.int32)
        self._kind = np.zeros(capacity, np.int8)
        self._side_sign = np.zeros(capacity, np.int8)
        self._direction = np.zeros(capacity, np.int8)
        self._use_mark = np.zeros(capacity, np.bool_)
        self._key = np.zeros(capacity, np.int64)
        self._trigger = np.zeros(capacity, np.float64)
        self._callback_rate = np.zeros(capacity, np.float64)
        self._extreme = np.zeros(capacity, np.float64)

    def _columns(self) -> tuple[npt.NDArray[np.generic], ...]:
        return (self._symbol_index, self._kind, self._side_sign, self._direction, self._use_mark,
                self._key, self._trigger, self._callback_rate, self._extreme)  # fmt: skip

    def _grow(self) -> None:
        cap = 2 * len(self._key)
        grown = []
        for col in self._columns():
            new = np.zeros(cap, col.dtype)
            new[: self._n] = col[: self._n]
            grown.append(new)
        (self._symbol_index, self._kind, self._side_sign, self._direction, self._use_mark,
         self._key, self._trigger, self._callback_rate, self._extreme) = grown  # fmt: skip

    def __len__(self) -> int:
        return self._n

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    @property
    def version(self) -> int:
        """Bumped on every change that moves a fixed trigger; searches cache per-symbol thresholds on it."""
        return self._version

    def add(
        self,
        key: int,
        symbol_index: int,
        kind: TriggerKind,
        side_sign: int,
        trigger: float,
        *,
        use_mark: bool = False,
        callback_rate: float = 0.0,
        extreme: float = float("nan"),
    ) -> None:
        """Register a resting trigger. Trailing: `trigger` = activation (NaN: none), rate in percent."""
        if key in self._slots:
            raise ValueError(f"trigger key {key} is already in the table")
        direction = trigger_direction(kind, side_sign)
        if symbol_index < 0:
            raise ValueError(f"symbol_index must be >= 0, got {symbol_index}")
        if kind is not TriggerKind.TRAILING and not np.isfinite(trigger):
            raise ValueError(f"trigger must be finite, got {trigger}")
        if kind is TriggerKind.TRAILING and not (callback_rate > 0 and np.isfinite(extreme)):
            raise ValueError("a trailing stop needs callback_rate > 0 and a finite starting extreme")
        if self._n == len(self._key):
            self._grow()
        i = self._n
        self._symbol_index[i], self._kind[i], self._side_sign[i] = symbol_index, kind, side_sign
        self._direction[i], self._use_mark[i], self._key[i] = direction, use_mark, key
        self._trigger[i], self._callback_rate[i], self._extreme[i] = trigger, callback_rate, extreme
        self._slots[key] = i
        self._n += 1
        self._version += 1

    def remove(self, key: int) -> None:
        """Swap-remove; raises KeyError for an unknown key."""
        i = self._slots.pop(key)
        last = self._n - 1
        if i != last:
            for col in self._columns():
                col[i] = col[last]
            self._slots[int(self._key[i])] = i
        self._n = last
        self._version += 1

    def discard(self, key: int) -> bool:
        if key not in self._slots:
            return False
        self.remove(key)
        return True

    def slot(self, key: int) -> int:
        return self._slots[key]

    def update_trigger(self, key: int, trigger: float) -> None:
        """Move a trigger in place (e.g. a liquidation price after a margin change)."""
        slot = self._slots[key]
        if self._kind[slot] != _TRAILING and not np.isfinite(trigger):
            raise ValueError(f"trigger must be finite, got {trigger}")
        self._trigger[slot] = trigger
        self._version += 1

    def set_extreme(self, key: int, extreme: float) -> None:
        """Store a trailing stop's exact extreme after the engine replayed a bar for it."""
        self._extreme[self._slots[key]] = extreme

    def advance_trailing(
        self, high: F64, low: F64, t0: int, t1: int, *, mark_high: F64 | None = None, mark_low: F64 | None = None
    ) -> None:
        """Extend every trailing stop's extreme over bars [t0, t1) (NaN bars ignored).

        Call it for the bars a search skipped, so the next search starts from current extremes; a
        stale (too mild) extreme would make the prefilter miss. Tick mode: pass `last[None, :]` as
        both high and low (and the mark likewise) with t0=0, t1=1.
        """
        slots = np.flatnonzero(self._kind[: self._n] == _TRAILING)
        if t1 <= t0 or slots.size == 0:
            return
        sym, use_mark = self._symbol_index[slots], self._use_mark[slots]
        hi = gather_prices(high, mark_high, use_mark, slice(t0, t1), sym)
        lo = gather_prices(low, mark_low, use_mark, slice(t0, t1), sym)
        sell = self._side_sign[slots] < 0
        ext = self._extreme[slots]
        self._extreme[slots] = np.where(
            sell, np.fmax(ext, np.fmax.reduce(hi, axis=0)), np.fmin(ext, np.fmin.reduce(lo, axis=0))
        )

    @property
    def symbol_index(self) -> npt.NDArray[np.int32]:
        return _read_only(self._symbol_index, self._n)

    @property
    def kind(self) -> npt.NDArray[np.int8]:
        return _read_only(self._kind, self._n)

    @property
    def side_sign(self) -> npt.NDArray[np.int8]:
        return _read_only(self._side_sign, self._n)

    @property
    def direction(self) -> npt.NDArray[np.int8]:
        """+1 for "P ≥ trigger", −1 for "P ≤ trigger" (see `trigger_direction`)."""
        return _read_only(self._direction, self._n)

    @property
    def use_mark(self) -> Bools:
        return _read_only(self._use_mark, self._n)

    @property
    def key(self) -> I64:
        return _read_only(self._key, self._n)

    @property
    def trigger(self) -> F64:
        return _read_only(self._trigger, self._n)

    @property
    def callback_rate(self) -> F64:
        return _read_only(self._callback_rate, self._n)

    @property
    def extreme(self) -> F64:
        return _read_only(self._extreme, self._n)


def _read_only(col: npt.NDArray[G], n: int) -> npt.NDArray[G]:
    view = col[:n]
    view.flags.writeable = False
    return view


def gather_prices(
    last: F64, mark: F64 | None, use_mark: Bools, rows: slice | int, cols: npt.NDArray[np.integer[Any]]
) -> F64:
    """Prices of the given orders' symbols over `rows`, from the mark series where an order uses it."""
    out: F64 = last[rows][..., cols]
    if mark is not None and use_mark.any():
        out = np.where(use_mark, mark[rows][..., cols], out)
    return out
