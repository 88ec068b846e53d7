"""The kill switch keeps every position's stop-loss until the position is flat, against the in-process simulator.

The tester's case: the kill switch cancelled every order (the stop-loss and take-profit first) and only then
sent the exits; POST /fapi/v1/order answered 503, so the position sat with no stop until the monitor noticed.
Here the engine is wired as a session wires it (execution, monitor, kill switch, trade tracker) on the real
simulator; the only stand-in is the adapter answering 503 to the exits (reduce-only market orders) while a
fault is armed, as the simulator server's fault API does. The chaos campaign's independent observer
(chaos/report.py) looks at the simulator before and after every call to the exchange, and the adapter records
whether a working stop was on the exchange at each exit it was asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from quantum_trader.chaos.faults import server_error
from quantum_trader.chaos.report import Observer, is_working_stop
from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.events import (
    ErrorEvent,
    KillSwitch,
    OrderChanged,
    OrderIntentRecorded,
    OrderRejectedEvent,
    ProtectionAction,
)
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, PositionSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.execution import PROTECTION_ATTEMPTS, IntentLog
from quantum_trader.trading.kill_switch import KillSwitchResult
from quantum_trader.trading.monitor import MonitorConfig

BTC, ETH = "BTCUSDT", "ETHUSDT"
SYMBOLS = (BTC, ETH)
T0 = 1_800_000_000_000


class ExitsRefused(InProcessExchange):
    """The in-process adapter, answering 503 to the next `refuse` exits (reduce-only MARKET orders: POST
    /fapi/v1/order down, the algo endpoint up). With `stream` set it delivers the simulator's events after the
    calls named in `stream_after` ("place", "cancel"), as the user stream does while the kill switch works.
    The reads named in `unreadable` ("open_orders", "positions") answer 503 as the adapter does once its
    retries are spent (the chaos campaign's `server_error`)."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        super().__init__(sim)
        self.refuse = 0
        self.observer: Observer | None = None
        self.calls = 0
        #: For each exit asked for: (symbol, whether a working stop was on the exchange at that moment).
        self.exits: list[tuple[str, bool]] = []
        self.stream: tuple[EventBus, SimulatedClock] | None = None
        self.stream_after: tuple[str, ...] = ("place", "cancel")
        self.unreadable: set[str] = set()

    def watch(self) -> Observer:
        """From now on, the observer looks before and after every order and cancellation (its clock: the calls)."""
        self.observer = Observer(self.sim, SYMBOLS, self.calls)
        self.observer.observe(self.calls)
        return self.observer

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        if "open_orders" in self.unreadable:
            raise server_error()
        return await super().open_orders(symbol)

    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        if "positions" in self.unreadable:
            raise server_error()
        return await super().positions(symbol)

    def look(self) -> None:
        self.calls += 1
        if self.observer is not None:
            self.observer.observe(self.calls)

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        self.look()
        if intent.type is OrderType.MARKET and intent.reduce_only:
            amount = self.sim.position(intent.symbol).amount
            self.exits.append((intent.symbol, any(is_working_stop(a, amount)
                                                  for a in self.sim.open_algo_orders(intent.symbol))))
            if self.refuse > 0:
                self.refuse -= 1
                raise server_error()
        try:
            return await super().place(intent)
        finally:
            await self._after("place")

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        self.look()
        try:
            return await super().cancel(symbol, client_id)
        finally:
            await self._after("cancel")

    async def _after(self, call: str) -> None:
        self.look()
        if self.stream is not None and call in self.stream_after:
            bus, clock = self.stream
            await publish_all(bus, clock, self.drain())


class Bot:
    """One session's engine on a simulator with BTCUSDT at 100 000 and ETHUSDT at 3 000."""

    def __init__(self, *, intents: IntentLog | None = None) -> None:
        universe = load_universe()
        self.sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig())
        self.sim.set_prices({BTC: "100000", ETH: "3000"})
        self.exchange = ExitsRefused(self.sim)
        self.exchange.drain()  # start recording
        self.clock = SimulatedClock(T0)
        self.engine = wire_engine(self.clock, self.exchange, dict(self.sim.state.instruments), TradingRules())
        if intents is not None:
            self.engine.execution.intents = intents
        monitor, self.handler = protect_engine(self.engine, Metrics(), MonitorConfig(interval_s=1.0))
        assert monitor is not None
        self.monitor = monitor
        self.events: list[object] = []
        self.engine.bus.subscribe(object, self.events.append)

    async def pump(self) -> None:
        await publish_all(self.engine.bus, self.clock, self.exchange.drain())

    async def open(self, symbol: str, side: str, quantity: str, *, heard: bool = True) -> None:
        """A position opened by hand; the monitor, hearing of it, places its stop-loss and take-profit (`heard`
        False: the stream lost the events, so it stays naked until a reading)."""
        self.sim.new_order({"symbol": symbol, "side": side, "type": "MARKET", "quantity": quantity})
        if heard:
            await self.pump()
        else:
            self.exchange.drain()

    async def kill(self) -> KillSwitchResult:
        await self.engine.bus.publish(KillSwitch(reason="manual kill switch", time_ms=self.clock.now_ms()))
        await self.pump()
        return self.handler.last

    def stops(self, symbol: str) -> list[str]:
        return [a.client_algo_id for a in self.sim.open_algo_orders(symbol) if a.order_type is OrderType.STOP_MARKET]

    def nothing_open(self) -> bool:
        return not self.sim.open_orders() and not self.sim.open_algo_orders() and all(
            self.sim.position(s).amount == 0 for s in SYMBOLS)

    def actions(self, action: str) -> list[ProtectionAction]:
        return [e for e in self.events if isinstance(e, ProtectionAction) and e.action == action]

    def errors(self) -> list[ErrorEvent]:
        return [e for e in self.events if isinstance(e, ErrorEvent)]


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def test_an_exit_refused_for_good_leaves_the_stop_working_and_a_second_kill_switch_flattens() -> None:
    async def body() -> None:
        bot = Bot()
        await bot.open(BTC, "BUY", "0.010")
        [stop] = bot.stops(BTC)
        observer = bot.exchange.watch()
        trigger = next(a.trigger_price for a in bot.sim.open_algo_orders(BTC) if a.client_algo_id == stop)
        bot.exchange.refuse = 99  # POST /fapi/v1/order down for longer than every attempt

        first = await bot.kill()
        assert bot.stops(BTC) == [stop] and len(bot.sim.open_algo_orders(BTC)) == 2  # SL and TP kept
        assert bot.sim.position(BTC).amount == Decimal("0.010")
        assert bot.exchange.exits == [(BTC, True)] * PROTECTION_ATTEMPTS  # a stop there at every attempt
        assert observer.stretches == []  # never unprotected
        assert (first.closed_positions, first.failed, first.cancelled_orders) == (0, 1, 0)
        assert first.still_open == [f"{BTC} 0.01 still open, protected by its stop-loss {stop} at {trigger} (kept)"]
        assert first.summary() == f"cancelled 0 orders, closed 0 positions; 1 refused; {first.still_open[0]}"
        [kept] = bot.actions("kill_switch_open")
        assert (kept.symbol, kept.client_id, kept.order_type) == (BTC, stop, "STOP_MARKET")
        assert "still open, protected by its stop-loss" in kept.reason
        [journaled] = bot.actions("kill_switch")
        assert journaled.reason == f"manual kill switch: {first.summary()}"

        await bot.monitor.sweep(reading=True)  # the monitor finds it protected: nothing to repair
        assert bot.stops(BTC) == [stop] and bot.monitor.state.view is not None
        assert bot.monitor.state.view.unprotected == 0

        bot.exchange.refuse = 0  # the exchange answers again: the kill switch, pressed again, finishes
        second = await bot.kill()
        assert bot.nothing_open()
        assert second.summary() == "cancelled 2 orders, closed 1 position"
        observer.finish(bot.exchange.calls + 1)
        assert observer.stretches == []
        assert bot.errors() == []

    run(body)


