"""`quantum-trader download` against a sim-server that is still replaying old data: its `serverTime` is now,
while its klines are in January 2026, so whether a day is over is read from the market's own clock (a bar
after the day on the server), never from `serverTime`. A day the replay has only partly played is not
written and a later run fetches it whole; a day file an earlier version wrote while its day was still
playing is fetched again once the server has more of it; a day that is over with part of its bars (the
replay's first day starts at noon) is written as before."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from test_simserver_support import SYMBOLS, RunningServer, running_server
from typer.testing import CliRunner

from quantum_trader.cli.main import app
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.feed import FEED_CHUNK_BARS, BarFeed, replay_feed

DAY = 86_400_000
#: 2026-01-05T12:00:00Z: the replay starts at noon, so its first day is over with half its bars.
T0 = 1_767_571_200_000 + DAY // 2
JAN_7 = 1_767_571_200_000 + 2 * DAY
BARS = 720 + 2 * 1440 + 1  # half of Jan 5, Jan 6 and Jan 7, the first bar of Jan 8
#: The feed waits after this many bars (whole chunks): 144 bars into Jan 7.
GATE_BARS = 9 * FEED_CHUNK_BARS
DAYS = ("2026-01-05", "2026-01-06", "2026-01-07")


def _write_source(folder: Path) -> None:
    rng = np.random.default_rng(5)
    closes = 600.0 * np.exp(np.cumsum(rng.normal(0, 0.001, BARS)))
    opens = np.concatenate([[600.0], closes[:-1]])
    lines = []
    for i in range(BARS):
        o, c, t = opens[i], closes[i], T0 + i * 60_000
        lines.append(f"{t},{o:.2f},{max(o, c) * 1.0005:.2f},{min(o, c) * 0.9995:.2f},{c:.2f},10,{t + 59_999},0,1,0,0,0")
    (folder / "BNBUSDT-1m-2026-01.csv").write_text("\n".join(lines) + "\n")


def _gated(bars: Callable[[], Iterable[BarChunk]], after: int,
           gate: threading.Event) -> Callable[[], Iterator[BarChunk]]:
    """The replay's own chunks, held after `after` bars until `gate` opens: the test moves the replay on."""

    def chunks() -> Iterator[BarChunk]:
        played = 0
        for chunk in bars():
            if played >= after:
                gate.wait(120)
            yield chunk
            played += len(chunk)

    return chunks


@contextmanager
def gated_replay(folder: Path, start_ms: int, gate_bars: int) -> Iterator[tuple[RunningServer, BarFeed,
                                                                                   threading.Event]]:
    """A sim-server replaying the kline files in `folder` (from `start_ms`) as fast as it can, held after
    `gate_bars` bars until the test sets the gate it yields."""
    feed, first = replay_feed(folder, SYMBOLS, speed=None)
    assert first == start_ms
    gate = threading.Event()
    feed.bars = _gated(feed.bars, gate_bars, gate)
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig(start_time_ms=start_ms))
    sim.set_prices({"BNBUSDT": "600", "BTCUSDT": "100000", "ETHUSDT": "2500"})
    with running_server(sim, feed=feed) as server:
        feed.start()
        try:
            deadline = time.monotonic() + 60
            while feed.bars_played < gate_bars and time.monotonic() < deadline:
                time.sleep(0.05)
            assert feed.bars_played == gate_bars
            yield server, feed, gate
        finally:
            gate.set()
            feed.stop()


@pytest.fixture
def replaying(tmp_path: Path) -> Iterator[tuple[RunningServer, BarFeed, threading.Event]]:
    _write_source(tmp_path)
    with gated_replay(tmp_path, T0, GATE_BARS) as served:
        yield served


def _download(server: RunningServer, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["download", "--symbols", "BNBUSDT", "--start", DAYS[0], "--end", DAYS[-1],
                                      "--out", str(out), "--exchange", server.url, "--json"])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _server_day(server: RunningServer, start: int) -> list[str]:
    """The server's klines of one day as Binance's CSV rows."""
    rows: list[list[Any]] = []
    for page in range(start, start + DAY, 480 * 60_000):
        rows += httpx.get(f"{server.url}/fapi/v1/klines", params={"symbol": "BNBUSDT", "interval": "1m",
                                                                  "startTime": page, "endTime": page + 480 * 60_000 - 1,
                                                                  "limit": 480}).json()
    return [",".join(str(x) for x in row) for row in rows]


def test_a_day_the_replay_has_partly_played_is_fetched_whole_once_it_is_over(
        replaying: tuple[RunningServer, BarFeed, threading.Event], tmp_path: Path) -> None:
    server, feed, gate = replaying
    fresh, earlier = tmp_path / "fresh", tmp_path / "earlier"
    jan_7 = "BNBUSDT-1m-2026-01-07.csv"
    # What an earlier version wrote for Jan 7 while the replay had played 144 of its bars (and the 145th was in
    # progress, flat at the 144th's close).
    played = _server_day(server, JAN_7)
    assert len(played) == 145
    (earlier / jan_7).parent.mkdir(parents=True)
    (earlier / jan_7).write_text("\n".join(["open_time", *played]) + "\n")

    summary = _download(server, fresh)
    assert sorted(summary["not_over"]) == [jan_7, f"markPriceKlines/{jan_7}"]
    assert not (fresh / jan_7).exists() and not (fresh / "markPriceKlines" / jan_7).exists()
    # Jan 5 is over with the half the replay has (it starts at noon); Jan 6 is whole.
    assert [p["file"] for p in summary["partial"]] == ["BNBUSDT-1m-2026-01-05.csv",
                                                      "markPriceKlines/BNBUSDT-1m-2026-01-05.csv"]
    assert {p["bars"] for p in summary["partial"]} == {720}
    assert len((fresh / "BNBUSDT-1m-2026-01-06.csv").read_text().splitlines()) == 1 + 1440
    kept = _download(server, earlier)
    assert kept["partial_kept"] == [jan_7] and kept["not_over"] == [f"markPriceKlines/{jan_7}"]
    assert len((earlier / jan_7).read_text().splitlines()) == 1 + 145

    gate.set()  # the replay plays the rest of Jan 7 and the first bar of Jan 8
    assert feed.wait_done(60) and feed.bars_played == BARS
    whole = _server_day(server, JAN_7)
    assert len(whole) == 1440 and whole[:144] == played[:144]
    for out in (fresh, earlier):
        again = _download(server, out)
        assert again["not_over"] == [] and again["partial_kept"] == [] and again["partial"] == []
        assert sorted(f for f in again["written"] if "fundingRate" not in f) == [jan_7, f"markPriceKlines/{jan_7}"]
        assert again["files_kept"] == 4
        assert (out / jan_7).read_text().splitlines()[1:] == whole
