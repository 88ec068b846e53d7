"""The protection monitor against the real in-process simulator: one scenario per test.

Each test builds a real `ExchangeSimulator`, the in-process adapter, the engine's wiring (execution
with its journaled intents) and the monitor, moves prices on the simulator and feeds the exchange's
events back on the bus, as a backtest does. Assertions read the simulator's own orders and
positions and the events the monitor published, never the monitor's private state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import (
    Direction,
    KillSwitch,
    OrderChanged,
    OrderIntentRecorded,
    OrderRejectedEvent,
    ProtectionAction,
    TradeOpened,
)
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot
from quantum_trader.domain.money import fmt
from quantum_trader.domain.orders import AlgoOrder
from quantum_trader.domain.stops import protection_prices
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.market import PriceUpdate
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig, PositionMonitor

SYMBOL = "BTCUSDT"
START = Decimal("100000")
QTY = Decimal("0.010")


def make_sim() -> ExchangeSimulator:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in (SYMBOL, "ETHUSDT")}, SimConfig())
    sim.set_prices({SYMBOL: START, "ETHUSDT": "3000"})
    sim.set_leverage(SYMBOL, 5)  # far from liquidation for the moves below
    return sim


class Rig:
    """One bot (bus, clock, execution, monitor) on a simulator; several rigs may share one simulator."""

    def __init__(self, sim: ExchangeSimulator | None = None, *, attach: bool = True,
                 config: MonitorConfig | None = None) -> None:
        self.sim = sim or make_sim()
        self.exchange = InProcessExchange(self.sim)
        self.exchange.drain()  # start recording
        self.clock = SimulatedClock(1_800_000_000_000)
        instruments = dict(self.sim.state.instruments)
        self.engine = wire_engine(self.clock, self.exchange, instruments, TradingRules())
        self.bus: EventBus = self.engine.bus
        self.metrics = Metrics()
        self.monitor = PositionMonitor(self.bus, self.clock, self.exchange, self.metrics, self.engine.execution,
                                       config or MonitorConfig(interval_s=1.0))
        if attach:
            self.monitor.attach()
        self.events: list[object] = []
        self.bus.subscribe(object, self.events.append)

    async def pump(self) -> None:
        await publish_all(self.bus, self.clock, self.exchange.drain())

    async def open_long(self, qty: Decimal = QTY) -> None:
        """A position opened outside the bot: a MARKET order straight on the simulator."""
        self.sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": str(qty)})
        await self.pump()

    async def place(self, client_id: str, side: Side, kind: OrderType, trigger: str, **extra: Any) -> OrderSnapshot:
        return await self.exchange.place(OrderIntent(client_id=client_id, symbol=SYMBOL, side=side, type=kind,
                                                     trigger_price=Decimal(trigger), **extra))

    def algos(self, kind: OrderType | None = None) -> list[AlgoOrder]:
        return [a for a in self.sim.open_algo_orders(SYMBOL) if kind is None or a.order_type is kind]

    def actions(self, action: str) -> list[ProtectionAction]:
        return [e for e in self.events if isinstance(e, ProtectionAction) and e.action == action]

    def levels(self) -> tuple[Decimal, Decimal]:
        entry = self.sim.position(SYMBOL).entry_price
        return protection_prices(self.sim.instrument(SYMBOL), Direction.LONG, entry, Decimal("2.0"), Decimal("4.0"))

    @property
    def amount(self) -> Decimal:
        return self.sim.position(SYMBOL).amount


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def index_of(events: list[object], match: Callable[[object], bool]) -> int:
    return next(i for i, e in enumerate(events) if match(e))


def test_position_opened_outside_the_bot_gets_stop_and_take_profit() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        stop, take = rig.levels()
        orders = await rig.exchange.open_orders(SYMBOL)
        assert {(o.type, o.trigger_price, o.conditional, o.close_position) for o in orders} == {
            (OrderType.STOP_MARKET, stop, True, True), (OrderType.TAKE_PROFIT_MARKET, take, True, True)}
        assert all(o.working_type is WorkingType.MARK_PRICE for o in orders)
        verified = rig.actions("verified")
        assert {v.order_type for v in verified} == {"STOP_MARKET", "TAKE_PROFIT_MARKET"}
        assert all(v.trade_id and v.trade_id.startswith(f"ext_{SYMBOL}_") for v in verified)

    run(body)


def test_stop_refused_as_already_triggered_leads_to_emergency_exit() -> None:
    async def body() -> None:
        rig = Rig()
        rig.sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": str(QTY)})
        entry = rig.sim.position(SYMBOL).entry_price
        rig.sim.set_prices({SYMBOL: "98500"})  # the market falls through the planned stop before it is placed
        await rig.bus.publish(TradeOpened(  # the bot's own trade, planned stop 1 % below the entry
            trade_id="T7", symbol=SYMBOL, direction=Direction.LONG, quantity=QTY, entry_price=entry,
            planned_stop=Decimal("99000.0"), planned_take_profit=Decimal("104000.0"), planned_loss=None,
            leverage=5, equity=Decimal(10000), time_ms=rig.clock.now_ms()))
        await rig.pump()
        assert rig.amount == 0
        rejected = [e for e in rig.events if isinstance(e, OrderRejectedEvent)]
        assert [r.code for r in rejected] == [-2021]
        assert [a.trade_id for a in rig.actions("emergency_exit")] == ["T7"]
        assert any(o.client_order_id == "qt-T7-em-0" and o.executed_qty == QTY for o in rig.sim.all_orders(SYMBOL))

    run(body)


def test_stop_cancelled_by_hand_is_replaced_at_once() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        (old,) = rig.algos(OrderType.STOP_MARKET)
        rig.sim.cancel_algo_order(client_algo_id=old.client_algo_id)
        await rig.pump()  # the CANCELED update alone triggers the repair: no sweep is called
        (new,) = rig.algos(OrderType.STOP_MARKET)
        assert new.client_algo_id != old.client_algo_id
        assert new.trigger_price == old.trigger_price
        assert rig.actions("placed")[-1].reason == "stop-loss missing"

    run(body)


def test_duplicate_stops_leave_only_the_tighter_one() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        (loose,) = rig.algos(OrderType.STOP_MARKET)
        await rig.place("hand-sl", Side.SELL, OrderType.STOP_MARKET, "99000.0", quantity=QTY, reduce_only=True)
        await rig.pump()
        await rig.monitor.sweep()
        stops = rig.algos(OrderType.STOP_MARKET)
        assert [(s.client_algo_id, s.trigger_price) for s in stops] == [("hand-sl", Decimal("99000.0"))]
        (dropped,) = rig.actions("cancelled_duplicate")
        assert dropped.client_id == loose.client_algo_id

    run(body)


def _replaced_before_cancelled(rig: Rig, old_id: str) -> None:
    """The new stop was placed and read back before the old one's cancellation was sent back."""
    new_id = rig.actions("replaced")[0].reason.rsplit(" ", 1)[-1]
    verified = index_of(rig.events, lambda e: isinstance(e, ProtectionAction) and e.action == "verified"
                        and e.client_id == new_id)
    cancelled = index_of(rig.events, lambda e: isinstance(e, OrderChanged) and e.snapshot.client_id == old_id
                         and e.reason == "CANCELED")
    assert verified < cancelled