def test_an_exit_that_succeeds_on_its_retry_keeps_the_stop_until_the_position_is_flat() -> None:
    async def body() -> None:
        bot = Bot()
        await bot.open(BTC, "BUY", "0.010")
        observer = bot.exchange.watch()
        bot.exchange.refuse = 1  # the first exit answered 503; execution's next attempt goes through

        result = await bot.kill()
        assert bot.exchange.exits == [(BTC, True), (BTC, True)]
        assert bot.nothing_open()
        assert result.summary() == "cancelled 2 orders, closed 1 position"
        assert observer.stretches == []
        refused = [e for e in bot.events if isinstance(e, OrderRejectedEvent)]
        assert [(r.purpose, r.code) for r in refused] == [("kill", -1001)]

    run(body)


@pytest.mark.parametrize("stream_after", [(), ("place", "cancel")], ids=["stream-quiet", "stream-live"])
def test_the_kill_switch_cancels_entries_first_then_closes_then_clears_what_the_positions_left(
        stream_after: tuple[str, ...]) -> None:
    """Two protected positions, an entry resting, and reduce-only orders with a quantity (which Binance does
    not expire with their position): everything ends cancelled or closed, the stops last, and the monitor
    does not fight it. Quiet stream: the kill switch cancels the ETHUSDT leftovers; its first cancel, heard on
    the bus, sends the monitor to cancel the other as an orphan, so the kill switch's own cancel of it is
    refused, and read back gone it counts as removed, not refused. Live stream: the monitor hears the close
    and cancels both orphans before the kill switch reads the account back. The same summary either way."""
    async def body() -> None:
        bot = Bot()
        await bot.open(BTC, "BUY", "0.010")
        await bot.open(ETH, "SELL", "1.000")
        hand = bot.sim.new_order({"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": "0.010",
                                  "price": "90000", "timeInForce": "GTC", "newClientOrderId": "hand-entry"})
        bot.sim.new_order({"symbol": ETH, "side": "BUY", "type": "LIMIT", "quantity": "0.500", "price": "2800",
                           "timeInForce": "GTC", "reduceOnly": "true", "newClientOrderId": "hand-tp"})
        bot.sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": ETH, "side": "BUY", "type": "STOP_MARKET",
                                "triggerPrice": "3300", "quantity": "1.000", "reduceOnly": "true",
                                "clientAlgoId": "hand-sl"})
        await bot.pump()
        before = len(bot.sim.open_orders()) + len(bot.sim.open_algo_orders())
        assert before == 7  # 2 × (SL, TP) placed by the monitor, the entry, the hand TP and the hand stop
        bot.exchange.stream, bot.exchange.stream_after = (bot.engine.bus, bot.clock), stream_after
        observer = bot.exchange.watch()

        result = await bot.kill()
        assert bot.nothing_open()
        assert sorted(bot.exchange.exits) == [(BTC, True), (ETH, True)]  # each closed with its stops working
        assert observer.stretches == []
        assert result.summary() == "cancelled 7 orders, closed 2 positions"
        assert (result.cancelled_orders, result.failed, result.still_open) == (before, 0, [])
        assert [e for e in bot.errors() if e.component == "kill_switch"] == []
        orphans = {a.client_id for a in bot.actions("cancelled_orphan")}
        assert orphans == ({"hand-sl"} if not stream_after else {"hand-sl", "hand-tp"})
        first_exit = next(i for i, e in enumerate(bot.events)
                          if isinstance(e, OrderIntentRecorded) and e.purpose == "kill")
        cancelled = [(i, e.snapshot.client_id) for i, e in enumerate(bot.events)
                     if isinstance(e, OrderChanged) and e.snapshot.status.value == "CANCELED"]
        assert hand.client_order_id in [c for i, c in cancelled if i < first_exit]  # the entry went first
        assert {c for i, c in cancelled if i > first_exit} >= {"hand-sl", "hand-tp"}  # reduce-only ones after

    run(body)


