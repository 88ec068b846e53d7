"""An order's average fill price as Binance reports `avgPrice`: rounded to pricePrecision + 3 decimals,
in the REST order, the ORDER_TRADE_UPDATE `ap`, an algo order's `actualPrice` and ALGO_UPDATE, and the
snapshot the bot's exchange adapter hands to execution and the journal.

A thin book makes a MARKET order walk several levels with uneven slices, so cumQuote / executedQty
does not terminate (before this rule it was journaled as e.g. 2.942889225415646346178631267).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from conftest import D, algo, events_of, fills_of, make_sim, market, px

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.domain.instrument import Liquidity
from quantum_trader.exchange.factory import connect
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.shapes import algo_order_json, order_json

THIN = {"BNBUSDT": Liquidity(spread_bps=D("2"), depth_usdt=D("6000"))}
BNB_AVG_DECIMALS = 6  # BNBUSDT pricePrecision 3, + 3


def decimals(text: str) -> int:
    return len(text.partition(".")[2])


@pytest.fixture
def thin() -> ExchangeSimulator:
    return make_sim(liquidity=THIN)


@pytest.mark.parametrize("qty", ["7.37", "13.01", "2.93", "1.07"])
def test_market_order_average_is_rounded_like_avg_price(thin: ExchangeSimulator, qty: str) -> None:
    order = market(thin, "BUY", qty)
    assert len(fills_of(thin, order.order_id)) > 1
    exact = order.cum_quote / order.executed_qty
    assert len(exact.as_tuple().digits) > 20  # does not terminate: the case this rule is for
    assert order.avg_price == exact.quantize(Decimal("1E-6"))
    assert order.avg_price.as_tuple().exponent == -BNB_AVG_DECIMALS
    rest = order_json(order)["avgPrice"]
    streamed = [e["o"]["ap"] for e in events_of(thin.events, "ORDER_TRADE_UPDATE") if e["o"]["i"] == order.order_id]
    assert D(rest) == order.avg_price and decimals(rest) <= BNB_AVG_DECIMALS
    assert streamed[-1] == rest and all(decimals(a) <= BNB_AVG_DECIMALS for a in streamed)


def test_triggered_stop_reports_a_rounded_actual_price(thin: ExchangeSimulator) -> None:
    market(thin, "BUY", "7.37")
    stop = algo(thin, symbol="BNBUSDT", side="SELL", type="STOP_MARKET", triggerPrice="590", closePosition="true")
    px(thin, "BNBUSDT", "589", "589")
    body = algo_order_json(thin.state.algos[stop.algo_id], thin)
    assert body["algoStatus"] == "FINISHED"
    assert D(body["actualPrice"]) > 0 and decimals(body["actualPrice"]) <= BNB_AVG_DECIMALS
    finished = [e["o"] for e in events_of(thin.events, "ALGO_UPDATE")
                if e["o"]["aid"] == stop.algo_id and e["o"]["X"] == "FINISHED"]
    assert finished and finished[-1]["ap"] == body["actualPrice"]


def test_the_adapter_snapshot_carries_the_rounded_average(thin: ExchangeSimulator) -> None:
    """What execution uses as the entry price and the journal stores as the order's avg_price."""

    async def place() -> Decimal:
        exchange = await connect("sim", paper=True, sim=thin)
        try:
            snapshot = await exchange.place(OrderIntent(client_id="entry-1", symbol="BNBUSDT", side=Side.BUY,
                                                        type=OrderType.MARKET, quantity=D("7.37")))
        finally:
            await exchange.close()
        return snapshot.avg_price

    avg = asyncio.run(place())
    assert avg > D("600") and decimals(str(avg)) <= BNB_AVG_DECIMALS
