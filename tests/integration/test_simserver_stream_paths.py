"""The simulator server's market websockets as Binance serves them, seen by a raw `websockets` client:
every path and envelope, the live SUBSCRIBE family, refusals and the per-connection limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from test_simserver_support import API_KEY, SYMBOLS, RunningServer, running_server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.stream_hub import StreamSettings

KEY = {"X-MBX-APIKEY": API_KEY}


def ws_url(server: RunningServer, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def recv(ws: ClientConnection, timeout: float = 5.0) -> Any:
    return json.loads(ws.recv(timeout=timeout))


def recv_until(ws: ClientConnection, accept: Any, timeout: float = 5.0) -> Any:
    """The next message `accept` takes, skipping the rest (periodic mark prices interleave)."""
    deadline = time.monotonic() + timeout
    while True:
        message = recv(ws, max(0.01, deadline - time.monotonic()))
        if accept(message):
            return message


def close_code(ws: ClientConnection, timeout: float = 5.0) -> tuple[int, str]:
    """Drain until the server closes; its close code and reason."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        frame = closed.rcvd
    else:
        raise AssertionError(f"still open after {timeout} s")
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


@contextmanager
def server_with(**options: Any) -> Iterator[RunningServer]:
    with running_server(**options) as server:
        yield server


# --- paths and envelopes --------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/market/ws/bnbusdt@markPrice@1s/ethusdt@kline_1m",
                                  "/ws/bnbusdt@markPrice@1s/ethusdt@kline_1m"])
def test_ws_mode_sends_raw_payloads_for_each_stream(path: str) -> None:
    with running_server() as server, connect(ws_url(server, path)) as ws:
        first, second = recv(ws), recv(ws)
    assert (first["e"], first["s"]) == ("markPriceUpdate", "BNBUSDT")
    assert (second["e"], second["s"], second["k"]["i"], second["k"]["x"]) == ("kline", "ETHUSDT", "1m", False)


@pytest.mark.parametrize("path", ["/market/stream", "/stream"])
def test_stream_mode_wraps_payloads_in_envelopes(path: str) -> None:
    with (running_server() as server,
          connect(ws_url(server, f"{path}?streams=btcusdt@markPrice/bnbusdt@kline_5m")) as ws):
        first, second = recv(ws), recv(ws)
    assert first["stream"] == "btcusdt@markPrice" and first["data"]["s"] == "BTCUSDT"
    assert first["data"]["p"] == "100000"
    assert second["stream"] == "bnbusdt@kline_5m" and second["data"]["k"]["i"] == "5m"


def test_all_mark_prices_arrive_as_one_array() -> None:
    with running_server() as server, connect(ws_url(server, "/market/ws/!markPrice@arr@1s")) as ws:
        rows = recv(ws)
        server.control("/sim/v1/prices", {"ETHUSDT": "2600"})
        moved = recv_until(ws, lambda m: isinstance(m, list) and any(r["p"] == "2600" for r in m))
    assert [r["s"] for r in rows] == sorted(SYMBOLS)
    assert all(r["e"] == "markPriceUpdate" and isinstance(r["p"], str) for r in rows)
    assert len(moved) == len(SYMBOLS)


def test_mark_price_repeats_on_binance_timer_without_a_change() -> None:
    with running_server() as server, connect(ws_url(server, "/market/ws/bnbusdt@markPrice@1s")) as ws:
        recv(ws)
        started = time.monotonic()
        again = recv(ws, timeout=3)
        waited = time.monotonic() - started
    assert again["p"] == "600" and 0.8 < waited < 2.5


