"""A paper session's clock at `--speed 1` is the wall clock: `quantum-trader run` as a real process.

The feed used to play each bar at its open and move the clock to the bar's close at once, so the session
ran up to a minute ahead of the wall, and every restart began a minute after the last bar played: a user's
25 quick restarts left the session 23 minutes ahead. Fills carried the bar's open, up to a bar before the
orders that made them. Now the clock starts at the wall's time and each bar plays when the clock reaches
its close; the simulator's time follows the clock at every order.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from test_run_session import bot_env, journal_rows, running_bot, wait_for


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def clock_against_wall(url: str) -> tuple[int, int, int]:
    """(wall before the request, the session's clock, wall after): the clock read between two wall readings."""
    before = wall_ms()
    clock = int(httpx.get(f"{url}/api/v1/live", timeout=10).json()["time_ms"])
    return before, clock, wall_ms()


def test_at_speed_1_the_clock_is_the_wall_through_quick_restarts(tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_PAPER_STATE=str(tmp_path / "paper"), QT_SPEED="1")
    readings: list[tuple[int, int, int]] = []
    for _ in range(3):  # a start and two quick restarts: each used to add a minute
        with running_bot(env) as (_proc, url):
            for _ in range(4):
                readings.append(clock_against_wall(url))
                time.sleep(0.3)
    for before, clock, after in readings:
        assert clock <= after, f"the clock is {clock - after} ms ahead of the wall"
        assert clock >= before - 1_500, f"the clock is {before - clock} ms behind the wall"  # ticks of 100 ms
    clocks = [clock for _, clock, _ in readings]
    assert clocks == sorted(clocks)  # and it never goes back across a restart


def test_a_fill_is_journaled_no_earlier_than_its_order(tmp_path: Path) -> None:
    with running_bot(bot_env(tmp_path, QT_SPEED="1")) as (_proc, url):
        answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "long"}).json()
        assert answer["accepted"] is True, answer
        wait_for(lambda: httpx.get(f"{url}/api/v1/positions").json()["positions"])
        time.sleep(0.5)  # the clock runs on: the close below is sent later than the entry
        assert httpx.post(f"{url}/api/v1/kill-switch").json()["closed_positions"] == 1
        wait_for(lambda: not httpx.get(f"{url}/api/v1/positions").json()["positions"])
        _, clock, after = clock_against_wall(url)
    rows: list[tuple[Any, ...]] = journal_rows(tmp_path, "select o.purpose, o.created_ms, f.time_ms from fills f "
                                                         "join orders o on o.client_id = f.client_id")
    assert "entry" in {row[0] for row in rows} and len({row[0] for row in rows}) >= 2, rows  # and the close
    for purpose, created_ms, filled_ms in rows:
        assert created_ms <= filled_ms <= clock, (purpose, created_ms, filled_ms, clock)
    assert clock <= after
