"""A kline file's blocks read one ahead in the reader thread: same items, same order, errors where they were."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from quantum_trader.marketdata.read_ahead import ReadAhead


def test_items_come_in_order_read_in_the_reader_thread_one_ahead() -> None:
    readers: list[str] = []

    def blocks() -> Iterator[int]:
        for n in range(5):
            readers.append(threading.current_thread().name)
            yield n

    ahead = ReadAhead(blocks())
    got = []
    while (item := ahead.take()) is not None:
        got.append(item)
    assert got == [0, 1, 2, 3, 4]
    assert readers and all(name.startswith("kline-read-ahead") for name in readers)
    assert threading.current_thread().name not in readers


def test_the_readers_error_is_raised_at_its_block_after_the_blocks_before_it() -> None:
    def blocks() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("BTCUSDT-1m.csv: not a Binance kline CSV")

    ahead = ReadAhead(blocks())
    assert (ahead.take(), ahead.take()) == (1, 2)
    with pytest.raises(ValueError, match="not a Binance kline CSV"):
        ahead.take()


def test_closing_while_a_block_is_read_waits_for_it_then_closes_the_reader() -> None:
    reading, release, closed = threading.Event(), threading.Event(), threading.Event()

    def blocks() -> Iterator[int]:
        try:
            yield 1
            reading.set()
            release.wait(10)
            yield 2
            raise AssertionError("read on after close")
        finally:
            closed.set()

    ahead = ReadAhead(blocks())
    assert ahead.take() == 1
    assert reading.wait(10)  # block 2 is being read now
    threading.Timer(0.05, release.set).start()
    ahead.close()
    assert closed.is_set()
    assert ahead.take() is None


def test_an_error_of_a_block_read_ahead_and_never_taken_is_dropped_on_close() -> None:
    def blocks() -> Iterator[int]:
        yield 1
        raise ValueError("damaged")

    ahead = ReadAhead(blocks())
    assert ahead.take() == 1
    ahead.close()  # the caller stopped at block 1 (its own error, say): block 2's error is not raised


def test_a_chunks_worth_is_read_ahead_in_order_and_closing_stops_the_reads_not_started() -> None:
    """`depth` blocks are read before the caller asks (a chunk's, so the next chunk is parsed during this one's
    replay); they come in order, and closing drops those not started: the file is read no further."""
    read: list[int] = []
    third_read, release, closed = threading.Event(), threading.Event(), threading.Event()

    def blocks() -> Iterator[int]:
        try:
            for n in range(10):
                read.append(n)
                if n == 2:
                    third_read.set()
                    release.wait(10)
                yield n
        finally:
            closed.set()

    ahead = ReadAhead(blocks(), depth=4)
    assert third_read.wait(10)  # blocks 0-2 read before the first take
    assert ahead.take() == 0
    threading.Timer(0.05, release.set).start()
    ahead.close()  # block 2's read is waited for; the reads queued behind it never start
    assert closed.is_set() and read == [0, 1, 2]
    assert ahead.take() is None
    with pytest.raises(ValueError, match="depth"):
        ReadAhead(iter([1]), depth=0)


def test_the_items_read_ahead_are_the_items_in_their_order_whatever_the_depth() -> None:
    for depth in (1, 2, 7, 50):
        ahead = ReadAhead(iter(range(20)), depth=depth)
        got = []
        while (item := ahead.take()) is not None:
            got.append(item)
        assert got == list(range(20)), depth


def _run(script: str) -> subprocess.CompletedProcess[str]:
    """In a process of its own: on failure the reader thread is stuck for good, and would hang this one's exit."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_stream_collected_in_the_reader_thread_while_it_reads_its_block_is_closed_not_waited_for() -> None:
    """A stream abandoned in a reference cycle (a feed holding its own cursor) is closed by the cyclic GC in the
    thread that runs it: the reader too, reading that stream's next block. Waiting for it there waited for itself."""
    done = _run("""
        import gc, os, threading
        from quantum_trader.marketdata.read_ahead import ReadAhead

        dropped, collected, closed = threading.Event(), threading.Event(), threading.Event()

        def blocks():
            try:
                yield 1
                dropped.wait(10)
                gc.collect()  # the reader thread, reading block 2, allocates: the collector runs here
                collected.set()
                yield 2
            finally:
                closed.set()

        def stream(ahead):
            try:
                while (item := ahead.take()) is not None:
                    yield item
            finally:
                ahead.close()

        gc.disable()
        items = stream(ReadAhead(blocks()))
        assert next(items) == 1  # block 2 is now being read
        cycle = [items]
        cycle.append(cycle)
        del items, cycle
        dropped.set()
        print(collected.wait(10), closed.wait(10), flush=True)
        os._exit(0)
    """)
    assert done.stdout.split() == ["True", "True"], done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX")
def test_a_forked_child_reads_with_a_reader_of_its_own() -> None:
    """The child has none of the parent's threads: reads queued to the parent's reader were never served."""
    done = _run("""
        import os, signal
        from quantum_trader.marketdata.read_ahead import ReadAhead

        assert ReadAhead(iter([1])).take() == 1  # the parent's reader exists
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)
            os._exit(0 if ReadAhead(iter([2])).take() == 2 else 1)
        print(os.waitpid(pid, 0)[1], flush=True)
    """)
    assert done.stdout.strip() == "0", done.stderr
