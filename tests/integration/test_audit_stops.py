"""The stop audit of journaled stop fills, as `quantum-trader audit` and readiness read them: what a slippage
is measured against, which exits have one, and which breaches a gap explains.

Each journal is written in-process through the real writer and bus (the intent through execution's
write-ahead call, as a session does), or by the engine itself trading on the in-process simulator, then
read by the console script in another process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_audit_readiness_cli import cli, document
from test_live_gate import LIVE_PATH, start_settings

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import (
    Direction,
    ExitReason,
    OrderChanged,
    OrderIntentRecorded,
    Signal,
    TradeClosed,
    TradeOpened,
)
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, SnapshotStatus
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.notify.alerts import Alerts
from quantum_trader.notify.messages import Message
from quantum_trader.readmodels.journal import readiness_from_journal
from quantum_trader.risk.daily_loss import REASON_PREFIX
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.audit import VERDICT_GAP, audit_row
from quantum_trader.trading.monitor import MonitorConfig
from quantum_trader.trading.stop_witness import ACTION as STOP_WITNESSED

T0 = 1_800_000_000_000
#: The settings the gap session is journaled with, and readiness asked for.
START = start_settings()
MINUTE = 60_000
D = Decimal


@dataclass(frozen=True)
class Exit:
    """One long of 1 BNB at 600, planned stop 594 (6.5 USDT at risk), and how it ended."""

    n: int
    reason: ExitReason
    price: str
    #: The trigger of the stop order that filled (None: no stop order filled, e.g. an emergency exit).
    trigger: str | None = None
    entry: str = "600"
    stop: str = "594"

    @property
    def trade_id(self) -> str:
        return f"BNBUSDT_1_{self.n}"


def _stop_fill(exit_: Exit, at_ms: int) -> list[object]:
    """The stop order as execution journals it (intent) and the exchange reports it filled."""
    assert exit_.trigger is not None
    client_id = f"qt-{exit_.trade_id}-sl-1"
    intent = OrderIntent(client_id=client_id, symbol="BNBUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
                         trigger_price=D(exit_.trigger), close_position=True, working_type=WorkingType.MARK_PRICE)
    filled = OrderSnapshot(client_id=client_id, venue_id=str(exit_.n), symbol="BNBUSDT", side=Side.SELL,
                           type=OrderType.STOP_MARKET, status=SnapshotStatus.FILLED, conditional=True, quantity=D(0),
                           filled=D(1), avg_price=D(exit_.price), trigger_price=D(exit_.trigger), price=None,
                           reduce_only=True, close_position=True, working_type=WorkingType.MARK_PRICE,
                           update_time=at_ms)
    return [OrderIntentRecorded(intent, exit_.trade_id, "sl", at_ms - MINUTE), OrderChanged(filled, "TRADE", at_ms)]


def _trade(exit_: Exit) -> list[object]:
    opened = T0 + exit_.n * 10 * MINUTE
    common: dict[str, Any] = {
        "trade_id": exit_.trade_id, "symbol": "BNBUSDT", "direction": Direction.LONG, "quantity": D(1),
        "entry_price": D(exit_.entry), "planned_stop": D(exit_.stop), "planned_loss": D("6.5"), "leverage": 5}
    events: list[object] = [TradeOpened(**common, planned_take_profit=D(612), equity=D(10_000), time_ms=opened)]
    if exit_.trigger is not None:
        events += _stop_fill(exit_, opened + 5 * MINUTE)
    events.append(TradeClosed(**common, exit_price=D(exit_.price), exit_reason=exit_.reason,
                              realized_pnl=D(exit_.price) - D(exit_.entry), fees=D("0.5"), funding=D(0),
                              equity_at_entry=D(10_000), opened_ms=opened, time_ms=opened + 5 * MINUTE))
    return events


def exit_journal(path: Path, *exits: Exit, extra: tuple[object, ...] = ()) -> str:
    url = f"sqlite:///{path}"

    async def run() -> None:
        with Journal.open(url) as journal:
            journal.start_session("paper", "{}", "test", started_ms=T0)
            bus = EventBus()
            journal.attach(bus)
            for event in [e for x in exits for e in _trade(x)] + list(extra):
                if isinstance(event, OrderIntentRecorded):
                    journal.record_intent(event)
                await bus.publish(event)
    asyncio.run(run())
    return url


def test_only_stop_loss_fills_have_slippage_and_only_they_make_the_mean(tmp_path: Path) -> None:
    """Emergency exits (a market close after a stop that never fired) were measured against that stop, 202 bps
    "better" than it, and dragged the mean below zero, hiding the one stop fill that slipped. A stop fill is
    measured against the trigger of the order that filled: this one had trailed from 594 to 597."""
    url = exit_journal(tmp_path / "audit.db", Exit(1, ExitReason.EMERGENCY, "606"),
                       Exit(2, ExitReason.STOP_LOSS, "596.4", trigger="597"), Exit(3, ExitReason.EMERGENCY, "605.99"))
    doc = document(cli("audit", "--db", url, "--json"))
    assert [(p["exit_reason"], p["slippage_bps"]) for p in doc["positions"]] == [
        ("emergency", None), ("stop_loss", "10.05"), ("emergency", None)]  # (597 - 596.4) / 597; not -40.4 vs 594
    summary = doc["summary"]
    assert (summary["mean_slippage_bps"], summary["worst_slippage_bps"]) == ("10.05", "10.05")
    assert (summary["stop_exits_with_slippage"], summary["exits_without_slippage"]) == (1, {"emergency": 2})
    table = cli("audit", "--db", url)
    assert table.returncode == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert "mean 10.05 bps" in text
    assert "stop-loss fills against their trigger only (1 exits)" in text and "(emergency 2)" in text


# --- a gap, as the engine journals it and the audit reads it back ---------------------------------------
async def long_then(url: str, path: list[str], observers: tuple[Callable[[EventBus], None], ...] = ()) -> None:
    """A session on the in-process simulator: a long BNB at 658 (stop 2 % below, as risk plans it), then the
    market steps along `path`, each step's events heard by the engine as a session hears them (and by
    `observers`, subscribed first, as a session's alerts are)."""
    sim = ExchangeSimulator({"BNBUSDT": load_universe().instrument("BNBUSDT")}, SimConfig(start_time_ms=T0))
    sim.set_prices({"BNBUSDT": "658"})
    exchange = InProcessExchange(sim)
    exchange.drain()
    clock = SimulatedClock(T0)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", json.dumps(START.public_dict()), "test", **LIVE_PATH)  # as readiness counts it
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), journal=journal,
                             observers=observers)
        protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=False)
        await engine.bus.publish(Signal(symbol="BNBUSDT", direction=Direction.LONG, confidence=1.0, source="force",
                                        time_ms=T0))
        await publish_all(engine.bus, clock, exchange.drain())
        for price in path:
            clock.advance(1.0)
            sim.set_prices({"BNBUSDT": price})
            await publish_all(engine.bus, clock, exchange.drain())


