"""Trigger predicates for resting conditional orders: exact in Decimal, and a vectorised float prefilter.

The exact predicates (`stop_triggered`, `trailing_triggered`) are binance_futures.md §2.1 verbatim and
decide every fill. They run only where the vectorised search says something *could* have triggered:
`first_trigger_bar` looks at a whole chunk of bars for all resting orders at once and returns the
first bar where any order's condition is met by that bar's range, so the engine's per-order Python
runs only on those bars (DESIGN.md, "Speed by design").

The search is a *conservative prefilter*: it may report a bar where, in Decimal, nothing fires (the
engine then resumes at the next bar), but it must never miss one. Prices and triggers are Decimals
converted to float64, so each comparison gets a relative slack `eps_rel` (1e-9, some four million
times a float64 rounding error and far below any tick) in the direction that admits more bars.

Per-bar cost does not grow with the number of orders: fixed triggers (STOP, TAKE_PROFIT, LIQUIDATION)
are folded into one "rising" and one "falling" threshold per symbol (the lowest trigger of all
"P ≥ trigger" orders, the highest of all "P ≤ trigger" orders), so a block of bars is tested with two
[bars × symbols] comparisons. Trailing stops have no fixed trigger; they are searched per order with
a running extreme (np.fmax.accumulate) instead of being flagged on every bar: a SELL trailing stop is
a candidate at bar t when the highest price up to and including t has reached the activation price
and the bar's low is at or below that highest × (1 − callbackRate). Counting bar t's whole high is
conservative (inside the bar the high may come after the low), and so is tracking the extreme from
placement rather than from activation (a smaller extreme only fires later), so it never misses; the
engine replays the bar along the intra-bar path.

Sign conventions: `side_sign` is the side of the order that the trigger fires (+1 BUY, −1 SELL); for
LIQUIDATION it is the side of the liquidation order, so a long's liquidation price (mark ≤ LP) is a
SELL and behaves like a SELL stop. A trailing order's `trigger` column holds its activation price
(NaN: none, i.e. active from placement) and `extreme` the highest (SELL) / lowest (BUY) price seen
since placement, which the engine keeps current with `TriggerTable.advance_trailing`.

Mark-price orders (`use_mark`) are searched on the mark series when one is passed; Binance compares
the mark truncated down to the price tick (§2.1), so pass truncated mark bars, or the prefilter could
miss a "P ≤ trigger" order by up to one tick. Without mark series every order is searched on the
series given, which is conservative only if it envelopes both (max of highs, min of lows).
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.enums import OrderType

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
G = TypeVar("G", bound=np.generic)

#: Default relative slack of the float prefilter (see the module docstring).
EPS_REL = 1e-9
_FIRST_BLOCK = 64
_MAX_BLOCK = 1024
_HUNDRED = Decimal(100)


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


def _check_side(side_sign: int) -> None:
    if side_sign not in (1, -1):
        raise ValueError(f"side_sign must be +1 (BUY) or -1 (SELL), got {side_sign}")


def trigger_direction(kind: TriggerKind, side_sign: int) -> int:
    """+1 when the order fires on P ≥ trigger, −1 on P ≤ trigger (trailing: the side of the final move)."""
    _check_side(side_sign)
    return -side_sign if kind is TriggerKind.TAKE_PROFIT else side_sign


def stop_triggered(kind: TriggerKind, side_sign: int, price: Decimal, trigger: Decimal) -> bool:
    """§2.1: STOP BUY on P ≥ trigger, SELL on P ≤; TAKE_PROFIT the reverse; LIQUIDATION like STOP."""
    if kind is TriggerKind.TRAILING:
        raise ValueError("a trailing stop has no fixed trigger; use trailing_triggered")
    if trigger_direction(kind, side_sign) > 0:
        return price >= trigger
    return price <= trigger


def trailing_triggered(
    side_sign: int, price: Decimal, extreme: Decimal, callback_rate: Decimal, activation: Decimal | None
) -> bool:
    """§2.1 TRAILING_STOP_MARKET at price P; `extreme` is the highest (SELL) / lowest (BUY) P so far.

    `extreme` is first extended by P itself; `callback_rate` is in percent, as on the wire (1 = 1 %).
    """
    _check_side(side_sign)
    rate = callback_rate / _HUNDRED
    if side_sign < 0:
        highest = max(extreme, price)
        return (activation is None or highest >= activation) and price <= highest * (1 - rate)
    lowest = min(extreme, price)
    return (activation is None or lowest <= activation) and price >= lowest * (1 + rate)


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
        #: (cache key, search plan) of the last search; owned by `_Plan.of`.
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
        hi = _gather(high, mark_high, use_mark, slice(t0, t1), sym)
        lo = _gather(low, mark_low, use_mark, slice(t0, t1), sym)
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


def _gather(last: F64, mark: F64 | None, use_mark: Bools, rows: slice | int, cols: npt.NDArray[np.integer[Any]]) -> F64:
    """Prices of the given orders' symbols over `rows`, from the mark series where an order uses it."""
    out: F64 = last[rows][..., cols]
    if mark is not None and use_mark.any():
        out = np.where(use_mark, mark[rows][..., cols], out)
    return out


