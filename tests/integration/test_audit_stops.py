"""The stop audit of journaled stop fills, as `quantum-trader audit` reads them: what a slippage is measured
against, and which exits have one.

Each journal is written in-process through the real writer and bus (the intent through execution's
write-ahead call, as a session does), then read by the console script in another process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_audit_readiness_cli import cli, document

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import (
    Direction,
    ExitReason,
    OrderChanged,
    OrderIntentRecorded,
    TradeClosed,
    TradeOpened,
)
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, SnapshotStatus
from quantum_trader.journal import Journal

T0 = 1_800_000_000_000
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
