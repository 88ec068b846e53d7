"""The user-data stream as Binance serves it: ALGO_UPDATE through every status of a conditional order,
ORDER_TRADE_UPDATE and ACCOUNT_UPDATE, the `events=` filter, the listen key's 60-minute expiry on the
server clock (keep-alive, -1125, `listenKeyExpired` then a close) and protocol pings."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from typing import Any

import httpx
import pytest
from test_simserver_support import API_KEY, RunningServer, make_sim, running_server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from quantum_trader.simserver.stream_hub import StreamSettings

KEY = {"X-MBX-APIKEY": API_KEY}
FORM = {**KEY, "Content-Type": "application/x-www-form-urlencoded"}
MINUTE_MS = 60_000


def _post(server: RunningServer, path: str, params: dict[str, Any]) -> Any:
    return server.call("POST", path, params)


def _delete(server: RunningServer, path: str, params: dict[str, Any]) -> Any:
    return server.call("DELETE", path, params)


def _listen_key(server: RunningServer) -> str:
    key: str = httpx.post(f"{server.url}/fapi/v1/listenKey", headers=KEY).json()["listenKey"]
    return key


def _drain(ws: ClientConnection, quiet: float = 0.4) -> list[dict[str, Any]]:
    """Everything the stream sends until it has been quiet for `quiet` seconds."""
    events: list[dict[str, Any]] = []
    while True:
        try:
            events.append(json.loads(ws.recv(timeout=quiet)))
        except TimeoutError:
            return events


def _algo(server: RunningServer, **params: str) -> int:
    body = {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", **params}
    algo_id: int = _post(server, "/fapi/v1/algoOrder", body)["algoId"]
    return algo_id


def _statuses(events: list[dict[str, Any]], algo_id: int) -> list[str]:
    return [e["o"]["X"] for e in events if e["e"] == "ALGO_UPDATE" and e["o"]["aid"] == algo_id]


def test_algo_update_follows_every_status_of_conditional_orders() -> None:
    with running_server() as server, \
            connect(f"ws://127.0.0.1:{server.port}/private/ws?listenKey={_listen_key(server)}") as ws:
        time.sleep(0.1)
        cancelled = _algo(server, side="SELL", type="STOP_MARKET", triggerPrice="500", quantity="1")
        _delete(server, "/fapi/v1/algoOrder", {"symbol": "BNBUSDT", "algoId": cancelled})
        _post(server, "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
        stop = _algo(server, side="SELL", type="STOP_MARKET", triggerPrice="590", quantity="1", reduceOnly="true")
        take = _algo(server, side="SELL", type="TAKE_PROFIT_MARKET", triggerPrice="700", closePosition="true")
        too_big = _algo(server, side="BUY", type="STOP_MARKET", triggerPrice="620", quantity="2000")
        server.control("/sim/v1/prices", {"BNBUSDT": "585"})  # the stop fires and flattens: the TP expires
        server.control("/sim/v1/prices", {"BNBUSDT": "625"})  # the oversized entry fails its margin check
        events = _drain(ws)
    assert _statuses(events, cancelled) == ["NEW", "CANCELED"]
    assert _statuses(events, stop) == ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]
    assert _statuses(events, take) == ["NEW", "EXPIRED"]
    assert _statuses(events, too_big) == ["NEW", "TRIGGERING", "REJECTED"]
    finished = next(e["o"] for e in events if e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "FINISHED")
    fills = [e["o"] for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["X"] == "FILLED"]
    assert finished["ai"] == str(fills[-1]["i"]) and finished["aq"] == "1"
    assert any(e["e"] == "ACCOUNT_UPDATE" for e in events)
    kinds = {e["e"] for e in events}
    assert kinds <= {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "ALGO_UPDATE"}, kinds


def test_events_parameter_keeps_only_the_named_events() -> None:
    with running_server() as server:
        url = f"ws://127.0.0.1:{server.port}/private/ws?listenKey={_listen_key(server)}&events=ACCOUNT_UPDATE"
        with connect(url) as ws:
            time.sleep(0.1)
            _post(server, "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
            events = _drain(ws)
    assert events and {e["e"] for e in events} == {"ACCOUNT_UPDATE"}


class _Clock:
    """The server's clock, moved by the test: listen keys expire on it."""

    def __init__(self) -> None:
        self.ms = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.ms


