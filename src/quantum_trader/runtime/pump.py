"""Exchange events onto the bus: the one translation between the port's events and the engine's.

Live and paper sessions run it as a task over `exchange.events()`; a backtest calls `publish_all`
with what the in-process adapter drained after each step. Same events, same order, either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.loggers import get_logger
from ..domain.events import FillEvent, OrderChanged, PositionChanged
from ..domain.exchange_types import (
    BalanceUpdate,
    ExchangeEvent,
    FillUpdate,
    OrderUpdate,
    PositionUpdate,
    WalletUpdate,
)
from ..exchange.port import ExchangeReader

log = get_logger(__name__)
#: Fee assumed for a fill reported without one (REST polling): Binance's VIP 0 taker rate.
ESTIMATED_FEE_RATE = Decimal("0.0005")


def to_bus_event(event: ExchangeEvent, now_ms: int) -> object:
    if isinstance(event, OrderUpdate):
        return OrderChanged(snapshot=event.snapshot, reason=event.reason, time_ms=now_ms)
    if isinstance(event, PositionUpdate):
        return PositionChanged(snapshot=event.snapshot, reason=event.reason, time_ms=now_ms)
    if isinstance(event, FillUpdate):
        fee = event.fee if event.fee is not None else event.quantity * event.price * ESTIMATED_FEE_RATE
        return FillEvent(fill_id=event.fill_id, symbol=event.symbol, client_id=event.client_id, side=event.side,
                         quantity=event.quantity, price=event.price, fee=fee, realized_pnl=event.realized_pnl,
                         time_ms=event.time_ms or now_ms, maker=event.maker)
    assert isinstance(event, BalanceUpdate | WalletUpdate)
    return event


async def publish_all(bus: EventBus, clock: Clock, events: Iterable[ExchangeEvent]) -> None:
    for event in events:
        await bus.publish(to_bus_event(event, clock.now_ms()))


async def pump_forever(bus: EventBus, clock: Clock, exchange: ExchangeReader,
                       on_reconnect: Callable[[], Awaitable[object]] | None = None,
                       retry_after_s: float = 1.0) -> None:
    """Until the adapter closes its stream. A stream that breaks is opened again, and `on_reconnect`
    (the monitor's full sweep) runs right after: whatever happened while it was down is read back."""
    while True:
        try:
            async for event in exchange.events():
                await bus.publish(to_bus_event(event, clock.now_ms()))
            return  # closed on purpose
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a dropped connection must not end the session
            log.warning("exchange event stream broke; reconnecting", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(retry_after_s)
            if on_reconnect is not None:
                await on_reconnect()
