"""A position opened by hand and adopted by the monitor is a trade: journaled, closed under its id, audited.

The trial (2026-12-06): DOTUSDT opened by hand while the bot was down was protected at the restart as
DOTUSDT_5_x1; the kill switch then closed it as DOTUSDT_5_k2 (it knew no trade for the symbol), the journal had
no `positions` row of it, and `audit` listed 7 closed positions without it (its -1.2 USDT and its fees in no
figure). Now the monitor records the position it adopts as a trade under the id it protects it with.

The session's own wiring (engine, monitor, kill switch, journal on SQLite) over the in-process simulator.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from test_restart_exits import SYMBOL, T0, simulator

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.events import KillSwitch
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.readmodels.journal import audit_from_journal
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.startup import protect_at_start
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.trading.monitor import MonitorConfig


async def session(url: str, exchange: InProcessExchange) -> None:
    """A session starts with a position opened by hand (before it: nobody heard it), protects it, then the kill
    switch closes everything."""
    clock = SimulatedClock(T0 + 60_000)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(exchange.sim.state.instruments), TradingRules(), journal=journal)
        monitor, _ = protect_engine(engine, Metrics(), MonitorConfig(interval_s=1.0))
        assert monitor is not None
        await protect_at_start(engine, monitor)
        await publish_all(engine.bus, clock, exchange.drain())
        assert exchange.sim.open_algo_orders(SYMBOL)  # protected
        await engine.bus.publish(KillSwitch(reason="manual kill switch", time_ms=clock.now_ms()))
        await publish_all(engine.bus, clock, exchange.drain())
        assert exchange.sim.position(SYMBOL).amount == 0


def test_a_position_opened_by_hand_is_journaled_closed_under_its_id_and_audited(tmp_path: Path) -> None:
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator()
    exchange = InProcessExchange(sim)
    sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.50"})  # by hand
    exchange.drain()  # the bot is not running: nobody hears it
    asyncio.run(session(url, exchange))
    entry_fill, exit_fill = sim.state.fills
    reader = JournalReader(url)
    try:
        [trade] = reader.trades(10)
        protection = {a["trade_id"] for a in reader.protection_actions(100) if a["trade_id"]}
        exits = [o for o in reader.orders(100) if o["purpose"] == "kill"]
        audit = audit_from_journal(reader)[1]
    finally:
        reader.close()
    assert "_x" in trade["trade_id"] and trade["status"] == "closed"  # was: no row at all
    assert protection == {trade["trade_id"]}  # its stop, its take-profit and its exit: one id (was x1, then k2)
    assert [o["trade_id"] for o in exits] == [trade["trade_id"]]
    assert trade["exit_reason"] == "kill_switch"
    assert Decimal(str(trade["entry"])) == entry_fill.price and Decimal(str(trade["quantity"])) == Decimal("0.50")
    assert Decimal(str(trade["exit_price"])) == exit_fill.price
    assert Decimal(str(trade["realized_pnl"])) == exit_fill.realized_pnl
    assert Decimal(str(trade["fees"])) == exit_fill.commission  # the entry's was paid before the bot ran
    assert [p["trade_id"] for p in audit["positions"]] == [trade["trade_id"]]  # type: ignore[index]