# --- SUBSCRIBE and friends ------------------------------------------------------------------------
def test_subscribe_unsubscribe_and_list_on_an_empty_connection() -> None:
    """ccxt.pro's way: open `/market/ws/<n>` (no stream in the path), then SUBSCRIBE."""
    with running_server() as server, connect(ws_url(server, "/market/ws/0")) as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["bnbusdt@kline_1m", "ethusdt@markPrice"], "id": 1}))
        assert recv(ws) == {"result": None, "id": 1}
        snapshots = [recv(ws), recv(ws)]
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        listed = recv_until(ws, lambda m: isinstance(m, dict) and m.get("id") == 2)
        ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@markPrice"], "id": 3}))
        recv_until(ws, lambda m: isinstance(m, dict) and m.get("id") == 3)
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
        after = recv_until(ws, lambda m: isinstance(m, dict) and m.get("id") == 4)
    assert [m["e"] for m in snapshots] == ["kline", "markPriceUpdate"]
    assert listed == {"result": ["bnbusdt@kline_1m", "ethusdt@markPrice"], "id": 2}
    assert after == {"result": ["bnbusdt@kline_1m"], "id": 4}


def test_set_property_combined_switches_to_envelopes() -> None:
    with running_server() as server, connect(ws_url(server, "/ws")) as ws:
        ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}))
        assert recv(ws) == {"result": None, "id": 5}
        ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 6}))
        assert recv(ws) == {"result": True, "id": 6}
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 7}))
        assert recv(ws) == {"result": None, "id": 7}
        assert recv(ws)["stream"] == "btcusdt@markPrice@1s"


def test_bad_requests_get_binance_errors_and_the_connection_stays() -> None:
    with running_server() as server, connect(ws_url(server, "/market/ws")) as ws:
        ws.send("not json")
        assert recv(ws)["error"]["code"] == 3
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nopeusdt@markPrice"], "id": 8}))
        assert recv(ws) == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 8}
        ws.send(json.dumps({"method": "FETCH", "params": [], "id": 9}))
        assert recv(ws)["error"]["code"] == 2
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["bnbusdt@markPrice"], "id": -1}))
        assert "unsigned integer" in recv(ws)["error"]["msg"]
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["bnbusdt@markPrice"], "id": 10}))
        assert recv(ws) == {"result": None, "id": 10}


# --- refusals and limits --------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/market/ws/nopeusdt@markPrice", "/ws/BNBUSDT@markPrice",
                                  "/market/stream?streams=bnbusdt@kline_7m", "/ws/bnbusdt@depth"])
def test_unknown_or_uppercase_stream_is_refused_with_a_reason(path: str) -> None:
    with running_server() as server, connect(ws_url(server, path)) as ws:
        code, reason = close_code(ws)
    assert code == 1008 and "invalid stream" in reason


