"""ccxt.pro, unmodified, on the simulator's user-data websocket: a fill arrives as a stream update.

ccxt.pro gets a listenKey over REST and connects to `<linear ws base>/private/ws?listenKey=…`, so only
its `urls['api']['ws']['linear']` needs repointing (binance_futures.md §9.5).
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.pro as ccxtpro
from test_simserver_support import API_KEY, API_SECRET, RunningServer, repoint, running_server

SYMBOL = "BNB/USDT:USDT"


async def _watch_a_fill(server: RunningServer) -> list[dict[str, Any]]:
    ex = repoint(ccxtpro.binanceusdm({"apiKey": API_KEY, "secret": API_SECRET,
                                       "options": {"fetchCurrencies": False}}), server.url)
    try:
        await ex.load_markets()
        watcher = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        await asyncio.sleep(0.5)  # subscribed before the order goes in
        await ex.create_order(SYMBOL, "market", "buy", 1)
        first: list[dict[str, Any]] = await asyncio.wait_for(watcher, 5)
        # NEW and TRADE come in one burst; ccxt resolves on the first and folds the rest into its cache.
        for _ in range(100):
            if ex.orders and ex.orders[-1]["status"] == "closed":
                break
            await asyncio.sleep(0.05)
        return [*first, *ex.orders]
    finally:
        await ex.close()


def test_ccxt_pro_watch_orders_sees_the_fill() -> None:
    with running_server() as server:
        updates = asyncio.run(_watch_a_fill(server))
    assert updates[-1]["status"] == "closed" and updates[-1]["filled"] == 1.0
    assert updates[-1]["id"] == str(server.sim.all_orders("BNBUSDT")[0].order_id)
