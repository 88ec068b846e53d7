"""Network faults on demand (`/sim/v1/faults`), listen-key expiry on demand, and the weight figures a chaos
campaign grades a run by: over real HTTP on loopback against the simulator server.

What each fault must do is what Binance does on a bad day: a 5xx leaves the order unplaced; a 429 leaves
the IP limited until Retry-After, so a client that ignores it is banned (418) exactly as on the weight
path and one that waits never is; a slow answer arrives after the client gave up while the order is live.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest
from test_simserver_support import API_KEY, ManualClock, RunningServer, ccxt_client, running_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from quantum_trader.domain import binance_errors as be

KEY = {"X-MBX-APIKEY": API_KEY}
FORM = {**KEY, "Content-Type": "application/x-www-form-urlencoded"}
INTERNAL_ERROR = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
MINUTE_START = 1_800_000_000_000
LIMIT = 8  # weight per minute on `clocked`: more than a test's requests, except where it is broken on purpose


#: The server's clock, moved by the test (public requests only: signed ones would fall outside recvWindow).
Clock = ManualClock


@pytest.fixture
def clock() -> Clock:
    return Clock(MINUTE_START + 10_000)


@pytest.fixture
def clocked(clock: Clock) -> Iterator[RunningServer]:
    """A server on the test's clock, in a fresh minute (the harness's readiness pings no longer count)."""
    with running_server(clock=clock, weight_limit=LIMIT) as srv:
        clock.now_ms += 60_000
        yield srv


def _send(server: RunningServer, method: str, path: str, params: dict[str, Any]) -> httpx.Response:
    """A signed request as a minimal client sends it, whatever the answer."""
    signed = server.signed({"timestamp": time.time_ns() // 1_000_000, **params})
    if method == "POST":
        return httpx.post(f"{server.url}{path}", content=signed, headers=FORM)
    return httpx.request(method, f"{server.url}{path}?{signed}", headers=KEY)


def _order(server: RunningServer, client_id: str) -> httpx.Response:
    """A BUY LIMIT far below the market: it rests, so whether it exists is plain to see."""
    return _send(server, "POST", "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT",
                                                     "timeInForce": "GTC", "quantity": "1", "price": "500",
                                                     "newClientOrderId": client_id})


def _arm(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/sim/v1/faults", json=body, headers=KEY)


def _faults(server: RunningServer) -> Any:
    return httpx.get(f"{server.url}/sim/v1/faults", headers=KEY).json()


def _time(server: RunningServer) -> httpx.Response:
    return httpx.get(f"{server.url}/fapi/v1/time")


def _limits_row(server: RunningServer) -> Any:
    rows = httpx.get(f"{server.url}/sim/v1/limits", headers=KEY).json()["ips"]
    assert [r["ip"] for r in rows] == ["127.0.0.1"]
    return rows[0]


def test_server_error_count_answers_5xx_and_places_nothing() -> None:
    with running_server() as server:
        armed = _arm(server, {"kind": "server_error", "count": 2, "status": 502, "paths": ["/fapi/v1/order"],
                              "methods": ["post"]})
        first, second = _order(server, "e-1"), _order(server, "e-2")
        other_path = _time(server)
        third = _order(server, "e-3")
        listed = _faults(server)
        open_orders = server.call("GET", "/fapi/v1/openOrders", {"symbol": "BNBUSDT"})
    assert armed.status_code == 200
    assert armed.json() == {"faults": [{"kind": "server_error", "remaining": 2, "until": None, "status": 502,
                                        "paths": ["/fapi/v1/order"], "methods": ["POST"]}]}
    assert [(r.status_code, r.json()) for r in (first, second)] == [(502, INTERNAL_ERROR)] * 2
    assert "X-MBX-USED-WEIGHT-1M" in first.headers
    assert other_path.status_code == 200 and third.status_code == 200
    assert [o["clientOrderId"] for o in open_orders] == ["e-3"]  # the refused two were never processed
    assert listed == {"faults": [], "injected": {"server_error": 2, "rate_limit": 0, "slow": 0, "ban": 0}}


def test_server_error_for_seconds_hits_a_path_prefix_until_it_lapses(clocked: RunningServer, clock: Clock) -> None:
    start = clock.now_ms
    armed = _arm(clocked, {"kind": "server_error", "seconds": 30, "paths": ["/fapi/v1/ticker/*"]}).json()
    assert armed["faults"] == [{"kind": "server_error", "remaining": None, "until": start + 30_000, "status": 503,
                                "paths": ["/fapi/v1/ticker/*"], "methods": ["GET", "POST", "PUT", "DELETE"]}]
    ticker = f"{clocked.url}/fapi/v1/ticker/price"
    answers = [httpx.get(ticker, params={"symbol": "BNBUSDT"}) for _ in range(2)]
    assert [(a.status_code, a.json()) for a in answers] == [(503, INTERNAL_ERROR)] * 2
    assert _time(clocked).status_code == 200  # outside the prefix
    assert httpx.get(f"{clocked.url}/sim/v1/info", headers=KEY).status_code == 200  # control routes never
    clock.now_ms = start + 30_000
    assert httpx.get(ticker, params={"symbol": "BNBUSDT"}).status_code == 200
    assert _faults(clocked) == {"faults": [], "injected": {"server_error": 2, "rate_limit": 0, "slow": 0, "ban": 0}}


def test_rate_limit_then_immediate_retries_get_the_ip_banned(clocked: RunningServer, clock: Clock) -> None:
    _arm(clocked, {"kind": "rate_limit", "count": 1, "retry_after_s": 2})
    first = _time(clocked)
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    assert first.json() == be.too_many_requests(LIMIT).to_body()
    retries = [_time(clocked) for _ in range(3)]  # the client ignores Retry-After: ban_after (3) 429s, then 418
    assert [r.status_code for r in retries] == [429, 429, 418]
    until = clock.now_ms + 120_000
    assert retries[-1].json() == be.ip_banned(until).to_body()
    clock.now_ms += 2_000  # the window is over, the ban is not
    assert _time(clocked).status_code == 418
    row = _limits_row(clocked)
    assert (row["bans"], row["bannedUntil"], row["refused429"], row["refused429Total"]) == (1, until, 3, 3)
    assert _faults(clocked)["injected"]["rate_limit"] == 1


def test_rate_limit_a_client_that_waits_retry_after_is_never_banned(clocked: RunningServer, clock: Clock) -> None:
    """Five 429s in one minute, more than the three tolerated: waiting out each Retry-After is never punished."""
    _arm(clocked, {"kind": "rate_limit", "count": 5, "retry_after_s": 3})
    for attempt in range(5):
        refused = _time(clocked)
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "3")
        clock.now_ms += 1_000
        if attempt == 0:
            early = _time(clocked)  # an early retry inside the window is refused too, told what is left
            assert (early.status_code, early.headers["Retry-After"]) == (429, "2")
        clock.now_ms += 2_000
    assert _time(clocked).status_code == 200
    row = _limits_row(clocked)
    assert (row["bans"], row["bannedUntil"], row["refused429Total"]) == (0, None, 6)


def test_slow_response_times_ccxt_out_while_the_order_is_live() -> None:
    with running_server() as server:
        exchange = ccxt_client(server.url)
        exchange.load_markets()
        _arm(server, {"kind": "slow", "count": 1, "delay_ms": 2000, "paths": ["/fapi/v1/order"],
                      "methods": ["POST"]})
        exchange.timeout = 300
        started = time.monotonic()
        with pytest.raises(ccxt.RequestTimeout):
            exchange.create_order("BNB/USDT:USDT", "limit", "buy", 1, 500, {"newClientOrderId": "slow-1"})
        order = server.call("GET", "/fapi/v1/order", {"symbol": "BNBUSDT", "origClientOrderId": "slow-1"})
        queried_after = time.monotonic() - started
        injected = _faults(server)["injected"]
    assert order["status"] == "NEW" and Decimal(order["price"]) == 500  # processed although its answer never came
    assert queried_after < 1.6  # the delayed answer holds no lock: the query was served meanwhile
    assert injected == {"server_error": 0, "rate_limit": 0, "slow": 1, "ban": 0}


def test_slow_answer_arrives_after_its_delay() -> None:
    with running_server() as server:
        _arm(server, {"kind": "slow", "delay_ms": 800, "paths": ["/fapi/v1/time"]})
        started = time.monotonic()
        slow = _time(server)
        slow_s = time.monotonic() - started
        started = time.monotonic()
        again = _time(server)
        again_s = time.monotonic() - started
    assert slow.status_code == 200 and again.status_code == 200
    assert slow_s >= 0.8 and again_s < 0.5  # count 1 when neither count nor seconds is sent


def test_clear_removes_every_fault() -> None:
    with running_server() as server:
        _arm(server, {"kind": "server_error", "seconds": 60})
        _arm(server, {"kind": "rate_limit", "count": 3, "paths": ["/fapi/v1/order"]})
        assert [f["kind"] for f in _faults(server)["faults"]] == ["server_error", "rate_limit"]
        cleared = _arm(server, {"kind": "clear"})
        answer = _time(server)
    assert cleared.status_code == 200 and cleared.json() == {"faults": []}
    assert answer.status_code == 200


BAD = [
    ({}, -1102, "kind"),
    ({"kind": "explode"}, -1130, "kind"),
    ({"kind": "server_error", "status": 418}, -1130, "status"),
    ({"kind": "server_error", "count": 1, "seconds": 5}, -1130, "seconds"),
    ({"kind": "slow", "count": 0}, -1130, "count"),
    ({"kind": "slow", "count": True}, -1130, "count"),
    ({"kind": "slow", "seconds": -1}, -1130, "seconds"),
    ({"kind": "slow", "seconds": "5"}, -1130, "seconds"),
    ({"kind": "slow", "delay_ms": "1500"}, -1130, "delay_ms"),
    ({"kind": "rate_limit", "retry_after_s": 0}, -1130, "retry_after_s"),
    ({"kind": "rate_limit", "paths": ["/sim/v1/info"]}, -1130, "paths"),
    ({"kind": "rate_limit", "paths": []}, -1130, "paths"),
    ({"kind": "rate_limit", "methods": ["PATCH"]}, -1130, "methods"),
    ({"kind": "server_error", "delay_ms": 10}, -1106, "delay_ms"),
    ({"kind": "clear", "count": 1}, -1106, "count"),
    ({"kind": "ban", "after": -1}, -1130, "after"),
    ({"kind": "ban", "status": 503}, -1106, "status"),
]


def test_bad_input_names_the_field_and_leaves_faults_unchanged() -> None:
    with running_server() as server:
        _arm(server, {"kind": "slow", "count": 2, "delay_ms": 10})
        before = _faults(server)
        answers = [_arm(server, body) for body, _, _ in BAD]
        bad_json = httpx.post(f"{server.url}/sim/v1/faults", content=b"{", headers=KEY)
        after = _faults(server)
    for (body, code, field), answer in zip(BAD, answers, strict=True):
        assert answer.status_code == 400, body
        assert answer.json()["code"] == code and f"'{field}'" in answer.json()["msg"], (body, answer.json())
    assert bad_json.status_code == 400
    assert after == before and len(after["faults"]) == 1


def test_expire_listen_key_sends_listen_key_expired_and_put_answers_1125() -> None:
    with running_server() as server:
        key = httpx.post(f"{server.url}/fapi/v1/listenKey", headers=KEY).json()["listenKey"]
        with connect(f"ws://127.0.0.1:{server.port}/private/ws?listenKey={key}") as ws:
            deadline = time.monotonic() + 5
            while httpx.get(f"{server.url}/sim/v1/streams", headers=KEY).json()["user"] != 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            answer = server.control("/sim/v1/streams", {"action": "expire_listen_key"})
            expired = json.loads(ws.recv(timeout=5))
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
        put = httpx.put(f"{server.url}/fapi/v1/listenKey", headers=KEY)
        fresh = httpx.post(f"{server.url}/fapi/v1/listenKey", headers=KEY).json()["listenKey"]
    assert answer == {"action": "expire_listen_key", "seconds": 0.0, "kind": "user", "connections": 1}
    assert expired["e"] == "listenKeyExpired" and expired["listenKey"] == key
    assert put.status_code == 400 and put.json()["code"] == -1125
    assert fresh != key


def test_limits_report_peak_minute_weight_and_every_429(clocked: RunningServer, clock: Clock) -> None:
    statuses = [_time(clocked).status_code for _ in range(LIMIT + 1)]  # the last one is a weight 429
    assert statuses == [200] * LIMIT + [429]
    clock.now_ms += 60_000
    assert [_time(clocked).status_code for _ in range(2)] == [200, 200]
    _arm(clocked, {"kind": "rate_limit", "retry_after_s": 1})
    assert _time(clocked).status_code == 429  # a fault's 429 counts as well
    row = _limits_row(clocked)
    assert (row["usedWeight"], row["peakWeight1m"], row["refused429"], row["refused429Total"], row["bans"]) == \
        (3, LIMIT + 1, 1, 2, 0)


def test_ban_after_some_requests_answers_418_until_it_ends(clocked: RunningServer, clock: Clock) -> None:
    """A polite client is never banned by the weight path: `ban` makes one meet a 418 on purpose, and `after`
    lets the first requests through (a ban in the middle of a paged reading)."""
    before = _limits_row(clocked)
    armed = _arm(clocked, {"kind": "ban", "after": 2, "retry_after_s": 5, "paths": ["/fapi/v1/time"]}).json()
    assert armed["faults"] == [{"kind": "ban", "remaining": 1, "until": None, "paths": ["/fapi/v1/time"],
                                "methods": ["GET", "POST", "PUT", "DELETE"], "after": 2, "retry_after_s": 5}]
    answers = [_time(clocked) for _ in range(4)]
    until = clock.now_ms + 5_000
    assert [a.status_code for a in answers] == [200, 200, 418, 418]
    assert answers[2].json() == be.ip_banned(until).to_body() and answers[2].headers["Retry-After"] == "5"
    clock.now_ms = until
    assert _time(clocked).status_code == 200
    row = _limits_row(clocked)
    assert (row["bans"], row["bannedUntil"], row["refused429Total"]) == (1, None, 0)
    # Every request counted, the banned one too; weight only for those not refused by the ban.
    assert (row["requestsTotal"] - before["requestsTotal"], row["weightTotal"] - before["weightTotal"]) == (5, 4)
    assert _faults(clocked) == {"faults": [], "injected": {"server_error": 0, "rate_limit": 0, "slow": 0, "ban": 1}}
