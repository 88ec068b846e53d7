"""History before a session's first live bar, for strategies that warm up (signals/strategy.py `WarmsUp`).

Why: the AI scanner scores a symbol only with WARMUP_BARS closed bars behind it. Fed live bars alone, every
start at `--speed 1` (make run, paper, live) would be silent for four hours. So the session gives the
strategy the bars before its start once, the same way for every feed, and the strategy only remembers
them: history is never scored, never published as a signal, never traded (it is before the session).

- synthetic feed: the seeded generator's own past (`SyntheticHistory`): the bars before the start, drawn
  from the same model with a seed derived from the session's, scaled so the last close is the price the
  market starts at. Deterministic: the same seed gives the same history and so the same signals.
- exchange feed: REST `GET /fapi/v1/klines`, the last `history_bars` closed bars of every symbol before the
  feed's first minute (`exchange_history`). The feed calls it once, when the server has shown its first bar
  and before it delivers any row (feeds/live_feed.py `before_first_row`), so the history ends exactly
  where the live rows begin. Each read weighs 2 (241 rows; request_weights.py), about 444 for 222 symbols:
  it goes through the adapter's request budget as a routine read, so when the routine share of the minute
  is used, a read waits for the budget instead of taking weight from protection reads.
- replay and backtest: the data's own first bars are the warm-up, as before; nothing is added.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.loggers import get_logger
from ..domain.errors import ExchangeError, RetryableExchangeError
from ..domain.kline import Kline
from ..exchange.budget import BudgetRefused
from ..marketdata.bars import BarChunk
from ..marketdata.synthetic import synthetic_market
from ..readmodels.bar_tape import BarTape
from ..signals.strategy import history_bars, warm_up
from .live_feed import WsKlineFeed
from .market_feed import BarFeed

log = get_logger(__name__)

Klines = Callable[[str, int, int], Awaitable[list[Kline]]]
MINUTE_MS = 60_000
#: Mixed into the session's seed for the history, so the past is not a copy of the future's first draws.
HISTORY_SALT = 0x48495354
#: Symbols read at once (loopback answers in milliseconds; Binance's ~50-100 ms would make 222 reads slow).
CONCURRENCY = 4
#: Longest wait between two tries of a read the budget refused (its Retry-After may be the whole minute,
#: while the routine share grows through the minute: a short wait finds room sooner).
BUDGET_WAIT_S = 0.5
#: Tries of a read that failed for a retryable reason other than the budget (timeouts, 5xx).
TRIES = 3
#: The whole history load gives up after this (the symbols left simply warm up on live bars).
DEADLINE_S = 60.0


@dataclass(frozen=True)
class SyntheticHistory:
    """The synthetic market before `start_ms`: what `chunk` draws for the session's symbols and seed."""

    symbols: tuple[str, ...]
    prices: tuple[float, ...]
    seed: int | tuple[int, ...]
    start_ms: int
    interval_ms: int = MINUTE_MS

    def chunk(self, bars: int) -> BarChunk:
        """The `bars` bars before `start_ms`, the last one closing at the start prices."""
        if bars <= 0 or not self.symbols:
            return _empty(self.symbols, self.interval_ms)
        seed = (*((self.seed,) if isinstance(self.seed, int) else self.seed), HISTORY_SALT)
        first = self.start_ms - bars * self.interval_ms
        drawn = next(synthetic_market(list(self.symbols), list(self.prices), bars, self.interval_ms, seed=seed,
                                      chunk_bars=bars, start_ms=first))
        scale = np.asarray(self.prices, np.float64) / drawn.close[-1]
        return BarChunk(self.symbols, drawn.open_time.copy(), drawn.open * scale, drawn.high * scale,
                        drawn.low * scale, drawn.close * scale, drawn.volume.copy(), self.interval_ms)


def synthetic_history(feed_name: str, symbols: Sequence[str], prices: Sequence[float], *,
                      seed: int | Sequence[int], start_ms: int) -> SyntheticHistory | None:
    """The history of a synthetic feed (None for any other: a replay warms up on its own first bars)."""
    if feed_name != "synthetic":
        return None
    return SyntheticHistory(tuple(symbols), tuple(float(p) for p in prices),
                            seed if isinstance(seed, int) else tuple(int(x) for x in seed), start_ms)


