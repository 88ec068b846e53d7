"""trading.stop_witness: the mark a stop-loss met when it fired, journaled once, and never an error of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import ErrorEvent, OrderChanged, OrderIntentRecorded, ProtectionAction
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, SnapshotStatus
from quantum_trader.trading.stop_witness import ACTION, StopWitness

T = 1_800_000_000_000


class Marks:
    """The one read the witness makes; `fail` makes it raise as a venue in trouble would."""

    def __init__(self, mark: str, *, fail: bool = False) -> None:
        self.mark, self.fail, self.reads = Decimal(mark), fail, 0

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        self.reads += 1
        if self.fail:
            raise ConnectionError("venue down")
        return dict.fromkeys(symbols or (), self.mark)


def order(client_id: str, status: SnapshotStatus, *, type_: OrderType = OrderType.STOP_MARKET,
          filled: str = "0") -> OrderChanged:
    snap = OrderSnapshot(client_id=client_id, venue_id="1", symbol="BNBUSDT", side=Side.SELL, type=type_,
                         status=status, conditional=True, quantity=Decimal(0), filled=Decimal(filled),
                         avg_price=Decimal(0), trigger_price=Decimal("645.28"), price=None, reduce_only=True,
                         close_position=True, working_type=WorkingType.MARK_PRICE, update_time=T)
    return OrderChanged(snap, "TRIGGERED", T)


def witnessed(exchange: Marks, *events: object) -> tuple[list[ProtectionAction], list[ErrorEvent]]:
    bus = EventBus()
    actions: list[ProtectionAction] = []
    errors: list[ErrorEvent] = []
    bus.subscribe(ProtectionAction, actions.append)
    bus.subscribe(ErrorEvent, errors.append)
    StopWitness(bus, SimulatedClock(T), exchange).attach()  # type: ignore[arg-type]

    async def run() -> None:
        for event in events:
            await bus.publish(event)
    asyncio.run(run())
    return actions, errors


def sl_intent(client_id: str) -> OrderIntentRecorded:
    intent = OrderIntent(client_id=client_id, symbol="BNBUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
                         trigger_price=Decimal("645.28"), close_position=True)
    return OrderIntentRecorded(intent, "BNBUSDT_1_1", "sl", T - 60_000)


def test_a_stop_that_fires_is_witnessed_once_with_the_mark_and_its_trade() -> None:
    sl = "qt-BNBUSDT_1_1-sl-0"
    exchange = Marks("640")
    actions, errors = witnessed(exchange, sl_intent(sl), order(sl, SnapshotStatus.OPEN),
                                order(sl, SnapshotStatus.TRIGGERED), order(sl, SnapshotStatus.FILLED, filled="7"))
    [action] = actions
    assert (action.action, action.price, action.trade_id, action.client_id) == (ACTION, Decimal(640), "BNBUSDT_1_1", sl)
    assert "trigger 645.28" in action.reason and "640" in action.reason
    assert (exchange.reads, errors) == (1, [])


def test_only_the_bots_own_stop_losses_are_witnessed() -> None:
    exchange = Marks("640")
    actions, _ = witnessed(exchange, order("qt-BNBUSDT_1_1-tp-0", SnapshotStatus.FILLED, filled="7",
                                           type_=OrderType.TAKE_PROFIT_MARKET),
                           order("by-hand-sl-1", SnapshotStatus.FILLED, filled="7"),
                           order("qt-BNBUSDT_1_1-em-0", SnapshotStatus.FILLED, filled="7", type_=OrderType.MARKET))
    assert (actions, exchange.reads) == ([], 0)


def test_a_mark_that_cannot_be_read_leaves_no_witness_price_and_no_error() -> None:
    """An error event would count against the monitor's clean hour (readiness); the stop is just not witnessed."""
    actions, errors = witnessed(Marks("640", fail=True), order("qt-BNBUSDT_1_1-sl-0", SnapshotStatus.TRIGGERED))
    [action] = actions
    assert (action.price, action.trade_id, errors) == (None, None, [])
    assert "not read" in action.reason
