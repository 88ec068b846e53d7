"""The stop witness on the live path never holds the bus: two stops fire in one crash against the simulator server
over loopback, heard through the real ccxt adapter's user-data stream and the session's pump, while the venue answers
`GET /fapi/v1/premiumIndex` (the mark's REST read) 0.8 s late (the server's `slow` fault).

The bus delivers depth-first: a handler that awaits holds back every later event of the session. The witness used to
await the mark's read inside its handler, so each fired stop held the bus for the read (here 0.8 s; up to its 1 s
timeout), and the second position's stop report, its fill and whatever the monitor or the kill switch had to do
waited behind it. Measured here from outside, by a handler before the witness and one after it: how long each fired
stop's delivery took, and how far apart the two positions' reports reached the bus.

With the market stream running (feeds/live_feed.py, feeding the adapter's mark board, as a session with
QT_FEED=exchange does), the witness takes the first streamed mark stamped after the stop's report and asks the
venue nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from test_simserver_support import API_KEY, API_SECRET, SYMBOLS, RunningServer, running_server

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import WallClock
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import OrderChanged, PositionChanged, ProtectionAction
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.ids import client_id_for
from quantum_trader.exchange.mark_board import MarkBoard
from quantum_trader.exchange.retry import RetryingExchange
from quantum_trader.feeds.live_feed import WsKlineFeed, market_ws_url
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.runtime.pump import pump_forever
from quantum_trader.trading.stop_witness import ACTION, StopWitness, fired

#: Each position: (quantity, stop trigger, where the crash takes it): both stops are jumped through in one step.
POSITIONS = {"BNBUSDT": ("1", "570", "560"), "BTCUSDT": ("0.002", "95000", "94000")}
SLOW_MS = 800
MARK_PATH = "/fapi/v1/premiumIndex"


@dataclass
class Watch:
    """A handler before the witness and one after it: when each fired stop's delivery began and ended."""

    begun: dict[int, tuple[str, float]] = field(default_factory=dict)
    held: dict[str, float] = field(default_factory=dict)  # symbol → seconds its first fired report took
    reached: dict[str, float] = field(default_factory=dict)  # symbol → when that report reached the bus
    positions: dict[str, Decimal] = field(default_factory=dict)
    witnessed: dict[str, ProtectionAction] = field(default_factory=dict)

    def before(self, event: OrderChanged) -> None:
        if fired(event.snapshot) and event.snapshot.symbol not in self.reached:
            self.reached[event.snapshot.symbol] = time.monotonic()
            self.begun[id(event)] = (event.snapshot.symbol, time.monotonic())

    def after(self, event: OrderChanged) -> None:
        begun = self.begun.pop(id(event), None)
        if begun is not None:
            self.held[begun[0]] = time.monotonic() - begun[1]

    def position(self, event: PositionChanged) -> None:
        self.positions[event.snapshot.symbol] = event.snapshot.amount

    def action(self, event: ProtectionAction) -> None:
        if event.action == ACTION:
            self.witnessed[event.symbol] = event


