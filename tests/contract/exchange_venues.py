"""Venues for the exchange conformance suite (the `venue` fixture in conftest.py parametrises over them).

A venue opens an adapter inside the test's own event loop (`run`) and moves the market (`move`), money
(`transfer`), the clock (`advance`: funding applies) and the account's position mode (`position_mode`) the way
that venue allows: directly on the simulator in process, through the simulator server (`POST /sim/v1/prices`
and the other control routes, Binance's own signed `POST /fapi/v1/positionSide/dual`) for the ccxt adapter.
The server harness is shared with the simulator-server tests.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_simserver_support import API_KEY, API_SECRET, RunningServer, make_sim, running_server

from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.port import Exchange

T = TypeVar("T")
Body = Callable[[Exchange], Awaitable[T]]


class InProcessVenue:
    name = "inprocess"

    def __init__(self) -> None:
        self.sim = make_sim()

    def run(self, body: Body[T]) -> T:
        async def main() -> T:
            exchange = InProcessExchange(self.sim)
            try:
                return await body(exchange)
            finally:
                await exchange.close()

        return asyncio.run(main())

    def move(self, prices: dict[str, Any]) -> None:
        self.sim.set_prices(prices)

    def transfer(self, amount: str) -> None:
        self.sim.transfer(Decimal(amount))

    def advance(self, seconds: int) -> None:
        self.sim.advance(seconds)

    def position_mode(self, hedge: bool) -> None:
        self.sim.set_position_mode(hedge)


class CcxtVenue:
    """ccxt over HTTP to the simulator server; `retrying` wraps it as production does (factory.connect)."""

    name = "ccxt"

    def __init__(self, server: Any, *, retrying: bool = False) -> None:
        self.server = server
        self.sim = server.sim
        self.retrying = retrying

    def run(self, body: Body[T]) -> T:
        from quantum_trader.exchange.ccxt_adapter import CcxtExchange
        from quantum_trader.exchange.retry import RetryingExchange

        async def main() -> T:
            exchange: Exchange = CcxtExchange(self.server.url, api_key=API_KEY, api_secret=API_SECRET,
                                              poll_interval=0.05)
            if self.retrying:
                exchange = RetryingExchange(exchange)
            try:
                return await body(exchange)
            finally:
                await exchange.close()

        return asyncio.run(main())

    def move(self, prices: dict[str, Any]) -> None:
        self.server.control("/sim/v1/prices", {"prices": prices})

    def transfer(self, amount: str) -> None:
        self.server.control("/sim/v1/transfer", {"amount": amount})

    def advance(self, seconds: int) -> None:
        self.server.control("/sim/v1/advance", {"seconds": seconds})

    def position_mode(self, hedge: bool) -> None:
        """As a user switches it: Binance's own signed POST /fapi/v1/positionSide/dual."""
        self.server.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": str(hedge).lower()})


__all__ = ["CcxtVenue", "InProcessVenue", "RunningServer", "make_sim", "running_server"]
