"""A paper session's bars play at their close on a clock paced from the session's start: what `run` wires
(`build_parts`: the saved paper account, a replay feed, the in-process adapter), driven bar by bar.

The feed used to play a bar at its open and put the clock at its close at once: the clock ran a bar ahead of
the pace (at `--speed 1`, of the wall), and a fill carried the simulator's time, the open of its bar, while
the order that made it had been sent later, as the clock ran on between bars.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_replay_companions import SYMBOL, T0, _write

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import OrderType, Side, TimeInForce
from quantum_trader.domain.exchange_types import FillUpdate, OrderIntent
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.runtime.parts import Parts, build_parts
from quantum_trader.settings.model import load_settings

MINUTE = 60_000
SPEED = 600  # a 1m bar every 0.1 s
FLAT, DIP = (600.0, 600.5, 599.5, 600.0), (600.0, 600.0, 590.0, 596.0)


def replay_parts(tmp_path: Path, speed: str) -> Parts:
    """What `run` builds for QT_FEED=replay: eight bars from T0, the third dipping to 590."""
    _write(tmp_path / "data" / f"{SYMBOL}-1m-2026-01-05.csv", [FLAT, FLAT, DIP, *[FLAT] * 5])
    settings = load_settings(env={"QT_DB_URL": f"sqlite:///{tmp_path / 'journal.db'}", "QT_SYMBOLS": SYMBOL,
                                  "QT_FEED": f"replay:{tmp_path / 'data'}", "QT_SPEED": speed,
                                  "QT_PAPER_STATE": str(tmp_path / "paper")})
    return asyncio.run(build_parts(settings))


def play(parts: Parts, on_bar: Callable[[BarChunk], Awaitable[None]], bars: int,
         beside: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
    """Run the session's feed until it has played `bars` bars, with `beside` running alongside."""
    async def main() -> None:
        stop = asyncio.Event()
        task = None if beside is None else asyncio.create_task(beside())

        async def counted(chunk: BarChunk) -> None:
            await on_bar(chunk)
            if parts.feed.status.bars + 1 >= bars:
                stop.set()

        await parts.feed.run(counted, stop)
        if task is not None:
            await task
        await parts.exchange.close()

    asyncio.run(main())


async def buy_now_and_below(exchange: InProcessExchange, now_ms: Callable[[], int]) -> dict[str, int]:
    """A market buy ("now") and a limit buy at 595 ("resting", filled by the dip); when each was sent."""
    sent = {}
    for client_id, kind, price in (("now", OrderType.MARKET, None), ("resting", OrderType.LIMIT, Decimal(595))):
        sent[client_id] = now_ms()
        await exchange.place(OrderIntent(client_id=client_id, symbol=SYMBOL, side=Side.BUY, type=kind,
                                         quantity=Decimal(1), price=price,
                                         time_in_force=TimeInForce.GTC if price else None))
    return sent


def test_each_bar_plays_at_its_close_and_the_clock_never_runs_ahead_of_the_pace(tmp_path: Path) -> None:
    started = time.monotonic()  # before the session's own start: the pace measured from here is never behind it
    parts = replay_parts(tmp_path, str(SPEED))
    clock = parts.clock
    assert isinstance(clock, SimulatedClock) and clock.now_ms() == T0
    ahead: list[int] = []
    played: list[tuple[int, int]] = []

    def check() -> None:
        pace = T0 + int((time.monotonic() - started) * 1000 * SPEED)
        if clock.now_ms() > pace:
            ahead.append(clock.now_ms() - pace)

    async def on_bar(chunk: BarChunk) -> None:
        check()
        played.append((int(chunk.open_time[0]) + MINUTE, clock.now_ms()))

    async def sample() -> None:  # between bars too, every 5 ms
        while len(played) < 5:
            check()
            await asyncio.sleep(0.005)

    play(parts, on_bar, 5, sample)
    assert ahead == [], f"the clock ran ahead of the pace by up to {max(ahead)} ms"
    assert played == [(T0 + (i + 1) * MINUTE, T0 + (i + 1) * MINUTE) for i in range(5)]  # each at its close


def test_a_fill_carries_a_time_no_earlier_than_its_order(tmp_path: Path) -> None:
    parts = replay_parts(tmp_path, "120")  # a bar every 0.5 s, the clock ticking 12 s at a time between bars
    exchange = parts.exchange
    assert isinstance(exchange, InProcessExchange)
    exchange.drain()  # the record starts here
    sent: dict[str, int] = {}
    first_bar = asyncio.Event()

    async def on_bar(chunk: BarChunk) -> None:
        first_bar.set()

    async def trader() -> None:  # as the API's force-entry: a task of its own, between bars
        await first_bar.wait()
        await parts.clock.sleep(20)  # the clock runs on after the first close; the orders go out 20 s later
        sent.update(await buy_now_and_below(exchange, parts.clock.now_ms))

    play(parts, on_bar, 4, trader)
    fills = {e.client_id: e.time_ms for e in exchange.drain() if isinstance(e, FillUpdate)}
    assert set(fills) == {"now", "resting"}  # the limit fills in the dip of the next bar
    assert T0 + MINUTE + 20_000 <= sent["now"] < T0 + 2 * MINUTE  # between the first two closes
    for client_id, filled_ms in fills.items():
        assert filled_ms >= sent[client_id], (client_id, filled_ms, sent[client_id])
    assert fills["resting"] < T0 + 3 * MINUTE  # in the bar of the dip, not after it


def test_the_same_replay_and_orders_give_the_same_event_log(tmp_path: Path) -> None:
    """Determinism at `--speed max`: the clock starts at the replay's first bar and moves only with the bars,
    so two sessions on the same data, sending the same orders at the same bar, log the same events."""
    def session(folder: Path) -> list[str]:
        parts = replay_parts(folder, "max")
        exchange = parts.exchange
        assert isinstance(exchange, InProcessExchange)
        exchange.drain()

        async def on_bar(chunk: BarChunk) -> None:
            if int(chunk.open_time[0]) == T0 + MINUTE:
                await buy_now_and_below(exchange, parts.clock.now_ms)

        play(parts, on_bar, 8)
        return [repr(event) for event in exchange.drain()]

    first, second = session(tmp_path / "a"), session(tmp_path / "b")
    assert first == second and sum("FillUpdate" in e for e in first) == 2
