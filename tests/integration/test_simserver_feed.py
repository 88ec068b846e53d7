"""Bar feeds behind the simulator server (synthetic prices move, a replayed drop stops a position out)
and the market streams that publish those prices."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_simserver_support import API_KEY, START_PRICES, SYMBOLS, RunningServer, ccxt_client, running_server
from typer.testing import CliRunner
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from quantum_trader.cli.main import app
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.feed_bar import on_tick
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.feed import FeedError, parse_feed, parse_speed, replay_feed, synthetic_feed

KEY = {"X-MBX-APIKEY": API_KEY}
FORM = {**KEY, "Content-Type": "application/x-www-form-urlencoded"}
#: 2026-01-05T00:00:00Z: the replayed bars' first open time.
T0 = 1_767_571_200_000
#: BNBUSDT falls from 600 through 580 in the third bar; the stop below must fire there.
DROP_BARS = [(600, 601, 599, 600), (600, 600, 595, 596), (596, 597, 570, 575), (575, 576, 574, 575)]


def _post(server: RunningServer, path: str, params: dict[str, Any]) -> Any:
    return server.call("POST", path, params)


def _get(server: RunningServer, path: str, params: dict[str, Any]) -> Any:
    return server.call("GET", path, params)


def _price(server: RunningServer, symbol: str) -> Decimal:
    return Decimal(httpx.get(f"{server.url}/fapi/v1/ticker/price", params={"symbol": symbol}).json()["price"])


def _write_klines(path: Path, bars: list[tuple[int, int, int, int]], volumes: list[str] | None = None) -> None:
    rows = ["open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
            "taker_buy_quote_volume,ignore"]
    for i, (o, h, lo, c) in enumerate(bars):
        start = T0 + i * 60_000
        volume = "100" if volumes is None else volumes[i]
        rows.append(f"{start},{o},{h},{lo},{c},{volume},{start + 59_999},60000,10,50,30000,0")
    path.write_text("\n".join(rows) + "\n")


def _sim_at(start_ms: int) -> ExchangeSimulator:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig(start_time_ms=start_ms))
    sim.set_prices(START_PRICES)
    return sim


def test_synthetic_feed_moves_prices_and_time() -> None:
    start = time.time_ns() // 1_000_000
    sim = _sim_at(start)
    feed = synthetic_feed({s: sim.last_price(s) for s in SYMBOLS}, start_ms=start, seed=7, speed=None)
    with running_server(sim, feed=feed) as server:
        before = {s: _price(server, s) for s in SYMBOLS}
        feed.start()
        try:
            deadline = time.monotonic() + 10
            while feed.bars_played < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            after = {s: _price(server, s) for s in SYMBOLS}
            info = httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()
        finally:
            feed.stop()
        assert not feed.running
    assert feed.bars_played >= 20
    assert after != before
    assert info["simTime"] >= start // 60_000 * 60_000 + 19 * 60_000  # the first bar: the minute start is in
    for symbol, price in after.items():  # every price stays on its tick
        assert price % sim.instrument(symbol).tick_size == 0


def test_a_paced_synthetic_feed_never_runs_ahead_of_the_wall_clock() -> None:
    """Its first bar used to open at the next minute boundary and be played at once: the simulator's clock
    ran up to 60 s ahead of /fapi/v1/time (orders answered with an updateTime in the future, a kline that had
    not opened yet). The first bar is the minute the server started in, played when that minute closes;
    meanwhile the simulator's clock follows the server's and the bar in progress shows nothing of its path."""
    start = time.time_ns() // 1_000_000
    sim = _sim_at(start)
    feed = synthetic_feed({s: sim.last_price(s) for s in SYMBOLS}, start_ms=start, seed=7, speed=1.0, live=True)
    with running_server(sim, feed=feed) as server:
        feed.start()
        try:
            time.sleep(0.5)
            before = httpx.get(f"{server.url}/fapi/v1/time").json()["serverTime"]
            info = httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()
            klines = httpx.get(f"{server.url}/fapi/v1/klines", params={"symbol": SYMBOLS[0], "interval": "1m"}).json()
            server_time = httpx.get(f"{server.url}/fapi/v1/time").json()["serverTime"]
        finally:
            feed.stop()
    assert before <= info["simTime"] <= server_time  # it follows the server's clock, never ahead of it
    assert klines and max(int(k[0]) for k in klines) <= server_time  # no kline opens in the future
    if feed.bars_played == 0:  # (unless the test started in the last half second of a minute)
        row = klines[-1]
        assert len({row[1], row[2], row[3], row[4]}) == 1 and row[5] == "0"  # the bar in progress: flat, no volume


def test_replay_drop_stops_out_protected_position(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS)
    _write_klines(tmp_path / "NOTSERVEDUSDT-1m-2026-01.csv", DROP_BARS)
    with caplog.at_level(logging.WARNING):
        feed, first = replay_feed(tmp_path, SYMBOLS, speed=None)
    assert first == T0
    assert "NOTSERVEDUSDT" in caplog.text
    sim = _sim_at(T0)
    with running_server(sim, feed=feed) as server:
        _post(server, "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
        _post(server, "/fapi/v1/algoOrder", {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL",
                                             "type": "STOP_MARKET", "triggerPrice": "580", "closePosition": "true"})
        assert sim.position("BNBUSDT").amount == 1
        feed.start()
        try:
            assert feed.wait_done(10)
        finally:
            feed.stop()
        risk = _get(server, "/fapi/v2/positionRisk", {"symbol": "BNBUSDT"})
        assert Decimal(risk[0]["positionAmt"]) == 0
        assert _get(server, "/fapi/v1/openAlgoOrders", {"symbol": "BNBUSDT"}) == []
        assert _price(server, "BNBUSDT") == Decimal("575")
    assert feed.bars_played == len(DROP_BARS)
    assert sim.now_ms == T0 + 4 * 60_000  # the last bar's end: it is closed


def test_paced_feed_waits_between_bars(tmp_path: Path) -> None:
    """Each bar waits for its close on the feed's clock (a 1m bar every 5 s here: wide margins on a busy
    machine); meanwhile the simulator's time runs with that clock, short of the bar's end."""
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS)
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=12.0)
    with running_server(_sim_at(T0), feed=feed) as server:
        started = time.monotonic()
        feed.start()
        try:
            time.sleep(2.0)
            waiting = feed.bars_played
            sim_time = httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()["simTime"]
            deadline = time.monotonic() + 10
            while feed.bars_played == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            first_after = time.monotonic() - started
        finally:
            feed.stop(timeout=5)
        assert not feed.running
    assert waiting == 0 and T0 + 20_000 <= sim_time < T0 + 60_000  # 2 s at 12x: 24 s into the first bar
    assert feed.bars_played == 1 and first_after >= 4.9  # its close, 60 s of market time at 12x


def test_parsing_and_bad_values() -> None:
    assert parse_speed("max") is None and parse_speed("2.5") == 2.5
    assert parse_feed("replay:/x/y") == ("replay", "/x/y") and parse_feed("synthetic") == ("synthetic", None)
    for bad in ("0", "-1", "fast", "nan"):
        with pytest.raises(FeedError):
            parse_speed(bad)
    with pytest.raises(FeedError):
        parse_feed("random")
    with pytest.raises(FeedError):
        replay_feed("/nonexistent/klines", SYMBOLS)
    assert on_tick(600.004999, Decimal("0.010")) == Decimal("600.000")
    assert on_tick(0.0001, Decimal("0.1")) == Decimal("0.1")


@pytest.mark.parametrize(("args", "needle"), [
    (["--feed", "replay:/nonexistent/bars.csv"], "does not exist"),
    (["--feed", "random"], "replay:PATH"),
    (["--feed", "synthetic", "--speed", "fast"], "--speed"),
])
def test_cli_bad_feed_values_exit_2(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(app, ["sim-server", *args])
    assert result.exit_code == 2
    assert needle in result.output


def test_cli_replay_without_served_symbols_exits_2(tmp_path: Path) -> None:
    _write_klines(tmp_path / "NOTSERVEDUSDT-1m-2026-01.csv", DROP_BARS)
    result = CliRunner().invoke(app, ["sim-server", "--symbols", "BNBUSDT", "--feed", f"replay:{tmp_path}"])
    assert result.exit_code == 2
    assert "none of its symbols" in result.output


# --- market streams (mark price, klines), pushed on every price change ------------------------------


def _next(ws: Any, event: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(ws.recv(timeout=5))
        if message["e"] == event:
            return message


@pytest.mark.parametrize("path", ["/ws/bnbusdt@markPrice", "/ws/bnbusdt@markPrice@1s",
                                  "/market/ws/bnbusdt@markPrice"])
def test_mark_price_stream_pushes_each_change(path: str) -> None:
    with running_server() as server, connect(f"ws://127.0.0.1:{server.port}{path}") as ws:
        first = _next(ws, "markPriceUpdate")
        assert first["s"] == "BNBUSDT" and first["p"] == "600" and isinstance(first["p"], str)
        assert {"E", "i", "P", "r", "T"} <= first.keys()
        server.control("/sim/v1/prices", {"prices": {"BNBUSDT": "612.5"}})
        assert _next(ws, "markPriceUpdate")["p"] == "612.5"
        server.control("/sim/v1/prices", {"prices": {"BNBUSDT": "598"}})
        assert _next(ws, "markPriceUpdate")["p"] == "598"


def test_kline_stream_follows_a_replayed_bar(tmp_path: Path) -> None:
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS[:2])
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=None)
    with running_server(_sim_at(T0), feed=feed) as server, \
            connect(f"ws://127.0.0.1:{server.port}/market/ws/bnbusdt@kline_1m") as ws:
        first = _next(ws, "kline")
        assert first["k"]["t"] == T0 and first["k"]["i"] == "1m" and first["k"]["x"] is False
        feed.start()
        try:
            assert feed.wait_done(10)
        finally:
            feed.stop()
        seen = [_next(ws, "kline")]
        while seen[-1]["k"]["t"] != T0 + 60_000:
            seen.append(_next(ws, "kline"))
        last = seen[-1]["k"]
        assert (last["o"], last["h"], last["l"], last["c"], last["T"]) == ("600", "600", "595", "596", T0 + 119_999)
        closed = [m["k"] for m in seen if m["k"]["x"]]
        assert closed and closed[0]["t"] == T0 and closed[0]["h"] == "601" and closed[0]["l"] == "599"
        assert closed[0]["v"] == last["v"] == "100"  # the replayed data's volume, not the old constant "0"


def test_replayed_volume_reaches_ccxt_klines_summed_per_interval(tmp_path: Path) -> None:
    """A strategy reading volume (the AI scanner's volume z-score) must see over the live path what a
    backtest of the same file sees: each replayed bar's volume, summed into longer bars; mark-price klines
    keep Binance's "0". The quote volume is estimated from each bar's typical price, and the 24 h ticker
    sums both (so `download --symbols N` ranks a simulator's symbols as it ranks Binance's)."""
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS, ["12.5", "0.25", "3", "1000.12"])
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=None)
    with running_server(_sim_at(T0), feed=feed) as server:
        feed.start()
        try:
            assert feed.wait_done(10)
        finally:
            feed.stop()
        ex = ccxt_client(server.url)  # the minute after the last bar is in progress: no volume yet
        minutes = ex.fetch_ohlcv("BNB/USDT:USDT", "1m", since=T0, limit=5)
        threes = ex.fetch_ohlcv("BNB/USDT:USDT", "3m", since=T0, limit=2)
        marks = _get(server, "/fapi/v1/markPriceKlines", {"symbol": "BNBUSDT", "interval": "1m", "startTime": T0})
        raw = _get(server, "/fapi/v1/klines", {"symbol": "BNBUSDT", "interval": "1m", "startTime": T0})
        ticker = _get(server, "/fapi/v1/ticker/24hr", {"symbol": "BNBUSDT"})
    assert [row[5] for row in minutes] == [12.5, 0.25, 3.0, 1000.12, 0.0]
    assert [row[5] for row in threes] == [15.75, 1000.12]
    assert {row[5] for row in marks} == {"0"}
    assert [row[7] for row in raw] == ["7500", "149.25", "1742", "575069", "0"]  # volume x (high + low + close) / 3
    assert Decimal(ticker["volume"]) == Decimal("1015.87")
    assert Decimal(ticker["quoteVolume"]) == sum(Decimal(row[7]) for row in raw)
    assert Decimal(ticker["weightedAvgPrice"]) == Decimal("575.33")  # quote / volume, on the tick (0.01)


def test_unknown_market_stream_is_closed() -> None:
    with running_server() as server, connect(f"ws://127.0.0.1:{server.port}/ws/nopeusdt@markPrice") as ws, \
            pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)


def test_history_bars_play_at_once_then_the_replay_keeps_its_pace(tmp_path: Path) -> None:
    """`--history-bars 2`: two closed klines exist at once (a client warming up from REST starts at once,
    as against Binance); the third bar is then in progress (flat at the second's close, no volume yet) and is
    played when it closes, a minute later at speed 1."""
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS, ["1", "2", "3", "4"])
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=1.0)
    feed.history_bars = 2
    with running_server(_sim_at(T0), feed=feed) as server:
        feed.start()
        try:
            deadline = time.monotonic() + 10
            while not feed.history_played and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            info = httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()
            klines = _get(server, "/fapi/v1/klines", {"symbol": "BNBUSDT", "interval": "1m", "startTime": T0})
        finally:
            feed.stop(timeout=5)
    assert info["feed"] == {"name": f"replay:{tmp_path}", "barsPlayed": 2, "historyBars": 2, "historyPlayed": True,
                            "symbols": 1}
    assert T0 + 2 * 60_000 <= info["simTime"] < T0 + 2 * 60_000 + 10_000  # the third bar's first seconds
    assert [(row[0], row[2], row[4], row[5]) for row in klines] == [
        (T0, "601", "600", "1"), (T0 + 60_000, "600", "596", "2"), (T0 + 120_000, "596", "596", "0")]


@pytest.mark.parametrize("feed", ["synthetic", "replay:/x --speed max"])
def test_history_bars_need_a_paced_replay(feed: str) -> None:
    spec, *speed = feed.split()
    result = CliRunner().invoke(app, ["sim-server", "--feed", spec, *speed, "--history-bars", "300"])
    assert result.exit_code == 2 and "--history-bars needs --feed replay:PATH" in result.output


def test_a_stopped_feed_resumes_after_the_last_bar_it_played(tmp_path: Path) -> None:
    """Stop, then start again: the next bar, not the first one again on top of the current time (which put
    an old price and a second volume into the current kline); the time it stood still is no market time."""
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS, ["1", "2", "3", "4"])
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=60.0)  # a bar a second: stopped after each one
    with running_server(_sim_at(T0), feed=feed) as server:
        for played in (1, 2, 3):
            feed.start()
            deadline = time.monotonic() + 10
            while feed.bars_played < played and time.monotonic() < deadline:
                time.sleep(0.01)
            feed.stop(timeout=5)
            time.sleep(0.3 if played < 3 else 0)  # stopped: the market's clock stands still
        klines = _get(server, "/fapi/v1/klines", {"symbol": "BNBUSDT", "interval": "1m", "startTime": T0})
    assert feed.bars_played == 3 and server.sim.now_ms == T0 + 3 * 60_000
    assert [(row[0], row[1], row[4], row[5]) for row in klines] == [
        (T0, "600", "600", "1"), (T0 + 60_000, "600", "596", "2"), (T0 + 120_000, "596", "575", "3"),
        (T0 + 180_000, "575", "575", "0")]


def test_a_replay_stops_at_a_hole_in_its_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two months three years apart in one folder: the server plays the first and stops there, saying where
    and why, instead of jumping its clock three years (and charging funding for all of them)."""
    later = T0 + 3 * 365 * 86_400_000
    _write_klines(tmp_path / "BNBUSDT-1m-2026-01.csv", DROP_BARS)
    rows = [f"{later + i * 60_000},575,576,574,575,10,{later + i * 60_000 + 59_999},5750,5,5,2875,0" for i in range(3)]
    (tmp_path / "BNBUSDT-1m-2029-01.csv").write_text("\n".join(rows) + "\n")
    feed, _ = replay_feed(tmp_path, SYMBOLS, speed=None)
    sim = _sim_at(T0)
    with caplog.at_level(logging.ERROR), running_server(sim, feed=feed) as server:
        feed.start()
        try:
            assert feed.wait_done(10)
        finally:
            feed.stop()
        info = httpx.get(f"{server.url}/sim/v1/info", headers=KEY).json()
        feed.start()  # started again (the control endpoint can): it stays where it stopped
        assert feed.wait_done(10)
    assert feed.bars_played == len(DROP_BARS)
    assert sim.now_ms < later
    assert f"stops after {len(DROP_BARS)} bars" in caplog.text and "1,095.0 days" in caplog.text
    assert "1,095.0 days" in info["feed"]["stopped"] and "stays stopped" in caplog.text