def _wide_sim(count: int) -> ExchangeSimulator:
    universe = load_universe()
    symbols = universe.top(count)
    sim = ExchangeSimulator({s: universe.instrument(s) for s in symbols},
                            SimConfig(start_time_ms=time.time_ns() // 1_000_000))
    sim.set_prices({s: str(universe.instrument(s).tick_size * 1000) for s in symbols})
    return sim


def test_more_than_1024_streams_on_one_connection_is_refused() -> None:
    """1,024 streams are accepted (Binance's USDⓈ-M limit); the 1,025th closes the connection."""
    sim = _wide_sim(70)
    names = [f"{s.lower()}@kline_{i}" for s in sorted(sim.state.instruments)
             for i in ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")]
    assert StreamSettings().max_streams == 1024 and len(names) > 1024
    with running_server(sim) as server, connect(ws_url(server, "/market/ws"), max_size=None) as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": names[:1024], "id": 1}))
        assert recv(ws) == {"result": None, "id": 1}
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": names[1024:1025], "id": 2}))
        code, reason = close_code(ws)
    assert code == 1008 and "1025 > 1024" in reason


def test_too_many_streams_in_the_url_is_refused() -> None:
    with (server_with(streams=StreamSettings(max_streams=2)) as server,
          connect(ws_url(server, "/market/ws/bnbusdt@markPrice/btcusdt@markPrice/ethusdt@markPrice")) as ws):
        code, reason = close_code(ws)
    assert code == 1008 and "Too many streams" in reason


def test_more_than_10_messages_a_second_disconnects() -> None:
    with running_server() as server, connect(ws_url(server, "/market/ws")) as ws:
        for i in range(11):
            ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        code, reason = close_code(ws)
    assert code == 1008 and "Too many requests" in reason


def test_ten_messages_a_second_are_fine() -> None:
    with running_server() as server, connect(ws_url(server, "/market/ws")) as ws:
        for i in range(10):
            ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        answers = [recv(ws) for _ in range(10)]
    assert [a["id"] for a in answers] == list(range(10))


def test_connection_is_cut_at_its_lifetime() -> None:
    """Binance cuts every connection after 24 hours; shortened here."""
    with (server_with(streams=StreamSettings(lifetime_s=0.5)) as server,
          connect(ws_url(server, "/market/ws/bnbusdt@markPrice")) as ws):
        started = time.monotonic()
        code, _ = close_code(ws)
    assert code == 1001 and 0.4 < time.monotonic() - started < 3


# --- chaos controls -------------------------------------------------------------------------------
def test_drop_closes_streams_and_refuses_reconnects_for_a_while() -> None:
    with running_server() as server, connect(ws_url(server, "/market/ws/bnbusdt@markPrice@1s")) as ws:
        recv(ws)
        answer = server.control("/sim/v1/streams", {"action": "drop", "seconds": 1})
        code, _ = close_code(ws)
        with pytest.raises(InvalidStatus):  # the handshake itself fails during the outage
            connect(ws_url(server, "/market/ws/bnbusdt@markPrice"), open_timeout=2).close()
        time.sleep(1.1)
        with connect(ws_url(server, "/market/ws/bnbusdt@markPrice")) as again:
            assert recv(again)["s"] == "BNBUSDT"
    assert answer["connections"] == 1 and code == 1011


def test_a_drop_of_0_seconds_ends_an_outage_at_once() -> None:
    """The control's doc promises "0: reconnecting works at once"; a trial's 0 after a 260 s drop kept every new
    handshake refused until the 260 s ran out (the later end time was kept)."""
    with running_server() as server:
        server.control("/sim/v1/streams", {"action": "drop", "seconds": 600, "kind": "market"})
        with pytest.raises(InvalidStatus):
            connect(ws_url(server, "/market/ws/bnbusdt@markPrice"), open_timeout=2).close()
        server.control("/sim/v1/streams", {"action": "drop", "seconds": 0, "kind": "all"})
        with connect(ws_url(server, "/market/ws/bnbusdt@markPrice")) as again:
            assert recv(again)["s"] == "BNBUSDT"


def test_stall_silences_a_connection_without_closing_it() -> None:
    with running_server() as server, connect(ws_url(server, "/market/ws/bnbusdt@markPrice@1s")) as ws:
        recv(ws)
        server.control("/sim/v1/streams", {"action": "stall", "seconds": 1.5, "kind": "market"})
        server.control("/sim/v1/prices", {"BNBUSDT": "610"})
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.0)
        with connect(ws_url(server, "/market/ws/bnbusdt@markPrice@1s")) as fresh:  # a reconnect recovers
            assert recv(fresh)["p"] == "610"
        assert recv(ws, timeout=3)["p"] == "610"  # and the stalled one resumes afterwards


def test_stream_control_validates_its_body() -> None:
    with running_server() as server:
        bad = httpx.post(f"{server.url}/sim/v1/streams", json={"action": "explode"}, headers=KEY)
        unkeyed = httpx.post(f"{server.url}/sim/v1/streams", json={"action": "drop"})
        described = httpx.get(f"{server.url}/sim/v1/streams", headers=KEY).json()
    assert bad.status_code == 400 and bad.json()["code"] == -1130
    assert unkeyed.json()["code"] == -2014
    assert described["connections"] == 0