def test_wrong_side_stop_is_replaced_before_it_is_cancelled() -> None:
    async def body() -> None:
        rig = Rig(attach=False)
        await rig.open_long()
        await rig.place("wrong-side", Side.BUY, OrderType.STOP_MARKET, "102000.0", close_position=True)
        await rig.monitor.sweep()
        (stop,) = rig.algos(OrderType.STOP_MARKET)
        assert (stop.side, stop.trigger_price) == (Side.SELL, rig.levels()[0])
        assert rig.actions("replaced")[0].client_id == "wrong-side"
        _replaced_before_cancelled(rig, "wrong-side")

    run(body)


def test_stop_limit_is_replaced_by_stop_market_before_it_is_cancelled() -> None:
    async def body() -> None:
        rig = Rig(attach=False)
        await rig.open_long()
        await rig.place("stop-limit", Side.SELL, OrderType.STOP, "98500.0", price=Decimal("98400.0"),
                        quantity=QTY, reduce_only=True)
        await rig.monitor.sweep()
        assert rig.algos(OrderType.STOP) == []
        (stop,) = rig.algos(OrderType.STOP_MARKET)
        assert stop.trigger_price == Decimal("98500.0")  # the tighter level is kept: never loosen
        _replaced_before_cancelled(rig, "stop-limit")

    run(body)


