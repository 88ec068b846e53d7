"""The simulator's clock on a server without a feed (`--feed manual`) follows the server's clock.

Nothing else moved it: a user trial traded for minutes against `sim-server --feed manual` and every fill,
ORDER_TRADE_UPDATE `E`/`T` and `userTrades` `time` carried the server's start while `/fapi/v1/time` went on,
so the bot's reconciliation (fills from `opened_ms - 60 s`, trading/away_exits.py) found none and recorded
exits without fees. On Binance event and trade times are server time. The CLI is checked as the user ran it;
the in-process server on a hand-driven clock pins down the rest deterministically: `/sim/v1/advance` still
moves the clock ahead (it never goes back), funding due on the way is paid at its time, and a kline stream
closes its bar when the clock leaves it, with no request needed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
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
from test_simserver_support import API_KEY, START_PRICES, SYMBOLS, ManualClock, RunningServer, running_server
from websockets.sync.client import ClientConnection, connect

from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.bar_source import bar_open

BIN = Path(sys.executable).parent / "quantum-trader"
EIGHT_HOURS_MS = 8 * 3600 * 1000
#: A funding time (a multiple of 8 h since the epoch); the tests start a minute and a half before it.
FUNDING_MS = 1_800_000_000_000
KEY = {"X-MBX-APIKEY": API_KEY}


# --- the CLI, as the user ran it -------------------------------------------------------------------------
@contextmanager
def manual_sim_server() -> Iterator[str]:
    """`quantum-trader sim-server --feed manual` on a port it picks; yields its base URL."""
    proc = subprocess.Popen([str(BIN), "sim-server", "--port", "0", "--feed", "manual", "--symbols", "BNBUSDT,ETHUSDT",
                             "--api-key", "k", "--api-secret", "s"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/fapi$", banner.strip())
        assert found, banner
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _signed(url: str, method: str, path: str, params: dict[str, Any]) -> Any:
    query = urlencode({**params, "timestamp": time.time_ns() // 1_000_000})
    query += "&signature=" + hmac.new(b"s", query.encode(), hashlib.sha256).hexdigest()
    response = httpx.request(method, f"{url}{path}?{query}", headers={"X-MBX-APIKEY": "k"})
    assert response.status_code == 200, response.text
    return response.json()


def _user_events(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        try:
            event = json.loads(ws.recv(timeout=1.0))
        except TimeoutError:
            return events
        if event.get("e") == kind:
            events.append(event)


def test_the_manual_feed_stamps_fills_trades_and_order_events_with_the_servers_time() -> None:
    launched_ms = time.time_ns() // 1_000_000
    with manual_sim_server() as url:
        httpx.get(f"{url}/fapi/v1/ping", timeout=10).raise_for_status()
        listen_key = httpx.post(f"{url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": "k"}).json()["listenKey"]
        with connect(f"{url.replace('http', 'ws')}/ws/{listen_key}") as ws:
            time.sleep(1.5)  # wall time passes with nothing traded, as between a user's orders
            httpx.post(f"{url}/sim/v1/prices", json={"BNBUSDT": "600"}, headers={"X-MBX-APIKEY": "k"}
                       ).raise_for_status()
            order = _signed(url, "POST", "/fapi/v1/order",
                            {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
            server_ms = httpx.get(f"{url}/fapi/v1/time").json()["serverTime"]
            trades = _signed(url, "GET", "/fapi/v1/userTrades", {"symbol": "BNBUSDT"})
            updates = _user_events(ws, "ORDER_TRADE_UPDATE")
    stamps = [int(order["updateTime"]), *(int(t["time"]) for t in trades),
              *(int(e[k]) for e in updates for k in ("E", "T"))]
    assert len(trades) == 1 and updates, (order, trades, updates)
    # all of them the moment of the order (before, every one was the server's start, minutes behind)
    assert all(server_ms - 1_000 <= t <= server_ms for t in stamps), (server_ms, stamps)
    assert min(stamps) >= launched_ms + 1_500, (launched_ms, stamps)


# --- in process, on a clock the test drives ----------------------------------------------------------------
@contextmanager
def following_server(start_ms: int) -> Iterator[tuple[RunningServer, ManualClock]]:
    clock = ManualClock(start_ms)
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig(start_time_ms=start_ms))
    sim.set_prices(START_PRICES)
    with running_server(sim, clock=clock, follow_clock=True) as server:
        yield server, clock


def _call(server: RunningServer, clock: ManualClock, method: str, path: str, params: dict[str, Any]) -> Any:
    """A signed request stamped with the test's clock (the server's), not the wall clock."""
    query = server.signed({**params, "timestamp": clock.now_ms})
    response = httpx.request(method, f"{server.url}{path}?{query}", headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


def _buy(server: RunningServer, clock: ManualClock) -> dict[str, Any]:
    order: dict[str, Any] = _call(server, clock, "POST", "/fapi/v1/order",
                                  {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
    return order


def _sim_time(server: RunningServer) -> int:
    return int(httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()["simTime"])


def test_fills_carry_the_servers_time_and_funding_due_on_the_way_is_paid_at_its_time() -> None:
    start = FUNDING_MS - 90_000
    with following_server(start) as (server, clock):
        clock.now_ms += 30_000
        order = _buy(server, clock)
        trade = _call(server, clock, "GET", "/fapi/v1/userTrades", {"symbol": "BNBUSDT"})[0]
        clock.now_ms += 120_000  # past the funding time, with the position open
        assert _sim_time(server) == clock.now_ms
        funding = [e for e in server.sim.events if e["e"] == "ACCOUNT_UPDATE" and e["a"]["m"] == "FUNDING_FEE"]
    assert order["updateTime"] == trade["time"] == start + 30_000
    assert [e["E"] for e in funding] == [FUNDING_MS]


def test_advance_moves_the_clock_ahead_and_it_holds_there_until_the_servers_clock_passes_it() -> None:
    start = FUNDING_MS + 30_000
    with following_server(start) as (server, clock):
        assert server.control("/sim/v1/advance", {"seconds": 3600})["simTime"] == start + 3_600_000
        clock.now_ms += 60_000  # still behind the advanced clock: it does not go back
        assert _buy(server, clock)["updateTime"] == start + 3_600_000
        clock.now_ms = start + 2 * 3_600_000
        assert _buy(server, clock)["updateTime"] == clock.now_ms


def test_a_kline_stream_closes_its_bar_when_the_servers_clock_leaves_it_with_no_request() -> None:
    start = FUNDING_MS + 30_000
    with following_server(start) as (server, clock), \
            connect(f"ws://127.0.0.1:{server.port}/market/ws/ethusdt@kline_1m") as ws:
        first = json.loads(ws.recv(timeout=5))["k"]
        clock.now_ms += 60_000
        closed = None
        deadline = time.monotonic() + 5
        while closed is None and time.monotonic() < deadline:
            k = json.loads(ws.recv(timeout=5))["k"]
            closed = k if k["x"] else None
    assert first["t"] == bar_open(start, "1m") and not first["x"]
    assert closed is not None and closed["t"] == first["t"]


def test_without_follow_clock_the_simulators_clock_moves_only_when_told() -> None:
    """The default the in-process tests rely on (they step the clock with /sim/v1/advance)."""
    clock = ManualClock(FUNDING_MS + 30_000)
    with running_server(clock=clock) as server:
        before = _sim_time(server)
        clock.now_ms += 600_000
        assert _sim_time(server) == before
