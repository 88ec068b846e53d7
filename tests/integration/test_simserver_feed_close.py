"""sim-server's own feed plays a bar when its clock reaches the bar's close, as Binance closes a kline.

It used to play each bar at its open: a client saw the bar's whole range (and stops filled at its prices) up to a
minute before they happened, the kline stream closed the bar only when the next one was played (measured at
`--speed 1`: 34.8 s after its close time, for a server started at second 35), and every fill and order
update carried the bar's open while `/fapi/v1/time` ran on, so a fill was stamped up to a minute before the
order that made it. Real clients here: unmodified ccxt for REST, raw websockets as the bot's feed reads them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from test_simserver_feed import DROP_BARS, T0, _sim_at, _write_klines
from test_simserver_support import API_KEY, SYMBOLS, RunningServer, ccxt_client, running_server
from websockets.sync.client import ClientConnection, connect

from quantum_trader.simserver.feed import BarFeed, replay_feed, synthetic_feed

KEY = {"X-MBX-APIKEY": API_KEY}
MINUTE = 60_000
BNB = "BNB/USDT:USDT"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class ServerClock:
    """The server's clock: the wall's, `offset_ms` away, so a test can start it a few seconds before a minute
    closes (clients sign against it after ccxt's adjustForTimeDifference, as the bot syncs its clock)."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def __call__(self) -> int:
        return wall_ms() + self.offset_ms


def clock_before_a_close(seconds_left: float) -> ServerClock:
    """A clock that reaches the end of a minute `seconds_left` seconds from now."""
    now = wall_ms()
    boundary = (now // MINUTE + 2) * MINUTE
    return ServerClock(boundary - int(seconds_left * 1000) - now)


class Listener:
    """Every message of one websocket, with the server's clock when it arrived, read on a thread."""

    def __init__(self, url: str, clock: ServerClock) -> None:
        self.messages: list[tuple[int, dict[str, Any]]] = []
        self._ws: ClientConnection = connect(url)
        self._clock = clock
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._ws:
                message = json.loads(raw)
                self.messages.append((self._clock(), message.get("data", message)))
        except Exception:  # closed at the end of the test
            return

    def klines(self) -> list[tuple[int, dict[str, Any]]]:
        return [(at, m) for at, m in list(self.messages) if m.get("e") == "kline"]

    def wait_closed(self, open_ms: int, timeout_s: float) -> tuple[int, dict[str, Any]] | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for at, m in self.klines():
                if m["k"]["x"] and m["k"]["t"] == open_ms:
                    return at, m
            time.sleep(0.005)
        return None

    def close(self) -> None:
        self._ws.close()
        self._thread.join(5)


@contextmanager
def live_server(clock: ServerClock) -> Iterator[tuple[RunningServer, BarFeed, int]]:
    """A server with `sim-server --feed synthetic --speed 1`'s feed on `clock`; yields it, its feed (not yet
    started) and the open of the minute the server starts in."""
    start = clock()
    sim = _sim_at(start)
    feed = synthetic_feed({s: sim.last_price(s) for s in SYMBOLS}, start_ms=start, seed=7, speed=1.0, live=True)
    with running_server(sim, feed=feed, clock=clock) as server:
        try:
            yield server, feed, start // MINUTE * MINUTE
        finally:
            feed.stop()


def listen(server: RunningServer, clock: ServerClock) -> tuple[Listener, Listener]:
    """The BNBUSDT 1m kline stream, and the user-data stream of a fresh listen key."""
    key = httpx.post(f"{server.url}/fapi/v1/listenKey", headers=KEY).json()["listenKey"]
    market = Listener(f"ws://127.0.0.1:{server.port}/market/stream?streams=bnbusdt@kline_1m", clock)
    return market, Listener(f"ws://127.0.0.1:{server.port}/ws/{key}", clock)


def test_at_speed_1_a_bar_closes_at_its_close_and_nothing_is_stamped_ahead_of_the_servers_clock() -> None:
    clock = clock_before_a_close(6.0)
    with live_server(clock) as (server, feed, minute):
        market, user = listen(server, clock)
        feed.start()
        ex = ccxt_client(server.url)
        ex.options["adjustForTimeDifference"] = True
        ex.load_markets()
        sent_after = ex.fetch_time()  # the bar is in progress: it closes in about 6 s
        order = ex.create_order(BNB, "market", "buy", 1)
        [fill] = ex.fetch_my_trades(BNB)
        in_progress = ex.fetch_ohlcv(BNB, "1m", limit=2)[-1]
        checked = ex.fetch_time()
        closed = market.wait_closed(minute, 10)
        after_close = ex.fetch_ohlcv(BNB, "1m", limit=2)
        time.sleep(0.3)
        market.close()
        user.close()
    assert sent_after <= int(order["info"]["updateTime"]) <= fill["timestamp"] <= checked, (sent_after, order, fill)
    assert in_progress[0] == minute and checked < minute + MINUTE  # the minute had not closed yet...
    assert in_progress[1] == in_progress[2] == in_progress[3] == in_progress[4]  # ...and shows nothing of its path
    assert closed is not None, "the bar was not reported closed within 10 s of its close"
    received, message = closed
    k = message["k"]
    assert k["T"] == minute + MINUTE - 1 and k["T"] < message["E"] <= received
    assert 0 < received - k["T"] < 1_000, f"closed kline {received - k['T']} ms after its close time"
    assert after_close[0][0] == minute and [float(k[x]) for x in "ohlc"] == after_close[0][1:5]  # REST = stream
    assert after_close[1][0] == minute + MINUTE and len(set(after_close[1][1:5])) == 1  # the next is in progress
    for at, m in market.messages + user.messages:  # no event time ahead of the server's clock
        assert int(m["E"]) <= at, m
    trades = [m["o"] for _, m in user.messages if m.get("e") == "ORDER_TRADE_UPDATE" and m["o"]["x"] == "TRADE"]
    assert trades and all(sent_after <= int(o["T"]) for o in trades), trades


def test_a_replayed_bar_shows_nothing_of_its_path_before_it_closes_and_its_stop_fills_inside_it(tmp_path: Path) -> None:
    """DROP_BARS at 60x (a bar a second): the stop at 580 fills in the third bar, at its last millisecond, and
    no kline message showed any bar's range before its `"x": true`."""
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS)
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=60.0)
    clock = ServerClock(0)
    with running_server(_sim_at(T0), feed=feed) as server:
        market, user = listen(server, clock)
        feed.start()
        try:
            time.sleep(0.3)  # inside the first bar, on the replay's clock
            ex = ccxt_client(server.url)
            ex.create_order(BNB, "market", "buy", 1)
            stop = ex.create_order(BNB, "STOP_MARKET", "sell", None, None, {"stopPrice": 580, "closePosition": True})
            assert feed.wait_done(15)
            time.sleep(0.3)
            trades = ex.fetch_my_trades(BNB)
        finally:
            feed.stop()
            market.close()
            user.close()
    placed = int(stop["info"]["createTime"])
    assert T0 < placed < T0 + MINUTE  # the replay's clock ran on inside the first bar: the order is stamped then
    stop_fill = [t for t in trades if t["side"] == "sell"]
    assert len(stop_fill) == 1 and stop_fill[0]["timestamp"] == T0 + 3 * MINUTE - 1  # the drop's last millisecond
    klines = [m["k"] for _, m in market.klines()]
    closes = [k["t"] for k in klines if k["x"]]
    assert closes == [T0 + i * MINUTE for i in range(len(DROP_BARS))]  # each bar closed once, in order
    previous_close = {T0 + i * MINUTE: str(bar[3]) for i, bar in enumerate([(600, 600, 600, 600), *DROP_BARS])}
    for k in klines:
        if not k["x"]:  # in progress: flat at the close before it, nothing of its own path
            assert k["o"] == k["h"] == k["l"] == k["c"] == previous_close[k["t"]], k


