"""The replay's volatility (sim/replay_volatility.py): the per-update moves of a chunk, and the EWMA they give at
any bar, are what the simulator's tracker gets stepping along each bar's path (previous close → open → nearer
extreme → farther extreme → close), whichever bars are replayed."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from quantum_trader.sim.barpath import low_first_mask
from quantum_trader.sim.liquidity import VolatilityTracker
from quantum_trader.sim.replay_volatility import BarVolatility, _forward_filled

F64 = np.ndarray[tuple[int, ...], np.dtype[np.float64]]


def stacked_moves(previous_close: F64, open_: F64, high: F64, low: F64, close: F64) -> F64:
    """The moves as first written (the four ratios stacked, then |log|, non-finite moves as 0): the definition
    the in-place arithmetic must reproduce bit for bit."""
    previous = _forward_filled(np.vstack([previous_close[None, :], close]))[:-1]
    low_first = low_first_mask(open_, high, low, close)
    first, second = np.where(low_first, low, high), np.where(low_first, high, low)
    with np.errstate(divide="ignore", invalid="ignore"):
        moves = np.abs(np.log(np.stack([open_ / previous, first / open_, second / first, close / second], axis=1)))
    return np.where(np.isfinite(moves), moves, 0.0).reshape(-1, open_.shape[1])


def chunk(rng: np.random.Generator, bars: int, symbols: int, gaps: float = 0.05) -> tuple[F64, F64, F64, F64]:
    close = 600 + np.cumsum(rng.normal(0, 0.7, (bars, symbols)), axis=0)
    open_ = np.vstack([close[:1], close[:-1]]) + rng.normal(0, 0.1, (bars, symbols))
    high = np.maximum(open_, close) + rng.random((bars, symbols))
    low = np.minimum(open_, close) - rng.random((bars, symbols))
    tie = rng.random((bars, symbols)) < 0.1  # equal distances to high and low: the close decides the path
    high[tie] = open_[tie] + 0.5
    low[tie] = open_[tie] - 0.5
    missing = rng.random((bars, symbols)) < gaps
    for field in (open_, high, low, close):
        field[missing] = np.nan
    return open_, high, low, close


@pytest.mark.parametrize("symbols", [1, 3])
def test_the_moves_are_the_stacked_definition_bit_for_bit(symbols: int) -> None:
    rng = np.random.default_rng(symbols)
    first_prices = np.full(symbols, 600.0)
    first_prices[0] = np.nan  # a symbol without a price yet: its first bar has no gap move
    volatility = BarVolatility(VolatilityTracker(), [f"S{i}USDT" for i in range(symbols)], first_prices)
    previous = first_prices.copy()
    for _ in range(3):
        bars = chunk(rng, 500, symbols)
        volatility.start_chunk(*bars)
        expected = stacked_moves(previous, *bars)
        assert volatility._moves.tobytes() == expected.tobytes()
        previous = _forward_filled(np.vstack([previous[None, :], bars[3]]))[-1]
        volatility.end_chunk()


def test_the_ewma_at_a_bar_is_the_trackers_after_stepping_the_paths() -> None:
    rng = np.random.default_rng(7)
    open_, high, low, close = chunk(rng, 300, 1, gaps=0.0)
    tracker = VolatilityTracker()
    volatility = BarVolatility(VolatilityTracker(), ["BNBUSDT"], np.array([600.0]))
    volatility.start_chunk(open_, high, low, close)
    tracker.update("BNBUSDT", Decimal(600))
    for t in range(300):
        expected = tracker._ewma.get("BNBUSDT", tracker.initial)
        assert math.isclose(volatility.value_at_bar(t, 0), expected, rel_tol=1e-9, abs_tol=1e-15)
        o, h, lo, c = (float(x[t, 0]) for x in (open_, high, low, close))
        path = (lo, h) if low_first_mask(np.array(o), np.array(h), np.array(lo), np.array(c)) else (h, lo)
        for price in (o, *path, c):
            tracker.update("BNBUSDT", Decimal(repr(price)))
