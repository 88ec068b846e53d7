"""The in-process adapter: the `Exchange` port over an `ExchangeSimulator` in the same process.

Requests are rendered as the Binance parameters a client would send and answers are read through
the simulator server's JSON shapes and the shared `wire` parser, so this adapter and the ccxt one
disagree only where the network does. Rejections (`OrderRejected` with Binance's code) pass
through unchanged. Events come from the simulator's event log, read from a cursor by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..domain import binance_errors as be
from ..domain.enums import MarginType
from ..domain.errors import ExchangeError
from ..domain.exchange_types import (
    AccountSnapshot,
    ExchangeEvent,
    OrderIntent,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    PositionUpdate,
)
from ..domain.instrument import Instrument
from ..domain.money import to_decimal
from ..domain.orders import AlgoOrder
from ..sim import shapes
from ..sim.engine import ExchangeSimulator
from . import wire

#: Binance's "-4046 No need to change margin type.": the type is already what we asked for.
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
UNKNOWN_ORDER_CODES = frozenset({-2011, -2013})


class InProcessExchange:
    """Drives an `ExchangeSimulator` directly; the caller moves the market on the simulator itself."""

    def __init__(self, sim: ExchangeSimulator, *, poll_interval: float = 0.01) -> None:
        self.sim = sim
        self._poll_interval = poll_interval
        self._closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"InProcessExchange(symbols={len(self.sim.state.instruments)})"

    async def instruments(self) -> Mapping[str, Instrument]:
        return dict(self.sim.state.instruments)

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        wanted = sorted(self.sim.state.instruments) if symbols is None else list(symbols)
        return {s: self.sim.mark_price(s) for s in wanted}

    async def positions(self) -> list[PositionSnapshot]:
        rows = (wire.position_from_risk(r) for r in shapes.position_risk_v2(self.sim))
        return [p for p in rows if p.amount != 0]

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        classic = [wire.order_from_json(shapes.order_json(o)) for o in self.sim.open_orders(symbol)]
        return classic + [self._algo(a) for a in self.sim.open_algo_orders(symbol)]

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        params = wire.intent_params(intent)
        if intent.conditional:
            return self._algo(self.sim.new_algo_order(params))
        return wire.order_from_json(shapes.order_json(self.sim.new_order(params)))

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        found = await self.query(symbol, client_id)
        if found is None:
            raise be.unknown_order_sent()
        if found.conditional:
            return self._algo(self.sim.cancel_algo_order(client_algo_id=client_id))
        return wire.order_from_json(shapes.order_json(self.sim.cancel_order(symbol, client_order_id=client_id)))

    async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
        """Algo orders first: a triggered stop's spawned order carries the same client id."""
        try:
            algo = self.sim.query_algo_order(client_algo_id=client_id)
            if algo.symbol == symbol:
                return self._algo(algo)
        except ExchangeError as exc:
            if exc.code not in UNKNOWN_ORDER_CODES:
                raise
        try:
            return wire.order_from_json(shapes.order_json(self.sim.query_order(symbol, client_order_id=client_id)))
        except ExchangeError as exc:
            if exc.code in UNKNOWN_ORDER_CODES:
                return None
            raise

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        return self.sim.set_leverage(symbol, leverage)

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        try:
            self.sim.set_margin_type(symbol, margin_type)
        except ExchangeError as exc:
            if exc.code != NO_NEED_TO_CHANGE_MARGIN_TYPE:
                raise

    async def account(self) -> AccountSnapshot:
        return wire.account_from_json(shapes.account_v2(self.sim))

    async def events(self) -> AsyncIterator[ExchangeEvent]:
        """Everything the simulator logs from now on, translated; ends when the adapter closes."""
        cursor = len(self.sim.events)
        while not self._closed.is_set():
            log = self.sim.events
            while cursor < len(log):
                for event in self._translate(log[cursor]):
                    yield event
                cursor += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._poll_interval)

    async def close(self) -> None:
        self._closed.set()

    def _algo(self, algo: AlgoOrder) -> OrderSnapshot:
        spawned = shapes.spawned_order(algo, self.sim)
        child = shapes.order_json(spawned) if spawned is not None else None
        return wire.algo_from_json(shapes.algo_order_json(algo, self.sim), child)

    def _translate(self, event: Mapping[str, Any]) -> list[ExchangeEvent]:
        kind = event.get("e")
        if kind == "ORDER_TRADE_UPDATE":
            return [OrderUpdate(wire.order_from_stream(event["o"]), str(event["o"]["x"]))]
        if kind == "ALGO_UPDATE":
            return [OrderUpdate(wire.algo_from_stream(event["o"], int(event["E"])), str(event["o"]["X"]))]
        if kind == "ACCOUNT_UPDATE":
            reason = str(event["a"]["m"])
            return [PositionUpdate(self._position_at(row), reason) for row in event["a"]["P"]]
        return []

    def _position_at(self, row: Mapping[str, Any]) -> PositionSnapshot:
        symbol = str(row["s"])
        current = self.sim.position(symbol)
        same = current.amount == to_decimal(row["pa"], "pa")  # the liquidation price now fits this row
        return wire.position_from_stream(row, mark=self.sim.mark_price(symbol),
                                         leverage=self.sim.account.leverage_of(symbol),
                                         liquidation=self.sim.liquidation_price(symbol) if same else None)