async def exchange_history(klines: Klines, symbols: Sequence[str], first_live_ms: int, bars: int, *,
                           interval_ms: int = MINUTE_MS, concurrency: int = CONCURRENCY,
                           deadline_s: float = DEADLINE_S) -> BarChunk:
    """The `bars` closed bars of every symbol opened before `first_live_ms`, read over REST; a symbol whose
    reads failed (or the deadline passed) is NaN, and warms up on live bars instead."""
    start = first_live_ms - bars * interval_ms
    times = start + interval_ms * np.arange(bars, dtype=np.int64)
    fields = np.full((5, bars, len(symbols)), np.nan)
    gate = asyncio.Semaphore(concurrency)
    give_up = time.monotonic() + deadline_s

    async def one(s: int, symbol: str) -> None:
        async with gate:
            for k in await _read(klines, symbol, start, first_live_ms - 1, give_up):
                t = (k.open_ms - start) // interval_ms
                if 0 <= t < bars and k.open_ms % interval_ms == start % interval_ms:
                    fields[:, t, s] = (float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume))

    await asyncio.gather(*(one(s, symbol) for s, symbol in enumerate(symbols)))
    return BarChunk(tuple(symbols), times, fields[0], fields[1], fields[2], fields[3], fields[4], interval_ms)


async def _read(klines: Klines, symbol: str, start_ms: int, end_ms: int, give_up: float) -> list[Kline]:
    """One symbol's klines: a budget refusal waits and tries again (it is pacing, not failure); another
    retryable error is tried `TRIES` times; anything else, or the deadline, gives [] (logged)."""
    failures = 0
    while time.monotonic() < give_up:
        try:
            return await klines(symbol, start_ms, end_ms)
        except BudgetRefused as exc:
            await asyncio.sleep(min(max(exc.retry_after, 0.05), BUDGET_WAIT_S))
        except RetryableExchangeError as exc:
            failures += 1
            if failures >= TRIES:
                log.warning("history read failed: the symbol warms up on live bars", symbol=symbol, error=str(exc))
                return []
            await asyncio.sleep(0.5 * failures)
        except ExchangeError as exc:
            log.warning("history read refused: the symbol warms up on live bars", symbol=symbol, error=str(exc))
            return []
    log.warning("history read gave up at the deadline: the symbol warms up on live bars", symbol=symbol)
    return []


async def prepare_warm_up(strategy: object, feed: BarFeed | WsKlineFeed, history: SyntheticHistory | None,
                          klines: Klines, tape: BarTape | None = None) -> None:
    """Give `strategy` its history: now for a synthetic feed; for the exchange feed when it has seen the
    server's first bar (`before_first_row`); not at all for a replay or a strategy that wants none.
    `tape` (the dashboard's charts) gets the same history, so a chart starts full."""
    bars = history_bars(strategy)
    if bars <= 0:
        if tape is not None and history is not None:  # synthetic history costs nothing: the charts get it anyway
            tape.record(history.chunk(tape.depth), slice(0, tape.depth))
        return
    if isinstance(feed, WsKlineFeed):
        async def load(first_live_ms: int) -> None:
            started = time.monotonic()
            try:
                chunk = await exchange_history(klines, feed.symbols, first_live_ms, bars)
            except Exception:  # history is a convenience: without it the strategy warms up on live bars
                log.exception("history load failed: the strategy warms up on live bars")
                return
            _warm(strategy, chunk, "exchange", time.monotonic() - started, tape)

        feed.before_first_row = load
    elif history is not None:
        started = time.monotonic()
        _warm(strategy, history.chunk(bars), "synthetic", time.monotonic() - started, tape)


def _warm(strategy: object, chunk: BarChunk, source: str, seconds: float, tape: BarTape | None = None) -> None:
    complete = int((~np.isnan(chunk.close)).all(axis=0).sum()) if len(chunk) else 0
    warm_up(strategy, chunk)
    if tape is not None and len(chunk):
        tape.record(chunk, slice(max(len(chunk) - tape.depth, 0), len(chunk)))
    say = log.info if complete == chunk.n_symbols else log.warning  # the others warm up on live bars
    say("strategy history loaded", source=source, bars=len(chunk), symbols=chunk.n_symbols,
        complete_symbols=complete, seconds=round(seconds, 3))


def _empty(symbols: tuple[str, ...], interval_ms: int) -> BarChunk:
    empty = np.empty((0, len(symbols)))
    return BarChunk(symbols, np.empty(0, np.int64), empty, empty.copy(), empty.copy(), empty.copy(), empty.copy(),
                    interval_ms)
