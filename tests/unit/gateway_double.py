"""An order gateway that forwards every call to an in-process exchange: the base of tests' slow gateways.

A test that needs one call held back or failed (an entry's answer, a take-profit's placement) subclasses
it and overrides `place`; everything else reaches the simulator as in a session.
"""

from __future__ import annotations

from quantum_trader.domain.enums import MarginType
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange


class ForwardingGateway:
    def __init__(self, exchange: InProcessExchange) -> None:
        self.exchange = exchange

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        return await self.exchange.place(intent)

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        return await self.exchange.cancel(symbol, client_id)

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        return await self.exchange.set_leverage(symbol, leverage)

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        await self.exchange.set_margin_type(symbol, margin_type)
