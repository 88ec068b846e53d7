"""The simulator's income history lists funding payments and the fills' realised P&L and fees, as Binance does.

A bot restarted after funding was paid while it was stopped can only learn of it there (`GET /fapi/v1/income`,
`FUNDING_FEE`, signed, with the symbol); the simulator used to record transfers only and answer `[]` for
funding.
"""

from __future__ import annotations

import time
from decimal import Decimal

from test_simserver_support import START_PRICES, SYMBOLS, ccxt_client, running_server

from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.funding import FundingSchedule
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

D = Decimal
HOUR_MS = 3_600_000


def hourly_funding_sim() -> ExchangeSimulator:
    """The harness's market with funding every hour (as some Binance symbols pay), so a stop across a funding
    time leaves the simulator's clock less than an hour ahead of the wall clock it follows."""
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS},
                            SimConfig(start_time_ms=time.time_ns() // 1_000_000),
                            funding_schedule=FundingSchedule(interval_hours=1))
    sim.set_prices(START_PRICES)
    return sim


def test_the_income_history_lists_funding_and_the_fills_rows_as_binance_does() -> None:
    with running_server(hourly_funding_sim(), follow_clock=True) as server:
        ex = ccxt_client(server.url)
        ex.fapiPrivatePostOrder({"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "2"})
        [trade] = ex.fapiPrivateGetUserTrades({"symbol": "BNBUSDT"})
        server.control("/sim/v1/advance", {"seconds": 2 * 3600})  # two funding times
        funding = ex.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE"})
        assert [(r["symbol"], r["incomeType"], r["income"], r["asset"], r["info"], r["tradeId"]) for r in funding] == [
            ("BNBUSDT", "FUNDING_FEE", "-0.12", "USDT", "FUNDING_FEE", "")] * 2  # 2 × 600 × 0.01 %, paid
        assert [int(r["time"]) % HOUR_MS for r in funding] == [0, 0] and funding[0]["tranId"] != funding[1]["tranId"]
        everything = ex.fapiPrivateGetIncome({})
        assert [(r["incomeType"], r["income"], r["tradeId"]) for r in everything] == [
            ("COMMISSION", "-" + trade["commission"], str(trade["id"])), *[("FUNDING_FEE", "-0.12", "")] * 2]
        assert ex.fapiPrivateGetIncome({"symbol": "BTCUSDT"}) == []
        assert ex.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE", "limit": "1"}) == funding[:1]
        assert ex.fapiPrivateGetIncome({"startTime": str(int(funding[0]["time"]) + 1)}) == funding[1:]
        assert ex.fapiPrivateGetIncome({"endTime": str(int(funding[0]["time"]))}) == everything[:2]
        ex.fapiPrivatePostOrder({"symbol": "BNBUSDT", "side": "SELL", "type": "MARKET", "quantity": "2"})
        closing = ex.fapiPrivateGetUserTrades({"symbol": "BNBUSDT"})[-1]
        pnl = ex.fapiPrivateGetIncome({"incomeType": "REALIZED_PNL"})
        assert [(r["income"], r["tradeId"]) for r in pnl] == ([(closing["realizedPnl"], str(closing["id"]))]
                                                               if D(closing["realizedPnl"]) else [])
