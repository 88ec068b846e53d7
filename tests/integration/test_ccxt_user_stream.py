"""The ccxt adapter's events from the user-data stream, against the simulator server over loopback.

The adapter runs under the session's own pump (runtime/pump.py), which subscribes again when a
connection breaks and runs the monitor's sweep (counted here) before it does: a stop-out arrives as
events well within a second; a drop, a stall (heartbeat timeout), Binance's connection lifetime and a
listen key's expiry each end in a new connection, and what happened while the stream was away is read
back over REST; an idle stream spends no request weight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from test_simserver_support import API_KEY, API_SECRET, RunningServer, make_sim, running_server

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import WallClock
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import FillEvent, OrderChanged, PositionChanged
from quantum_trader.domain.exchange_types import OrderIntent, OrderUpdate, PositionUpdate, SnapshotStatus
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.ids import client_id_for
from quantum_trader.exchange.user_stream import StreamOptions
from quantum_trader.runtime.pump import pump_forever
from quantum_trader.simserver.stream_hub import StreamSettings

SYMBOL = "BNBUSDT"  # 600 at the start
MINUTE_MS = 60_000
T = TypeVar("T")
Event = OrderChanged | PositionChanged | FillEvent


def entry(trade: str) -> OrderIntent:
    return OrderIntent(client_id=client_id_for(trade, "entry"), symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET,
                       quantity=Decimal(1))


def stop(trade: str, trigger: str = "570") -> OrderIntent:
    return OrderIntent(client_id=client_id_for(trade, "sl"), symbol=SYMBOL, side=Side.SELL, type=OrderType.STOP_MARKET,
                       trigger_price=Decimal(trigger), close_position=True, working_type=WorkingType.MARK_PRICE)


class Follower:
    """The pump over the adapter, as the session runs it; every event with its arrival time."""

    def __init__(self, exchange: CcxtExchange) -> None:
        self.exchange = exchange
        self.seen: list[tuple[float, Event]] = []
        self.sweeps = 0
        bus = EventBus()
        for kind in (OrderChanged, PositionChanged, FillEvent):
            bus.subscribe(kind, self._record)
        self.task = asyncio.create_task(pump_forever(bus, WallClock(), exchange, on_reconnect=self._sweep,
                                                     retry_after_s=0.1))

    def _record(self, event: object) -> None:
        assert isinstance(event, OrderChanged | PositionChanged | FillEvent)
        self.seen.append((time.monotonic(), event))

    async def _sweep(self) -> None:
        self.sweeps += 1

    async def wait_for(self, match: Callable[[Event], bool], timeout: float = 5.0, after: float = 0.0) -> float:
        """When the first matching event (arrived after `after`) arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = next((t for t, e in self.seen if t >= after and match(e)), None)
            if hit is not None:
                return hit
            await asyncio.sleep(0.005)
        raise AssertionError(f"no matching event within {timeout} s; seen: {[e for _, e in self.seen]}")

    async def connected(self, count: int = 1, timeout: float = 5.0) -> None:
        """Until the `count`-th connection has been reconciled."""
        stream = self.exchange.user_stream
        deadline = time.monotonic() + timeout
        while stream.reconciliations < count:
            assert time.monotonic() < deadline, f"{stream.reconciliations} reconciliations, break: {stream.last_break}"
            await asyncio.sleep(0.01)


def order_is(client_id: str, *statuses: SnapshotStatus) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, OrderChanged) and e.snapshot.client_id == client_id and e.snapshot.status in statuses


def fill_of(client_id: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, FillEvent) and e.client_id == client_id


def position_is(amount: int) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, PositionChanged) and e.snapshot.symbol == SYMBOL and e.snapshot.amount == amount


@asynccontextmanager
async def following(server: RunningServer, options: StreamOptions) -> Any:
    exchange = CcxtExchange(server.url, api_key=API_KEY, api_secret=API_SECRET, throttle=False, stream=options)
    follower = Follower(exchange)
    try:
        await follower.connected()
        yield follower
    finally:
        await exchange.close()
        await asyncio.wait_for(follower.task, 5)


def run(server: RunningServer, body: Callable[[Follower], Awaitable[T]], options: StreamOptions | None = None) -> T:
    async def main() -> T:
        async with following(server, options or StreamOptions()) as follower:
            return await body(follower)

    return asyncio.run(main())


async def move(server: RunningServer, price: str) -> float:
    """Step the server's price; returns when the step was sent (monotonic)."""
    sent = time.monotonic()
    await asyncio.to_thread(server.control, "/sim/v1/prices", {"prices": {SYMBOL: price}})
    return sent