async def until(done: Callable[[], bool], what: str, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        await asyncio.sleep(0.01)


@dataclass
class Live:
    server: RunningServer
    exchange: RetryingExchange
    adapter: CcxtExchange
    witness: StopWitness
    watch: Watch

    async def control(self, path: str, body: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self.server.control, path, body)

    async def open_protected(self) -> None:
        """Both positions, each with its stop-loss (a MARK_PRICE stop-market closing the position)."""
        for symbol, (quantity, trigger, _) in POSITIONS.items():
            trade = f"{symbol}_1_1"
            await self.exchange.place(OrderIntent(client_id=client_id_for(trade, "entry"), symbol=symbol, side=Side.BUY,
                                                  type=OrderType.MARKET, quantity=Decimal(quantity)))
            await self.exchange.place(OrderIntent(client_id=client_id_for(trade, "sl"), symbol=symbol, side=Side.SELL,
                                                  type=OrderType.STOP_MARKET, trigger_price=Decimal(trigger),
                                                  close_position=True, working_type=WorkingType.MARK_PRICE))
        await until(lambda: all(self.watch.positions.get(s) for s in POSITIONS), "open positions")

    async def crash(self) -> None:
        """One step through both stops, while the venue answers the mark's REST read SLOW_MS late."""
        await self.control("/sim/v1/faults", {"kind": "slow", "delay_ms": SLOW_MS, "paths": [MARK_PATH], "seconds": 60})
        await self.control("/sim/v1/prices", {"prices": {s: p[2] for s, p in POSITIONS.items()}})

    async def slow_reads(self) -> int:
        """How many mark reads the venue answered late (the `slow` fault's count)."""
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{self.server.url}/sim/v1/faults", headers={"X-MBX-APIKEY": API_KEY})
        return int(answer.json()["injected"].get("slow", 0))


@asynccontextmanager
async def live(server: RunningServer, *, streamed: bool) -> AsyncIterator[Live]:
    """The adapter, the pump and the witness as a session wires them; `streamed`: the market stream feeds its marks."""
    board = MarkBoard()
    adapter = CcxtExchange(server.url, api_key=API_KEY, api_secret=API_SECRET, throttle=False, marks=board)
    exchange = RetryingExchange(adapter)
    bus, watch = EventBus(), Watch()
    bus.subscribe(OrderChanged, watch.before)
    bus.subscribe(PositionChanged, watch.position)
    bus.subscribe(ProtectionAction, watch.action)
    witness = StopWitness(bus, WallClock(), exchange)
    witness.attach()
    bus.subscribe(OrderChanged, watch.after)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(pump_forever(bus, WallClock(), exchange, retry_after_s=0.1))]
    if streamed:
        feed = WsKlineFeed(market_ws_url(server.url), SYMBOLS, exchange.klines, marks=board)

        async def on_bar(chunk: BarChunk) -> None:
            """Bars are not this test's business."""

        tasks.append(asyncio.create_task(feed.run(on_bar, stop)))
        await until(lambda: all(board.since(s, 0) for s in POSITIONS), "streamed marks")
    try:
        await until(lambda: adapter.user_stream.reconciliations >= 1, "user stream")
        yield Live(server, exchange, adapter, witness, watch)
        await witness.finish()
    finally:
        stop.set()
        await exchange.close()
        for task in tasks:
            with suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)


def crashed(*, streamed: bool) -> tuple[Watch, int]:
    """Open both positions, crash through their stops, wait for both witnesses: what was seen, and how many mark
    reads the venue answered slowly."""
    async def scenario() -> tuple[Watch, int]:
        with running_server() as server:
            async with live(server, streamed=streamed) as bot:
                await bot.open_protected()
                await bot.crash()
                if streamed:  # the exchange's time moves on (on Binance every mark comes a second after the last):
                    await bot.control("/sim/v1/advance", {"seconds": 1})  # the next one is stamped after the reports
                await until(lambda: set(bot.watch.witnessed) == set(POSITIONS), "witnesses")
                return bot.watch, await bot.slow_reads()

    watch, slow_reads = asyncio.run(scenario())
    apart = abs(watch.reached["BTCUSDT"] - watch.reached["BNBUSDT"])
    print(f"\nbus held per fired stop (ms): {({s: round(v * 1000, 2) for s, v in watch.held.items()})}; the two "
          f"reports reached the bus {apart * 1000:.1f} ms apart; mark reads answered {SLOW_MS} ms late: {slow_reads}")
    assert set(watch.held) == set(POSITIONS)
    assert max(watch.held.values()) < 0.1, watch.held  # was the read's 0.8 s, each
    assert apart < 0.3, apart  # the second position's report used to wait behind the first one's read
    return watch, slow_reads


def test_two_stops_fired_in_a_crash_are_delivered_at_once_while_their_marks_are_read_slowly() -> None:
    watch, slow_reads = crashed(streamed=False)
    for symbol, (_, _, crashed_to) in POSITIONS.items():
        action = watch.witnessed[symbol]
        assert action.price == Decimal(crashed_to) and "read over REST" in action.reason, action
    assert slow_reads == len(POSITIONS)


def test_with_the_market_stream_the_witness_takes_its_mark_and_asks_the_venue_nothing() -> None:
    watch, slow_reads = crashed(streamed=True)
    for symbol, (_, _, crashed_to) in POSITIONS.items():
        action = watch.witnessed[symbol]
        assert action.price == Decimal(crashed_to) and "held" in action.reason, action
    assert slow_reads == 0  # no request weight spent on a price the stream had brought