def test_listen_key_expires_after_60_minutes_unless_kept_alive() -> None:
    clock = _Clock()
    with running_server(clock=clock) as server:
        key = _listen_key(server)
        with connect(f"ws://127.0.0.1:{server.port}/ws/{key}") as ws:
            clock.ms += 50 * MINUTE_MS
            kept = httpx.put(f"{server.url}/fapi/v1/listenKey", headers=KEY)
            clock.ms += 50 * MINUTE_MS  # 100 minutes after creation, 50 after the keep-alive
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.3)
            clock.ms += 11 * MINUTE_MS
            expired = json.loads(ws.recv(timeout=5))
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
        late = httpx.put(f"{server.url}/fapi/v1/listenKey", headers=KEY)
        fresh = _listen_key(server)
        wrong = httpx.put(f"{server.url}/fapi/v1/listenKey", params={"listenKey": key}, headers=KEY)
    assert kept.status_code == 200 and kept.json() == {"listenKey": key}
    assert expired == {"e": "listenKeyExpired", "E": clock.ms, "listenKey": key}
    assert late.status_code == 400 and late.json()["code"] == -1125
    assert fresh != key
    assert wrong.status_code == 400 and wrong.json()["code"] == -1125


def test_server_pings_and_drops_a_client_that_never_pongs() -> None:
    """Binance pings every 3 minutes and drops a connection with no pong within 10 (shortened here).

    A raw socket client, because every websocket library answers pings by itself."""
    settings = StreamSettings(ping_interval_s=0.2, pong_timeout_s=0.4)
    with running_server(make_sim(), streams=settings) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        handshake = (f"GET /market/ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n")
        sock.sendall(handshake.encode())
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 101")
    frames = received.split(b"\r\n\r\n", 1)[1]
    assert frames[:1] == b"\x89", "the first frame should be a ping"
    assert 0.5 < elapsed < 3.0


def test_a_client_that_pongs_stays_connected() -> None:
    settings = StreamSettings(ping_interval_s=0.2, pong_timeout_s=0.4)
    with running_server(make_sim(), streams=settings) as server, \
            connect(f"ws://127.0.0.1:{server.port}/market/ws/bnbusdt@markPrice@1s") as ws:
        messages = [json.loads(ws.recv(timeout=3)) for _ in range(3)]  # about 2 s: several ping rounds
    assert [m["s"] for m in messages] == ["BNBUSDT"] * 3


def test_drop_of_user_streams_closes_them_and_refuses_reconnects_for_a_while() -> None:
    with running_server() as server:
        key = _listen_key(server)
        url = f"ws://127.0.0.1:{server.port}/private/ws?listenKey={key}"
        with connect(url) as ws, connect(f"ws://127.0.0.1:{server.port}/market/ws/bnbusdt@markPrice") as market:
            json.loads(market.recv(timeout=5))
            answer = server.control("/sim/v1/streams", {"action": "drop", "seconds": 0.8, "kind": "user"})
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            with pytest.raises(InvalidStatus):
                connect(url, open_timeout=2).close()
            server.control("/sim/v1/prices", {"BNBUSDT": "611"})
            moved = json.loads(market.recv(timeout=5))  # market streams were not touched
        time.sleep(0.9)
        with connect(url) as again:
            time.sleep(0.1)
            _post(server, "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
            assert json.loads(again.recv(timeout=5))["e"] in ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE")
    assert answer["connections"] == 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    assert moved["p"] == "611"