def test_a_naked_position_the_kill_switch_cannot_close_is_protected_by_the_monitor_at_once() -> None:
    """No stop to keep: the summary says UNPROTECTED, and the monitor (which no longer pauses for the kill
    switch) places one at its next sweep, not after a grace period."""
    async def body() -> None:
        bot = Bot()
        await bot.open(ETH, "SELL", "1.000", heard=False)  # the monitor has not seen it yet: no stop
        bot.exchange.refuse = 99

        result = await bot.kill()
        assert bot.sim.position(ETH).amount == Decimal("-1.000") and bot.stops(ETH) == []
        await bot.monitor.sweep(reading=True)  # the same instant of the session's clock
        assert len(bot.stops(ETH)) == 1
        assert result.still_open == [f"{ETH} -1 still open, UNPROTECTED: no working stop-loss (the monitor "
                                     "places one)"]
        [action] = bot.actions("kill_switch_open")
        assert action.client_id is None and "UNPROTECTED" in action.reason

    run(body)


class RefusesKillIntents:
    """A journal that cannot record the kill switch's exits (a full disk at the wrong moment)."""

    def record_intent(self, event: OrderIntentRecorded) -> None:
        if event.purpose == "kill":
            raise OSError("disk full")


def test_an_exit_not_journaled_in_paper_is_not_a_dry_run_and_keeps_the_stop() -> None:
    """Write-ahead refuses an exit it could not journal: nothing was sent, but this is no staging session, so
    the position is open and its stop stays (it used to be reported as 'would close')."""
    async def body() -> None:
        bot = Bot(intents=RefusesKillIntents())
        await bot.open(BTC, "BUY", "0.010")
        [stop] = bot.stops(BTC)

        result = await bot.kill()
        assert bot.stops(BTC) == [stop] and bot.sim.position(BTC).amount == Decimal("0.010")
        assert (result.would_close, result.would_cancel, result.failed) == ([], [], 1)
        assert result.still_open and "protected by its stop-loss" in result.still_open[0]

    run(body)
