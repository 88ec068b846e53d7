"""A replay whose bars trade below a symbol's packaged minimum price lowers it to the tick, and says so.

The packaged universe is Binance's exchangeInfo of 2024-10-02. FILUSDT's minPrice was 1.381 then; its February
2026 bars trade at 0.774-1.112, so every stop-loss was refused (-4006 Stop price less than min price) and a
backtest of that month opened no position (1,672 signals, all refused). Binance's own trades prove its filter
then was lower: the backtest, the paper session and sim-server (exchangeInfo included) now take the tick.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
from structlog.testing import capture_logs
from test_simserver_support import running_server

from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.traded_prices import admit_traded_prices
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.feed import replay_feed

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z


def _fil_bars(n_bars: int, price: float) -> list[BarChunk]:
    fil = load_universe().instrument("FILUSDT")
    assert fil.price_filter.min_price == Decimal("1.381")  # the packaged snapshot this test is about
    return list(synthetic_bars(["FILUSDT"], [price], n_bars, seed=5, chunk_bars=1000, vol=0.002, start_ms=T0,
                               price_decimals=3))


def test_a_backtest_below_the_packaged_minimum_trades() -> None:
    fil = load_universe().instrument("FILUSDT")
    with capture_logs() as logs:
        result = asyncio.run(run_backtest(_fil_bars(3000, 0.95), {"FILUSDT": fil}, SmaCross(), TradingRules()))
    said = " ".join(str(e["event"]) for e in logs if e["log_level"] == "warning")
    refused = result.refusals.get("by_kind", {})
    assert "protection_refused" not in refused, refused  # every one was refused with -4006 before
    assert len(result.trades) > 5
    assert "FILUSDT: the bars trade down to" in said and "minPrice 1.381" in said
    assert "takes minPrice 0.001 (the tick)" in said


def test_only_a_symbol_traded_below_its_minimum_changes() -> None:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in ("FILUSDT", "BNBUSDT", "ETHUSDT")},
                            SimConfig(start_time_ms=T0))
    sim.set_prices({"FILUSDT": "2", "BNBUSDT": "600", "ETHUSDT": "2500"})
    n = 3
    low = np.array([[0.9, 590.0, np.nan], [1.0, 595.0, np.nan], [1.1, 599.0, np.nan]])
    chunk = BarChunk(("FILUSDT", "BNBUSDT", "ETHUSDT"), T0 + 60_000 * np.arange(n, dtype=np.int64), low, low, low,
                     low, np.ones((n, 3)), 60_000)
    view = asyncio.run(InProcessExchange(sim).instruments())  # what a paper session's engine holds
    notes = admit_traded_prices(sim, chunk)
    assert len(notes) == 1 and notes[0].startswith("FILUSDT: the bars trade down to 0.9, below the minPrice 1.381")
    assert sim.instrument("FILUSDT").price_filter.min_price == Decimal("0.001")
    assert sim.state.market("FILUSDT").instrument is sim.instrument("FILUSDT")
    assert view["FILUSDT"].price_filter.min_price == Decimal("0.001")  # risk and execution round by it
    assert sim.instrument("BNBUSDT").price_filter.min_price == Decimal("6.600")  # traded above it
    assert sim.instrument("ETHUSDT").price_filter.min_price == Decimal("39.86")  # no bar at all
    assert admit_traded_prices(sim, chunk) == []  # once


def _write_klines(path: Path, bars: list[tuple[float, float, float, float]]) -> None:
    rows = [f"{T0 + i * 60_000},{o},{h},{lo},{c},100,{T0 + i * 60_000 + 59_999},60000,10,50,30000,0"
            for i, (o, h, lo, c) in enumerate(bars)]
    path.write_text("\n".join(rows) + "\n")


def test_sim_server_serves_and_accepts_the_lowered_minimum(tmp_path: Path) -> None:
    _write_klines(tmp_path / "BTCUSDT-1m-2026-01.csv", [(500.0, 501.0, 499.0, 500.0), (500.0, 500.5, 498.0, 499.0)])
    feed, _ = replay_feed(tmp_path, ["BTCUSDT"], speed=None)
    universe = load_universe()
    sim = ExchangeSimulator({"BTCUSDT": universe.instrument("BTCUSDT")}, SimConfig(start_time_ms=T0))
    sim.set_prices({"BTCUSDT": "600"})
    with running_server(sim, feed=feed) as server:
        def min_price() -> str:
            info = httpx.get(f"{server.url}/fapi/v1/exchangeInfo").json()
            (row,) = [r for r in info["symbols"] if r["symbol"] == "BTCUSDT"]
            return str(next(f for f in row["filters"] if f["filterType"] == "PRICE_FILTER")["minPrice"])

        assert min_price() == "556.80"  # the packaged one, written as Binance wrote it
        feed.start()
        try:
            assert feed.wait_done(10)
        finally:
            feed.stop()
        assert min_price() == "0.1"
        server.call("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
        stop = server.call("POST", "/fapi/v1/algoOrder", {
            "algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
            "triggerPrice": "489.9", "closePosition": "true"})
        assert stop["algoStatus"] == "NEW"
