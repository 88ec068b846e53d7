"""exchange.mark_board and `mark_since`: a mark the bot holds is one it can vouch for as later than a report."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from test_stop_witness import order

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import ProtectionAction
from quantum_trader.domain.exchange_types import HeldMark, SnapshotStatus
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.mark_board import MarkBoard
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.stop_witness import StopWitness

T = 1_800_000_000_000


def test_the_board_keeps_the_newest_mark_and_vouches_only_for_a_later_stamp() -> None:
    board = MarkBoard()
    assert board.since("BNBUSDT", 0) is None and len(board) == 0
    board.put("BNBUSDT", Decimal("640"), T + 1000)
    board.put("BNBUSDT", Decimal("650"), T)  # a late message of the previous second
    assert board.since("BNBUSDT", 0) == HeldMark(Decimal("640"), T + 1000)
    assert board.since("BNBUSDT", T + 999) == HeldMark(Decimal("640"), T + 1000)
    assert board.since("BNBUSDT", T + 1000) is None  # the same stamp does not tell which came first
    assert list(board) == ["BNBUSDT"]


def test_in_process_the_mark_is_the_simulators_now_and_the_witness_publishes_it_inside_the_handler() -> None:
    """The in-process read never waited: the witness stays where it was in the event log (same seed, same log)."""
    sim = ExchangeSimulator({"BNBUSDT": load_universe().instrument("BNBUSDT")}, SimConfig(start_time_ms=T))
    sim.set_prices({"BNBUSDT": "640"})
    exchange = InProcessExchange(sim)
    assert exchange.mark_since("BNBUSDT", T + 60_000) == HeldMark(sim.mark_price("BNBUSDT"), sim.state.now_ms)
    bus = EventBus()
    actions: list[ProtectionAction] = []
    bus.subscribe(ProtectionAction, actions.append)
    witness = StopWitness(bus, SimulatedClock(T), exchange)
    witness.attach()

    async def run() -> int:
        await bus.publish(order("qt-BNBUSDT_1_1-sl-0", SnapshotStatus.TRIGGERED))
        return witness.waiting
    assert asyncio.run(run()) == 0
    [action] = actions
    assert action.price == sim.mark_price("BNBUSDT") == Decimal(640)
