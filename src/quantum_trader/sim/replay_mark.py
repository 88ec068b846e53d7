"""One bar with its own mark-price bar: last and mark walk their recorded paths together.

`ExchangeSimulator.apply_bar` moves last and mark as one price (the mark follows the last), which is all a
replay can do without recorded marks. With a mark-price kline for the bar, each series follows its own
intrabar path (open, nearer extreme, farther extreme, close: barpath.intrabar_path) and the two advance
in lockstep, segment by segment, linearly in between. Along a segment the walk stops wherever either
series reaches a trigger, limit, activation or liquidation level (stepping's candidate levels), with the
series that reaches it exactly on the level and the other interpolated onto its tick, and settles there:
a MARK_PRICE stop fires where the mark crosses it even if the last never gets there, a CONTRACT_PRICE
stop where the last does, a liquidation where the mark does, each filling at the last price of that
moment. The first point is a jump (a gap, as in apply_bar). Stopping at a level that concerns only the
other series is harmless: nothing is due there, so settling does nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..domain.money import Rounding
from .barpath import intrabar_path
from .engine import ExchangeSimulator
from .events import Event
from .market import PriceUpdate
from .state import SimState
from .stepping import _candidate_levels, jump

Point = tuple[Decimal, Decimal]  # (last, mark)
OHLC = tuple[Decimal, Decimal, Decimal, Decimal]
F64 = npt.NDArray[np.float64]
ONE = Decimal(1)
MAX_STOPS = 10_000


class MarkBars(Protocol):
    """Mark-price OHLC aligned to a chunk ([T, S], NaN where none): marketdata.companions.MarkBars is one."""

    @property
    def open(self) -> F64: ...
    @property
    def high(self) -> F64: ...
    @property
    def low(self) -> F64: ...
    @property
    def close(self) -> F64: ...


def recorded_price(price: float) -> Decimal:
    """A recorded price as the decimal it was written as (floats parsed from short decimals round-trip)."""
    return Decimal(repr(float(price)))


def recorded_mark(marks: MarkBars | None, t: int, s: int) -> OHLC | None:
    """Bar t's recorded mark OHLC for column s (high and low widened to hold open and close), or None when
    there are no marks or none at that bar."""
    if marks is None:
        return None
    o, h, lo, c = (float(series[t, s]) for series in (marks.open, marks.high, marks.low, marks.close))
    if o != o or h != h or lo != lo or c != c:  # NaN: no mark bar here
        return None
    return recorded_price(o), recorded_price(max(h, o, c)), recorded_price(min(lo, o, c)), recorded_price(c)


def apply_marked_bar(sim: ExchangeSimulator, symbol: str, last: OHLC, mark: OHLC) -> list[Event]:
    """Replay one bar of `symbol` with last OHLC `last` and mark OHLC `mark`; the events it caused."""
    state = sim.state
    start = len(state.events)
    lasts, marks = intrabar_path(*last), intrabar_path(*mark)
    jump(state, symbol, PriceUpdate(lasts[0], marks[0]))
    for k in range(3):
        _walk(state, symbol, (lasts[k], marks[k]), (lasts[k + 1], marks[k + 1]))
    if sim.listener is not None:
        sim.listener.changed(market_only=True)
    return state.events[start:]


def _walk(state: SimState, symbol: str, a: Point, b: Point) -> None:
    """From a to b, stopping at every level either series crosses on the way (in the order they are met)."""
    done = Decimal(0)
    for _ in range(MAX_STOPS):
        found = _next_stop(state, symbol, a, b, done)
        if found is None:
            break
        done, exact = found
        inst = state.instrument(symbol)
        point = [exact.get(i, inst.round_price(a[i] + (b[i] - a[i]) * done, Rounding.NEAREST)) for i in (0, 1)]
        jump(state, symbol, PriceUpdate(point[0], point[1]))
    market = state.market(symbol)
    if (market.last, market.mark) != b:
        jump(state, symbol, PriceUpdate(*b))


def _next_stop(state: SimState, symbol: str, a: Point, b: Point,
               done: Decimal) -> tuple[Decimal, dict[int, Decimal]] | None:
    """The smallest fraction of the segment past `done` where a level is reached, and which series (0 last,
    1 mark) reach which level exactly there."""
    levels = set(_candidate_levels(state, symbol, True)) | set(_candidate_levels(state, symbol, False))
    best: Decimal | None = None
    exact: dict[int, Decimal] = {}
    for i in (0, 1):
        start, end = a[i], b[i]
        if start == end:
            continue
        for level in levels:
            if not (start < level <= end or end <= level < start):
                continue
            fraction = min(ONE, (level - start) / (end - start))
            if fraction <= done:
                continue
            if best is None or fraction < best:
                best, exact = fraction, {i: level}
            elif fraction == best:
                exact[i] = level
    return None if best is None else (best, exact)