def test_a_stop_out_arrives_as_fill_algo_update_and_flat_position_within_a_second() -> None:
    async def body(f: Follower) -> dict[str, float]:
        ex = f.exchange
        placed = await ex.place(entry("S1"))
        await ex.place(stop("S1"))
        await f.wait_for(position_is(1))
        stepped = await move(server, "560")
        sl = client_id_for("S1", "sl")
        return {"fill": await f.wait_for(fill_of(sl), after=stepped) - stepped,
                "algo_finished": await f.wait_for(lambda e: order_is(sl, SnapshotStatus.TRIGGERED)(e)
                                                  and isinstance(e, OrderChanged) and e.reason == "FINISHED",
                                                  after=stepped) - stepped,
                "flat": await f.wait_for(position_is(0), after=stepped) - stepped,
                "entry_fill": float(placed.filled)}

    with running_server() as server:
        latency = run(server, body)
    print(f"\nstop-out latency from the price step: {latency}")
    assert latency["entry_fill"] == 1
    assert max(latency["fill"], latency["algo_finished"], latency["flat"]) < 1.0, latency


def test_a_dropped_stream_reconnects_and_reads_back_what_happened_meanwhile() -> None:
    async def body(f: Follower) -> tuple[list[Event], int]:
        ex = f.exchange
        await ex.place(entry("D1"))
        await ex.place(stop("D1"))
        await f.wait_for(position_is(1))
        await asyncio.to_thread(server.control, "/sim/v1/streams", {"action": "drop", "seconds": 0.5, "kind": "user"})
        stepped = await move(server, "560")  # the stop fires while the stream is down
        await f.connected(2)
        sl = client_id_for("D1", "sl")
        await f.wait_for(position_is(0), after=stepped)
        await f.wait_for(order_is(sl, SnapshotStatus.FILLED, SnapshotStatus.TRIGGERED), after=stepped)
        await f.wait_for(fill_of(sl), after=stepped)
        after = time.monotonic()
        await ex.place(entry("D2"))  # and the new connection streams
        await f.wait_for(lambda e: isinstance(e, OrderChanged) and e.reason == "TRADE"
                         and e.snapshot.client_id == client_id_for("D2", "entry"), after=after)
        return [e for t, e in f.seen if t >= stepped], f.sweeps

    with running_server() as server:
        seen, sweeps = run(server, body)
    assert sweeps >= 1  # the pump ran the monitor's sweep after the break
    sl = client_id_for("D1", "sl")
    fills = [e for e in seen if isinstance(e, FillEvent) and e.client_id == sl]
    assert len(fills) == 1 and fills[0].quantity == 1  # read back once, not doubled when the stream resumed
    flat = [e for e in seen if isinstance(e, PositionChanged) and e.snapshot.amount == 0]
    assert flat and flat[0].reason == "POLL"  # it came from the reconciliation


def test_a_stalled_stream_is_left_after_the_heartbeat_timeout() -> None:
    """A stall sends nothing, not even the server's pings (Binance's come every 3 minutes; the server's
    default too): after `heartbeat_s` of silence the adapter reconnects and reads back what it missed."""
    async def body(f: Follower) -> tuple[float, str]:
        await asyncio.to_thread(server.control, "/sim/v1/streams", {"action": "stall", "seconds": 60, "kind": "user"})
        stalled = time.monotonic()
        await f.exchange.place(entry("H1"))  # its events are lost on the stalled connection
        await f.connected(2)
        noticed = time.monotonic() - stalled
        await f.wait_for(position_is(1), after=stalled)
        return noticed, f.exchange.user_stream.last_break

    with running_server() as server:
        noticed, why = run(server, body, StreamOptions(heartbeat_s=1.0))
    print(f"\nstall noticed and reconciled after {noticed:.2f} s")
    assert "stalled" in why
    assert 1.0 <= noticed < 3.0


def test_an_order_never_echoed_replaces_a_stalled_stream_long_before_the_heartbeat() -> None:
    """The stalled connection still answers our pings and the heartbeat is Binance's 4 minutes, but an order
    we send must show up on the stream: with no event at all within `echo_timeout_s` it is replaced."""
    async def body(f: Follower) -> tuple[float, str, int]:
        await f.exchange.place(stop("E0"))  # echoed: the healthy stream stays
        await asyncio.sleep(1.5)
        healthy_connects = f.exchange.user_stream.connects
        await asyncio.to_thread(server.control, "/sim/v1/streams", {"action": "stall", "seconds": 60, "kind": "user"})
        stalled = time.monotonic()
        await f.exchange.place(entry("E1"))  # its events are lost on the stalled connection
        await f.connected(2)
        noticed = time.monotonic() - stalled
        await f.wait_for(position_is(1), after=stalled)
        return noticed, f.exchange.user_stream.last_break, healthy_connects

    with running_server() as server:
        noticed, why, healthy_connects = run(server, body, StreamOptions(echo_timeout_s=1.0))
    print(f"\nstall noticed by a missing echo and reconciled after {noticed:.2f} s")
    assert healthy_connects == 1
    assert "no event for order" in why, why
    assert 1.0 <= noticed < 3.0