def _fold(n_symbols: int, sym: npt.NDArray[np.int32], thr: F64, mask: Bools, up: bool) -> F64 | None:
    """Per-symbol loosest threshold of the masked orders: the lowest "P ≥", the highest "P ≤"."""
    if not mask.any():
        return None
    out = np.full(n_symbols, np.inf if up else -np.inf)
    (np.minimum if up else np.maximum).at(out, sym[mask], thr[mask])
    return out


class _Plan:
    """What a search needs from the fixed triggers, cached on the table until its version changes."""

    def __init__(self, table: TriggerTable, n_symbols: int, eps: float, with_mark: bool) -> None:
        sym, direction, trig = table.symbol_index, table.direction, table.trigger
        if sym.size and int(sym.max()) >= n_symbols:
            raise ValueError(f"symbol_index {int(sym.max())} out of range for {n_symbols} symbols")
        is_trailing = table.kind == _TRAILING
        self.fixed = np.flatnonzero(~is_trailing)
        self.trailing = np.flatnonzero(is_trailing)
        #: Trigger loosened by eps in the direction that admits more bars (NaN for trailing rows).
        self.thr: F64 = trig - (eps * np.abs(trig)) * direction
        self.up = direction > 0
        on_mark = table.use_mark & ~is_trailing if with_mark else None
        on_last = ~is_trailing if on_mark is None else ~is_trailing & ~on_mark
        self.last = self._folds(n_symbols, sym, on_last)
        self.mark = (None, None) if on_mark is None else self._folds(n_symbols, sym, on_mark)

    def _folds(self, n_symbols: int, sym: npt.NDArray[np.int32], mask: Bools) -> tuple[F64 | None, F64 | None]:
        return (_fold(n_symbols, sym, self.thr, mask & self.up, True),
                _fold(n_symbols, sym, self.thr, mask & ~self.up, False))  # fmt: skip

    @staticmethod
    def of(table: TriggerTable, n_symbols: int, eps: float, with_mark: bool) -> _Plan:
        cache_key = (table.version, n_symbols, eps, with_mark)
        cached = table.search_cache
        if cached is not None and cached[0] == cache_key and isinstance(cached[1], _Plan):
            return cached[1]
        plan = _Plan(table, n_symbols, eps, with_mark)
        table.search_cache = (cache_key, plan)
        return plan


def _rows_hit(high: F64, low: F64, thresholds: tuple[F64 | None, F64 | None]) -> Bools:
    """Bars of the block at which some symbol's high/low reaches its folded threshold."""
    up, dn = thresholds
    if up is not None and dn is not None:
        hit = high >= up
        hit |= low <= dn
    elif up is not None:
        hit = high >= up
    elif dn is not None:
        hit = low <= dn
    else:
        return np.zeros(len(high), np.bool_)
    rows: Bools = np.logical_or.reduce(hit, axis=1)
    return rows


class _Trailing:
    """Trailing stops in signed space: SELL tracks +high and tests +low, BUY tracks −low and tests −high.

    In that space both sides read "running max ≥ activation and tested ≤ running max × factor".
    """

    def __init__(self, table: TriggerTable, slots: I64, eps: float) -> None:
        self.keys = table.key[slots]
        self.sym = table.symbol_index[slots].astype(np.int64)
        self.use_mark = table.use_mark[slots]
        self.sell = table.side_sign[slots] < 0
        rate, act, ext = table.callback_rate[slots] / 100.0, table.trigger[slots], table.extreme[slots]
        self.carry: F64 = np.where(self.sell, ext, -ext)
        self.act: F64 = np.where(self.sell, act * (1 - eps), -act * (1 + eps))
        self.factor: F64 = np.where(self.sell, (1 - rate) * (1 + eps), (1 + rate) * (1 - eps))

    def hits(self, running: F64, tested: F64) -> Bools:
        active = (running >= self.act) | np.isnan(self.act)
        return active & (tested <= running * self.factor)

    def block(self, high: F64, low: F64, mark_high: F64 | None, mark_low: F64 | None, t0: int, t1: int) -> Bools:
        """Candidates [bars, orders] over [t0, t1); advances the carried extreme to t1."""
        hi = _gather(high, mark_high, self.use_mark, slice(t0, t1), self.sym)
        lo = _gather(low, mark_low, self.use_mark, slice(t0, t1), self.sym)
        tracked = np.where(self.sell, hi, -lo)
        running = np.fmax.accumulate(np.vstack([self.carry, tracked]), axis=0)[1:]
        self.carry = running[-1]
        return self.hits(running, np.where(self.sell, lo, -hi))


