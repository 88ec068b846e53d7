"""The clock control routes never leave `/fapi/v1/time` and the simulator's time apart.

Measured before, on `quantum-trader sim-server` as a user runs it, with a client that signs with
`/fapi/v1/time` (as ccxt's adjustForTimeDifference and the bot's clock sync do):
- `POST /sim/v1/clock {"offset_ms": -30000}` put `/fapi/v1/time` 30 s back at once while the simulator's time,
  which never goes back, stayed: an order sent right after was stamped (`updateTime`) 29.8 s after the server
  time read after it, on `--feed manual` and on `--feed synthetic` alike. A shift back now holds the server's
  time where it stood (`hold_ms`) until the shifted clock passes it, then runs at the new offset.
- `POST /sim/v1/advance {"seconds": 180}` during `--feed synthetic --speed 10` answered 200 and closed the bar in
  progress and the next two flat at the previous close (2573.17, volume 0), on the kline stream (`"x": true`)
  and in REST klines; the feed then played those three bars with their own prices (2573.17 / 2573.83 / 2572.36
  / 2573.58, volume 871.481 for the first), so REST changed under the closed bars the stream had sent, and the
  simulator stood three minutes ahead of its market until the feed caught up. Now refused (409) while a feed
  has bars to play.
- the live chaos campaign's market moved the simulator to the wall while its clock fault had stepped the
  server 7 s ahead: fills were stamped 7.0 s before `serverTime`. It now moves it to the server's clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
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
from test_simserver_feed import DROP_BARS, T0, _sim_at, _write_klines
from test_simserver_support import API_KEY, SYMBOLS, make_sim, running_server
from websockets.sync.client import connect

from quantum_trader.chaos.live.market import Market
from quantum_trader.chaos.live.server import build_sim
from quantum_trader.chaos.live.server import running_server as chaos_server
from quantum_trader.simserver.feed import replay_feed, synthetic_feed

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


def test_a_live_feed_started_while_server_time_holds_starts_at_the_shifted_clock_not_ahead_of_it() -> None:
    """Its market clock began at `serverTime`, which a shift back holds, and ran on from there at the wall's pace:
    the simulator then stood ahead of `/fapi/v1/time` during the hold, and 30 s ahead of it for good after."""
    sim = make_sim()
    feed = synthetic_feed({s: sim.last_price(s) for s in SYMBOLS}, start_ms=sim.now_ms, speed=1.0, live=True)
    with running_server(sim, feed=feed) as server:
        server.control("/sim/v1/clock", {"offset_ms": -30_000})
        feed.start()
        try:
            deadline = time.monotonic() + 10
            while (feed._pace is None or feed._pace._anchor is None) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            order = server.call("POST", "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET",
                                                           "quantity": "1", "timestamp": server_time(server.url)})
            read_after = server_time(server.url)
        finally:
            feed.stop()
    assert int(order["updateTime"]) <= read_after, (order["updateTime"], read_after)


def _closed_klines(ws_url: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
    closed: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    with connect(ws_url) as ws:
        while len(closed) < count and time.monotonic() < deadline:
            k = json.loads(ws.recv(timeout=timeout_s))["k"]
            if k["x"]:
                closed.append(k)
    return closed


def test_advance_is_refused_while_the_feed_plays_and_closed_bars_stay_as_rest_has_them() -> None:
    with cli_server("--feed", "synthetic", "--speed", "60") as url:  # a bar a second
        info = sim_info(url)
        advance = httpx.post(f"{url}/sim/v1/advance", json={"seconds": 180}, headers=KEY)
        moved = sim_info(url)["simTime"] - info["simTime"]
        closed = _closed_klines(url.replace("http", "ws") + "/market/ws/ethusdt@kline_1m", 4, 20)
        rest = httpx.get(f"{url}/fapi/v1/klines", params={"symbol": "ETHUSDT", "interval": "1m",
                                                          "startTime": closed[0]["t"], "limit": 4}).json()
    assert advance.status_code == 409, advance.text
    body = advance.json()
    assert body["code"] == -1130 and "'seconds'" in body["msg"] and "synthetic feed has bars to play" in body["msg"]
    assert moved < 120_000, moved  # the feed's own pace, a bar a second: not the advance's 180 s
    assert [k["t"] for k in closed] == [closed[0]["t"] + i * 60_000 for i in range(4)]
    assert [(k["t"], k["o"], k["h"], k["l"], k["c"], k["v"]) for k in closed] == [tuple(r[:6]) for r in rest]
    assert all(k["v"] != "0" and k["h"] != k["l"] for k in closed), closed  # played bars, none closed flat


def test_advance_moves_the_clock_before_a_feed_starts_and_once_it_is_done_but_not_part_way(tmp_path: Path) -> None:
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS)
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=60.0)  # a bar a second
    with running_server(_sim_at(T0 - 120_000), feed=feed) as server:
        before_start = server.control("/sim/v1/advance", {"seconds": 60})  # a past before the replay's first bar
        feed.start()
        deadline = time.monotonic() + 10
        while feed.bars_played < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the second bar taken, waiting for its close
        feed.stop(timeout=5)
        part_way = httpx.post(f"{server.url}/sim/v1/advance", json={"seconds": 60}, headers={"X-MBX-APIKEY": API_KEY})
        feed.start()
        assert feed.wait_done(15)
        feed.stop()
        done = server.control("/sim/v1/advance", {"seconds": 60})
    assert before_start["simTime"] == T0 - 60_000
    assert part_way.status_code == 409 and f"the next closes at {T0 + 119_999}" in part_way.json()["msg"], part_way.text
    assert done["simTime"] == T0 + (len(DROP_BARS) + 1) * 60_000


def test_the_chaos_campaigns_market_moves_the_simulator_to_the_servers_clock_not_the_wall() -> None:
    """Its clock fault steps the server 7 s ahead of the wall: the market's steps moved the simulator to the wall
    all the same, so every fill was stamped 7 s before the `serverTime` of its moment (3 s after it, at -3 s)."""
    async def main() -> tuple[int, int]:
        async with httpx.AsyncClient() as client:
            with chaos_server(build_sim(2), client) as server:
                await server.control("/sim/v1/clock", {"offset_ms": 7_000})
                await Market(server, random.Random(1)).step()
                answer = await client.get(f"{server.url}/fapi/v1/time")
                return server.sim.now_ms, int(answer.json()["serverTime"])

    sim_ms, server_ms = asyncio.run(main())
    assert server_ms - 1_000 <= sim_ms <= server_ms, (sim_ms, server_ms)
