"""Vectorised trigger search over a TriggerTable: a float64 prefilter that must never miss a trigger.

Split out of triggers.py (a module past ~400 lines is split along its seams): the exact predicates
(triggers.py) decide every fill, but they run only where this search says something *could* have
triggered: `first_trigger_bar` looks at a whole chunk of bars for all resting orders at once and
returns the first bar where any order's condition is met by that bar's range, so the engine's
per-order Python runs only on those bars (DESIGN.md, "Speed by design"). Import it from
`quantum_trader.sim.triggers`; that is the public face.

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

Mark-price orders (`use_mark`) are searched on the mark series when one is passed; Binance compares
the mark truncated down to the price tick (§2.1), so pass truncated mark bars, or the prefilter could
miss a "P ≤ trigger" order by up to one tick. Without mark series every order is searched on the
series given, which is conservative only if it envelopes both (max of highs, min of lows).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .trigger_table import F64, I64, Bools, TriggerKind, TriggerTable, gather_prices

#: Default relative slack of the float prefilter (see the module docstring).
EPS_REL = 1e-9
_FIRST_BLOCK = 64
_MAX_BLOCK = 1024
_TRAILING = int(TriggerKind.TRAILING)  # a plain int: comparing an int8 array with an IntEnum is 7x slower


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
        hi = gather_prices(high, mark_high, self.use_mark, slice(t0, t1), self.sym)
        lo = gather_prices(low, mark_low, self.use_mark, slice(t0, t1), self.sym)
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
    hi = gather_prices(high, mark_high, use_mark, t, sym)
    lo = gather_prices(low, mark_low, use_mark, t, sym)
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
