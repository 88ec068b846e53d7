"""A real session (in-process simulator, SQLite journal, uvicorn on 127.0.0.1, port 0) whose background
tasks die: `/health` turns 503 at once, the death is journaled with its traceback and counted in
`/metrics`, the task is restarted and health comes back; a monitor that cannot be restarted halts new
entries and leaves the open position and its stop-loss and take-profit exactly where they were.

The faults are injected into one component of the running session (the callback the feed calls with each bar,
the monitor's sweep), which is the only thing these tests replace.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from quantum_trader.api.app import create_app
from quantum_trader.core.supervisor import RestartPolicy
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.runtime import session as session_module
from quantum_trader.runtime.session import Session
from quantum_trader.settings.model import load_settings


def settings_for(tmp_path: Path, **extra: str) -> Any:
    env = {"QT_DB_URL": f"sqlite:///{tmp_path / 'journal.db'}", "QT_API_PORT": "0", "QT_API_HOST": "127.0.0.1",
           "QT_SYMBOLS": "BTCUSDT,ETHUSDT", "QT_STRATEGY": "manual", "QT_SPEED": "600", "QT_MONITOR_INTERVAL": "0.5",
           **extra}
    return load_settings(env=env)


class BreaksWhenArmed:
    """The session's real per-bar callback (what the feed task calls with each bar), raising once on the first
    bar after `armed` is set. The strategy itself is not the place: its errors are caught per bar and become
    "no signal" events (runtime/silence.py); a bug in the feed's own path is what kills the task."""

    def __init__(self, inner: Callable[[BarChunk], Awaitable[None]]) -> None:
        self.inner = inner
        self.armed, self.broke = asyncio.Event(), asyncio.Event()
        self.bad_bar_ms: int | None = None
        self.bars_after: list[int] = []  # open times of the bars seen after the bad one

    async def __call__(self, chunk: BarChunk) -> None:
        if self.broke.is_set():
            self.bars_after.append(int(chunk.open_time[0]))
        elif self.armed.is_set():
            self.bad_bar_ms = int(chunk.open_time[0])
            self.broke.set()
            raise RuntimeError("feed blew up on this bar")
        await self.inner(chunk)


@asynccontextmanager
async def running(session: Session) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """Start the session, wait until its monitor swept, yield a client and the base URL; stop with exit 0."""
    runner = asyncio.create_task(session.run())
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await until(lambda: _started(runner, session), timeout=60)
            url = f"http://127.0.0.1:{session.port}"
            await until(lambda: _swept(client, url), timeout=60)
            yield client, url
    finally:
        session.stop.set()
        assert await asyncio.wait_for(runner, 60) == 0


async def _started(runner: asyncio.Task[int], session: Session) -> bool:
    if runner.done():
        raise AssertionError(f"the session ended early: {runner.result()}")
    return session.port is not None and session.service is not None and session.service.supervisor is not None


async def _swept(client: httpx.AsyncClient, url: str) -> bool:
    return bool((await client.get(url + "/health")).json()["monitor"]["sweeps"] > 0)


