"""The replay's trigger search (`SymbolThresholds.first_hit`): the first bar whose range reaches a symbol's level,
exact touches and missing bars included, for one symbol (compared as a vector) as for several."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_sim

from quantum_trader.sim.replay_triggers import SymbolThresholds

F64 = np.ndarray[tuple[int, ...], np.dtype[np.float64]]


def first_hit_by_definition(high: F64, low: F64, up: F64, dn: F64, start: int, stop: int,
                            symbols: tuple[str, ...]) -> tuple[int, list[str]] | None:
    for t in range(start, stop):
        hit = [s for c, s in enumerate(symbols) if high[t, c] >= up[c] or low[t, c] <= dn[c]]
        if hit:
            return t, hit
    return None


@pytest.mark.parametrize("symbols", [("BNBUSDT",), ("BNBUSDT", "ETHUSDT", "BTCUSDT")])
@pytest.mark.parametrize("seed", range(12))
def test_the_first_hit_is_the_first_bar_reaching_a_level(symbols: tuple[str, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    bars = int(rng.integers(1, 3000))
    close = 600 + np.cumsum(rng.normal(0, 0.5, (bars, len(symbols))), axis=0).round(2)
    high, low = close + rng.integers(0, 60, close.shape) / 100, close - rng.integers(0, 60, close.shape) / 100
    high[rng.random(close.shape) < 0.03] = np.nan  # missing bars never hit
    low[np.isnan(high)] = np.nan
    thresholds = SymbolThresholds(make_sim().state, symbols)
    for c in range(len(symbols)):  # levels taken from the data itself: exact touches happen
        thresholds.up[c] = float(np.nanmax(high[:, c])) if rng.random() < 0.5 else np.inf
        thresholds.dn[c] = float(np.nanmin(low[:, c])) if rng.random() < 0.5 else -np.inf
    for start, stop in [(0, bars), (int(rng.integers(0, bars)), bars), (0, int(rng.integers(1, bars + 1)))]:
        expected = first_hit_by_definition(high, low, thresholds.up, thresholds.dn, start, stop, symbols)
        assert thresholds.first_hit(high, low, start, stop) == expected
