"""A paper session's synthetic feed moves the simulator's mark with the basis and pays the market's funding."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import structlog

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.feeds.market_feed import BarFeed
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.marketdata.synthetic import HOUR_MS, MarketModel, funding_rows, synthetic_market
from quantum_trader.runtime.parts import _synthetic_marks_and_funding
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOLS = ("BTCUSDT", "ETHUSDT")
INSTANT = 8 * HOUR_MS * 2_500  # a funding instant
START = INSTANT - 64 * 60_000  # the instant is the first bar of the second 64-bar chunk


def test_funding_is_paid_at_the_synthetic_rate_on_the_synthetic_mark() -> None:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig(start_time_ms=START))
    prices = [float(universe.instrument(s).typical_price) for s in SYMBOLS]
    # An interest rate the simulator's default (0.01 %) is not: the rate paid must come from the market.
    model = MarketModel(funding_interest=0.0003, premium_bps=0.0)
    played: list[BarChunk] = []

    def source() -> list[BarChunk]:
        chunks = list(synthetic_market(list(SYMBOLS), prices, 100, seed=4, chunk_bars=64, start_ms=START, model=model))
        played.extend(chunks)
        return chunks

    chunks, marks = _synthetic_marks_and_funding(lambda: iter(source()), sim)
    sim.set_prices({"BTCUSDT": Decimal(str(prices[0]))})
    sim.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"})
    wallet = sim.wallet_balance
    feed = BarFeed("synthetic", chunks, speed=None, clock=SimulatedClock(START), sim=sim, marks=marks)

    async def on_bar(chunk: BarChunk) -> None:
        if int(chunk.open_time[0]) == INSTANT - 60_000:  # the bar before the instant has closed
            mark_before[0] = sim.mark_price("BTCUSDT")

    mark_before = [Decimal(0)]
    asyncio.run(feed.run(on_bar, asyncio.Event()))
    [(time_ms, rate)] = [row for symbol, row in funding_rows(played[1]) if symbol == "BTCUSDT"]
    assert time_ms == INSTANT and rate == Decimal("0.0003")
    assert mark_before[0] != sim.last_price("BTCUSDT")  # the mark is not the last
    fees = [e for e in sim.events if "FUNDING_FEE" in repr(e)]
    assert len(fees) == 1
    assert sim.wallet_balance - wallet == (-Decimal("0.01") * mark_before[0] * rate).quantize(Decimal("1E-8"))


def test_a_paced_feed_says_when_its_first_bar_comes() -> None:
    """At --speed 1 the first bar plays when the current minute closes, up to a minute after the start: the log
    says so, so an idle dashboard is not mistaken for a stuck bot. At --speed max it comes at once: nothing said."""
    from structlog.testing import capture_logs

    start = START + 30_000  # half a minute into the bar
    prices = [float(load_universe().instrument(s).typical_price) for s in SYMBOLS]

    def heard(speed: float | None) -> list[dict[str, object]]:
        chunks = list(synthetic_market(list(SYMBOLS), prices, 3, seed=4, chunk_bars=64, start_ms=START))
        feed = BarFeed("synthetic", lambda: iter(chunks), speed=speed, clock=SimulatedClock(start))
        stop = asyncio.Event()

        async def main() -> None:
            async def on_bar(_: BarChunk) -> None:
                stop.set()

            asyncio.get_running_loop().call_later(0.3, stop.set)
            await feed.run(on_bar, stop)

        # An earlier test may have configured logging at WARNING, whose bound loggers drop info calls before
        # any processor: this one is heard at INFO, and the configuration is put back.
        before = structlog.get_config()
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
        try:
            with capture_logs() as logs:
                asyncio.run(main())
        finally:
            structlog.configure(**before)
        return [entry for entry in logs if "first bar" in str(entry["event"])]

    [said] = heard(1.0)
    assert 29.0 <= float(str(said["in_s"])) <= 30.0 and str(said["closes_at"]).endswith(":00 UTC"), said
    assert heard(None) == []
