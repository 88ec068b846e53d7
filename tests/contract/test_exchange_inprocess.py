"""In-process adapter specifics: its event stream replays the simulator's log in order, as it happened."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from exchange_venues import make_sim

from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.exchange_types import ExchangeEvent, OrderIntent, OrderUpdate, PositionUpdate
from quantum_trader.exchange.ids import client_id_for
from quantum_trader.exchange.inprocess import InProcessExchange


def test_events_report_each_state_as_of_its_event_even_when_read_later() -> None:
    sim = make_sim()

    async def main() -> list[ExchangeEvent]:
        ex = InProcessExchange(sim, poll_interval=0.001)
        stream = ex.events()
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)  # the subscription starts here: everything below happens "at once"
        await ex.place(OrderIntent(client_id=client_id_for("P1", "entry"), symbol="BNBUSDT", side=Side.BUY,
                                   type=OrderType.MARKET, quantity=Decimal(2)))
        await ex.place(OrderIntent(client_id=client_id_for("P1", "sl"), symbol="BNBUSDT", side=Side.SELL,
                                   type=OrderType.STOP_MARKET, trigger_price=Decimal(570), close_position=True,
                                   working_type=WorkingType.MARK_PRICE))
        sim.set_prices({"BNBUSDT": "550"})
        seen = [await first]
        await ex.close()
        seen += [event async for event in stream]
        return seen

    seen = asyncio.run(main())
    amounts = [e.snapshot.amount for e in seen if isinstance(e, PositionUpdate)]
    assert amounts[0] == 2 and amounts[-1] == 0
    stop_id = client_id_for("P1", "sl")
    stop_states = [e.reason for e in seen if isinstance(e, OrderUpdate) and e.snapshot.client_id == stop_id]
    assert stop_states[0] == "NEW" and "FINISHED" in stop_states
