"""Raw signed HTTP against the simulator server: Binance's auth, error bodies, weights and control API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from test_simserver_support import API_KEY, RunningServer, running_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.simserver.weights import OrderCounter

KEY = {"X-MBX-APIKEY": API_KEY}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server() as srv:
        yield srv


def _now() -> int:
    return time.time_ns() // 1_000_000


def _get(server: RunningServer, path: str, params: dict[str, Any], headers: dict[str, str] | None = None,
         **sign: Any) -> httpx.Response:
    query = server.signed({"timestamp": _now(), **params}, **sign)
    return httpx.get(f"{server.url}{path}?{query}", headers=KEY if headers is None else headers)


def _error(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


def test_signed_request_ok_with_weight_header(server: RunningServer) -> None:
    response = _get(server, "/fapi/v2/balance", {})
    assert response.status_code == 200
    assert response.json()[0]["balance"] == "10000"
    assert int(response.headers["X-MBX-USED-WEIGHT-1M"]) >= 5


def test_wrong_api_key(server: RunningServer) -> None:
    assert _error(_get(server, "/fapi/v2/balance", {}, headers={"X-MBX-APIKEY": "nope"})) == (401, -2015)


def test_bad_signature(server: RunningServer) -> None:
    assert _error(_get(server, "/fapi/v2/balance", {}, secret="wrong")) == (400, -1022)


def test_stale_timestamp(server: RunningServer) -> None:
    response = _get(server, "/fapi/v2/balance", {"timestamp": _now() - 60_000})
    assert _error(response) == (400, -1021)
    assert response.json()["msg"] == "Timestamp for this request is outside of the recvWindow."


def test_missing_mandatory_param(server: RunningServer) -> None:
    response = _get(server, "/fapi/v1/userTrades", {})
    assert _error(response) == (400, -1102)
    assert "'symbol'" in response.json()["msg"]


def test_conditional_type_on_classic_endpoint_is_4120(server: RunningServer) -> None:
    body = server.signed({"timestamp": _now(), "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET",
                          "stopPrice": "500", "closePosition": "true"})
    response = httpx.post(f"{server.url}/fapi/v1/order", content=body,
                          headers={**KEY, "Content-Type": "application/x-www-form-urlencoded"})
    assert _error(response) == (400, -4120)
    assert int(response.headers["X-MBX-ORDER-COUNT-10S"]) >= 1 and int(response.headers["X-MBX-ORDER-COUNT-1M"]) >= 1


def test_public_endpoints_and_unknown_path(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/fapi/v1/time").json()["serverTime"] == pytest.approx(_now(), abs=5_000)
    info = httpx.get(f"{server.url}/fapi/v1/exchangeInfo").json()
    assert [s["symbol"] for s in info["symbols"]] == ["BNBUSDT", "BTCUSDT", "ETHUSDT"]
    assert "STOP_MARKET" in info["symbols"][0]["orderTypes"]
    assert httpx.get(f"{server.url}/fapi/v1/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"] == "100000"
    missing = httpx.get(f"{server.url}/fapi/v1/nothingHere")
    assert missing.status_code == 404 and missing.json()["code"] == -5000


def test_control_requires_key_and_moves_market(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/sim/v1/info").json()["code"] == -2014
    info = httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()
    assert info["simulator"] is True
    step = server.control("/sim/v1/prices", {"ETHUSDT": "2510"})
    assert step == {"events": []}
    assert str(server.sim.mark_price("ETHUSDT")) == "2510"
    bars = httpx.get(f"{server.url}/fapi/v1/klines", params={"symbol": "ETHUSDT", "interval": "1h"}).json()
    assert bars[-1][4] == "2510" and Decimal(bars[-1][2]) >= Decimal("2510")
    before = server.sim.now_ms
    moved = server.control("/sim/v1/advance", {"seconds": 3600})
    assert moved["simTime"] == before + 3_600_000


def test_user_data_stream_pushes_fills(server: RunningServer) -> None:
    listen_key = httpx.post(f"{server.url}/fapi/v1/listenKey", headers=KEY).json()["listenKey"]
    ws_url = server.url.replace("http://", "ws://")
    with connect(f"{ws_url}/private/ws?listenKey={listen_key}") as ws:
        time.sleep(0.1)  # let the connection take its place in the event log
        body = server.signed({"timestamp": _now(), "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                              "quantity": "0.002"})
        response = httpx.post(f"{server.url}/fapi/v1/order", content=body,
                              headers={**KEY, "Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200, response.text
        kinds = []
        while "ACCOUNT_UPDATE" not in kinds or kinds.count("ORDER_TRADE_UPDATE") < 2:
            kinds.append(json.loads(ws.recv(timeout=5))["e"])
    assert set(kinds) <= {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"}


def test_invalid_listen_key_is_closed() -> None:
    with (running_server() as srv, connect(srv.url.replace("http://", "ws://") + "/ws/bogus") as ws,
          pytest.raises(ConnectionClosed) as closed):
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_weight_limit_answers_429() -> None:
    fixed_clock = 1_800_000_030_000  # 30 s into a minute: no rollover can reset the counter mid-test
    with running_server(weight_limit=5, clock=lambda: fixed_clock) as srv:  # the harness's /ping took 1
        codes = [httpx.get(f"{srv.url}/fapi/v1/exchangeInfo").status_code for _ in range(6)]
        assert codes[-1] == 429 and 200 in codes
        refused = httpx.get(f"{srv.url}/fapi/v1/exchangeInfo")
        assert refused.json()["code"] == -1003
        assert refused.headers["Retry-After"] == "30"
        assert int(refused.headers["X-MBX-USED-WEIGHT-1M"]) > 5


def test_order_count_limit_is_1015() -> None:
    counter = OrderCounter(lambda: 1_800_000_000_000, (("10S", 10_000, 2), ("1M", 60_000, 1200)))
    assert counter.charge() == {"X-MBX-ORDER-COUNT-10S": "1", "X-MBX-ORDER-COUNT-1M": "1"}
    counter.charge()
    with pytest.raises(ExchangeError) as caught:
        counter.charge()
    assert (caught.value.code, caught.value.http_status) == (-1015, 429)


def test_control_without_the_key_says_which_header_binance_paths_keep_their_words(server: RunningServer) -> None:
    """`curl /sim/v1/info` as the README listed it answered only `-2014 API-key format invalid.`: the control
    endpoints take the trading key (CONTRACT §5), and their refusal now says which header and which key; a
    Binance path's is Binance's, word for word."""
    control = httpx.get(f"{server.url}/sim/v1/info")
    assert control.status_code == 401 and control.json() == {
        "code": -2014, "msg": "API-key format invalid. The simulator's control endpoints (/sim/v1/...) take the "
        "trading API key: send the header X-MBX-APIKEY with the server's --api-key (sim-key unless it was started "
        "with another)."}
    assert API_KEY not in control.text
    listen = httpx.post(f"{server.url}/fapi/v1/listenKey")
    assert listen.json() == {"code": -2014, "msg": "API-key format invalid."}
