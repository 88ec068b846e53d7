"""Keep the cycle collector's full collections out of a backtest's replay, without keeping its garbage after it.

CPython's full collections walk every tracked object. A backtest builds its world first (modules, the
instruments' brackets, the engine, the simulator, the data reader) and then allocates millions of small
objects while it replays; those allocations set off full collections, and each walked the whole world again:
two or three of them in the 222-symbol stress run, 50 to 90 ms each, about 4 % of the run.
`no_full_collections` holds them off for the replay: the young generations are still collected as usual (the
short-lived cycles a run makes by the million), and what survives them waits in the oldest generation, counted
as CPython counts it, so that the collector's own rule starts the next full collection once the block is left.
The `backtest` command holds them off for its whole life: it exits after its one run, and the system takes
its memory back.

It replaced `gc.freeze` around the replay, which was as fast for one run but, in a process that runs one
backtest after another (a sweep's worker, a test session), kept every run's garbage: a freeze moves whatever is
young into a generation the collector skips and resets the counters that start the middle collections, and
the unfreeze at the end put it all in the oldest generation uncounted, where no full collection came for it:
7.5 MB more every 16-run sweep in each worker, measured.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: A full collection needs this many middle-generation collections since the last: never, in practice.
_NEVER = 2**31 - 1


@contextmanager
def no_full_collections() -> Iterator[None]:
    """No full collection during the block; the thresholds as they were after it (also when it raises).

    Nested blocks, or a caller's own thresholds, are restored to what each found."""
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)

