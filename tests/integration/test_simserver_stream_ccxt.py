"""ccxt.pro's `binanceusdm`, unmodified, on the simulator server's websockets: OHLCV (a closed bar equals
its REST kline), mark prices (one symbol and all of them), orders and positions while orders go in over
REST. Only the URLs are repointed (binance_futures.md §9.5): ccxt.pro turns the linear ws base `.../ws`
into `/market/ws/<n>` + SUBSCRIBE for market data and `/private/ws?listenKey=` for user data."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.pro as ccxtpro
from test_simserver_support import API_KEY, API_SECRET, RunningServer, repoint, running_server

SYMBOL = "BNB/USDT:USDT"


def _exchange(server: RunningServer) -> Any:
    return repoint(ccxtpro.binanceusdm({"apiKey": API_KEY, "secret": API_SECRET,
                                         "options": {"fetchCurrencies": False}}), server.url)


async def _watch_bars(server: RunningServer) -> tuple[list[list[Any]], list[list[Any]]]:
    ex = _exchange(server)
    try:
        await ex.load_markets()
        first = await asyncio.wait_for(ex.watch_ohlcv(SYMBOL, "1m"), 5)
        await asyncio.to_thread(server.control, "/sim/v1/prices", {"BNBUSDT": "612"})
        await asyncio.to_thread(server.control, "/sim/v1/prices", {"BNBUSDT": "605"})
        await asyncio.to_thread(server.control, "/sim/v1/advance", {"seconds": 60})
        opened_at = first[-1][0]
        while ex.ohlcvs[SYMBOL]["1m"][-1][0] == opened_at:  # watch_ohlcv returns new updates only
            await asyncio.wait_for(ex.watch_ohlcv(SYMBOL, "1m"), 5)
        candles: list[list[Any]] = list(ex.ohlcvs[SYMBOL]["1m"])
        rest: list[list[Any]] = await ex.fetch_ohlcv(SYMBOL, "1m", since=candles[0][0], limit=2)
        return candles, rest
    finally:
        await ex.close()


def test_ccxt_pro_watch_ohlcv_closed_bar_matches_rest() -> None:
    with running_server() as server:
        candles, rest = asyncio.run(_watch_bars(server))
    closed, opened = candles[-2], candles[-1]
    assert closed[1:5] == [612.0, 612.0, 605.0, 605.0]
    assert closed == rest[0] and opened[0] == closed[0] + 60_000 and opened[0] == rest[1][0]


async def _watch_marks(server: RunningServer) -> tuple[Any, Any, Any]:
    ex = _exchange(server)
    try:
        await ex.load_markets()
        one = await asyncio.wait_for(ex.watch_mark_price(SYMBOL), 5)
        await asyncio.to_thread(server.control, "/sim/v1/prices", {"BNBUSDT": "615"})
        moved = one
        while moved["markPrice"] != 615.0:
            moved = await asyncio.wait_for(ex.watch_mark_price(SYMBOL), 5)
        every = await asyncio.wait_for(ex.watch_mark_prices(), 5)
        return one, moved, every
    finally:
        await ex.close()


def test_ccxt_pro_watch_mark_price_and_mark_prices() -> None:
    with running_server() as server:
        one, moved, every = asyncio.run(_watch_marks(server))
    assert one["symbol"] == SYMBOL and one["markPrice"] == 600.0
    assert moved["markPrice"] == 615.0
    assert {"BNB/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(every)


async def _watch_account(server: RunningServer) -> tuple[list[Any], list[Any], Any]:
    ex = _exchange(server)
    try:
        await ex.load_markets()
        snapshot = await asyncio.wait_for(ex.watch_positions([SYMBOL]), 5)  # REST snapshot, then the stream
        orders_watch = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        positions_watch = asyncio.ensure_future(ex.watch_positions([SYMBOL]))
        await asyncio.sleep(0.3)
        order = await ex.create_order(SYMBOL, "market", "buy", 2)
        orders: list[Any] = await asyncio.wait_for(orders_watch, 5)
        positions: list[Any] = await asyncio.wait_for(positions_watch, 5)
        for _ in range(100):  # the fill may come in the same burst as NEW: ccxt folds it into its cache
            if ex.orders and ex.orders[-1]["status"] == "closed":
                break
            await asyncio.sleep(0.05)
        assert snapshot is not None
        return [*orders, *ex.orders], positions, order
    finally:
        await ex.close()


def test_ccxt_pro_watch_orders_and_positions_while_trading_over_rest() -> None:
    with running_server() as server:
        orders, positions, order = asyncio.run(_watch_account(server))
    assert orders[-1]["id"] == order["id"] and orders[-1]["status"] == "closed" and orders[-1]["filled"] == 2.0
    mine = [p for p in positions if p["symbol"] == SYMBOL]
    assert mine and mine[-1]["contracts"] == 2.0 and mine[-1]["side"] == "long"
    assert mine[-1]["entryPrice"] == orders[-1]["average"]