def test_fresh_monitor_protects_a_position_left_naked_by_a_crash() -> None:
    async def body() -> None:
        crashed = Rig(attach=False)
        await crashed.open_long()  # entry filled, then the process died before the stop
        assert crashed.algos() == []
        restarted = Rig(crashed.sim)
        view = await restarted.monitor.sweep()
        assert view is not None
        assert view.unprotected == 0
        assert {a.order_type for a in restarted.algos()} == {OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET}

    run(body)


def test_gap_through_the_stop_fills_at_the_gap_and_leftovers_are_cleaned() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        await rig.place("hand-tp", Side.SELL, OrderType.TAKE_PROFIT_MARKET, "105000.0", quantity=QTY,
                        reduce_only=True)  # a quantity TP: the exchange does not expire it when flat
        rig.sim.set_prices({SYMBOL: "90000"})
        await rig.pump()
        assert rig.amount == 0
        stop_fill = next(o for o in rig.sim.all_orders(SYMBOL) if o.orig_type is OrderType.STOP_MARKET)
        assert stop_fill.avg_price < Decimal("91000")  # the whole gap, not the stop price
        assert rig.algos() == []
        assert [a.client_id for a in rig.actions("cancelled_orphan")] == ["hand-tp"]

    run(body)


def test_stop_level_already_crossed_with_no_exchange_stop_exits_at_market() -> None:
    async def body() -> None:
        rig = Rig(attach=False)
        await rig.open_long()
        rig.sim.set_prices({SYMBOL: "97000"})  # 3 % down: beyond the 2 % stop, no stop on the exchange
        await rig.monitor.sweep()
        assert rig.amount == 0
        assert len(rig.actions("emergency_exit")) == 1
        assert rig.algos(OrderType.STOP_MARKET) == []

    run(body)


def test_software_stop_closes_after_the_grace_period_when_the_exchange_stop_does_not_fire() -> None:
    async def body() -> None:
        rig = Rig(attach=False)
        await rig.open_long()
        await rig.place("last-sl", Side.SELL, OrderType.STOP_MARKET, "98000.0", close_position=True,
                        working_type=WorkingType.CONTRACT_PRICE)
        rig.sim.set_prices({SYMBOL: PriceUpdate(Decimal("99000"), Decimal("97500"))})  # mark crossed, last not
        await rig.monitor.sweep()
        rig.clock.advance(1.0)
        await rig.monitor.sweep()
        assert rig.amount == QTY  # within the grace period (2 × 1 s): the exchange stop may still fire
        assert rig.actions("software_stop") == []
        rig.clock.advance(1.0)
        await rig.monitor.sweep()
        assert rig.amount == 0
        assert len(rig.actions("software_stop")) == 1
        assert any("-soft-" in o.client_order_id for o in rig.sim.all_orders(SYMBOL))
        assert rig.algos() == []

    run(body)


def test_trailing_stop_moves_up_in_steps_and_never_down() -> None:
    async def body() -> None:
        rig = Rig(config=MonitorConfig(interval_s=1.0, trailing_stop_pct=Decimal("2")))
        await rig.open_long()
        seen = []
        for price in ("103000", "102000", "103500", "102500"):
            rig.sim.set_prices({SYMBOL: price})
            await rig.pump()
            await rig.monitor.sweep()
            (stop,) = rig.algos(OrderType.STOP_MARKET)
            seen.append(stop.trigger_price)
        assert seen == [Decimal("100940.0"), Decimal("100940.0"), Decimal("101430.0"), Decimal("101430.0")]
        assert len(rig.actions("trailed")) == 2
        # prices as every price is shown (BTCUSDT's tick is 0.10: the reason said `100940.00` beside `103000`)
        assert [a.reason for a in rig.actions("trailed")] == [
            f"trailing stop {fmt(rig.levels()[0])} -> 100940 (mark 103000)",
            "trailing stop 100940 -> 101430 (mark 103500)"]
        # each replacement lived next to the stop it replaced: quantity next to closePosition, never -4130
        assert not any(isinstance(e, OrderRejectedEvent) for e in rig.events)

    run(body)


