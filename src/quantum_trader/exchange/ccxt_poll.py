"""Order and position events for a REST-only adapter, by polling and diffing.

Every interval it reads the open orders, the orders this adapter placed that are not final yet,
and the positions, and emits an event for each change since the previous read. Orders that fill at
once (a MARKET entry) are never "open", which is why placed orders are watched by client id. The
first sweep reports what is open at subscription time, so a subscriber starts from the exchange's
state (the exchange is the source of truth) rather than racing the first poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from ..domain.errors import RetryableExchangeError
from ..domain.exchange_types import (
    ExchangeEvent,
    FillUpdate,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    PositionUpdate,
)

if TYPE_CHECKING:
    from .ccxt_adapter import CcxtExchange

REASON = "POLL"


class CcxtPoller:
    def __init__(self, exchange: CcxtExchange, interval: float) -> None:
        self._exchange = exchange
        self._interval = interval
        self._stopped = asyncio.Event()
        self._watched: dict[str, str] = {}  # client id → symbol
        self._orders: dict[str, tuple[object, ...]] = {}
        self._fills: dict[str, tuple[Decimal, Decimal]] = {}  # client id → (filled, avg price) last seen
        self._positions: dict[str, PositionSnapshot] = {}

    def watch(self, symbol: str, client_id: str) -> None:
        self._watched[client_id] = symbol

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> AsyncIterator[ExchangeEvent]:
        while not self._stopped.is_set():
            try:
                events = await self._sweep()
            except RetryableExchangeError:
                events = []  # the next sweep reads the same state again
            for event in events:
                yield event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)

    async def _sweep(self) -> list[ExchangeEvent]:
        events: list[ExchangeEvent] = []
        open_now = {o.client_id: o for o in await self._exchange.open_orders()}
        for client_id, listed in open_now.items():
            self._watched.setdefault(client_id, listed.symbol)
        for client_id, symbol in list(self._watched.items()):
            found = open_now.get(client_id) or await self._exchange.query(symbol, client_id)
            if found is None:
                continue
            events.extend(self._order_changed(found))
            if not found.status.is_open:
                del self._watched[client_id]
        events.extend(self._positions_changed(await self._exchange.positions()))
        return events

    def _order_changed(self, snap: OrderSnapshot) -> list[ExchangeEvent]:
        key = (snap.status, snap.filled)
        if self._orders.get(snap.client_id) == key:
            return []
        self._orders[snap.client_id] = key
        fill = self._fill_delta(snap)
        return [OrderUpdate(snap, REASON)] if fill is None else [fill, OrderUpdate(snap, REASON)]

    def _fill_delta(self, snap: OrderSnapshot) -> FillUpdate | None:
        """REST shows only cumulative fills: the increase since the last read is one derived fill.

        Its price follows from the two averages; its fee is unknown (None) because an order answer
        carries none, so consumers estimate it from the fee schedule.
        """
        before_qty, before_avg = self._fills.get(snap.client_id, (Decimal(0), Decimal(0)))
        delta = snap.filled - before_qty
        if delta <= 0:
            return None
        self._fills[snap.client_id] = (snap.filled, snap.avg_price)
        price = (snap.avg_price * snap.filled - before_avg * before_qty) / delta
        return FillUpdate(fill_id=f"{snap.client_id}:{snap.filled}", symbol=snap.symbol, client_id=snap.client_id,
                          side=snap.side, quantity=delta, price=price, fee=None, realized_pnl=Decimal(0),
                          maker=False, time_ms=snap.update_time)

    def _positions_changed(self, current: list[PositionSnapshot]) -> list[ExchangeEvent]:
        now = {p.symbol: p for p in current}
        events: list[ExchangeEvent] = []
        for symbol, pos in now.items():
            before = self._positions.get(symbol)
            if before is None or (before.amount, before.entry) != (pos.amount, pos.entry):
                events.append(PositionUpdate(pos, REASON))
        for symbol, before in self._positions.items():
            if symbol not in now:
                events.append(PositionUpdate(replace(before, amount=Decimal(0), unrealized=Decimal(0)), REASON))
        self._positions = now
        return events
