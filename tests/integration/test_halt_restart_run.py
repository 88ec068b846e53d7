"""The tester's report, as it happened: `run`, the kill switch over the API, `run` again on the same journal and
paper account: /health said ACTIVE and a forced entry was accepted, as if the restart were the manual reset.
Now the restart keeps the halt (and /health says why), `resume` ends it, and the next restart trades.

Real sessions (in-process simulator, SQLite journal, the API on 127.0.0.1, port 0), one after another.
test_halt_restart.py covers the daily loss limit and the replay's rules on the engine alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_supervised_session import new_session, running

from quantum_trader.core.supervisor import RestartPolicy
from quantum_trader.risk.rules import UNTIL_RESUMED


def test_run_kill_switch_restart_is_still_halted_then_resume_restart_is_active(tmp_path: Path) -> None:
    """The report: `run`, `kill-switch` over the API, `run` again on the same journal and paper account."""
    policy = RestartPolicy(base_delay_s=0.05, max_delay_s=0.05, max_restarts=5, window_s=60.0)
    extra = {"QT_PAPER_STATE": str(tmp_path / "paper"), "QT_SPEED": "1"}
    entry = {"symbol": "BTCUSDT", "side": "long"}

    async def first() -> None:
        async with running(new_session(tmp_path, policy, **extra)) as (client, url):
            assert (await client.post(url + "/api/v1/kill-switch")).json()["entries_halted"] is True

    async def second() -> None:
        async with running(new_session(tmp_path, policy, **extra)) as (client, url):
            health = (await client.get(url + "/health")).json()
            assert health["trading"] == "HALTED", health
            assert health["halt"] == {"reason": "manual kill switch", "until_ms": None}
            refused = await client.post(url + "/api/v1/force-entry", json=entry)
            assert refused.status_code == 409
            assert refused.json()["reason"] == f"trading halted: manual kill switch ({UNTIL_RESUMED})"
            assert (await client.post(url + "/api/v1/resume")).json() == {"trading": "ACTIVE"}

    async def third() -> None:
        async with running(new_session(tmp_path, policy, **extra)) as (client, url):
            health = (await client.get(url + "/health")).json()
            assert (health["trading"], health["halt"]) == ("ACTIVE", None)
            accepted = (await client.post(url + "/api/v1/force-entry", json=entry, timeout=30)).json()
            assert accepted["accepted"] is True, accepted

    for step in (first, second, third):
        asyncio.run(step())