def test_a_stop_jumped_through_in_one_step_is_a_breach_explained_by_the_gap(tmp_path: Path) -> None:
    """The tester's case: BNB from 658 to 640 in one step through a stop near 645. The breach stands (exit 5;
    readiness still refuses), and the audit now says the gap explains it, in the CLI, its JSON and readiness."""
    url = f"sqlite:///{tmp_path / 'gap.db'}"
    asyncio.run(long_then(url, ["657", "640"]))
    done = cli("audit", "--db", url, "--json")
    assert done.returncode == 5, done.stderr
    [row] = document(done)["positions"]
    assert (row["exit_reason"], row["breach"], row["gap_explained"]) == ("stop_loss", True, True)
    assert (row["price_after_trigger"], row["stop_trigger"]) == ("640", row["planned_stop"])
    assert D(row["exit_price"]) <= D(640) < D(row["planned_stop"])
    table = " ".join(cli("audit", "--db", url).stdout.split())
    assert "BREACH (gap)" in table and f"jumped through the stop {row['planned_stop']} to 640" in table
    reader = JournalReader(url)
    try:
        held = next(i for i in readiness_from_journal(reader, START)["items"] if i["name"] == "stops_held")
    finally:
        reader.close()
    assert held["passed"] is False  # CONTRACT 7.4: no breach at all
    assert (held["evidence"]["breaches_gap_explained"], held["evidence"]["breaches_unexplained"]) == (
        [row["trade_id"]], [])


def test_a_stop_crossed_step_by_step_fills_near_its_trigger_and_holds(tmp_path: Path) -> None:
    """The same stop met by a market that walks through it: it fills near its trigger, within the plan."""
    url = f"sqlite:///{tmp_path / 'walk.db'}"
    asyncio.run(long_then(url, ["650", "647", "646", "645.5", "645.2", "645", "644.8", "644.5"]))
    done = cli("audit", "--db", url, "--json")
    assert done.returncode == 0, done.stderr
    [row] = document(done)["positions"]
    assert (row["exit_reason"], row["breach"], row["gap_explained"]) == ("stop_loss", False, None)
    assert D(row["slippage_bps"]) < 10


def test_a_breach_without_a_witnessed_gap_is_not_explained(tmp_path: Path) -> None:
    """A journal without the witness (written before it, or the stop fired while the bot was away): as before."""
    url = exit_journal(tmp_path / "old.db", Exit(1, ExitReason.STOP_LOSS, "540", trigger="594"))
    [row] = document(cli("audit", "--db", url, "--json"))["positions"]
    assert (row["breach"], row["gap_explained"], row["price_after_trigger"]) == (True, False, None)


def test_the_cli_its_report_and_the_alert_say_the_audits_word_for_the_same_trade(tmp_path: Path) -> None:
    """`BREACH (gap)` was composed in four places (the CLI's table, the HTML report, the dashboard's script, the
    alert), free to drift apart; now trading/audit.py words it and each shows the row's `verdict` (the API sends
    it: the same document as `--json`; the dashboard's cell is checked in tests/e2e/test_dashboard.py)."""
    url = f"sqlite:///{tmp_path / 'gap.db'}"
    got: list[Message] = []
    alerts = Alerts(got.append, judge=audit_row, daily_loss_prefix=REASON_PREFIX, stop_witnessed=STOP_WITNESSED)
    asyncio.run(long_then(url, ["657", "640"], observers=(alerts.attach,)))
    report = tmp_path / "audit.html"
    [row] = document(cli("audit", "--db", url, "--json", "--report", str(report)))["positions"]
    assert row["verdict"] == VERDICT_GAP
    table = cli("audit", "--db", url).stdout.splitlines()
    [line] = [line for line in table if line.startswith("│") and row["trade_id"] in line]
    assert line.split("│")[-2].strip() == row["verdict"], line  # the table's last column: breach
    assert f"<td>{row['verdict']}</td>" in report.read_text()
    [alert] = [m for m in got if m.kind == "exit_breach"]
    assert alert.title.startswith(f"{row['verdict']} Exit BNBUSDT long") and f"{row['verdict']}: " in alert.body
