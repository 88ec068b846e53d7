"""The event pump survives a broken stream: it reconnects and has the monitor read everything back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import MarginType
from quantum_trader.domain.events import PositionChanged
from quantum_trader.domain.exchange_types import ExchangeEvent, PositionSnapshot, PositionUpdate
from quantum_trader.runtime.pump import pump_forever

SNAPSHOT = PositionSnapshot(symbol="BTCUSDT", amount=Decimal(1), entry=Decimal(100), mark=Decimal(100),
                            unrealized=Decimal(0), leverage=5, margin_type=MarginType.ISOLATED, liquidation_price=None)


class FlakyStream:
    """First subscription breaks at once; the second yields one event and ends (closed on purpose)."""

    def __init__(self) -> None:
        self.subscriptions = 0

    async def events(self) -> AsyncIterator[ExchangeEvent]:
        self.subscriptions += 1
        if self.subscriptions == 1:
            raise ConnectionError("websocket closed")
        yield PositionUpdate(SNAPSHOT, "ORDER")


def test_a_broken_stream_is_reopened_and_the_monitor_sweeps() -> None:
    stream, seen, sweeps = FlakyStream(), [], []
    bus = EventBus()
    bus.subscribe(PositionChanged, seen.append)

    async def sweep() -> None:
        sweeps.append(stream.subscriptions)

    asyncio.run(pump_forever(bus, SimulatedClock(0), stream, on_reconnect=sweep, retry_after_s=0))  # type: ignore[arg-type]
    assert stream.subscriptions == 2
    assert sweeps == [1]  # swept after the break, before the new subscription delivered anything
    assert [e.snapshot for e in seen] == [SNAPSHOT]
