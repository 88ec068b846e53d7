"""Force-entry, kill switch, resume, force-entry on one symbol within one simulated second.

With trade ids made of symbol and second, the two trades shared an id and every client id derived
from it: the journal closed the open, protected position as `kill_switch`, overwrote the entry row and
counted two entry fills under one client id. Here the engine is wired as a session wires it (real
SQLite journal with a session row, the in-process simulator, execution, monitor and kill switch), and
the exchange's events are pumped between the user's actions as the session's pump does; the clock
never moves.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.events import Direction, ErrorEvent, KillSwitch, Signal
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import Engine, TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig

SYMBOL = "BNBUSDT"
NOW = 1_800_000_000_000


async def pump(engine: Engine, exchange: InProcessExchange) -> None:
    await publish_all(engine.bus, engine.clock, exchange.drain())


async def force_entry(engine: Engine, exchange: InProcessExchange) -> None:
    await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.SHORT, confidence=1.0, source="force",
                                    time_ms=engine.clock.now_ms(), reason="force-entry"))
    await pump(engine, exchange)


async def scenario(url: str) -> tuple[ExchangeSimulator, list[ErrorEvent]]:
    universe = load_universe()
    sim = ExchangeSimulator({SYMBOL: universe.instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))
    sim.set_prices({SYMBOL: "896.80"})
    exchange = InProcessExchange(sim)
    exchange.drain()
    clock = SimulatedClock(NOW)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), journal=journal)
        protect_engine(engine, Metrics(), MonitorConfig(interval_s=1.0))
        errors: list[ErrorEvent] = []
        engine.bus.subscribe(ErrorEvent, errors.append)
        await force_entry(engine, exchange)
        await engine.bus.publish(KillSwitch(reason="manual kill switch", time_ms=clock.now_ms()))
        await pump(engine, exchange)
        engine.risk.resume()
        await force_entry(engine, exchange)
    return sim, errors


def test_two_trades_in_one_second_stay_two_trades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    sim, errors = asyncio.run(scenario(url))
    assert errors == []
    reader = JournalReader(url)
    try:
        trades = {row["trade_id"]: row for row in reader.trades(10)}
        assert sorted(trades) == ["BNBUSDT_1_1", "BNBUSDT_1_2"]  # session 1, trades 1 and 2
        first, second = trades["BNBUSDT_1_1"], trades["BNBUSDT_1_2"]
        assert first["exit_reason"] == "kill_switch" and first["closed_ms"] == NOW
        assert second["exit_reason"] is None and second["closed_ms"] is None  # open, as on the exchange
        fills = reader.fills(20)
        entry_qty = {cid: sum(Decimal(f["quantity"]) for f in fills if f["client_id"] == cid)
                     for cid in ("qt-BNBUSDT_1_1-entry-0", "qt-BNBUSDT_1_2-entry-0")}
        assert entry_qty == {"qt-BNBUSDT_1_1-entry-0": Decimal(first["quantity"]),
                             "qt-BNBUSDT_1_2-entry-0": Decimal(second["quantity"])}  # one entry fill each
        kill_fills = [f for f in fills if "-kill-" in f["client_id"]]
        assert {f["client_id"] for f in kill_fills} == {"qt-BNBUSDT_1_1-kill-0"}  # closed under its own trade id
        assert sum(Decimal(f["quantity"]) for f in kill_fills) == Decimal(first["quantity"])
        kill_value = sum(Decimal(f["quantity"]) * Decimal(f["price"]) for f in kill_fills)
        assert Decimal(first["exit_price"]) == kill_value / Decimal(first["quantity"])  # its own exit, no other
        orders = {row["client_id"]: row for row in reader.orders(50)}
        assert orders["qt-BNBUSDT_1_1-entry-0"]["trade_id"] == "BNBUSDT_1_1"
        assert orders["qt-BNBUSDT_1_2-entry-0"]["trade_id"] == "BNBUSDT_1_2"
    finally:
        reader.close()
    position = sim.position(SYMBOL)
    assert position.amount == -Decimal(second["quantity"])
    protection = {(a.order_type, a.client_algo_id) for a in sim.open_algo_orders(SYMBOL)}
    assert protection == {(OrderType.STOP_MARKET, "qt-BNBUSDT_1_2-sl-0"),
                          (OrderType.TAKE_PROFIT_MARKET, "qt-BNBUSDT_1_2-tp-0")}


async def one_entry(url: str) -> list[ErrorEvent]:
    """A session that forces one entry at NOW on a fresh simulator (what a restart replaying the same bars does)."""
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))
    sim.set_prices({SYMBOL: "896.80"})
    exchange = InProcessExchange(sim)
    exchange.drain()
    clock = SimulatedClock(NOW)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), journal=journal)
        errors: list[ErrorEvent] = []
        engine.bus.subscribe(ErrorEvent, errors.append)
        await force_entry(engine, exchange)
    return errors


def test_a_restart_at_the_same_simulated_time_gives_new_trade_ids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    assert asyncio.run(one_entry(url)) == []
    assert asyncio.run(one_entry(url)) == []
    reader = JournalReader(url)
    try:
        assert sorted(row["trade_id"] for row in reader.trades(10)) == ["BNBUSDT_1_1", "BNBUSDT_2_1"]
        assert len({row["client_id"] for row in reader.orders(50)}) == len(reader.orders(50)) == 6
    finally:
        reader.close()
