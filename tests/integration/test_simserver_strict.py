"""The simulator server is as strict as Binance with what clients send (issue 10).

Over real HTTP on loopback: numeric spellings Binance refuses with -1100 are refused on every endpoint
while ccxt's own requests pass; a control step is all or nothing (a refused step changes nothing, and
the next valid one behaves as if the refused one had never been sent); bodies above 1 MiB are refused
with 413 before they are read.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import ccxt
import httpx
import pytest
from test_simserver_support import (
    API_KEY,
    START_PRICES,
    SYMBOLS,
    RunningServer,
    ccxt_client,
    running_server,
)

from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.params import DECIMAL_PATTERN, INTEGER_PATTERN
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

KEY = {"X-MBX-APIKEY": API_KEY}
FORM = {**KEY, "Content-Type": "application/x-www-form-urlencoded"}
SIM_START_MS = 1_800_000_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server() as srv:
        yield srv


def _now() -> int:
    return time.time_ns() // 1_000_000


def _signed(server: RunningServer, method: str, path: str, params: dict[str, Any]) -> httpx.Response:
    body = server.signed({"timestamp": _now(), **params})
    if method == "GET":
        return httpx.get(f"{server.url}{path}?{body}", headers=KEY)
    return httpx.request(method, f"{server.url}{path}", content=body, headers=FORM)


def _illegal(name: str, pattern: str) -> dict[str, Any]:
    return {"code": -1100, "msg": f"Illegal characters found in parameter '{name}'; legal range is '{pattern}'."}


MARKET_BUY = {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}


@pytest.mark.parametrize(("method", "path", "params", "name", "pattern"), [
    ("POST", "/fapi/v1/order", {**MARKET_BUY, "quantity": "1E-2"}, "quantity", DECIMAL_PATTERN),
    ("POST", "/fapi/v1/order", {**MARKET_BUY, "quantity": "1_000"}, "quantity", DECIMAL_PATTERN),
    ("POST", "/fapi/v1/order", {**MARKET_BUY, "quantity": "٠٫٠١"}, "quantity", DECIMAL_PATTERN),
    ("POST", "/fapi/v1/order", {**MARKET_BUY, "quantity": " 0.01"}, "quantity", DECIMAL_PATTERN),
    ("POST", "/fapi/v1/order", {**MARKET_BUY, "quantity": "+0.01"}, "quantity", DECIMAL_PATTERN),
    ("POST", "/fapi/v1/order", {**MARKET_BUY, "type": "LIMIT", "timeInForce": "GTC", "price": "5.9e2"},
     "price", DECIMAL_PATTERN),
    ("POST", "/fapi/v1/algoOrder", {**MARKET_BUY, "side": "SELL", "type": "STOP_MARKET", "algoType": "CONDITIONAL",
                                    "triggerPrice": "NaN"}, "triggerPrice", DECIMAL_PATTERN),
    ("GET", "/fapi/v1/allOrders", {"symbol": "BNBUSDT", "limit": "1e3"}, "limit", INTEGER_PATTERN),
    ("GET", "/fapi/v1/order", {"symbol": "BNBUSDT", "orderId": "-1"}, "orderId", INTEGER_PATTERN),
    ("GET", "/fapi/v1/userTrades", {"symbol": "BNBUSDT", "startTime": "1" * 21}, "startTime", INTEGER_PATTERN),
    ("POST", "/fapi/v1/leverage", {"symbol": "BNBUSDT", "leverage": "١٠"}, "leverage", INTEGER_PATTERN),
    ("GET", "/fapi/v2/balance", {"recvWindow": "5_000"}, "recvWindow", INTEGER_PATTERN),
])
def test_binance_refuses_these_spellings_so_does_the_server(
        server: RunningServer, method: str, path: str, params: dict[str, Any], name: str, pattern: str) -> None:
    before = (server.sim.position("BNBUSDT").amount, len(server.sim.all_orders()))
    response = _signed(server, method, path, params)
    assert (response.status_code, response.json()) == (400, _illegal(name, pattern))
    assert (server.sim.position("BNBUSDT").amount, len(server.sim.all_orders())) == before


def test_public_endpoints_and_timestamp_follow_the_same_rule(server: RunningServer) -> None:
    klines = httpx.get(f"{server.url}/fapi/v1/klines", params={"symbol": "BNBUSDT", "interval": "1m", "limit": "1E2"})
    assert (klines.status_code, klines.json()) == (400, _illegal("limit", INTEGER_PATTERN))
    query = server.signed({"timestamp": f"{_now() / 1000:e}"})  # seconds in exponent form, as a float prints
    balance = httpx.get(f"{server.url}/fapi/v2/balance?{query}", headers=KEY)
    assert (balance.status_code, balance.json()) == (400, _illegal("timestamp", INTEGER_PATTERN))


def test_ccxt_sends_plain_decimals_and_passes(server: RunningServer) -> None:
    """A float amount that Python would print as 1e-05 style still leaves ccxt as a plain decimal."""
    ex = ccxt_client(server.url)
    ex.load_markets()
    order = ex.create_order("ETH/USDT:USDT", "limit", "buy", 0.01, 2000.0)
    assert order["status"] == "open" and order["amount"] == 0.01
    assert ex.cancel_order(order["id"], "ETH/USDT:USDT")["status"] == "canceled"
    with pytest.raises(ccxt.BadRequest, match="-1100"):
        ex.fapiPrivatePostOrder({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1e-2"})


# --- control steps: all or nothing -------------------------------------------------------------------
def _fixed_sim() -> ExchangeSimulator:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig(start_time_ms=SIM_START_MS))
    sim.set_prices(START_PRICES)
    return sim


def _protected_long(server: RunningServer) -> None:
    """1 BNB long at 600 with a resting STOP_MARKET at 570 (closePosition), placed over HTTP."""
    entry = _signed(server, "POST", "/fapi/v1/order", {**MARKET_BUY, "quantity": "1"})
    assert entry.status_code == 200, entry.text
    stop = _signed(server, "POST", "/fapi/v1/algoOrder", {
        "algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET",
        "triggerPrice": "570", "closePosition": "true"})
    assert stop.status_code == 200, stop.text


def _step(server: RunningServer, body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/sim/v1/prices", json=body, headers=KEY)


BAD_STEPS = [
    pytest.param({"prices": {"BNBUSDT": "1e400"}}, -1100, "prices.BNBUSDT.last", id="1e400-string"),
    pytest.param({"prices": {"BNBUSDT": "1e-400"}}, -1100, "prices.BNBUSDT.last", id="1e-400-string"),
    pytest.param({"prices": {"BNBUSDT": 1e300}}, -1130, "maxPrice", id="1e300-number"),
    pytest.param({"prices": {"BNBUSDT": 1e-300}}, -1130, "minPrice", id="1e-300-number"),
    pytest.param({"prices": {"BNBUSDT": "-560"}}, -1100, "prices.BNBUSDT.last", id="negative"),
    pytest.param({"prices": {"BNBUSDT": 0}}, -1130, "prices.BNBUSDT.last", id="zero"),
    pytest.param({"prices": {"BNBUSDT": "abc"}}, -1100, "prices.BNBUSDT.last", id="not-a-number"),
    pytest.param({"prices": {"BNBUSDT": None}}, -1130, "prices.BNBUSDT.last", id="null"),
    pytest.param({"prices": {"BNBUSDT": True}}, -1130, "prices.BNBUSDT.last", id="boolean"),
    pytest.param({"prices": {"BNBUSDT": "560.001"}}, -1130, "tickSize", id="off-tick"),
    pytest.param({"prices": {"BNBUSDT": {"last": "560", "mark": "1e400"}}}, -1100, "prices.BNBUSDT.mark",
                 id="bad-mark"),
    # the bad symbol sorts after the good one: nothing of the good one may be applied either
    pytest.param({"prices": {"BNBUSDT": "560", "ETHUSDT": "0.0001"}}, -1130, "prices.ETHUSDT.last",
                 id="second-symbol-bad"),
    pytest.param({"prices": {"BNBUSDT": "560", "NOPEUSDT": "1"}}, -1121, "NOPEUSDT", id="unknown-symbol"),
]


@pytest.mark.parametrize(("body", "code", "named"), BAD_STEPS)
def test_refused_step_changes_nothing_and_the_next_valid_step_fires_the_stop(
        body: dict[str, Any], code: int, named: str) -> None:
    with running_server(_fixed_sim()) as twin, running_server(_fixed_sim()) as srv:
        for server in (twin, srv):
            _protected_long(server)
        refused = _step(srv, body)
        assert refused.status_code == 400
        assert refused.json()["code"] == code and named in refused.json()["msg"]
        assert srv.sim.last_price("BNBUSDT") == twin.sim.last_price("BNBUSDT")
        assert srv.sim.last_price("ETHUSDT") == twin.sim.last_price("ETHUSDT")
        assert [a.status.value for a in srv.sim.open_algo_orders("BNBUSDT")] == ["NEW"]

        crossing = {"prices": {"BNBUSDT": "560"}}
        after_refusal, never_refused = _step(srv, crossing).json(), _step(twin, crossing).json()
    assert after_refusal == never_refused  # byte for byte the same events as if it had never been sent
    kinds = {(e["e"], e.get("o", {}).get("X") or e.get("ao", {}).get("X")) for e in after_refusal["events"]}
    assert ("ORDER_TRADE_UPDATE", "FILLED") in kinds
    assert srv.sim.position("BNBUSDT").amount == 0


@pytest.mark.parametrize("seconds", ["1e400", "-1", "NaN", "1_000", 1e300, -5, None, "", [1], 366 * 86400 + 1])
def test_refused_advance_leaves_the_clock(server: RunningServer, seconds: Any) -> None:
    before = server.sim.now_ms
    response = httpx.post(f"{server.url}/sim/v1/advance", json={"seconds": seconds}, headers=KEY)
    assert response.status_code == 400 and response.json()["code"] in (-1100, -1130)
    assert "'seconds'" in response.json()["msg"]
    assert server.sim.now_ms == before
    moved = httpx.post(f"{server.url}/sim/v1/advance", json={"seconds": "1.5"}, headers=KEY).json()
    assert moved["simTime"] == before + 1500


# --- body size ---------------------------------------------------------------------------------------
def _raw_exchange(server: RunningServer, head: bytes, body_parts: list[bytes]) -> tuple[bytes, int]:
    """Send `head`, then body parts until the server stops taking them; its whole answer and the bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        try:
            for part in body_parts:
                sock.sendall(part)
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, sent


