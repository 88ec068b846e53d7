"""ccxt `binanceusdm`, unmodified, against the simulator server: the whole protected-trade round trip.

Only the URLs are repointed (binance_futures.md §9.5); if ccxt can load markets, open a position,
protect it with algo STOP_MARKET / TAKE_PROFIT_MARKET orders and see the stop fill on a gap, the
server speaks Binance well enough for the bot's own exchange adapter.
"""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import pytest
from test_simserver_support import RunningServer, ccxt_client, running_server

SYMBOL = "BNB/USDT:USDT"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def exchange(server: RunningServer) -> ccxt.binanceusdm:
    return ccxt_client(server.url)


def test_protected_long_is_stopped_out_on_a_gap(server: RunningServer, exchange: ccxt.binanceusdm) -> None:
    markets = exchange.load_markets()
    assert set(markets) == {"BNB/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert markets[SYMBOL]["precision"]["price"] == 0.01

    assert exchange.fetch_balance()["USDT"]["total"] == 10000.0
    assert exchange.set_leverage(10, SYMBOL)["leverage"] == 10

    entry = exchange.create_order(SYMBOL, "market", "buy", 1)
    assert entry["status"] == "closed" and entry["filled"] == 1.0

    stop = exchange.create_order(SYMBOL, "STOP_MARKET", "sell", 1, None, {"stopPrice": 570, "closePosition": True})
    take = exchange.create_order(SYMBOL, "TAKE_PROFIT_MARKET", "sell", 1, None,
                                 {"stopPrice": 650, "closePosition": True})
    algos = server.sim.open_algo_orders("BNBUSDT")
    assert [a.algo_id for a in algos] == [int(stop["id"]), int(take["id"])]

    open_triggers = exchange.fetch_open_orders(SYMBOL, params={"trigger": True})
    assert {o["id"]: o["triggerPrice"] for o in open_triggers} == {stop["id"]: 570.0, take["id"]: 650.0}
    assert exchange.fetch_open_orders(SYMBOL) == []  # regular endpoint never lists algo orders

    positions = exchange.fetch_positions([SYMBOL])
    assert [(p["symbol"], p["side"], p["contracts"]) for p in positions] == [(SYMBOL, "long", 1.0)]

    step = server.control("/sim/v1/prices", {"prices": {"BNBUSDT": {"last": "550", "mark": "550"}}})
    kinds = [e["e"] for e in step["events"]]
    assert "ORDER_TRADE_UPDATE" in kinds and "ACCOUNT_UPDATE" in kinds

    assert exchange.fetch_positions([SYMBOL]) == []
    trades = exchange.fetch_my_trades(SYMBOL)
    assert [t["side"] for t in trades] == ["buy", "sell"]
    assert trades[-1]["price"] <= 550.0  # a stop-market fills at the gapped price or worse, never at 570

    assert exchange.fetch_open_orders(SYMBOL, params={"trigger": True}) == []
    with pytest.raises(ccxt.OrderNotFound):  # the closePosition TP expired with the position
        exchange.cancel_order(take["id"], SYMBOL, params={"trigger": True})


def test_cancel_of_a_live_algo_order(server: RunningServer, exchange: ccxt.binanceusdm) -> None:
    exchange.load_markets()
    exchange.create_order("ETH/USDT:USDT", "market", "sell", 0.1)
    stop = exchange.create_order("ETH/USDT:USDT", "STOP_MARKET", "buy", 0.1, None,
                                 {"stopPrice": 2700, "closePosition": True})
    cancelled = exchange.cancel_order(stop["id"], "ETH/USDT:USDT", params={"trigger": True})
    assert cancelled["id"] == stop["id"]
    assert exchange.fetch_open_orders("ETH/USDT:USDT", params={"trigger": True}) == []


def test_order_would_immediately_trigger_maps_to_ccxt_class(exchange: ccxt.binanceusdm) -> None:
    exchange.load_markets()
    exchange.create_order("BTC/USDT:USDT", "market", "buy", 0.002)
    with pytest.raises(ccxt.OrderImmediatelyFillable):  # -2021 with the linear exception map merged
        exchange.create_order("BTC/USDT:USDT", "STOP_MARKET", "sell", 0.002, None,
                              {"stopPrice": 110000, "closePosition": True})


def test_ohlcv_and_ticker(server: RunningServer, exchange: ccxt.binanceusdm) -> None:
    exchange.load_markets()
    bars = exchange.fetch_ohlcv("ETH/USDT:USDT", "1m")
    assert bars and bars[-1][4] == float(server.sim.last_price("ETHUSDT"))
    assert exchange.fetch_ticker("ETH/USDT:USDT")["last"] == float(server.sim.last_price("ETHUSDT"))


def test_fetch_algo_order_and_settings(server: RunningServer, exchange: ccxt.binanceusdm) -> None:
    exchange.load_markets()
    eth = "ETH/USDT:USDT"
    held = float(server.sim.position("ETHUSDT").amount)  # tests share the server and may run in any order
    if held:
        exchange.create_order(eth, "market", "sell" if held > 0 else "buy", abs(held), None, {"reduceOnly": True})
    exchange.set_margin_mode("isolated", eth)
    with pytest.raises(ccxt.MarginModeAlreadySet):  # -4046
        exchange.set_margin_mode("isolated", eth)
    exchange.set_margin_mode("cross", eth)
    exchange.create_order(eth, "market", "buy", 0.1)
    stop = exchange.create_order(eth, "STOP_MARKET", "sell", 0.1, None, {"stopPrice": 2000, "closePosition": True})
    fetched = exchange.fetch_order(stop["id"], eth, params={"trigger": True})
    assert (fetched["id"], fetched["status"], fetched["triggerPrice"]) == (stop["id"], "open", 2000.0)
    with pytest.raises(ccxt.OrderNotFound):  # the regular endpoint does not know algo ids (-2013)
        exchange.fetch_order(stop["id"], eth)
    v2 = exchange.fetch_positions([eth], params={"useV2": True})
    assert v2 and v2[0]["marginMode"] == "cross"
    assert exchange.fetch_balance(params={"useV2": True})["USDT"]["total"] > 0
    exchange.cancel_order(stop["id"], eth, params={"trigger": True})
