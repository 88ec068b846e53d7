"""A restart mid-day is no fresh day for the daily loss limit, and `paper-reset` is.

The report: the daily loss limit measured the day from the equity at the restart, so a crash loop (or a
restart on purpose) gave a losing day a fresh allowance each time. Now a restart takes the day's first
equity of the same account back from the journal (/health `daily_loss`), and a fresh paper account after
`paper-reset` starts a day of its own (it must not be flattened for the old account's loss). The dashboard's
"today" measures from the same day start (it used to count the old account's last equity after a reset).

Real sessions one after another (in-process simulator, SQLite journal, the API on 127.0.0.1, port 0); the
first pays a taker fee on a forced entry, so the equity at the restart is below the day's start. A run
that straddles 00:00 UTC between its sessions would start a new day by rights; it is seconds wide.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from test_supervised_session import new_session, running, until
from typer.testing import CliRunner

from quantum_trader.cli.main import app
from quantum_trader.core.supervisor import RestartPolicy
from quantum_trader.journal import JournalReader


def test_a_restart_keeps_the_days_start_and_a_paper_reset_starts_a_new_one(tmp_path: Path) -> None:
    policy = RestartPolicy(base_delay_s=0.05, max_delay_s=0.05, max_restarts=5, window_s=60.0)
    extra = {"QT_PAPER_STATE": str(tmp_path / "paper"), "QT_SPEED": "1", "QT_DAILY_LOSS_LIMIT_PCT": "5"}
    seen: list[dict[str, Any]] = []
    today: list[dict[str, Any]] = []  # the dashboard's "today": measured from the same day start
    curves: list[list[dict[str, Any]]] = []  # the dashboard's equity curve

    async def session(force_entry: bool, balance: str = "10000") -> None:
        async with running(new_session(tmp_path, policy, **extra, QT_SIM_BALANCE=balance)) as (client, url):
            if force_entry:
                entry = {"symbol": "BTCUSDT", "side": "long"}
                accepted = (await client.post(url + "/api/v1/force-entry", json=entry, timeout=30)).json()
                assert accepted["accepted"] is True, accepted
            seen.append((await client.get(url + "/health")).json()["daily_loss"])
            today.append((await client.get(url + "/api/v1/live")).json()["pnl_today"])
            curves.append((await client.get(url + "/api/v1/equity")).json()["equity"])

    asyncio.run(session(force_entry=True))
    asyncio.run(session(force_entry=False))
    reset = CliRunner().invoke(app, ["paper-reset", "--yes", "--paper-state", str(tmp_path / "paper")])
    assert reset.exit_code == 0, reset.output
    asyncio.run(session(force_entry=False, balance="20000"))  # a fresh account's balance: its day's start

    reader = JournalReader(f"sqlite:///{tmp_path / 'journal.db'}")
    try:
        first, restart, fresh = sorted(reader.sessions(), key=lambda row: int(row["id"]))
        heartbeats = {row["session_id"]: row for row in reversed(reader.equity(1000))}  # each session's first
    finally:
        reader.close()
    assert first["account"] == restart["account"] != fresh["account"]
    assert str(first["account"]).startswith("paper account ")
    day_start = heartbeats[first["id"]]
    assert seen[0]["day_start_ms"] == seen[1]["day_start_ms"] == day_start["time_ms"]
    assert seen[1]["day_start_equity"] == seen[0]["day_start_equity"] == "10000"
    assert heartbeats[restart["id"]]["equity"] != "10000"  # the restart's own equity: the fee is paid
    assert seen[1]["floor"] == "9500"
    assert seen[2]["day_start_equity"] == "20000" and seen[2]["floor"] == "19000"
    assert seen[2]["day_start_ms"] == heartbeats[fresh["id"]]["time_ms"]
    assert [t["since_equity"] for t in today] == ["10000", "10000", "20000"]
    assert {p["session_id"] for p in curves[1]} == {first["id"], restart["id"]}  # one account's curve
    assert {p["session_id"] for p in curves[2]} == {fresh["id"]}  # was: the old account's points too


def test_a_resume_after_the_daily_limit_survives_a_restart_and_a_reset_account_is_not_halted(tmp_path: Path) -> None:
    """A tester's report: after the daily limit tripped and a manual resume, a restart re-armed the old floor and
    flattened at once what was opened since the resume; and a fresh account after `paper-reset` started HALTED
    by the old account's daily kill switch. A 0.01 % limit trips at the entry's taker fee."""
    policy = RestartPolicy(base_delay_s=0.05, max_delay_s=0.05, max_restarts=5, window_s=60.0)
    extra = {"QT_PAPER_STATE": str(tmp_path / "paper"), "QT_SPEED": "1", "QT_DAILY_LOSS_LIMIT_PCT": "0.01"}
    entry = {"symbol": "BTCUSDT", "side": "long"}
    seen: list[dict[str, Any]] = []

    async def trips(client: httpx.AsyncClient, url: str) -> None:
        accepted = (await client.post(url + "/api/v1/force-entry", json=entry, timeout=30)).json()
        assert accepted["accepted"] is True, accepted
        await until(lambda: _halted(client, url), timeout=30)

    async def first() -> None:
        async with running(new_session(tmp_path, policy, **extra)) as (client, url):
            await trips(client, url)
            assert (await client.post(url + "/api/v1/resume")).json() == {"trading": "ACTIVE"}

    async def second() -> None:
        async with running(new_session(tmp_path, policy, **extra)) as (client, url):
            seen.append((await client.get(url + "/health")).json())
            await trips(client, url)  # the rest of the day's allowance is measured, and trips, as before

    async def third() -> None:
        async with running(new_session(tmp_path, policy, **extra, QT_SIM_BALANCE="20000")) as (client, url):
            seen.append((await client.get(url + "/health")).json())

    asyncio.run(first())
    asyncio.run(second())
    reset = CliRunner().invoke(app, ["paper-reset", "--yes", "--paper-state", str(tmp_path / "paper")])
    assert reset.exit_code == 0, reset.output
    asyncio.run(third())

    reader = JournalReader(f"sqlite:///{tmp_path / 'journal.db'}")
    try:
        sessions = sorted(int(row["id"]) for row in reader.sessions())
        references = [a for a in reversed(reader.protection_actions(100)) if a["action"] == "daily_reference"]
    finally:
        reader.close()
    # session 1: the day's reference, then the resume's new allowance, measured from the next point, which came
    # only after the restart (session 2's first)
    first, second = ([a["price"] for a in references if a["session_id"] == n] for n in sessions[:2])
    assert first == ["10000", None] and second[0] not in (None, "10000"), (first, second)
    restarted, fresh = seen
    assert restarted["trading"] == "ACTIVE" and restarted["halt"] is None  # was: HALTED at its first point
    assert restarted["daily_loss"]["day_start_equity"] == f"{Decimal(second[0]):.2f}"  # the resume's allowance
    assert fresh["trading"] == "ACTIVE", fresh["halt"]  # was: halted by the old account's daily kill switch
    assert fresh["daily_loss"]["day_start_equity"] == "20000"


async def _halted(client: httpx.AsyncClient, url: str) -> bool:
    return bool((await client.get(url + "/health")).json()["trading"] == "HALTED")
