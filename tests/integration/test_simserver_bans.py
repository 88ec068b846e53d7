"""Rate limits per IP: 429 past the weight limit, 418 for an IP that keeps going, recovery after the ban.

Binance (binance_futures.md §5.4): "Breaking a limit → HTTP 429; continuing → HTTP 418 auto-ban,
2 minutes up to 3 days". The server's clock is driven by the test, so a two-minute ban passes at once.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import ccxt
import httpx
import pytest
from test_simserver_support import API_KEY, ManualClock, RunningServer, ccxt_client, running_server

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.exchange.ccxt_errors import translate
from quantum_trader.simserver.weights import BAN_MAX_MS, WeightCounter

KEY = {"X-MBX-APIKEY": API_KEY}
MINUTE_START = 1_800_000_000_000  # a whole minute
LIMIT = 5
BIN = Path(sys.executable).parent / "quantum-trader"


Clock = ManualClock


@pytest.fixture
def clock() -> Clock:
    return Clock(MINUTE_START + 30_000)


@pytest.fixture
def server(clock: Clock) -> Iterator[RunningServer]:
    with running_server(weight_limit=LIMIT, ban_after=1, clock=clock) as srv:
        clock.now_ms += 60_000  # a fresh minute: the harness's readiness pings no longer count
        yield srv


def _info(server: RunningServer, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx.Client()).get(f"{server.url}/fapi/v1/exchangeInfo")


def _break_the_limit(server: RunningServer) -> None:
    assert [_info(server).status_code for _ in range(LIMIT)] == [200] * LIMIT
    refused = _info(server)
    assert refused.status_code == 429 and refused.json()["code"] == -1003
    assert refused.headers["Retry-After"] == "30"


def test_429_then_418_then_recovery_after_the_ban(server: RunningServer, clock: Clock) -> None:
    _break_the_limit(server)
    banned = _info(server)  # kept going inside the Retry-After window
    until = clock.now_ms + 120_000
    assert banned.status_code == 418
    assert banned.json() == {"code": -1003, "msg": f"Way too many requests; IP banned until {until}. Please use "
                                                   "the websocket for live updates to avoid bans."}
    assert banned.headers["Retry-After"] == "120"

    limits = httpx.get(f"{server.url}/sim/v1/limits", headers=KEY).json()  # control calls are never banned
    assert limits["weightLimit"] == LIMIT and limits["banBaseMs"] == 120_000
    [row] = limits["ips"]
    assert row.pop("requestsTotal") >= LIMIT + 2 and row.pop("weightTotal") >= LIMIT + 2  # earlier minutes too
    assert row == {"ip": "127.0.0.1", "usedWeight": LIMIT + 2, "refused429": 1, "bannedUntil": until,
                   "bans": 1, "peakWeight1m": LIMIT + 2, "refused429Total": 1}
    info = httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()
    assert (info["bannedUntil"], info["usedWeight"], info["weightLimit"]) == (until, LIMIT + 2, LIMIT)

    clock.now_ms += 100_000  # still banned, whatever is sent; trying does not lengthen the ban
    later = _info(server)
    assert (later.status_code, later.headers["Retry-After"]) == (418, "20")
    clock.now_ms = until
    assert _info(server).status_code == 200  # the ban is over and this is a new minute


def test_ban_doubles_for_a_repeat_offender(server: RunningServer, clock: Clock) -> None:
    for length_s in (120, 240, 480):
        _break_the_limit(server)
        banned = _info(server)
        assert (banned.status_code, banned.headers["Retry-After"]) == (418, str(length_s))
        clock.now_ms += length_s * 1000 - (clock.now_ms % 60_000) + 30_000  # past the ban, mid-minute
        assert _info(server).status_code == 200
        clock.now_ms += 60_000  # next minute: fresh weight


def test_ban_is_per_ip(server: RunningServer) -> None:
    _break_the_limit(server)
    assert _info(server).status_code == 418
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    answer = _info(server, other)
    assert answer.status_code == 200 and answer.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    rows = httpx.get(f"{server.url}/sim/v1/limits", headers=KEY).json()["ips"]
    assert [(r["ip"], r["bannedUntil"] is not None) for r in rows] == [("127.0.0.1", True), ("127.0.0.2", False)]


def test_ccxt_sees_the_ban_as_ddos_protection_with_retry_after(server: RunningServer) -> None:
    ex = ccxt_client(server.url)
    _break_the_limit(server)
    with pytest.raises(ccxt.DDoSProtection) as caught:
        ex.fapiPublicGetTime()
    error = translate(caught.value, ex.last_response_headers)
    assert error.retryable and error.code == -1003 and "IP banned until" in error.msg
    assert getattr(error, "retry_after", None) == 120.0


@pytest.mark.parametrize(("previous_bans", "minutes"), [(0, 2), (1, 4), (2, 8), (5, 64), (11, 4096), (12, 4320),
                                                        (60, 4320)])
def test_ban_length_doubles_up_to_three_days(previous_bans: int, minutes: int) -> None:
    counter = WeightCounter(lambda: MINUTE_START)
    assert counter.ban_length_ms(previous_bans) == minutes * 60_000
    assert BAN_MAX_MS == 3 * 24 * 60 * 60_000


def test_counter_tolerates_ban_after_429s_then_bans() -> None:
    counter = WeightCounter(lambda: MINUTE_START, limit=2, ban_base_ms=1000, ban_after=3)
    counter.charge(2, "a")
    statuses = []
    for _ in range(5):
        try:
            counter.charge(1, "a")
        except ExchangeError as exc:
            statuses.append(exc.http_status)
    assert statuses == [429, 429, 429, 418, 418]
    assert counter.charge(1, "b") == 1  # another IP has its own budget
    assert counter.retry_after_seconds("a") == 1 and counter.retry_after_seconds("b") == 60


def test_cli_flags_set_the_ban(tmp_path: Path) -> None:
    """`quantum-trader sim-server --ban-seconds 7 --ban-after 1`: the first request after a 429 is banned 7 s."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([str(BIN), "sim-server", "--symbols", "BNBUSDT", "--port", str(port), "--weight-limit",
                             "2", "--ban-seconds", "7", "--ban-after", "1"], stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/sim/v1/info", headers={"X-MBX-APIKEY": "sim-key"}, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        statuses: list[int] = []
        while 418 not in statuses and len(statuses) < 20:  # a minute may roll over once on the way
            statuses.append(httpx.get(f"{url}/fapi/v1/exchangeInfo").status_code)
            banned = statuses[-1] == 418
        assert banned and statuses[-2] == 429
        again = httpx.get(f"{url}/fapi/v1/exchangeInfo")
        assert again.status_code == 418 and int(again.headers["Retry-After"]) in (6, 7)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
