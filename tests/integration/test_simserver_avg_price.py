"""ccxt `binanceusdm` sees the simulator server's `avgPrice` as Binance sends it: a bounded decimal
(pricePrecision + 3 decimals), in the order answer and in a later fetch, never an unbounded division."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal

import ccxt
from test_simserver_support import START_PRICES, SYMBOLS, ccxt_client, running_server

from quantum_trader.domain.instrument import Liquidity
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOL = "BNB/USDT:USDT"
THIN = Liquidity(spread_bps=Decimal("2"), depth_usdt=Decimal("6000"))


def thin_sim() -> ExchangeSimulator:
    universe = load_universe()
    instruments = [dataclasses.replace(universe.instrument(s), liquidity=THIN) if s == "BNBUSDT"
                   else universe.instrument(s) for s in SYMBOLS]
    sim = ExchangeSimulator({i.symbol: i for i in instruments}, SimConfig(start_time_ms=time.time_ns() // 1_000_000))
    sim.set_prices(START_PRICES)
    return sim


def client(url: str) -> ccxt.binanceusdm:
    return ccxt_client(url)


def test_ccxt_reads_a_bounded_average_price() -> None:
    sim = thin_sim()
    with running_server(sim) as server:
        ex = client(server.url)
        ex.load_markets()
        placed = ex.create_order(SYMBOL, "market", "buy", 7.37)
        fetched = ex.fetch_order(placed["id"], SYMBOL)
    order = sim.state.orders[int(placed["id"])]
    assert len(str(order.cum_quote / order.executed_qty)) > 20  # the exact average does not terminate
    for answer in (placed, fetched):
        text = answer["info"]["avgPrice"]
        assert Decimal(text) == order.avg_price and len(text.partition(".")[2]) <= 6, text  # pricePrecision 3 + 3
        assert answer["average"] == float(text) and answer["filled"] == 7.37
