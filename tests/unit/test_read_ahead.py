"""A kline file's blocks read one ahead in the reader thread: same items, same order, errors where they were."""

from __future__ import annotations

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
