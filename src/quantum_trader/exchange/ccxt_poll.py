"""Order and position events by REST reading and diffing: the poller, and the user stream's reconciliation.

A sweep reads the open orders, the orders this adapter placed that are not final yet, and the
positions, and emits an event for each change since the previous reading. Orders that fill at once
(a MARKET entry) are never "open", which is why placed orders are watched by client id. The first
sweep reports what is open at subscription time, so a subscriber starts from the exchange's state
(the exchange is the source of truth) rather than racing the first event.

The user-data stream (user_stream.py) keeps one `CcxtPoller` for the adapter's life and never runs
its loop: it sweeps once after every (re)connect, and `admit()`s every stream event, so what the
stream said is the "previous reading" and a sweep emits only what changed while it was disconnected
(a position gone flat, a stop that fired). A fill is counted once whichever path reports it: by the
order's cumulative filled quantity, which both the stream (`z`) and REST (`executedQty`) carry.
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
    POLLED,
    ExchangeEvent,
    FillUpdate,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    PositionUpdate,
    SnapshotStatus,
)
from ..domain.money import ZERO, to_decimal
from . import wire

if TYPE_CHECKING:
    from .ccxt_adapter import CcxtExchange

REASON = POLLED


class CcxtPoller:
    def __init__(self, exchange: CcxtExchange, interval: float) -> None:
        self._exchange = exchange
        self._interval = interval
        self._stopped = asyncio.Event()
        self._watched: dict[str, str] = {}  # client id → symbol
        self._orders: dict[str, tuple[SnapshotStatus, Decimal]] = {}
        self._fills: dict[str, tuple[Decimal, Decimal]] = {}  # client id → (filled, avg price) last seen
        self._positions: dict[str, PositionSnapshot] = {}
        self._leverage: dict[str, int] = {}  # symbol → leverage, from positionRisk and ACCOUNT_CONFIG_UPDATE

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

    async def reconcile(self) -> list[ExchangeEvent]:
        """One sweep: what changed since the previous sweep or the last admitted stream event."""
        return await self._sweep()

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
        events.extend(self._positions_changed(await self._read_positions()))
        return events

    async def _read_positions(self) -> list[PositionSnapshot]:
        """positionRisk without a symbol (weight 5) has a row per symbol: the leverage of every symbol too,
        which the stream's position rows leave out."""
        rows = await self._exchange.call("fapiPrivateV2GetPositionRisk")
        snapshots = [wire.position_from_risk(r) for r in rows]
        self._leverage.update((p.symbol, p.leverage) for p in snapshots)
        return [p for p in snapshots if p.amount != 0]

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

    # --- the user-data stream's side ---------------------------------------------------------------
    def admit(self, events: list[ExchangeEvent]) -> list[ExchangeEvent]:
        """Record what one stream event says and return what to emit of it: a fill already counted by a
        sweep (the stream buffered it while the sweep read REST) is dropped, and so is a stale order
        update that would reopen an order a sweep has already seen final."""
        out: list[ExchangeEvent] = []
        order = next((e.snapshot for e in events if isinstance(e, OrderUpdate)), None)
        for event in events:
            if isinstance(event, FillUpdate):
                if order is None or not self._count_fill(order):
                    continue
            elif isinstance(event, OrderUpdate):
                if not self._order_seen(event.snapshot):
                    continue
            elif isinstance(event, PositionUpdate):
                self._position_seen(event.snapshot)
            out.append(event)
        return out

    def _count_fill(self, snap: OrderSnapshot) -> bool:
        before, _ = self._fills.get(snap.client_id, (Decimal(0), Decimal(0)))
        if snap.filled <= before:
            return False
        self._fills[snap.client_id] = (snap.filled, snap.avg_price)
        return True

    def _order_seen(self, snap: OrderSnapshot) -> bool:
        known = self._orders.get(snap.client_id)
        if known is not None and snap.status.is_open and not known[0].is_open:
            return False
        self._orders[snap.client_id] = (snap.status, snap.filled)
        if snap.status.is_open:
            self._watched.setdefault(snap.client_id, snap.symbol)
        else:
            self._watched.pop(snap.client_id, None)
        return True

    def _position_seen(self, snap: PositionSnapshot) -> None:
        if snap.amount == 0:
            self._positions.pop(snap.symbol, None)
        else:
            self._positions[snap.symbol] = snap

    def leverage_changed(self, symbol: str, leverage: int) -> None:
        """ACCOUNT_CONFIG_UPDATE `ac`: the leverage later position rows of `symbol` are reported with."""
        self._leverage[symbol] = leverage

    def position_at(self, row: wire.Json) -> PositionSnapshot:
        """An ACCOUNT_UPDATE position row completed from what is known: the mark implied by the row's own
        unrealised PnL (up = (mark - entry) x amount), the symbol's leverage, and the liquidation price of
        the last reading while the amount is the same (a new amount has an unknown one)."""
        symbol = str(row["s"])
        known = self._positions.get(symbol)
        amount, entry = to_decimal(row["pa"], "pa"), to_decimal(row["ep"], "ep")
        if amount != 0:
            mark = entry + to_decimal(row.get("up", "0"), "up") / amount
        else:
            mark = known.mark if known is not None else ZERO
        leverage = self._leverage.get(symbol, known.leverage if known is not None else 0)
        same = known is not None and known.amount == amount
        return wire.position_from_stream(row, mark=mark, leverage=leverage,
                                         liquidation=known.liquidation_price if same and known else None)
