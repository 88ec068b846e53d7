"""SmaCross against a plain-Python reference: same signals whatever the chunking, NaN bars never signal."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.marketdata.bars import BarChunk, read_binance_klines, synthetic_bars
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.signals.strategy import SignalBatch, Strategy

LINK = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda" / "LINKUSDT-1m-2026-02.csv.gz"
#: Chunk sizes a live session (1), an odd cut (7), a backtest (1,000) and one whole chunk give.
CHUNKINGS = (1, 7, 1_000)


def chunk_of(closes: np.ndarray, symbols: tuple[str, ...] | None = None, t0: int = 0) -> BarChunk:
    closes = np.asarray(closes, np.float64)
    if closes.ndim == 1:
        closes = closes[:, None]
    symbols = symbols or tuple(f"S{i}USDT" for i in range(closes.shape[1]))
    times = 60_000 * np.arange(t0, t0 + closes.shape[0], dtype=np.int64)
    return BarChunk(symbols, times, closes.copy(), closes.copy(), closes.copy(), closes.copy(),
                    np.ones_like(closes), 60_000)


def reference(closes: list[float], fast: int, slow: int) -> list[int]:
    """Plain Python: +1/-1 on the bar where sign(fast SMA - slow SMA) becomes that non-zero value."""

    def sma(t: int, window: int) -> float | None:
        if t + 1 < window:
            return None
        values = closes[t + 1 - window: t + 1]
        return None if any(math.isnan(v) for v in values) else sum(values) / window

    out: list[int] = []
    prev: int | None = None
    for t in range(len(closes)):
        f, s = sma(t, fast), sma(t, slow)
        state = None if f is None or s is None else (f > s) - (f < s)
        out.append(state if state and prev is not None and state != prev else 0)
        prev = state
    return out


def run_chunks(strategy: SmaCross, chunk: BarChunk, sizes: list[int]) -> SignalBatch:
    parts: list[SignalBatch] = []
    t = 0
    for size in sizes:
        if t >= len(chunk):
            break
        parts.append(strategy.on_chunk(chunk.slice(t, min(t + size, len(chunk)))))
        t += size
    if t < len(chunk):
        parts.append(strategy.on_chunk(chunk.slice(t, len(chunk))))
    return SignalBatch(np.concatenate([p.direction for p in parts]), np.concatenate([p.confidence for p in parts]))


def random_walk(n: int, n_sym: int, seed: int) -> BarChunk:
    return next(synthetic_bars([f"S{i}USDT" for i in range(n_sym)], [100.0 + 10 * i for i in range(n_sym)], n,
                               seed=seed, vol=0.01, chunk_bars=n))


def test_is_a_strategy_and_rejects_bad_windows() -> None:
    assert isinstance(SmaCross(), Strategy)
    with pytest.raises(ValueError, match="fast"):
        SmaCross(fast=30, slow=10)
    with pytest.raises(ValueError, match="fast"):
        SmaCross(fast=0, slow=5)
    with pytest.raises(ValueError, match="fast"):
        SmaCross(fast=5, slow=5)


def test_hand_checked_cross_up_then_down() -> None:
    # fast=2, slow=3: below until t=4 (fast 2.5 > slow 2.0), above until t=6 (fast 1.5 < slow 2.0)
    batch = SmaCross(fast=2, slow=3).on_chunk(chunk_of(np.array([3.0, 2, 1, 2, 3, 2, 1])))
    assert batch.direction[:, 0].tolist() == [0, 0, 0, 0, 1, 0, -1]
    assert batch.confidence[:, 0].tolist() == [0, 0, 0, 0, 1.0, 0, 1.0]
    assert batch.direction.dtype == np.int8
    assert batch.mask[:, 0].tolist() == [False] * 4 + [True, False, True]


def test_no_signal_before_slow_window_is_full() -> None:
    batch = SmaCross(fast=2, slow=5).on_chunk(chunk_of(np.array([5.0, 1, 9, 1, 9])))
    assert not batch.mask.any()


def test_matches_reference_on_random_walk_in_one_chunk() -> None:
    chunk = random_walk(3_000, 3, seed=11)
    batch = SmaCross(10, 30).on_chunk(chunk)
    for s in range(3):
        expected = reference(chunk.close[:, s].tolist(), 10, 30)
        assert batch.direction[:, s].tolist() == expected
        assert batch.confidence[:, s].tolist() == [1.0 if d else 0.0 for d in expected]
    assert batch.mask.sum() > 20  # the walk does cross: the comparison is not vacuous


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=60),
       seed=st.integers(min_value=0, max_value=1_000))
def test_chunking_does_not_change_signals(sizes: list[int], seed: int) -> None:
    chunk = random_walk(600, 2, seed=seed)
    whole = SmaCross(5, 20).on_chunk(chunk)
    parts = run_chunks(SmaCross(5, 20), chunk, sizes)
    assert np.array_equal(parts.direction, whole.direction)
    assert np.array_equal(parts.confidence, whole.confidence)


def test_chunks_of_one_bar_equal_one_chunk_equal_reference() -> None:
    chunk = random_walk(800, 2, seed=3)
    whole = SmaCross(10, 30).on_chunk(chunk)
    singles = run_chunks(SmaCross(10, 30), chunk, [1] * len(chunk))
    assert np.array_equal(singles.direction, whole.direction)
    for s in range(2):
        assert singles.direction[:, s].tolist() == reference(chunk.close[:, s].tolist(), 10, 30)


def test_nan_bars_never_signal_and_poison_their_windows() -> None:
    rng = random.Random(5)
    chunk = random_walk(1_500, 2, seed=8)
    closes = chunk.close.copy()
    for _ in range(40):
        closes[rng.randrange(len(closes)), rng.randrange(2)] = np.nan
    closes[700:760, 0] = np.nan  # a long gap, longer than the slow window
    gappy = chunk_of(closes)
    whole = SmaCross(4, 12).on_chunk(gappy)
    assert not whole.mask[np.isnan(closes)].any()
    assert (whole.confidence[np.isnan(closes)] == 0).all()
    for s in range(2):
        assert whole.direction[:, s].tolist() == reference(closes[:, s].tolist(), 4, 12)
    sizes = [rng.randint(1, 50) for _ in range(200)]
    assert np.array_equal(run_chunks(SmaCross(4, 12), gappy, sizes).direction, whole.direction)


def test_columns_are_independent() -> None:
    chunk = random_walk(500, 3, seed=21)
    together = SmaCross(3, 9).on_chunk(chunk)
    for s in range(3):
        alone = SmaCross(3, 9).on_chunk(chunk_of(chunk.close[:, s]))
        assert np.array_equal(alone.direction[:, 0], together.direction[:, s])


def test_empty_chunk_keeps_history() -> None:
    chunk = random_walk(200, 1, seed=2)
    whole = SmaCross(3, 9).on_chunk(chunk)
    strategy = SmaCross(3, 9)
    first = strategy.on_chunk(chunk.slice(0, 100))
    empty = strategy.on_chunk(chunk.slice(100, 100))
    rest = strategy.on_chunk(chunk.slice(100, 200))
    assert empty.direction.shape == (0, 1)
    assert np.array_equal(np.concatenate([first.direction, rest.direction]), whole.direction)


def in_chunks_of(strategy: SmaCross, chunk: BarChunk, size: int) -> SignalBatch:
    return run_chunks(strategy, chunk, [size] * -(-len(chunk) // size))


@pytest.mark.skipif(not LINK.exists(), reason="shared Binance data not available")
def test_real_data_gives_the_same_signals_in_any_chunking() -> None:
    """LINKUSDT 2026-02 has bars where the fast and slow averages are equal in exact arithmetic (bar 8,226):
    a running sum rounded them apart by ±1e-15 depending on where the chunk began (34 of ~1,600 signals
    differed between chunks of 1 and of 2,000 bars; a backtest made 60 or 61 trades)."""
    chunk = read_binance_klines(LINK)
    whole = SmaCross(10, 30).on_chunk(chunk)
    assert whole.mask.sum() > 1_000
    for size in CHUNKINGS:
        parts = in_chunks_of(SmaCross(10, 30), chunk, size)
        assert np.array_equal(parts.direction, whole.direction), size
        assert np.array_equal(parts.confidence, whole.confidence), size


def test_an_exact_tie_is_a_tie_in_any_chunking() -> None:
    """Closes in runs of a, b, b, a: at each run's last bar the fast (2) and slow (4) averages are both
    (a + b) / 2, exactly; a tie never signals, in any chunking, and the signals around it agree too."""
    rng = np.random.default_rng(1)
    closes: list[float] = []
    for _ in range(750):
        a = round(10 + int(rng.integers(0, 50)) / 100, 2)
        b = round(a + 0.1, 2)
        closes += [a, b, b, a]
    chunk = chunk_of(np.array(closes))
    whole = SmaCross(2, 4).on_chunk(chunk)
    assert whole.mask.sum() > 500  # the runs do cross: the comparison is not vacuous
    for size in (*CHUNKINGS, len(chunk)):
        parts = in_chunks_of(SmaCross(2, 4), chunk, size)
        assert not parts.mask[3::4].any(), size
        assert np.array_equal(parts.direction, whole.direction), size