def _check_bars(high: F64, low: F64, mark_high: F64 | None, mark_low: F64 | None) -> None:
    if high.ndim != 2 or high.shape != low.shape:
        raise ValueError(f"high and low must be [bars, symbols] of one shape, got {high.shape}, {low.shape}")
    if (mark_high is None) != (mark_low is None):
        raise ValueError("pass both mark_high and mark_low, or neither")
    if mark_high is not None and mark_low is not None and not mark_high.shape == mark_low.shape == high.shape:
        raise ValueError("mark bars must have the shape of the last-price bars")


def first_trigger_bar(
    table: TriggerTable,
    high: F64,
    low: F64,
    eps_rel: float = EPS_REL,
    *,
    start: int = 0,
    mark_high: F64 | None = None,
    mark_low: F64 | None = None,
) -> tuple[int, I64] | None:
    """First bar t ≥ start whose range could meet any order's condition, and the keys (sorted) that could.

    Conservative: never misses a trigger the exact Decimal check would see, NaN bars never trigger.
    Bars are scanned in blocks that double from 64 to 1024 rows, so a trigger near `start` is found
    without touching the rest of the chunk and memory stays bounded by one block.
    """
    _check_bars(high, low, mark_high, mark_low)
    if len(table) == 0:
        return None
    plan = _Plan.of(table, high.shape[1], eps_rel, mark_high is not None)
    trailing = _Trailing(table, plan.trailing, eps_rel) if plan.trailing.size else None
    t0, block = max(0, start), _FIRST_BLOCK
    while t0 < high.shape[0]:
        t1 = min(high.shape[0], t0 + block)
        rows = _rows_hit(high[t0:t1], low[t0:t1], plan.last)
        if mark_high is not None and mark_low is not None:
            rows |= _rows_hit(mark_high[t0:t1], mark_low[t0:t1], plan.mark)
        cand = trailing.block(high, low, mark_high, mark_low, t0, t1) if trailing else None
        if cand is not None:
            rows |= cand.any(axis=1)
        if rows.any():
            t = t0 + int(rows.argmax())
            keys = _fixed_keys_at(table, plan, high, low, mark_high, mark_low, t)
            if trailing is not None and cand is not None:
                keys = np.concatenate([keys, trailing.keys[cand[t - t0]]])
            return t, np.sort(keys)
        t0, block = t1, min(2 * block, _MAX_BLOCK)
    return None


def _fixed_keys_at(
    table: TriggerTable, plan: _Plan, high: F64, low: F64, mark_high: F64 | None, mark_low: F64 | None, t: int
) -> I64:
    slots = plan.fixed
    sym, use_mark = table.symbol_index[slots].astype(np.int64), table.use_mark[slots]
    hi = _gather(high, mark_high, use_mark, t, sym)
    lo = _gather(low, mark_low, use_mark, t, sym)
    thr = plan.thr[slots]
    hit = np.where(plan.up[slots], hi >= thr, lo <= thr)
    return table.key[slots[hit]]


def triggered_now(
    table: TriggerTable, last: F64, mark: F64 | None, use_mark: Bools | None = None, eps_rel: float = EPS_REL
) -> I64:
    """Tick mode: keys (sorted) of the orders whose condition holds at one price per symbol.

    `use_mark` overrides the table's column (aligned with its slots); `mark=None` means last for all.
    Trailing stops are tested against their extreme extended by the current price (not stored: call
    `advance_trailing` afterwards).
    """
    n = len(table)
    if n == 0:
        return np.zeros(0, np.int64)
    sym = table.symbol_index.astype(np.int64)
    flags = table.use_mark if use_mark is None else np.asarray(use_mark, np.bool_)
    if flags.shape != (n,):
        raise ValueError(f"use_mark must have one flag per order ({n}), got shape {flags.shape}")
    price = last[sym] if mark is None else np.where(flags, mark[sym], last[sym])
    thr = table.trigger - (eps_rel * np.abs(table.trigger)) * table.direction
    is_trailing = table.kind == _TRAILING
    hit = ~is_trailing & np.where(table.direction > 0, price >= thr, price <= thr)
    slots = np.flatnonzero(is_trailing)
    if slots.size:
        trailing = _Trailing(table, slots, eps_rel)
        signed = np.where(trailing.sell, price[slots], -price[slots])
        hit[slots] = trailing.hits(np.fmax(trailing.carry, signed), signed)
    return np.sort(table.key[hit])
