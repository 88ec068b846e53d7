"""Kline streams driven by the server's feed: exactly one `"x": true` per bar, in order, none missing, each
identical to what `GET /fapi/v1/klines` answers for that bar afterwards (a client's REST backfill)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
from test_simserver_support import RunningServer, make_sim, running_server
from websockets.sync.client import ClientConnection, connect

from quantum_trader.simserver.feed import synthetic_feed

WATCHED = ("bnbusdt", "btcusdt")


def _closed_bars(ws: ClientConnection, seconds: float) -> dict[str, list[dict[str, Any]]]:
    """Every closed kline per symbol seen within `seconds`, from a combined connection."""
    closed: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        except TimeoutError:
            break
        k = message["data"]["k"]
        if k["x"]:
            closed.setdefault(k["s"], []).append(k)
    return closed


def _rest(server: RunningServer, symbol: str, start: int, limit: int) -> list[list[Any]]:
    params: dict[str, Any] = {"symbol": symbol, "interval": "1m", "startTime": start, "limit": limit}
    response = httpx.get(f"{server.url}/fapi/v1/klines", params=params)
    assert response.status_code == 200, response.text
    rows: list[list[Any]] = response.json()
    return rows


def _as_rest(k: dict[str, Any]) -> list[Any]:
    return [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"]]


def test_feed_bars_close_once_each_and_match_rest_klines() -> None:
    sim = make_sim()
    prices = {s: sim.last_price(s) for s in sim.state.instruments}
    feed = synthetic_feed(prices, start_ms=sim.now_ms, seed=3, speed=600.0)  # a 1m bar every 0.1 s
    streams = "/".join(f"{s}@kline_1m" for s in WATCHED)
    with running_server(sim, feed=feed) as server, \
            connect(f"ws://127.0.0.1:{server.port}/market/stream?streams={streams}") as ws:
        feed.start()
        try:
            closed = _closed_bars(ws, 1.5)
        finally:
            feed.stop()
        rest = {s.upper(): _rest(server, s.upper(), closed[s.upper()][0]["t"], 1000) for s in WATCHED}
    for symbol in (s.upper() for s in WATCHED):
        bars = closed[symbol]
        opens = [k["t"] for k in bars]
        assert len(bars) >= 8, f"{symbol}: only {len(bars)} bars closed in 1.5 s at 600x"
        assert opens == sorted(set(opens)), "a bar closed twice or out of order"
        assert all(b - a == 60_000 for a, b in itertools.pairwise(opens)), "a bar is missing"
        by_open = {row[0]: row[:7] for row in rest[symbol]}
        assert [_as_rest(k) for k in bars] == [by_open[t] for t in opens]
        assert len({k["h"] for k in bars}) > 1, "the feed should move prices"


def test_a_clock_jump_closes_every_bar_it_skips_flat_and_rest_agrees() -> None:
    with running_server() as server, \
            connect(f"ws://127.0.0.1:{server.port}/market/ws/ethusdt@kline_1m") as ws:
        first = json.loads(ws.recv(timeout=5))["k"]
        server.control("/sim/v1/prices", {"ETHUSDT": "2550"})
        server.control("/sim/v1/prices", {"ETHUSDT": "2490"})
        server.control("/sim/v1/advance", {"seconds": 180})
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["x"] or seen[-1]["t"] == first["t"]:
            seen.append(json.loads(ws.recv(timeout=5))["k"])
        rest = _rest(server, "ETHUSDT", first["t"], 10)
    closed = [k for k in seen if k["x"]]
    assert [k["t"] for k in closed] == [first["t"] + i * 60_000 for i in range(3)]
    assert (closed[0]["o"], closed[0]["h"], closed[0]["l"], closed[0]["c"]) == ("2550", "2550", "2490", "2490")
    assert all((k["o"], k["h"], k["l"], k["c"]) == ("2490",) * 4 for k in closed[1:])
    assert [_as_rest(k) for k in closed] == [row[:7] for row in rest[:3]]
    assert seen[-1]["t"] == first["t"] + 180_000 and rest[3][0] == seen[-1]["t"] and len(rest) == 4
