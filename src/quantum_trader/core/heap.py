"""Keep the cycle collector off the objects a long run set up before it started.

CPython's full collections walk every tracked object. A backtest builds its world first (modules, the
instruments' brackets, the engine, the simulator, the data reader) and then allocates millions of small
objects while it runs; those allocations set off full collections, and each walked the whole world again:
two or three of them in the 222-symbol stress run, 50 to 90 ms each, about 4 % of the run. Freezing the
heap at the start of the run (`gc.freeze`) moves what exists then into a generation the collector skips,
so a full collection walks only what the run itself made. Nothing is lost: a frozen object is still freed
when its last reference goes, and `frozen_heap` unfreezes at the end, so the next collection can find any
cycle among them (a sweep's worker runs one backtest after another in one process).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects tracked now for the block, and unfreeze them after it.

    A heap someone else froze (a caller's own `frozen_heap`, the CLI's freeze at exit) is left as it is:
    `gc.unfreeze` has no scope, so unfreezing here would undo their freeze too.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
