"""Staging counts the exchange's positions, never its own dry-run entries.

A user trial: staging against `sim-server` with sma-cross sent nothing (good), but each dry-run entry was then
counted as an open position. Later signals were refused `DOTUSDT: a position is already open (one per symbol)`
and `4 positions open: QT_MAX_POSITIONS is 4` while /health showed none, a kill switch and resume did not clear
it, and `force-entry` answered `accepted: ... sized by planned loss` without saying nothing was sent. Risk held
a slot for each approved entry and freed it only when the exchange refused it; a dry run's entry is an order
that was not placed, and execution now says so (`EntryNotOpened`), so risk frees the slot and every signal that
would trade is journaled as what it would have sent, every time.
"""

from __future__ import annotations

import asyncio
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from test_run_session import BIN, bot_env, journal_rows, running_bot
from test_simserver_support import API_KEY, API_SECRET, ccxt_client, running_server

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.events import (
    Direction,
    EntryNotOpened,
    KillSwitch,
    OrderNotSent,
    PositionChanged,
    RiskDecision,
    Signal,
)
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.staging_gateway import DryRunGateway
from quantum_trader.runtime.wiring import TradingRules, announce_positions, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.execution import DRY_RUN_WORDING
from quantum_trader.trading.monitor import MonitorConfig

SYMBOLS = ("BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT")
PRICES = {"BNBUSDT": "600", "BTCUSDT": "100000", "ETHUSDT": "2500", "SOLUSDT": "150"}