def test_orphan_protection_is_cancelled_after_a_manual_close() -> None:
    async def body() -> None:
        rig = Rig(attach=False)
        await rig.open_long()
        await rig.place("q-sl", Side.SELL, OrderType.STOP_MARKET, "98000.0", quantity=QTY, reduce_only=True)
        await rig.place("q-tp", Side.SELL, OrderType.TAKE_PROFIT_MARKET, "104000.0", quantity=QTY, reduce_only=True)
        rig.sim.new_order({"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": str(QTY),
                           "reduceOnly": "true"})
        assert len(rig.algos()) == 2  # reduce-only quantity orders survive the position
        await rig.monitor.sweep()
        assert rig.algos() == []
        assert sorted(a.client_id or "" for a in rig.actions("cancelled_orphan")) == ["q-sl", "q-tp"]

    run(body)


def test_seconds_unprotected_are_measured_on_the_clock() -> None:
    async def body() -> None:
        rig = Rig()
        entry = OrderIntent(client_id="qt-T9-entry-0", symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET,
                            quantity=QTY)
        await rig.bus.publish(OrderIntentRecorded(intent=entry, trade_id="T9", purpose="entry",
                                                  time_ms=rig.clock.now_ms()))
        await rig.open_long()  # execution "is placing" the stop: the monitor waits and counts
        rig.clock.advance(3.0)
        await rig.monitor.sweep()
        assert rig.algos() == []
        registry = rig.metrics.registry
        assert registry.get_sample_value("qt_unprotected_seconds", {"symbol": SYMBOL}) == 3.0
        stop, take = rig.levels()
        await rig.bus.publish(TradeOpened(  # ... but execution never placed it: the monitor does
            trade_id="T9", symbol=SYMBOL, direction=Direction.LONG, quantity=QTY,
            entry_price=rig.sim.position(SYMBOL).entry_price, planned_stop=stop, planned_take_profit=take,
            planned_loss=None, leverage=5, equity=Decimal(10000), time_ms=rig.clock.now_ms()))
        assert len(rig.algos(OrderType.STOP_MARKET)) == 1
        assert rig.monitor.state.unprotected_seconds_total == 3.0
        assert rig.monitor.state.unprotected_since_ms == {}
        assert registry.get_sample_value("qt_unprotected_seconds_total") == 3.0

    run(body)


def test_kill_switch_does_not_pause_repairs_a_surviving_position_is_protected_at_once() -> None:
    """The kill switch keeps a position's stops until it is flat (trading/kill_switch.py), so the monitor has
    nothing to race and no reason to pause: a position still open after a kill switch, its stops gone (here
    cancelled by hand), is protected again at the very next sweep. (It used to wait 5 s: `entry_grace_s`.)"""
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        await rig.bus.publish(KillSwitch(reason="test", time_ms=rig.clock.now_ms()))  # no handler: nothing closes
        for algo in rig.algos():
            rig.sim.cancel_algo_order(client_algo_id=algo.client_algo_id)
        await rig.pump()
        await rig.monitor.sweep()
        assert {a.order_type for a in rig.algos()} == {OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET}

    run(body)


def test_a_stop_already_in_place_is_adopted_not_emergency_exited() -> None:
    """Execution's stop refused with -4130 because a working closePosition stop is already there (the monitor
    placed it while execution's own attempt retried 5xx answers): the position is protected. It is read back
    and published as verified; it used to be closed at market as "the stop-loss could not be placed"."""
    async def body() -> None:
        rig = Rig(attach=False)
        await rig.open_long()
        stop, _ = rig.levels()
        await rig.place("hand-sl", Side.SELL, OrderType.STOP_MARKET, str(stop), close_position=True,
                        working_type=WorkingType.MARK_PRICE)
        entry = rig.sim.position(SYMBOL).entry_price
        protected = await rig.engine.execution.protect("T_1", SYMBOL, Direction.LONG, entry)
        await rig.pump()
        assert protected
        assert rig.amount == QTY  # not emergency-exited
        assert not rig.actions("emergency_exit")
        adopted = [a for a in rig.actions("verified") if a.client_id == "hand-sl"]
        assert len(adopted) == 1 and "-4130" in adopted[0].reason and adopted[0].trade_id == "T_1"
        assert {a.order_type for a in rig.algos()} == {"STOP_MARKET", "TAKE_PROFIT_MARKET"}

    run(body)