def test_server_pings_keep_an_idle_stream_and_it_spends_no_weight() -> None:
    settings = StreamSettings(ping_interval_s=0.3, pong_timeout_s=5.0)

    async def body(f: Follower) -> tuple[int, int]:
        for _ in range(3):  # a window inside one server minute
            before = await asyncio.to_thread(_used_weight, server)
            await asyncio.sleep(3.0)
            after = await asyncio.to_thread(_used_weight, server)
            if after[0] == before[0]:
                return after[1] - before[1], f.exchange.user_stream.connects
        raise AssertionError("no 3 s window inside one minute")

    with running_server(make_sim(), streams=settings) as server:
        spent, connects = run(server, body, StreamOptions(heartbeat_s=1.0))
    print(f"\nweight spent idle over 3 s: {spent}")
    assert (spent, connects) == (0, 1)


def test_keep_alives_hold_the_listen_key_and_an_expired_one_is_replaced() -> None:
    clock = _MovableClock()

    async def body(f: Follower) -> tuple[int, int, int]:
        stream = f.exchange.user_stream
        for _ in range(3):  # 150 minutes of server time, a keep-alive within every 50
            clock.offset_ms += 50 * MINUTE_MS
            calls = stream.keepalives
            while stream.keepalives == calls:
                await asyncio.sleep(0.01)
        kept = (stream.keys_created, stream.connects)
        clock.offset_ms += 61 * MINUTE_MS + 1  # now past the last keep-alive's 60 minutes: listenKeyExpired
        while stream.keys_created < 2:
            await asyncio.sleep(0.01)
        clock.offset_ms = 0  # back to wall time, so signed requests pass again; the new key holds
        await f.connected(2, timeout=15)
        after = time.monotonic()
        await f.exchange.place(entry("K1"))
        await f.wait_for(lambda e: isinstance(e, OrderChanged) and e.reason == "TRADE", after=after)
        return *kept, stream.keys_created

    with running_server(clock=clock) as server:
        keys, connects, keys_after = run(server, body, StreamOptions(keepalive_s=0.2, reconcile_retry_s=0.3))
    assert (keys, connects) == (1, 1)
    assert keys_after == 2


def test_the_connection_lifetime_close_is_followed_by_a_reconnect() -> None:
    settings = StreamSettings(lifetime_s=1.0)

    async def body(f: Follower) -> str:
        await f.connected(2)
        after = time.monotonic()
        await f.exchange.place(entry("L1"))
        await f.wait_for(lambda e: isinstance(e, OrderChanged) and e.reason == "TRADE", after=after)
        return f.exchange.user_stream.last_break

    with running_server(make_sim(), streams=settings) as server:
        why = run(server, body)
    assert "1001" in why or "lifetime" in why, why


class _MovableClock:
    """Wall time plus an offset the test moves: listen keys expire on the server's clock."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms


def _used_weight(server: RunningServer) -> tuple[int, int]:
    """(server minute, weight used this minute by every IP)."""
    report = httpx.get(f"{server.url}/sim/v1/limits", headers={"X-MBX-APIKEY": API_KEY}).json()
    return report["serverTime"] // MINUTE_MS, sum(ip["usedWeight"] for ip in report["ips"])



def test_polling_is_still_there_for_venues_without_a_user_stream() -> None:
    async def body() -> list[object]:
        exchange = CcxtExchange(server.url, api_key=API_KEY, api_secret=API_SECRET, throttle=False,
                                events_via="poll", poll_interval=0.05)
        seen: list[object] = []

        async def follow() -> None:
            async for event in exchange.events():
                seen.append(event)

        task = asyncio.create_task(follow())
        try:
            await exchange.place(entry("P1"))
            for _ in range(200):
                if any(isinstance(e, PositionUpdate) and e.snapshot.amount == 1 for e in seen):
                    break
                await asyncio.sleep(0.02)
        finally:
            await exchange.close()
            await asyncio.wait_for(task, 5)
        return seen

    with running_server() as server:
        seen = asyncio.run(body())
    assert any(isinstance(e, PositionUpdate) and e.reason == "POLL" and e.snapshot.amount == 1 for e in seen)
    assert exchange_connects(seen) == 0


def exchange_connects(seen: list[object]) -> int:
    """Polling opens no websocket: nothing it emits came from a stream (no execution types)."""
    return sum(isinstance(e, OrderUpdate) and e.reason != "POLL" for e in seen)
