"""A backtest holds off full collections while it runs, and a process running one after another keeps none
of their garbage (it kept all of it when the run froze the heap: core/heap.py)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from quantum_trader.core.heap import no_full_collections
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """How many full collections have started, counted from now."""
    started: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            started.append(1)

    gc.callbacks.append(seen)
    yield started
    gc.callbacks.remove(seen)


def _enough_to_set_off_a_full_collection() -> list[list[int]]:
    """Kept objects that, once promoted, outnumber a quarter of the old generation, made over more than the
    eleven middle collections (121 young ones, 700 objects each by default) CPython counts before it considers
    a full collection (its `long_lived_pending > long_lived_total / 4` rule)."""
    return [[] for _ in range(len(gc.get_objects()) // 2 + 100_000)]


def test_no_full_collection_in_the_block_and_the_next_one_after_it(full_collections: list[int]) -> None:
    gc.collect()
    full_collections.clear()
    with no_full_collections():
        assert gc.get_freeze_count() == 0  # nothing moved out of the collector's sight
        kept = _enough_to_set_off_a_full_collection()
        assert full_collections == []
    more = [[] for _ in range(5_000)]  # a few young collections: the held-off full one comes now
    assert len(full_collections) >= 1
    del kept, more


def test_without_the_block_the_same_allocations_set_off_a_full_collection(full_collections: list[int]) -> None:
    """The control: the test above would fail if the block did nothing."""
    gc.collect()
    full_collections.clear()
    kept = _enough_to_set_off_a_full_collection()
    assert len(full_collections) >= 1
    del kept


def test_the_thresholds_are_restored_after_the_block_when_it_raises_and_when_nested() -> None:
    gc.set_threshold(700, 10, 10)
    with no_full_collections():
        assert gc.get_threshold()[:2] == (700, 10)
        assert gc.get_threshold()[2] > 10**9
        with no_full_collections():
            pass
        assert gc.get_threshold()[2] > 10**9
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), no_full_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def _small_backtest(progress: Any = None) -> None:
    universe = load_universe()
    symbols = universe.top(2)
    instruments = {s: universe.instrument(s) for s in symbols}
    chunks = synthetic_bars(symbols, [float(instruments[s].typical_price) for s in symbols], 300, seed=3,
                            chunk_bars=100)
    asyncio.run(run_backtest(chunks, instruments, SmaCross(5, 20), TradingRules(max_positions=2), seed=3,
                             progress=progress))


def test_a_backtest_runs_without_full_collections_and_leaves_the_thresholds_as_found() -> None:
    gc.set_threshold(700, 10, 10)
    during: list[int] = []
    _small_backtest(progress=lambda bars: during.append(gc.get_threshold()[2]))
    assert len(during) == 3
    assert all(threshold > 10**9 for threshold in during)
    assert gc.get_threshold() == (700, 10, 10)


def test_backtests_one_after_another_leave_no_garbage_the_young_collections_cannot_reach() -> None:
    """A sweep's worker runs backtest after backtest. With the heap frozen for each run, whatever was young when
    a run started (the last run's garbage included) went to the old generation uncounted and stayed: 6,000 more
    objects after these 20 runs, 1 MB a run in the real sweep. Now each run's garbage dies young."""
    _small_backtest()
    _small_backtest()  # caches filled
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(20):
        _small_backtest()
    gc.collect(1)  # the young generations only: what the collector reaches without a full collection
    assert len(gc.get_objects()) - before < 1_000
