"""A trade that spans a restart keeps what it paid before it: its entry fee (and funding) are in its journaled fees.

The report: five trades opened in one session and closed in the next (SIGTERM or kill -9 between them) each
journaled only the exit fee; the journal's fills held entry + exit, and over the five trades the audit summed
+19.93 USDT while the wallet moved +10.67 (the four lost entry fees). The tracker re-created at the restart
started each trade from zero fees. Now it starts from the trade's journaled fills and funding.

Real sessions one after another (in-process simulator kept in a paper-state folder, SQLite journal, the API on
127.0.0.1, port 0); the kill -9 case kills a real `quantum-trader run` process. Every trade is closed by the kill
switch in the session after its entry. The checks: each trade's journaled fees equal the sum of its journaled
fills' fees, and the audit's realised P&L over all trades equals the wallet's change.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from test_paper_restart import protected_positions, saved_account, start_bot
from test_run_session import bot_env, journal_rows
from test_supervised_session import new_session, running, until

from quantum_trader.core.supervisor import RestartPolicy
from quantum_trader.exchange.ids import belongs_to
from quantum_trader.journal import JournalReader
from quantum_trader.readmodels.journal import audit_from_journal

POLICY = RestartPolicy(base_delay_s=0.05, max_delay_s=0.05, max_restarts=5, window_s=60.0)
START = Decimal(10000)  # the simulator's default balance


def extra(tmp_path: Path) -> dict[str, str]:
    return {"QT_PAPER_STATE": str(tmp_path / "paper"), "QT_SPEED": "1", "QT_SYMBOLS": "BTCUSDT,ETHUSDT"}


async def _entry(tmp_path: Path, symbol: str) -> None:
    """A session that opens a forced long and stops (SIGTERM's path) once its stop and take-profit rest."""
    async with running(new_session(tmp_path, POLICY, **extra(tmp_path))) as (client, url):
        answer = (await client.post(url + "/api/v1/force-entry", json={"symbol": symbol, "side": "long"},
                                    timeout=30)).json()
        assert answer["accepted"] is True, answer
        await until(lambda: _protected(client, url), timeout=30)


async def _protected(client: httpx.AsyncClient, url: str) -> bool:
    positions = (await client.get(url + "/api/v1/positions")).json()["positions"]
    return bool(positions) and all(p["stop_loss"] and p["take_profit"] for p in positions)


async def _kill_switch(tmp_path: Path) -> None:
    """The next session: the kill switch closes what the last one left open, the trade is journaled closed, and
    entries are resumed (a kill switch holds across restarts)."""
    async with running(new_session(tmp_path, POLICY, **extra(tmp_path))) as (client, url):
        assert (await client.post(url + "/api/v1/kill-switch", timeout=30)).status_code == 200
        await until(lambda: _all_closed(tmp_path), timeout=30)
        assert (await client.post(url + "/api/v1/resume")).json() == {"trading": "ACTIVE"}  # for the next entry


async def _all_closed(tmp_path: Path) -> bool:
    return journal_rows(tmp_path, "select count(*) from positions where exit_reason is null") == [(0,)]


def _fees_and_audit(tmp_path: Path) -> tuple[list[tuple[str, Decimal, Decimal]], Decimal]:
    """Each closed trade's journaled fees against the sum of its own fills' fees, and the audit's realised total."""
    reader = JournalReader(f"sqlite:///{tmp_path / 'journal.db'}")
    try:
        closed = reader.closed_positions()
        fills = reader.fills(limit=10_000)
        rows, _ = audit_from_journal(reader)
    finally:
        reader.close()
    paid = [(str(t["trade_id"]), Decimal(t["fees"]),
             sum((Decimal(f["fee"]) for f in fills if belongs_to(f["client_id"], t["trade_id"])), Decimal(0)))
            for t in closed]
    realised = sum((r.realised.usdt for r in rows if r.realised is not None), Decimal(0))
    return paid, realised


def _wallet(tmp_path: Path) -> Decimal:
    return Decimal(saved_account(tmp_path)["account"]["wallet_balance"])


def test_trades_closed_in_the_session_after_a_sigterm_keep_their_entry_fees(tmp_path: Path) -> None:
    for symbol in ("BTCUSDT", "ETHUSDT"):
        asyncio.run(_entry(tmp_path, symbol))
        asyncio.run(_kill_switch(tmp_path))
    paid, realised = _fees_and_audit(tmp_path)
    assert len(paid) == 2
    for trade_id, journaled, fills in paid:
        assert fills > 0 and journaled == fills, (trade_id, journaled, fills)  # was: the exit fee only
    assert realised == _wallet(tmp_path) - START  # was: above the wallet's change by the entry fees


def test_a_trade_closed_after_a_kill_9_keeps_its_entry_fee(tmp_path: Path) -> None:
    env: dict[str, Any] = bot_env(tmp_path, QT_PAPER_STATE=str(tmp_path / "paper"), QT_SPEED="1",
                                  QT_SYMBOLS="BTCUSDT,ETHUSDT")
    proc, url = start_bot(env, tmp_path / "bot.log")
    try:
        answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "long"}, timeout=30)
        assert answer.json()["accepted"] is True, answer.text
        protected_positions(url)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    asyncio.run(_kill_switch(tmp_path))
    [(trade_id, journaled, fills)], realised = _fees_and_audit(tmp_path)
    assert fills > 0 and journaled == fills, (trade_id, journaled, fills)
    assert realised == _wallet(tmp_path) - START
