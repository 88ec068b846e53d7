"""The heap is frozen for a backtest's run and only for it; someone else's freeze is left alone."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from quantum_trader.core.heap import frozen_heap
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe


class Made:
    """An object of our own, so the collector's lists can be searched for it by identity."""


def _collector_sees(obj: object) -> bool:
    """True if a collection would walk `obj` (gc.get_objects leaves out the frozen generation)."""
    return any(item is obj for item in gc.get_objects())


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_what_exists_before_the_block_is_frozen_in_it_and_thawed_after() -> None:
    before = Made()
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        assert not _collector_sees(before)
        during = Made()
        assert _collector_sees(during)  # what the run makes is collected as usual
    assert gc.get_freeze_count() == 0
    assert _collector_sees(before)


def test_the_heap_is_thawed_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_before_is_left_as_it_was() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == frozen


def test_a_backtest_replays_with_the_heap_frozen_and_leaves_it_thawed() -> None:
    universe = load_universe()
    symbols = universe.top(2)
    instruments = {s: universe.instrument(s) for s in symbols}
    chunks = synthetic_bars(symbols, [float(instruments[s].typical_price) for s in symbols], 600, seed=3,
                            chunk_bars=200)
    frozen_at_chunks: list[int] = []

    def progress(bars: int) -> None:
        frozen_at_chunks.append(gc.get_freeze_count())

    asyncio.run(run_backtest(chunks, instruments, SmaCross(10, 30), TradingRules(max_positions=2), seed=3,
                             progress=progress))
    assert len(frozen_at_chunks) == 3
    assert all(count > 0 for count in frozen_at_chunks)
    assert gc.get_freeze_count() == 0
