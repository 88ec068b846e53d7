"""A kline file's next blocks read in a thread while the caller works on the ones before.

pyarrow parses a CSV block without holding the GIL, so the replay of a backtest (Python, holding it) and the
parse of its file's next blocks run on two cores at once: the parse of the peers' 1M-row file (about 0.16 s
of a 2.4 s run) comes out of the run's wall time. How many blocks are read ahead is the caller's (`depth`: a
chunk's worth, bars.blocks_ahead: one block ahead, a long chunk's start waited for the rest of its blocks). One
thread serves every file of the process (a folder of 222 symbols has 222 files open at once, each with a block
read ahead: 2,000-bar chunks are one block), started at the first read, so a process that reads no CSV has
none. The blocks come in the same order and hold the same arrays: the thread changes when a block is read,
never what it holds. The reader's error (a damaged file, a row that is no number) is raised to the caller at
the block where it happened, as without the thread.

A forked child has none of its parent's threads: it starts a reader of its own at its first read (the
parent's queue would never be served). A stream abandoned in a reference cycle is closed by the cyclic
garbage collector in whichever thread runs it, the reader itself included, while it reads that stream's
next block: that block cannot be waited for there (the thread would wait for itself), so the stream is
closed by the reader when the block is done.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import Generic, TypeVar

T = TypeVar("T")

_LOCK = threading.Lock()
_READER: list[ThreadPoolExecutor] = []
_IN_READER = threading.local()


def _mark_reader() -> None:
    _IN_READER.yes = True


def _reader() -> ThreadPoolExecutor:
    """The process's reader thread (made at the first read)."""
    with _LOCK:
        if not _READER:
            _READER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="kline-read-ahead",
                                              initializer=_mark_reader))
        return _READER[0]


def _forget_reader() -> None:
    """In a forked child: the parent's reader thread is not there, so its executor would queue reads for ever."""
    global _LOCK
    _LOCK = threading.Lock()
    _READER.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_reader)


class ReadAhead(Generic[T]):
    """`items` (a generator: it is closed with this), each read in the reader thread while the caller holds
    the ones before it: up to `depth` items are read ahead (one file's blocks of a whole chunk, so that the
    next chunk's parse overlaps this chunk's replay instead of being waited for at its start)."""

    def __init__(self, items: Iterator[T], depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._items = items
        reader = _reader()
        self._ahead: deque[Future[T | None]] = deque(reader.submit(next, items, None) for _ in range(depth))

    def take(self) -> T | None:
        """The next item (None once there is none); the reader's exception if reading it raised one."""
        if not self._ahead:
            return None
        item = self._ahead.popleft().result()
        if item is None:
            self._drop_ahead()
        else:
            self._ahead.append(_reader().submit(next, self._items, None))
        return item

    def close(self) -> None:
        """Stop reading: the block being read is waited for (a generator cannot be closed while it runs) and
        dropped, its error too, and the generator closed now (its files, a zip member's temporary copy)."""
        running = self._drop_ahead()
        if running is not None:
            if getattr(_IN_READER, "yes", False):  # the block being read is this thread's
                running.add_done_callback(lambda _: self._close_items())
                return
            with suppress(Exception):
                running.result()
        self._close_items()

    def _drop_ahead(self) -> Future[T | None] | None:
        """Cancel the reads not started; the one being read (at most one: one reader thread), if any."""
        pending, self._ahead = self._ahead, deque()
        running = None
        for future in pending:
            if not future.cancel() and not future.done():
                running = future
        return running

    def _close_items(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
