"""History before the first live bar (task M, issue 11): a strategy given the bars before the session's start
scores the first live bar exactly as if it had seen them live, and history itself never produces a signal.
Also where history comes from: the synthetic market's seeded past, and the exchange's REST klines through the
request budget."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
import pytest
from scanner_fixtures import SYMBOLS, market, tiny_model

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.domain.kline import Kline
from quantum_trader.exchange.budget import BudgetRefused, Priority
from quantum_trader.feeds.warmup import SyntheticHistory, exchange_history, synthetic_history
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.ml.features import WARMUP_BARS
from quantum_trader.signals.ai_scanner import AiScanner, ScannerConfig
from quantum_trader.signals.manual import ManualOnly
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.signals.strategy import SignalBatch, history_bars, warm_up

M = 60_000


def scanner() -> AiScanner:
    return AiScanner(ScannerConfig(min_confidence=0.9), model=tiny_model())


def live(strategy: AiScanner | SmaCross, chunk: BarChunk) -> SignalBatch:
    batches = [strategy.on_chunk(chunk.slice(t, t + 1)) for t in range(len(chunk))]
    return SignalBatch(np.vstack([b.direction for b in batches]), np.vstack([b.confidence for b in batches]))


def test_a_warmed_scanner_scores_the_first_live_bar_as_a_scanner_that_saw_the_history_live() -> None:
    chunk = market(420)
    start = 300
    reference = scanner().on_chunk(chunk)  # the whole period in one pass
    warmed = scanner()
    warm_up(warmed, chunk.slice(start - warmed.history_bars, start))
    assert warmed.stats.bars_scored == 0 and warmed.stats.signals_total == 0  # history is held, never scored
    assert warmed.stats.warm_symbols == len(SYMBOLS) and warmed.status.startswith(f"warming up: {len(SYMBOLS)} of")
    after = live(warmed, chunk.slice(start, len(chunk)))
    assert after.mask.any() and after.mask[0].any(), "the first live bar already carries signals"
    assert np.array_equal(after.direction, reference.direction[start:])
    np.testing.assert_allclose(after.confidence, reference.confidence[start:], rtol=0, atol=1e-12)
    assert warmed.stats.scored_last_bar == len(SYMBOLS) and warmed.stats.skipped_bars == 0


def test_a_cold_scanner_scores_nothing_for_its_warm_up() -> None:
    cold = scanner()
    batch = live(cold, market(WARMUP_BARS))
    assert not batch.mask.any() and cold.stats.bars_scored == 0


def test_history_with_a_missing_symbol_leaves_that_symbol_cold_and_health_counts_it() -> None:
    chunk = market(300)
    history = chunk.slice(0, 260)
    close = history.close.copy()
    close[-5, 2] = np.nan
    holed = BarChunk(history.symbols, history.open_time, history.open, history.high, history.low, close,
                     history.volume, history.interval_ms)
    strategy = scanner()
    strategy.warm_up(holed)
    assert strategy.stats.warm_symbols == len(SYMBOLS) - 1
    assert strategy.stats.snapshot()["warm_symbols"] == len(SYMBOLS) - 1
    strategy.on_chunk(chunk.slice(260, 261))
    assert strategy.stats.scored_last_bar == len(SYMBOLS) - 1


def test_sma_cross_warms_up_too_and_manual_wants_no_history() -> None:
    chunk = market(200)
    reference = SmaCross().on_chunk(chunk)
    warmed = SmaCross()
    assert history_bars(warmed) == 30 and history_bars(ManualOnly()) == 0
    assert warm_up(warmed, chunk.slice(100 - 30, 100))
    assert not warm_up(ManualOnly(), chunk.slice(0, 10))
    after = live(warmed, chunk.slice(100, 200))
    assert reference.mask[100:].any() and np.array_equal(after.direction, reference.direction[100:])


def test_the_synthetic_history_is_the_seeded_past_ending_at_the_start_prices() -> None:
    prices = (100.0, 2.5, 0.0123)
    history = SyntheticHistory(("AUSDT", "BUSDT", "CUSDT"), prices, 7, start_ms=1_000 * M)
    a, b = history.chunk(241), history.chunk(241)
    assert len(a) == 241 and a.open_time[-1] == 999 * M and a.open_time[0] == (1_000 - 241) * M
    np.testing.assert_allclose(a.close[-1], prices, rtol=1e-12)
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), "same seed, same history"
    other = SyntheticHistory(history.symbols, prices, 8, start_ms=1_000 * M).chunk(241)
    assert not np.array_equal(a.close, other.close)
    assert np.all(a.high >= a.low) and not np.isnan(a.close).any()
    assert synthetic_history("replay:/data", ["AUSDT"], [1.0], seed=7, start_ms=0) is None


def kline(open_ms: int, price: float) -> Kline:
    p = Decimal(repr(price))
    return Kline(open_ms, p, p, p, p, Decimal(1), open_ms + M - 1)


def test_the_exchange_history_waits_for_the_budget_and_leaves_failed_symbols_cold() -> None:
    calls: dict[str, int] = {}

    async def klines(symbol: str, start_ms: int, end_ms: int) -> list[Kline]:
        calls[symbol] = calls.get(symbol, 0) + 1
        if symbol == "AUSDT" and calls[symbol] == 1:  # the routine share of the minute is used: wait, try again
            raise BudgetRefused("request budget", 0.01, priority=Priority.ROUTINE, blocked=False)
        if symbol == "CUSDT":
            raise ExchangeError(-1121, "Invalid symbol.")
        return [kline(t, 10.0 + t / M) for t in range(start_ms, end_ms + 1, M)]

    chunk = asyncio.run(exchange_history(klines, ["AUSDT", "BUSDT", "CUSDT"], 500 * M, 241))
    assert calls == {"AUSDT": 2, "BUSDT": 1, "CUSDT": 1}
    assert chunk.open_time[0] == 259 * M and chunk.open_time[-1] == 499 * M
    assert not np.isnan(chunk.close[:, :2]).any() and np.isnan(chunk.close[:, 2]).all()
    assert chunk.close[-1, 0] == pytest.approx(10.0 + 499)