async def until(predicate: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def new_session(tmp_path: Path, policy: RestartPolicy, **extra: str) -> Session:
    session = Session(settings_for(tmp_path, **extra),
                      lambda service, metrics, token: create_app(service, metrics, api_token=token))
    session.restart_policy = policy
    return session


def test_a_feed_that_raises_turns_health_503_at_once_is_journaled_and_restarted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    strategies: list[BreaksWhenArmed] = []
    real_publisher = session_module.signal_publisher

    def publisher(*args: Any, **kwargs: Any) -> BreaksWhenArmed:
        strategies.append(BreaksWhenArmed(real_publisher(*args, **kwargs)))
        return strategies[-1]

    monkeypatch.setattr(session_module, "signal_publisher", publisher)

    async def main() -> None:
        session = new_session(tmp_path, RestartPolicy(base_delay_s=1.0, max_delay_s=5.0))
        async with running(session) as (client, url):
            [strategy] = strategies
            before = (await client.get(url + "/health")).json()
            assert before["status"] != "unhealthy" and before["tasks"]["feed"]["alive"] is True
            assert set(before["tasks"]) == {"exchange-events", "feed", "monitor"}
            strategy.armed.set()
            await asyncio.wait_for(strategy.broke.wait(), 30)
            dead = await client.get(url + "/health")  # well inside one monitor interval of the death
            assert dead.status_code == 503 and dead.json()["status"] == "unhealthy"
            feed = dead.json()["tasks"]["feed"]
            assert (feed["state"], feed["alive"], feed["restarts"]) == ("restarting", False, 0)
            assert feed["last_error"] == "RuntimeError: feed blew up on this bar"
            metrics = (await client.get(url + "/metrics")).text
            assert 'qt_task_up{task="feed"} 0.0' in metrics
            assert 'qt_errors_total{component="task:feed"} 1.0' in metrics

            async def restarted() -> Any:
                answer = await client.get(url + "/health")
                return answer.status_code == 200 and answer.json()["tasks"]["feed"]["alive"] and answer.json()

            back = await until(restarted)
            assert back["status"] in ("healthy", "degraded") and back["tasks"]["feed"]["restarts"] == 1
            await until(lambda: _true(len(strategy.bars_after) >= 3))  # the feed plays bars again
            # ... from the bar after the bad one: the restarted feed neither replays nor skips a bar
            assert strategy.bad_bar_ms is not None
            assert strategy.bars_after[:3] == [strategy.bad_bar_ms + n * 60_000 for n in (1, 2, 3)]
            assert 'qt_task_restarts{task="feed"} 1.0' in (await client.get(url + "/metrics")).text
    asyncio.run(main())
    with sqlite3.connect(tmp_path / "journal.db") as conn:
        rows = conn.execute("select component, message, fatal, details from errors").fetchall()
    [(_, message, fatal, details)] = [r for r in rows if r[0] == "task:feed"]
    assert message == "RuntimeError: feed blew up on this bar" and not fatal
    assert "Traceback" in json.loads(details)["traceback"] and "__call__" in json.loads(details)["traceback"]


async def _true(value: bool) -> bool:
    return value


def test_a_monitor_that_cannot_be_restarted_halts_entries_and_leaves_positions_and_stops(tmp_path: Path) -> None:
    async def main() -> None:
        session = new_session(tmp_path, RestartPolicy(base_delay_s=0.05, max_delay_s=0.2, max_restarts=2),
                              QT_SPEED="60")
        async with running(session) as (client, url):
            entry = await client.post(url + "/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "long"})
            assert entry.json()["accepted"] is True, entry.text

            async def protected() -> Any:
                [position] = (await client.get(url + "/api/v1/positions")).json()["positions"] or [None]
                return position if position and position["stop_loss"] and position["take_profit"] else None

            before = await until(protected)
            assert session.service is not None
            monitor = session.service.monitor

            async def broken_sweep() -> None:
                raise RuntimeError("monitor bug")

            monitor.sweep = broken_sweep  # type: ignore[method-assign]

            async def given_up() -> Any:
                answer = await client.get(url + "/health")
                return answer.json()["tasks"]["monitor"]["state"] == "failed" and answer

            health = await until(given_up)
            assert health.status_code == 503 and health.json()["trading"] == "HALTED"
            assert health.json()["tasks"]["monitor"]["restarts"] == 2
            refused = await client.post(url + "/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"})
            assert refused.status_code == 409 and "monitor could not be restarted" in refused.json()["reason"]
            [after] = (await client.get(url + "/api/v1/positions")).json()["positions"]
            for key in ("symbol", "side", "size", "entry", "stop_loss", "take_profit"):
                assert after[key] == before[key], key
    asyncio.run(main())
    with sqlite3.connect(tmp_path / "journal.db") as conn:
        errors = conn.execute("select fatal from errors where component = 'task:monitor'").fetchall()
        kills = conn.execute("select count(*) from protection_actions where action = 'kill_switch'").fetchone()
    assert [bool(f) for (f,) in errors] == [False, False, True]
    assert kills == (0,)  # a halt, not a kill switch: nothing was cancelled or flattened