def test_a_clock_shift_moves_a_live_feeds_clock() -> None:
    """`POST /sim/v1/clock` moves the server's clock, and a synthetic feed's with it: 29 s ahead, a minute due
    in 30 s closes within a second or so, stamped on the shifted clock."""
    clock = clock_before_a_close(30.0)
    with live_server(clock) as (server, feed, minute):
        market, user = listen(server, clock)
        feed.start()
        time.sleep(0.3)
        server.control("/sim/v1/clock", {"offset_ms": 29_000})
        shifted = ServerClock(clock.offset_ms + 29_000)
        closed = market.wait_closed(minute, 5)
        server_time = httpx.get(f"{server.url}/fapi/v1/time").json()["serverTime"]
        market.close()
        user.close()
    assert closed is not None, "the shifted clock did not close the minute"
    _, message = closed
    assert message["k"]["T"] < message["E"] <= server_time <= shifted()


def _event_log(tmp_path: Path) -> list[str]:
    """A replay at --speed max with the same orders sent before it: the simulator's whole event log."""
    tmp_path.mkdir()
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS * 5)
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=None)
    with running_server(_sim_at(T0), feed=feed) as server:
        server.call("POST", "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
        server.call("POST", "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "SELL", "type": "LIMIT", "quantity": "1",
                                               "price": "601", "timeInForce": "GTC"})
        feed.start()
        assert feed.wait_done(15)
        feed.stop()
        return [json.dumps(e, sort_keys=True, default=str) for e in server.sim.events]


def test_at_speed_max_the_same_orders_give_the_same_event_log(tmp_path: Path) -> None:
    first, second = _event_log(tmp_path / "a"), _event_log(tmp_path / "b")
    assert first == second and any('"TRADE"' in e for e in first)
