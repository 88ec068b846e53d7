"""The clock control routes never leave `/fapi/v1/time` and the simulator's time apart.

Measured before, on `quantum-trader sim-server` as a user runs it, with a client that signs with
`/fapi/v1/time` (as ccxt's adjustForTimeDifference and the bot's clock sync do):
- `POST /sim/v1/clock {"offset_ms": -30000}` put `/fapi/v1/time` 30 s back at once while the simulator's time,
  which never goes back, stayed: an order sent right after was stamped (`updateTime`) 29.8 s after the server
  time read after it, on `--feed manual` and on `--feed synthetic` alike. A shift back now holds the server's
  time where it stood (`hold_ms`) until the shifted clock passes it, then runs at the new offset.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from test_simserver_support import API_KEY, running_server

BIN = Path(sys.executable).parent / "quantum-trader"
KEY = {"X-MBX-APIKEY": "k"}


@contextmanager
def cli_server(*options: str) -> Iterator[str]:
    """`quantum-trader sim-server` with `options` on a port it picks (loopback); yields its base URL."""
    proc = subprocess.Popen([str(BIN), "sim-server", "--port", "0", "--symbols", "BNBUSDT,ETHUSDT", "--api-key", "k",
                             "--api-secret", "s", *options], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/fapi$", banner.strip())
        assert found, banner
        httpx.get(f"{found.group(1)}/fapi/v1/ping", timeout=10).raise_for_status()
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def server_time(url: str) -> int:
    return int(httpx.get(f"{url}/fapi/v1/time").json()["serverTime"])


def synced(url: str, method: str, path: str, params: dict[str, Any]) -> Any:
    """A signed request stamped with the server's time, as a client that syncs its clock sends it."""
    query = urlencode({**params, "timestamp": server_time(url)})
    query += "&signature=" + hmac.new(b"s", query.encode(), hashlib.sha256).hexdigest()
    response = httpx.request(method, f"{url}{path}?{query}", headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


def sim_info(url: str) -> dict[str, Any]:
    info: dict[str, Any] = httpx.get(f"{url}/sim/v1/info", headers=KEY).json()
    return info


@pytest.mark.parametrize("feed", ["manual", "synthetic"])
def test_a_shift_back_holds_server_time_so_nothing_is_stamped_after_it(feed: str) -> None:
    with cli_server("--feed", feed) as url:
        if feed == "manual":
            httpx.post(f"{url}/sim/v1/prices", json={"BNBUSDT": "600"}, headers=KEY).raise_for_status()
        buy = {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}
        synced(url, "POST", "/fapi/v1/order", buy)
        before = server_time(url)
        shift = httpx.post(f"{url}/sim/v1/clock", json={"offset_ms": -30_000}, headers=KEY).json()
        after = server_time(url)
        order = synced(url, "POST", "/fapi/v1/order", buy)
        trades = synced(url, "GET", "/fapi/v1/userTrades", {"symbol": "BNBUSDT"})
        read_after = server_time(url)
        info = sim_info(url)
        clock = httpx.get(f"{url}/sim/v1/clock", headers=KEY).json()
    stamps = [int(order["updateTime"]), *(int(t["time"]) for t in trades)]
    assert max(stamps) <= read_after, (stamps, read_after)  # was 29.8 s after it
    assert info["simTime"] <= info["serverTime"], info
    assert before <= shift["serverTime"] <= after <= read_after  # server time never went back
    assert shift["offset_ms"] == -30_000 and 29_000 <= shift["hold_ms"] <= 30_000, shift
    assert shift["effective_offset_ms"] == shift["offset_ms"] + shift["hold_ms"], shift
    assert clock["hold_ms"] > 0 and clock["serverTime"] >= read_after, clock


def test_after_its_hold_a_shift_back_runs_at_its_offset() -> None:
    """Once passed, the shifted clock is the server's: 1.5 s behind the machine, whose clients meet -1021."""
    with running_server(follow_clock=True) as server:
        shift = server.control("/sim/v1/clock", {"offset_ms": -1_500})
        deadline = time.monotonic() + 5
        while (clock := httpx.get(f"{server.url}/sim/v1/clock", headers={"X-MBX-APIKEY": API_KEY}).json())[
                "hold_ms"] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        wall = time.time_ns() // 1_000_000
        refused = httpx.get(f"{server.url}/fapi/v2/account?" + server.signed({"timestamp": wall}),
                            headers={"X-MBX-APIKEY": API_KEY}).json()
        sim_time = server.sim.now_ms
    assert wall - 1_600 <= clock["serverTime"] <= wall - 1_400, (wall, clock)
    assert refused["code"] == -1021, refused
    assert sim_time <= clock["serverTime"] + 100
    assert 0 < shift["hold_ms"] <= 1_500
    assert clock["hold_ms"] == 0 and clock["effective_offset_ms"] == -1_500, clock