def test_declared_20_mb_body_is_refused_before_it_is_read(server: RunningServer) -> None:
    head = (b"POST /fapi/v1/order HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 20971520\r\n\r\n")
    answer, _ = _raw_exchange(server, head, [])  # not one byte of the body is sent
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'{"code":-1101,"msg":"Too many parameters; declared body of 20971520 bytes larger than the limit of ' \
           b'1048576 bytes."}' in answer


def test_chunked_body_is_refused_once_it_passes_the_limit(server: RunningServer) -> None:
    head = (b"POST /fapi/v1/order HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 65536
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 320  # 20 MiB offered in 64 KiB chunks
    answer, sent = _raw_exchange(server, head, parts)
    assert answer.startswith(b"HTTP/1.1 413") and b'"code":-1101' in answer
    assert sent < 20 * 1024 * 1024  # the server stopped reading long before the end


def test_httpx_20_mb_post_gets_413_and_the_server_still_serves(server: RunningServer) -> None:
    try:
        response = httpx.post(f"{server.url}/fapi/v1/order", content=b"x" * (20 << 20), headers=FORM)
    except httpx.TransportError:  # the server closed the connection while the body was still being written
        pass
    else:
        assert response.status_code == 413 and response.json()["code"] == -1101
    near_limit = httpx.post(f"{server.url}/fapi/v1/order", content=b"symbol=BNBUSDT&pad=" + b"x" * 1_000_000,
                            headers=FORM)
    assert near_limit.json()["code"] != -1101  # under the cap: the endpoint answers (here: no signature)
    assert httpx.get(f"{server.url}/fapi/v1/ping").status_code == 200
