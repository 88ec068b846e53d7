"""A liquidation's fee is listed in the income history as Binance lists it: INSURANCE_CLEAR, not COMMISSION.

Binance's income kinds include INSURANCE_CLEAR, which its Chinese documentation glosses as 强平 (forced
liquidation) and which traders' tools and guides name the liquidation (clearance) fee, listed under the liquidated
symbol. The simulator server listed the fee it charges a liquidation as the close's COMMISSION, so a client
summing fees and liquidation costs from the income history (as a tax report or an audit does) put it among the
trading fees. The bot itself reads only transfers and funding there: an INSURANCE_CLEAR row is neither, so it
neither moves the daily loss limit's reference (a liquidation is a trading loss) nor reaches a trade's funding.
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_DOWN, Decimal

from test_simserver_support import API_KEY, API_SECRET, ccxt_client, running_server

from quantum_trader.domain.enums import MarginType
from quantum_trader.domain.exchange_types import BalanceUpdate
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.sim.engine import ExchangeSimulator

SYMBOL = "BTCUSDT"


def liquidate_a_long(sim: ExchangeSimulator) -> None:
    """An isolated 50x long, then the price just through its liquidation price (what is left of its margin pays
    the liquidation fee)."""
    sim.set_leverage(SYMBOL, 50)
    sim.set_margin_type(SYMBOL, MarginType.ISOLATED)
    sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.050"})
    liquidation = sim.liquidation_price(SYMBOL)
    assert liquidation is not None
    sim.set_prices({SYMBOL: str(liquidation.quantize(Decimal("0.1"), rounding=ROUND_DOWN) - Decimal("0.1"))})
    assert sim.position(SYMBOL).amount == 0


def test_the_liquidation_fee_is_an_insurance_clear_row_of_its_symbol_and_no_transfer() -> None:
    with running_server() as server:
        start = server.sim.now_ms
        liquidate_a_long(server.sim)
        ex = ccxt_client(server.url)
        entry, close = ex.fapiPrivateGetUserTrades({"symbol": SYMBOL})
        rows = ex.fapiPrivateGetIncome({"symbol": SYMBOL})
        kinds = [(r["incomeType"], r["income"], r["tradeId"]) for r in rows]
        assert kinds == [("COMMISSION", "-" + entry["commission"], str(entry["id"])),
                         ("REALIZED_PNL", close["realizedPnl"], str(close["id"])),
                         ("INSURANCE_CLEAR", "-" + close["commission"], str(close["id"]))]  # was: COMMISSION
        assert Decimal(close["commission"]) > 0
        assert ex.fapiPrivateGetIncome({"incomeType": "INSURANCE_CLEAR"}) == rows[-1:]
        assert ex.fapiPrivateGetIncome({"incomeType": "COMMISSION"}) == rows[:1]

        async def read() -> list[BalanceUpdate]:
            adapter = CcxtExchange(server.url, api_key=API_KEY, api_secret=API_SECRET, throttle=False)
            try:
                return await adapter.income(start)
            finally:
                await adapter.close()

        assert asyncio.run(read()) == []  # neither a transfer nor funding: the restart counts nothing
