"""A mid-day upgrade counts a transfer once: the journal of an older version holds references moved without a date.

Reproduced with the code of 59f2cc6 (2026-12-05 03:20, the last before 09d9945) against `sim-server`: the old bot
saw a 1,000 USDT deposit on its user stream and moved the day's reference 10,000 -> 11,000, journaled with the
day's first point's time and no transfer row (what that version wrote). Restarted on a newer version the same
day, the bot read the income history after that time, found the deposit again and moved the reference to 12,000:
equity 11,000 "fell 8.33% from 12000", and the daily kill switch halted entries and would have flattened every
position, while the dashboard's "today" (measured from 11,000) said nothing was lost. Now such a move is told
apart (risk/daily_loss.py `undated_moves`) and the deposit counted once.

Here the old session's rows are journaled as that version journaled them, then the real bot (ccxt, the user-data
stream) restarts on the journal against the simulator server, whose income history lists the deposit.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from test_run_session import bot_env, journal_rows, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, running_server

from quantum_trader.core.bus import EventBus
from quantum_trader.domain import events as ev
from quantum_trader.journal import Journal, migrate
from quantum_trader.risk.daily_loss import DailyLossGuard
from quantum_trader.runtime.account_name import exchange_account_name

D = Decimal


def test_a_deposit_the_old_version_counted_is_not_counted_again_after_the_upgrade(tmp_path: Path) -> None:
    with running_server(follow_clock=True) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT", QT_SPEED="1", QT_DAILY_LOSS_LIMIT_PCT="5")
        _old_version_saw_a_deposit(env["QT_DB_URL"], server)
        with running_bot(env) as (_proc, url):  # the upgrade, the same UTC day
            upgraded = wait_for(lambda: _state(url))
        with running_bot(env) as (_proc, url):  # and the restart after it
            again = wait_for(lambda: _state(url))
    assert upgraded["daily_loss"]["day_start_equity"] == "11000", upgraded  # was 12000
    assert upgraded["daily_loss"]["floor"] == "10450" and upgraded["trading"] == "ACTIVE", upgraded  # was HALTED
    assert upgraded["today"]["since_equity"] == "11000" and D(upgraded["today"]["usdt"]) == 0, upgraded
    assert again["daily_loss"]["day_start_equity"] == "11000" and again["trading"] == "ACTIVE", again
    assert again["today"]["since_equity"] == "11000", again
    assert not journal_rows(tmp_path, "select reason from protection_actions where action = 'kill_switch'")
    assert journal_rows(tmp_path, "select price from protection_actions where action = 'transfer'") == [("1000",)]


def _old_version_saw_a_deposit(db_url: str, server: Any) -> None:
    """The day's first point (10,000), then a deposit of 1,000 that the old guard counted: a reference of 11,000
    stamped with the first point's time, and no transfer row."""
    migrate(db_url)
    first_ms = time.time_ns() // 1_000_000 - 2_000
    with Journal.open(db_url) as journal:
        journal.start_session("paper", "{}", "0.1.0 (59f2cc6)", started_ms=first_ms,
                              account=exchange_account_name(server.url, API_KEY))
        bus = _bus(journal)
        equity = D("10000")
        _publish(bus, ev.EquitySnapshot(wallet=equity, equity=equity, available=equity, open_positions=0,
                                        time_ms=first_ms), DailyLossGuard.reference_action(equity, first_ms))
        server.control("/sim/v1/transfer", {"amount": "1000"})  # in the income history, after the first point
        _publish(bus, DailyLossGuard.reference_action(D("11000"), first_ms))


def _bus(journal: Journal) -> EventBus:
    bus = EventBus()
    journal.attach(bus)
    return bus


def _publish(bus: EventBus, *events: object) -> None:
    async def run() -> None:
        for event in events:
            await bus.publish(event)
    asyncio.run(run())


def _state(url: str) -> dict[str, Any] | None:
    health = httpx.get(f"{url}/health").json()
    if health["daily_loss"]["day_start_equity"] is None:
        return None
    today = httpx.get(f"{url}/api/v1/live").json()["pnl_today"]
    return {"daily_loss": health["daily_loss"], "trading": health["trading"], "today": today}
