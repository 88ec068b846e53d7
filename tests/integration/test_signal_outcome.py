"""/api/v1/signals says what became of each signal (`outcome`), not only what risk answered.

The report: the dashboard's Signals panel said "traded" for every entry risk approved, so a bot killed 0.05 s
after an approved force-entry (its signal and risk decision journaled, no order intent, no position) showed a
trade, and so did every dry-run entry of a staging session. Real sessions (in-process simulator, SQLite journal,
the API on 127.0.0.1, port 0): the killed bot's journal rows are what a session journals up to risk's answer,
written by the journal itself; the paper session then forces an entry that fills, and a staging session forces
one it only journals.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_supervised_session import new_session, running

from quantum_trader.core.supervisor import RestartPolicy
from quantum_trader.domain.events import FORCED, Direction, RiskDecision, Signal
from quantum_trader.journal import Journal

POLICY = RestartPolicy(base_delay_s=0.05, max_delay_s=0.05, max_restarts=5, window_s=60.0)
KILLED_TRADE = "ETHUSDT_1_1"


def approved_then_killed(db_url: str, symbol: str = "ETHUSDT", trade_id: str = KILLED_TRADE) -> None:
    """What a bot killed right after risk approved a forced entry leaves in the journal: its session, the signal
    and the approving decision, and nothing of an order."""
    with Journal.open(db_url) as journal:
        journal.start_session("paper", "{}", "test")
        signal = Signal(symbol=symbol, direction=Direction.LONG, confidence=1.0, source=FORCED,
                        time_ms=1_796_000_000_000, reason="force-entry")
        journal.on_signal(signal)
        journal.on_risk_decision(RiskDecision(
            signal=signal, approved=True, reason="approved", time_ms=signal.time_ms, trade_id=trade_id,
            quantity=Decimal("0.5"), planned_stop=Decimal("3000"), planned_take_profit=Decimal("3300"),
            planned_loss=Decimal("50"), leverage=5, equity=Decimal("10000")))


async def _forced_then_signals(tmp_path: Path, **extra: str) -> list[dict[str, Any]]:
    async with running(new_session(tmp_path, POLICY, QT_PAPER_STATE=str(tmp_path / "paper"), **extra)) as (
            client, url):
        answer = (await client.post(url + "/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "long"},
                                    timeout=30)).json()
        assert answer["accepted"] is True, answer
        signals: list[dict[str, Any]] = (await client.get(url + "/api/v1/signals")).json()["signals"]
        return signals


def _outcomes(signals: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {s["symbol"]: (s["decision"]["approved"], s["outcome"]) for s in signals}


def test_an_approved_entry_killed_before_its_order_is_not_traded_and_a_filled_one_is(tmp_path: Path) -> None:
    approved_then_killed(f"sqlite:///{tmp_path / 'journal.db'}")
    signals = asyncio.run(_forced_then_signals(tmp_path))
    assert _outcomes(signals) == {"BTCUSDT": (True, "traded"), "ETHUSDT": (True, "not_sent")}  # was: no outcome
    killed = next(s for s in signals if s["symbol"] == "ETHUSDT")
    assert "no entry order was journaled" in killed["outcome_detail"]
    assert killed["decision"]["trade_id"] == KILLED_TRADE  # the fields the API had stay as they were


def test_a_staging_entry_is_a_dry_run_not_a_trade(tmp_path: Path) -> None:
    signals = asyncio.run(_forced_then_signals(tmp_path, STAGING_MODE="true"))
    assert _outcomes(signals) == {"BTCUSDT": (True, "dry_run")}
    assert signals[0]["outcome_detail"]
