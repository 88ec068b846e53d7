"""The ccxt adapter's REST path through the request budget, against the simulator server's own count.

The server charges every request by its table (simserver/weights.py) and reports the IP's minute in
`GET /sim/v1/limits`; the adapter's budget must agree with it call by call, choose per-symbol listings
where they are cheaper, and send nothing at all while the server's Retry-After holds.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from test_simserver_support import API_KEY, API_SECRET, RunningServer, ccxt_client, running_server

from quantum_trader.domain.enums import OrderType, Side, TimeInForce
from quantum_trader.domain.errors import RetryableExchangeError
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange import ccxt_adapter
from quantum_trader.exchange.budget import BudgetRefused, Priority
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.simserver.app import ROUTES

T = TypeVar("T")
KEY = {"X-MBX-APIKEY": API_KEY}


def server_used(server: RunningServer) -> int:
    rows = httpx.get(f"{server.url}/sim/v1/limits", headers=KEY).json()["ips"]
    return sum(r["usedWeight"] for r in rows)


def run(server: RunningServer, body: Callable[[CcxtExchange], Awaitable[T]]) -> T:
    async def main() -> T:
        ex = CcxtExchange(server.url, api_key=API_KEY, api_secret=API_SECRET, throttle=False)
        try:
            await ex.instruments()
            return await body(ex)
        finally:
            await ex.close()

    return asyncio.run(main())


def test_every_endpoint_the_adapter_calls_is_a_server_route_with_the_same_weight() -> None:
    names = set(re.findall(r'"(fapi\w+)"', Path(ccxt_adapter.__file__).read_text()))
    routes = {(r.method, r.path) for r in ROUTES}
    ex = CcxtExchange("http://127.0.0.1:1", api_key=API_KEY, api_secret=API_SECRET)
    assert len(names) >= 15
    for name in sorted(names):
        assert ex.endpoint(name) in routes, name
    assert ex.endpoint("fapiPrivateGetOpenOrders") == ("GET", "/fapi/v1/openOrders")
    assert ex.endpoint("fapiPrivateV2GetPositionRisk") == ("GET", "/fapi/v2/positionRisk")
    asyncio.run(ex.close())


def test_the_budget_counts_what_the_server_counts_and_lists_per_symbol_when_cheaper() -> None:
    if time.time() % 60 > 50:  # the server's minute must not roll over between two readings of its count
        time.sleep(61 - time.time() % 60)
    with running_server(weight_limit=2000) as server:
        hand = ccxt_client(server.url)
        hand.create_order("ETH/USDT:USDT", "limit", "buy", 1, 1000)  # placed elsewhere, by hand

        async def body(ex: CcxtExchange) -> list[tuple[int, int, int]]:
            assert ex.budget.limit == 2000  # learnt from exchangeInfo's REQUEST_WEIGHT
            steps = []
            for step in range(3):
                before = server_used(server)
                orders = await ex.open_orders()
                steps.append((server_used(server) - before, ex.budget.used(), len(orders)))
                if step == 0:
                    await ex.place(OrderIntent(symbol="BNBUSDT", side=Side.BUY, type=OrderType.LIMIT,
                                               quantity=Decimal("1"), price=Decimal("300"), client_id="qt_budget_1",
                                               time_in_force=TimeInForce.GTC))
            ex.budget.clock = lambda: time.time() + 61  # the full listing is due again
            before = server_used(server)
            assert len(await ex.open_orders()) == 2
            steps.append((server_used(server) - before, 0, 2))
            return steps

        steps = run(server, body)
    assert steps[0][0] == 80 and steps[0][2] == 1  # the first listing is a full one: 40 + 40
    assert steps[1][0] == 4 and steps[1][2] == 2  # then per symbol: BNB (placed) and ETH (seen), 1 + 1 each
    assert steps[2][0] == 4
    assert steps[3][0] == 80  # a full listing every minute still finds orders placed elsewhere


def test_after_a_ban_nothing_is_sent_until_it_ends() -> None:
    with running_server(weight_limit=50, ban_after=0, ban_base_ms=2_000) as server:
        async def body(ex: CcxtExchange) -> None:
            with httpx.Client() as client:  # this IP goes past the limit: the next request is banned
                while client.get(f"{server.url}/fapi/v1/ticker/24hr").status_code != 418:
                    pass
            with pytest.raises(RetryableExchangeError) as first:
                await ex.positions("BNBUSDT")  # a protection read: within its share, so it is sent
            assert getattr(first.value, "http_status", None) == 418
            assert ex.budget.banned() and ex.budget.status() == "unhealthy"
            sent = ex.budget.sent
            with pytest.raises(BudgetRefused) as refused:
                await ex.positions()  # refused here: the server never sees it
            assert refused.value.blocked and ex.budget.sent == sent
            assert ex.budget.refused["routine"] == 1
            assert not ex.reading_affordable()
            await asyncio.sleep(ex.budget.blocked_until - time.time() + 0.05)
            assert ex.budget.status() == "healthy"
            assert ex.budget.affordable(0, Priority.ORDER)  # (routine reads wait for this minute's weight)

        run(server, body)
