"""A hole in bar data: no bar for any symbol for more than a day (and two bars).

Two months of Binance files three years apart in one folder read as one stream with a three-year jump of
the clock: a backtest carried a position across it and paid 1,423 USDT of funding for it, and a paper
replay (`run`, `sim-server`) would do the same. Every consumer of a replay stops at such a hole and says
where it is; the fix is to replay each period on its own. A day of silence is the bound: a symbol can be
halted for hours, but a whole market without a bar for a day is missing data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np

from .bars import BarChunk

DAY_MS = 86_400_000
MAX_GAP_MS = DAY_MS


class DataHole(ValueError):
    """The data has no bar for any symbol between `before_ms` and `after_ms` (open times)."""

    def __init__(self, before_ms: int, after_ms: int) -> None:
        self.before_ms, self.after_ms = before_ms, after_ms
        super().__init__(f"no bar for any symbol between {_utc(before_ms)} and {_utc(after_ms)} "
                         f"({_span(after_ms - before_ms)})")


def _span(ms: int) -> str:
    """Hours below two days (a 25 hour hole read "1.0 days"), days above."""
    return f"{ms / 3_600_000:,.1f} hours" if ms < 2 * DAY_MS else f"{ms / DAY_MS:,.1f} days"


def first_hole(previous_open: int | None, chunk: BarChunk) -> tuple[int, DataHole] | None:
    """The first gap longer than `MAX_GAP_MS` (and two bars) from `previous_open` (the last bar before the
    chunk, if any) through the chunk: (how many of the chunk's bars come before it, the hole), or None."""
    times = chunk.open_time if previous_open is None else np.concatenate([[previous_open], chunk.open_time])
    holes = np.flatnonzero(np.diff(times) > max(MAX_GAP_MS, 2 * chunk.interval_ms))
    if not holes.size:
        return None
    at = int(holes[0])
    return at + (previous_open is None), DataHole(int(times[at]), int(times[at + 1]))


def check_gap(previous_open: int | None, chunk: BarChunk) -> None:
    """`DataHole` if the chunk (after `previous_open`) holds a hole."""
    found = first_hole(previous_open, chunk)
    if found is not None:
        raise found[1]


def refuse_holes(chunks: Iterable[BarChunk], after_ms: int | None = None) -> Iterator[BarChunk]:
    """The chunks as they come up to a hole, the bars before it included; then `DataHole`. `after_ms`: where
    the consumer's clock stands (the close of the last bar it played), which the first bar must not be a
    hole away from."""
    previous_open: int | None = None
    for chunk in chunks:
        if previous_open is None and after_ms is not None:
            previous_open = after_ms - chunk.interval_ms  # the open of the bar that closed there
        found = first_hole(previous_open, chunk)
        if found is not None:
            before, hole = found
            if before:
                yield chunk.slice(0, before)
            raise hole
        if len(chunk):
            previous_open = int(chunk.open_time[-1])
        yield chunk


def _utc(time_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time_ms / 1000))
