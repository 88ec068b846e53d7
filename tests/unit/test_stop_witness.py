"""trading.stop_witness: the mark a stop-loss met when it fired, journaled once, never an error of its own, and
never awaited on the bus: a mark already held is published at once, any other comes from a task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import ErrorEvent, OrderChanged, OrderIntentRecorded, ProtectionAction
from quantum_trader.domain.exchange_types import HeldMark, OrderIntent, OrderSnapshot, SnapshotStatus
from quantum_trader.trading import stop_witness
from quantum_trader.trading.stop_witness import ACTION, StopWitness

T = 1_800_000_000_000
#: How long the venue takes to answer a slow REST read of the mark (as a crash's busy venue might).
SLOW_S = 0.4


class Marks:
    """What the witness asks of the exchange: the mark it holds (`held`: None, nothing streamed) and the REST read,
    which `fail` makes raise as a venue in trouble would and `delay_s` makes slow."""

    def __init__(self, mark: str, *, fail: bool = False, delay_s: float = 0.0, held: HeldMark | None = None) -> None:
        self.mark, self.fail, self.delay_s, self.held, self.reads = Decimal(mark), fail, delay_s, held, 0

    def mark_since(self, symbol: str, since_ms: int) -> HeldMark | None:
        return self.held if self.held is not None and self.held.time_ms > since_ms else None

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        self.reads += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("venue down")
        return dict.fromkeys(symbols or (), self.mark)


def order(client_id: str, status: SnapshotStatus, *, type_: OrderType = OrderType.STOP_MARKET,
          filled: str = "0", symbol: str = "BNBUSDT") -> OrderChanged:
    snap = OrderSnapshot(client_id=client_id, venue_id="1", symbol=symbol, side=Side.SELL, type=type_,
                         status=status, conditional=True, quantity=Decimal(0), filled=Decimal(filled),
                         avg_price=Decimal(0), trigger_price=Decimal("645.28"), price=None, reduce_only=True,
                         close_position=True, working_type=WorkingType.MARK_PRICE, update_time=T)
    return OrderChanged(snap, "TRIGGERED", T)


def listening(exchange: Marks) -> tuple[EventBus, StopWitness, list[ProtectionAction], list[ErrorEvent]]:
    bus = EventBus()
    actions: list[ProtectionAction] = []
    errors: list[ErrorEvent] = []
    bus.subscribe(ProtectionAction, actions.append)
    bus.subscribe(ErrorEvent, errors.append)
    witness = StopWitness(bus, SimulatedClock(T), exchange)  # type: ignore[arg-type]
    witness.attach()
    return bus, witness, actions, errors


def witnessed(exchange: Marks, *events: object) -> tuple[list[ProtectionAction], list[ErrorEvent]]:
    bus, witness, actions, errors = listening(exchange)

    async def run() -> None:
        for event in events:
            await bus.publish(event)
        await witness.finish()
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
    assert "trigger 645.28" in action.reason and "640 (read over REST)" in action.reason
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


def test_a_mark_held_from_after_the_report_is_published_inside_the_handler_without_a_request() -> None:
    """In process (and when the stream's mark already came): the witness is in the event log where the old inline read
    put it, before the next event is delivered, and no request weight is spent."""
    exchange = Marks("640", held=HeldMark(Decimal("639.5"), T + 250))
    bus, witness, actions, _ = listening(exchange)
    seen_before_next: list[int] = []  # witnesses published when the next position's report was delivered

    def next_report(event: OrderChanged) -> None:
        if event.snapshot.symbol == "ETHUSDT":
            seen_before_next.append(len(actions))
    bus.subscribe(OrderChanged, next_report)

    async def run() -> None:
        await bus.publish(order("qt-BNBUSDT_1_1-sl-0", SnapshotStatus.TRIGGERED))
        assert witness.waiting == 0
        await bus.publish(order("qt-ETHUSDT_1_1-entry-0", SnapshotStatus.FILLED, symbol="ETHUSDT",
                                type_=OrderType.MARKET))
    asyncio.run(run())
    [action] = actions
    assert (action.price, exchange.reads, seen_before_next) == (Decimal("639.5"), 0, [1])
    assert "639.5 (held, 250 ms after the stop's report)" in action.reason


def test_a_mark_stamped_at_or_before_the_report_is_never_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """It could be the price before the jump: the witness waits for a later one, then reads over REST."""
    monkeypatch.setattr(stop_witness, "STREAM_WAIT_S", 0.1)
    exchange = Marks("640", held=HeldMark(Decimal("650"), T))
    actions, _ = witnessed(exchange, order("qt-BNBUSDT_1_1-sl-0", SnapshotStatus.TRIGGERED))
    [action] = actions
    assert (action.price, exchange.reads) == (Decimal(640), 1)


def test_the_streams_next_mark_is_waited_for_off_the_bus_and_spares_the_request() -> None:
    exchange = Marks("640", held=HeldMark(Decimal("650"), T - 800))  # the stream's mark from before the jump
    bus, witness, actions, _ = listening(exchange)

    async def run() -> float:
        started = time.monotonic()
        await bus.publish(order("qt-BNBUSDT_1_1-sl-0", SnapshotStatus.TRIGGERED))
        returned = time.monotonic() - started
        assert (actions, witness.waiting) == ([], 1)
        await asyncio.sleep(0.2)
        exchange.held = HeldMark(Decimal("638"), T + 200)  # the next second's mark arrives on the stream
        await witness.finish()
        return returned
    returned = asyncio.run(run())
    [action] = actions
    assert (action.price, exchange.reads, witness.waiting) == (Decimal(638), 0, 0)
    assert "held, 200 ms after the stop's report" in action.reason and returned < 0.05


def test_a_slow_read_does_not_hold_the_bus_for_the_next_positions_events() -> None:
    """Four stops fire in a crash and the venue answers the mark in SLOW_S: each stop's delivery used to wait for its
    read, so the fourth stop's report reached its handlers 3 × SLOW_S late; now all four are delivered at once and
    every witness comes with its mark, without an error."""
    exchange = Marks("640", delay_s=SLOW_S)
    bus, witness, actions, errors = listening(exchange)
    arrived: dict[str, float] = {}

    def arrival(event: OrderChanged) -> None:
        arrived.setdefault(event.snapshot.symbol, time.monotonic())
    bus.subscribe(OrderChanged, arrival)
    symbols = ("BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT")

    async def run() -> float:
        started = time.monotonic()
        for symbol in symbols:
            await bus.publish(order(f"qt-{symbol}_1_1-sl-0", SnapshotStatus.TRIGGERED, symbol=symbol))
        delivered = time.monotonic() - started
        assert delivered < SLOW_S / 4, f"four stops delivered in {delivered:.3f} s"
        await witness.finish()
        return time.monotonic() - started
    witnessed_in = asyncio.run(run())
    assert max(arrived.values()) - min(arrived.values()) < SLOW_S / 4
    assert witnessed_in < 2 * SLOW_S  # the four reads ran side by side
    assert sorted(a.symbol for a in actions) == sorted(symbols)
    assert all(a.price == Decimal(640) for a in actions) and errors == []


def test_a_stop_of_the_session_cuts_a_hanging_read_short_cleanly_and_says_so() -> None:
    exchange = Marks("640", delay_s=30.0)  # longer than READ_TIMEOUT_S: `finish` is shorter still
    bus, witness, actions, errors = listening(exchange)

    async def run() -> None:
        await bus.publish(order("qt-BNBUSDT_1_1-sl-0", SnapshotStatus.TRIGGERED))
        await witness.finish(timeout_s=0.05)
    with capture_logs() as logs:
        asyncio.run(run())
    assert (actions, errors, witness.waiting) == ([], [], 0)
    [said] = [line for line in logs if "stop witness" in line["event"]]
    assert "not witnessed" in said["event"] and said["client_id"] == "qt-BNBUSDT_1_1-sl-0"
