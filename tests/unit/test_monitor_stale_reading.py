"""A reading the monitor began while execution was placing protection is not judged once execution is done.

Seen on the live path under load: an entry's position event reached the monitor while execution had
placed the stop but not yet the take-profit. The monitor's run for the symbol read its open orders (the
stop only), then read the position, and by the time it judged what it had read execution had placed the
take-profit, read it back and published TradeOpened. Execution's turn was over, so the monitor
"repaired" the take-profit that its reading lacked. Binance refused a second closePosition take-profit
(-4130), and the monitor then placed a reduceOnly one for the whole position: two take-profits where the
bot meant one. The reading is now judged again afresh, and nothing is placed.

The mirror case is a full reading, which reads positions first: its position list from before the
fill, its order list from after execution read both orders back. To that reading the stop and the
take-profit were orphans, and it cancelled both, leaving the new position without a stop until a later
repair. Such a reading is now read again too.

The engine is wired as a session wires it, on the in-process simulator, with the session's event pump.
Only the timing is arranged: a placement is held until the monitor's reading has begun, and a read of
that reading returns only after TradeOpened.
"""

from __future__ import annotations

import asyncio

from gateway_double import ForwardingGateway

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.events import Direction, OrderIntentRecorded, ProtectionAction, Signal, TradeOpened
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, PositionSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.runtime.pump import pump_forever
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig
from quantum_trader.trading.protection_view import ProtectionView

SYMBOL = "ETHUSDT"
NOW = 1_800_000_000_000


class SlowPositionRead(InProcessExchange):
    """The monitor's position read of one symbol lets the take-profit go, then answers after TradeOpened."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        super().__init__(sim, poll_interval=0.002)
        self.release_take_profit = asyncio.Event()
        self.trade_opened = asyncio.Event()
        self.order_reads = 0

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        self.order_reads += symbol is not None
        return await super().open_orders(symbol)

    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        if symbol is not None and not self.release_take_profit.is_set():
            self.release_take_profit.set()
            await self.trade_opened.wait()
        return await super().positions(symbol)


class HeldTakeProfit(ForwardingGateway):
    """The gateway: a take-profit waits until the monitor's run has read the open orders without it."""

    exchange: SlowPositionRead

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        if intent.type is OrderType.TAKE_PROFIT_MARKET:
            await self.exchange.release_take_profit.wait()
        return await self.exchange.place(intent)


async def scenario() -> tuple[ExchangeSimulator, SlowPositionRead, list[ProtectionAction]]:
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))
    sim.set_prices({SYMBOL: "3000"})
    exchange = SlowPositionRead(sim)
    clock = SimulatedClock(NOW)
    engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), gateway=HeldTakeProfit(exchange))
    protect_engine(engine, Metrics(), MonitorConfig(interval_s=1.0))
    actions: list[ProtectionAction] = []
    engine.bus.subscribe(ProtectionAction, actions.append)

    def opened(_: TradeOpened) -> None:
        exchange.trade_opened.set()

    engine.bus.subscribe(TradeOpened, opened)
    pump = asyncio.create_task(pump_forever(engine.bus, clock, exchange))
    await asyncio.sleep(0)  # the pump subscribes before the entry is sent
    entry = asyncio.create_task(engine.bus.publish(Signal(
        symbol=SYMBOL, direction=Direction.LONG, confidence=1.0, source="force", time_ms=NOW, reason="test")))
    async with asyncio.timeout(5):
        await entry
        while exchange.order_reads < 2:  # the run read the orders before the take-profit, and again after
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # whatever the stream and the monitor still had to do
    await exchange.close()
    await pump
    return sim, exchange, actions


def test_a_reading_from_before_execution_finished_is_read_again_not_repaired() -> None:
    sim, exchange, actions = asyncio.run(scenario())
    assert exchange.release_take_profit.is_set() and exchange.trade_opened.is_set()  # the race was arranged
    protection = sorted((a.order_type.value, _attempt(a.client_algo_id)) for a in sim.open_algo_orders(SYMBOL))
    assert protection == [("STOP_MARKET", "sl-0"), ("TAKE_PROFIT_MARKET", "tp-0")], protection
    placed = [_attempt(a.client_id or "") for a in actions if a.action == "placed"]
    assert placed == ["sl-0", "tp-0"], actions  # execution's two, nothing from the monitor
    assert not [a for a in actions if a.action not in ("placed", "verified")], actions


def _attempt(client_id: str) -> str:
    """`qt-ETHUSDT_<session>_1-tp-0` → `tp-0` (the trade id's middle part is the session's)."""
    return "-".join(client_id.rsplit("-", 2)[-2:])


class StalePositionsReading(InProcessExchange):
    """A full reading's position list taken before the entry filled, answered only after TradeOpened."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        super().__init__(sim, poll_interval=0.002)
        self.release_entry = asyncio.Event()
        self.trade_opened = asyncio.Event()
        self.held = False

    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        if symbol is None and not self.held:
            self.held = True
            before = await super().positions()  # no position yet: the entry is held
            self.release_entry.set()
            await self.trade_opened.wait()
            return before
        return await super().positions(symbol)


class HeldEntry(ForwardingGateway):
    exchange: StalePositionsReading

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        if intent.type is OrderType.MARKET and not intent.reduce_only:
            await self.exchange.release_entry.wait()
        return await self.exchange.place(intent)


async def full_reading_scenario() -> tuple[ExchangeSimulator, list[ProtectionAction], ProtectionView | None]:
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))
    sim.set_prices({SYMBOL: "3000"})
    exchange = StalePositionsReading(sim)
    clock = SimulatedClock(NOW)
    engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), gateway=HeldEntry(exchange))
    monitor, _ = protect_engine(engine, Metrics(), MonitorConfig(interval_s=1.0))
    assert monitor is not None
    actions: list[ProtectionAction] = []
    engine.bus.subscribe(ProtectionAction, actions.append)
    intent_sent = asyncio.Event()

    def opened(_: TradeOpened) -> None:
        exchange.trade_opened.set()

    def sent(_: OrderIntentRecorded) -> None:
        intent_sent.set()

    engine.bus.subscribe(TradeOpened, opened)
    engine.bus.subscribe(OrderIntentRecorded, sent)
    entry = asyncio.create_task(engine.bus.publish(Signal(
        symbol=SYMBOL, direction=Direction.LONG, confidence=1.0, source="force", time_ms=NOW, reason="test")))
    async with asyncio.timeout(5):
        await intent_sent.wait()  # execution's turn has begun: the entry is recorded, its placement held
        view = await monitor.sweep(reading=True)  # positions (before the fill), orders (after both read back)
        await entry
    await exchange.close()
    return sim, actions, view


def test_a_full_reading_without_the_new_position_does_not_cancel_its_protection() -> None:
    sim, actions, view = asyncio.run(full_reading_scenario())
    assert sim.position(SYMBOL).amount > 0
    # what the sweep published was read again after execution finished: the position, protected
    assert view is not None and len(view.positions) == 1 and view.unprotected == 0 and not view.orphans, view
    protection = sorted((a.order_type.value, _attempt(a.client_algo_id)) for a in sim.open_algo_orders(SYMBOL))
    assert protection == [("STOP_MARKET", "sl-0"), ("TAKE_PROFIT_MARKET", "tp-0")], (protection, actions)
    assert not [a for a in actions if a.action not in ("placed", "verified")], actions
