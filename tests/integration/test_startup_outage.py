"""A starting bot against an exchange that is down, refuses its key, or is not there (task K, issue 10).

The real console script against the simulator server over loopback (the live path: ccxt adapter,
user-data stream, websocket klines). A short outage is outlasted (tests/integration/test_chaos_live.py:
five 503s on the first position reading); here the other side of the contract: an outage longer than
QT_STARTUP_PATIENCE_S ends the process with one line naming that setting, after waiting and logging
each wait; a refused key and a URL nobody answers end it at once (exit 2) naming the setting to fix.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
from test_run_session import BIN, bot_env, free_port

from quantum_trader.chaos.live.server import API_KEY, API_SECRET, build_sim, running_server

POSITION_PATHS = ["/fapi/v2/positionRisk", "/fapi/v3/positionRisk"]


def start_bot(tmp_path: Path, url: str, **extra: str) -> tuple[int, str, float]:
    """Run the bot until it exits by itself (60 s at most): exit code, its output, seconds it ran."""
    env = bot_env(tmp_path, QT_EXCHANGE=url, QT_FEED="exchange", QT_SPEED="1", QT_SYMBOLS="BTCUSDT,ETHUSDT",
                  **{"QT_API_KEY": API_KEY, "QT_API_SECRET": API_SECRET, **extra})
    started = time.monotonic()
    done = subprocess.run([str(BIN), "run"], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def against_server(tmp_path: Path, fault: dict[str, object] | None, **extra: str) -> tuple[int, str, float]:
    async def main() -> tuple[int, str, float]:
        async with httpx.AsyncClient() as client:
            with running_server(build_sim(3), client) as server:
                if fault is not None:
                    await server.control("/sim/v1/faults", fault)
                return await asyncio.to_thread(start_bot, tmp_path, server.url, **extra)

    return asyncio.run(main())


def test_an_outage_longer_than_the_patience_ends_start_up_naming_the_setting(tmp_path: Path) -> None:
    fault = {"kind": "server_error", "count": 1000, "status": 503, "paths": POSITION_PATHS}
    # 6 s: backoff waits of 0.25, 0.5, 1 and 2 s fit with room for slow attempts (4 s saw only 2 waits under load).
    code, output, seconds = against_server(tmp_path, fault, QT_STARTUP_PATIENCE_S="6")
    assert code == 1, output
    assert output.count("start-up waiting on the exchange") >= 3, output
    assert "positions: HTTP 503" in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: the exchange at QT_EXCHANGE="), output
    assert "QT_STARTUP_PATIENCE_S=6 s" in last and "HTTP 503" in last
    assert "Unclosed client session" not in output  # start-up closed the adapter it had opened
    assert seconds < 30


def test_a_refused_key_fails_at_once_naming_the_key_settings(tmp_path: Path) -> None:
    code, output, seconds = against_server(tmp_path, None, QT_API_KEY="not-the-key")
    assert code == 2, output
    assert "QT_API_KEY / QT_API_SECRET" in output and "-2015" in output
    assert "waiting on the exchange" not in output
    assert seconds < 20


def test_a_url_nobody_answers_fails_at_once_naming_qt_exchange(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, output, seconds = start_bot(tmp_path, url)
    assert code == 2, output
    assert f"QT_EXCHANGE={url}: nothing answers there" in output
    assert seconds < 20