async def _staging_engine_run() -> tuple[list[object], ExchangeSimulator]:
    """The engine as staging wires it (DryRunGateway) on the in-process simulator, QT_MAX_POSITIONS=2, with one
    real position (a long of 1 BNB opened by hand); then signals on every symbol, twice each, a kill switch, a
    resume and one more signal."""
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig())
    sim.set_prices(PRICES)
    sim.new_order({"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
    clock = SimulatedClock(1_800_000_000_000)
    engine = wire_engine(clock, InProcessExchange(sim), dict(sim.state.instruments), TradingRules(max_positions=2),
                         gateway=DryRunGateway(), exit_wording=DRY_RUN_WORDING)
    protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=False)
    events: list[object] = []
    engine.bus.subscribe(object, events.append)
    await announce_positions(engine)

    async def signal(symbol: str) -> None:
        await engine.bus.publish(Signal(symbol=symbol, direction=Direction.LONG, confidence=0.9, source="sma-cross",
                                        time_ms=clock.now_ms()))

    for symbol in ("ETHUSDT", "ETHUSDT", "BTCUSDT", "SOLUSDT", "BTCUSDT", "BNBUSDT"):
        await signal(symbol)
    await engine.bus.publish(KillSwitch(reason="manual kill switch", time_ms=clock.now_ms()))
    engine.risk.resume()
    await signal("SOLUSDT")
    return events, sim


def test_staging_journals_every_entry_it_would_send_and_counts_only_the_exchanges_positions() -> None:
    events, sim = asyncio.run(_staging_engine_run())
    decisions = [(d.signal.symbol, d.approved, d.reason) for d in events if isinstance(d, RiskDecision)]
    assert [(symbol, approved) for symbol, approved, _ in decisions] == [
        ("ETHUSDT", True), ("ETHUSDT", True), ("BTCUSDT", True), ("SOLUSDT", True), ("BTCUSDT", True),
        ("BNBUSDT", False), ("SOLUSDT", True)], decisions
    assert decisions[5][2] == "BNBUSDT: a position is already open (one per symbol)"  # the real one still counts
    entries = [e for e in events if isinstance(e, OrderNotSent) and e.purpose == "entry"]
    assert [e.intent.symbol for e in entries] == ["ETHUSDT", "ETHUSDT", "BTCUSDT", "SOLUSDT", "BTCUSDT", "SOLUSDT"]
    not_opened = [e for e in events if isinstance(e, EntryNotOpened)]
    assert len(not_opened) == 6 and all(e.dry_run and not e.sent for e in not_opened)
    assert not_opened[0].reason.startswith("sent nothing (dry run): would buy ") and "ETHUSDT at market" in \
        not_opened[0].reason
    assert sim.position("BNBUSDT").amount == Decimal(1)
    assert all(sim.position(s).amount == 0 for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    assert not any(isinstance(e, PositionChanged) and e.snapshot.symbol != "BNBUSDT" for e in events)


def _force(url: str, symbol: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": symbol, "side": "long"},
                                        timeout=30).json()
    return answer


def test_staging_bot_against_sim_server_answers_dry_run_entries_and_never_counts_them(tmp_path: Path) -> None:
    """The real bot process in staging against the simulator server, with a position a person opened by hand and
    QT_MAX_POSITIONS=2: forced entries on the other symbols are accepted again and again, each answered as a dry
    run (API and CLI), also after a kill switch and a resume; the hand-made position is the only one counted."""
    with running_server() as server:
        hand = ccxt_client(server.url)
        hand.load_markets()
        hand.create_order("BNB/USDT:USDT", "market", "buy", 1)
        env = bot_env(tmp_path, STAGING_MODE="true", QT_EXCHANGE=server.url, QT_API_KEY=API_KEY,
                      QT_API_SECRET=API_SECRET, QT_MAX_POSITIONS="2", QT_MONITOR_INTERVAL="30")
        with running_bot(env) as (_proc, url):
            answers = [_force(url, symbol) for symbol in ("ETHUSDT", "ETHUSDT", "BTCUSDT", "BTCUSDT")]
            for answer in answers:
                assert answer["accepted"] is True and answer["sent"] is False and answer["dry_run"] is True, answer
                assert "; sent nothing (dry run): would buy " in answer["reason"], answer
            refused = _force(url, "BNBUSDT")
            assert refused["accepted"] is False and refused["reason"] == (
                "BNBUSDT: a position is already open (one per symbol)")
            assert httpx.post(f"{url}/api/v1/kill-switch", timeout=30).json()["summary"].startswith(
                "sent nothing (dry run)")
            httpx.post(f"{url}/api/v1/resume", timeout=30)
            cli = subprocess.run([str(BIN), "force-entry", "ETHUSDT", "--side", "long", "--api", url], env=env,
                                 capture_output=True, text=True, timeout=60)
            assert cli.returncode == 0, cli.stderr
            assert cli.stdout.startswith("accepted: long ETHUSDT (trade ") and (
                "sized by planned loss; sent nothing (dry run): would buy " in cli.stdout), cli.stdout
            assert httpx.get(f"{url}/health").json()["positions"] == 1
        assert server.sim.position("ETHUSDT").amount == 0 and server.sim.position("BTCUSDT").amount == 0
    entries = journal_rows(tmp_path, "select symbol, status, dry_run from orders where purpose = 'entry'")
    assert sorted(entries) == [("BTCUSDT", "DRY_RUN", 1)] * 2 + [("ETHUSDT", "DRY_RUN", 1)] * 3


def test_staging_strategy_signals_are_each_journaled_not_refused_for_positions_it_never_opened(
        tmp_path: Path) -> None:
    """sma-cross in staging with QT_MAX_POSITIONS=1: before, the first dry-run entry took the only slot for good
    and every later signal was refused for it; now no refusal is for a position, and each approval is an entry
    journaled as DRY_RUN."""
    env = bot_env(tmp_path, STAGING_MODE="true", QT_STRATEGY="sma-cross", QT_SYMBOLS="10", QT_MAX_POSITIONS="1")
    done = subprocess.run([str(BIN), "run", "--duration", "8"], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    decisions = journal_rows(tmp_path, "select approved, reason from risk_decisions")
    approved = sum(1 for ok, _ in decisions if ok)
    assert approved >= 2, decisions
    assert not [reason for ok, reason in decisions if not ok and ("open" in reason)], decisions
    entries = journal_rows(tmp_path, "select status from orders where purpose = 'entry'")
    assert len(entries) == approved and {status for (status,) in entries} == {"DRY_RUN"}
