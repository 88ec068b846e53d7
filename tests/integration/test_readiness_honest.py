"""Readiness counts what the bot proved on its own (a user trial's findings).

1. Forced entries (`force-entry`) are journaled as signals of confidence 1.00 nobody computed: a journal of
   forced trades alone passed `confidence` and `closed_trades`. They prove the protection path (SL and TP
   placed, acknowledged, stops held), so the protection items count them; the minimum of trades and the
   confidence item count only the strategy's trades, and say how many were forced.

Journals are real SQLite files written through the real writer and bus (test_live_gate's Recipe), or by the
engine itself trading forced entries on the in-process simulator; the console script reads them as a user
runs it, so these tests say the same on the code before the change (where they fail) and after.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from test_audit_readiness_cli import cli, document
from test_live_gate import LIVE_PATH, Recipe, build_journal

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.events import FORCED, Direction, Signal
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig

T0 = 1_800_000_000_000


def readiness_json(url: str, **qt_env: str) -> tuple[int, dict[str, Any]]:
    """`quantum-trader readiness --db URL --json` with `qt_env`: (exit code, document)."""
    done = cli("readiness", "--db", url, "--json", **qt_env)
    return done.returncode, document(done)


def item(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found = [i for i in doc["items"] if i["name"] == name]
    assert found, f"no item {name}: {[i['name'] for i in doc['items']]}"
    return found[0]


def failed(doc: dict[str, Any]) -> set[str]:
    return {i["name"] for i in doc["items"] if not i["passed"]}


# --- 1. forced entries prove the protection path, not the strategy -------------------------------------------
def test_forced_entries_alone_pass_the_protection_items_but_neither_confidence_nor_the_minimum(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "forced.db", Recipe(forced=5))
    code, doc = readiness_json(url)
    assert code == 1 and doc["ready"] is False
    assert failed(doc) == {"closed_trades", "confidence"}, doc
    confidence = item(doc, "confidence")["evidence"]
    assert (confidence["traded_signals"], confidence["forced_entries_not_counted"]) == (0, 5)
    assert confidence["detail"].startswith("no strategy signal traded yet")
    closed = item(doc, "closed_trades")["evidence"]
    assert (closed["closed"], closed["forced"], closed["closed_all"], closed["required"]) == (0, 5, 5, 5)
    assert closed["trades"] == [] and len(closed["forced_trades"]) == 5
    assert "5 forced entries are not counted" in closed["detail"]
    assert item(doc, "protection_acknowledged")["evidence"]["forced"] == 5  # counted: the same protection path
    assert item(doc, "stops_held")["evidence"]["stop_loss_exits_forced"] == 1


def test_forced_trades_are_named_but_do_not_count_toward_the_minimum(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "mixed.db", Recipe(trades=6, forced=2))
    code, doc = readiness_json(url)
    assert code == 1 and failed(doc) == {"closed_trades"}
    closed = item(doc, "closed_trades")["evidence"]
    assert (closed["closed"], closed["forced"], closed["closed_all"]) == (4, 2, 6)
    assert set(closed["forced_trades"]).isdisjoint(closed["trades"])
    confidence = item(doc, "confidence")["evidence"]
    assert (confidence["traded_signals"], confidence["forced_entries_not_counted"]) == (4, 2)


async def forced_stop_outs(url: str, n: int) -> None:
    """A manual-strategy paper session as the engine trades it: `n` forced longs of BNB at 658 (the signal
    the API's force-entry publishes), each walked down through its stop, on the in-process simulator
    (journaled as on the live path, as test_audit_stops does, so readiness counts it)."""
    sim = ExchangeSimulator({"BNBUSDT": load_universe().instrument("BNBUSDT")}, SimConfig(start_time_ms=T0))
    exchange = InProcessExchange(sim)
    clock = SimulatedClock(T0)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", json.dumps({"strategy": "manual"}), "test", **LIVE_PATH)
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), journal=journal)
        protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=False)
        for _ in range(n):
            sim.set_prices({"BNBUSDT": "658"})
            await publish_all(engine.bus, clock, exchange.drain())
            await engine.bus.publish(Signal(symbol="BNBUSDT", direction=Direction.LONG, confidence=1.0,
                                            source=FORCED, time_ms=clock.now_ms(), reason="force-entry"))
            await publish_all(engine.bus, clock, exchange.drain())
            for price in ("650", "647", "646", "645.5", "645", "644.5", "644"):
                clock.advance(1.0)
                sim.set_prices({"BNBUSDT": price})
                await publish_all(engine.bus, clock, exchange.drain())
            clock.advance(600.0)


def test_the_engines_forced_stop_outs_prove_the_stops_but_not_the_strategy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'manual.db'}"
    asyncio.run(forced_stop_outs(url, 5))
    code, doc = readiness_json(url, QT_STRATEGY="manual")
    assert code == 1
    closed = item(doc, "closed_trades")
    assert closed["passed"] is False and (closed["evidence"]["closed"], closed["evidence"]["forced"]) == (0, 5)
    confidence = item(doc, "confidence")
    assert confidence["passed"] is False and confidence["evidence"]["traded_signals"] == 0
    assert confidence["evidence"]["forced_entries_not_counted"] == 5
    stops = item(doc, "stops_held")
    assert stops["passed"] is True and stops["evidence"]["stop_loss_exits"] == 5, stops
    assert stops["evidence"]["stop_loss_exits_forced"] == 5
    protection = item(doc, "protection_acknowledged")
    assert protection["passed"] is True and protection["evidence"]["forced"] == 5, protection
