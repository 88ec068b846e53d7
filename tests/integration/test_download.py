"""`quantum-trader download` against `sim-server` on loopback with the real ccxt client: 2 symbols × 2 days
of klines, mark-price klines and funding, read back by the readers the backtest uses; resumed after a file
is deleted; within the server's request weights (no 429)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from structlog.testing import capture_logs
from test_run_session import free_port
from test_simserver_support import API_KEY, SYMBOLS, RunningServer, running_server
from typer.testing import CliRunner

from quantum_trader.cli.download_cmd import BINANCE_URL, source_line
from quantum_trader.cli.main import app
from quantum_trader.domain.errors import ExchangeError
from quantum_trader.download.downloader import Downloader
from quantum_trader.exchange.budget import WeightBudget
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.marketdata.bars import iter_binance_klines
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.feed import replay_feed

#: 2026-01-05T00:00:00Z: the replayed bars' first open time; two whole days, then one bar of the third
#: (so the second day's last bar is closed on the server).
T0 = 1_767_571_200_000
DAY = 86_400_000
BARS = 2 * 1440 + 1
PAIR = ("BNBUSDT", "ETHUSDT")
KEY = {"X-MBX-APIKEY": API_KEY}


def _write_source(folder: Path) -> None:
    """A seeded random walk per symbol, in Binance's kline CSV layout (one file per symbol)."""
    rng = np.random.default_rng(11)
    for symbol, start in (("BNBUSDT", 600.0), ("ETHUSDT", 2500.0)):
        closes = start * np.exp(np.cumsum(rng.normal(0, 0.001, BARS)))
        opens = np.concatenate([[start], closes[:-1]])
        lines = []
        for i in range(BARS):
            o, c = opens[i], closes[i]
            h, lo = max(o, c) * 1.0005, min(o, c) * 0.9995
            t = T0 + i * 60_000
            lines.append(f"{t},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},10,{t + 59_999},0,1,0,0,0")
        (folder / f"{symbol}-1m-2026-01.csv").write_text("\n".join(lines) + "\n")


def _sim() -> ExchangeSimulator:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS}, SimConfig(start_time_ms=T0))
    sim.set_prices({"BNBUSDT": "600", "BTCUSDT": "100000", "ETHUSDT": "2500"})
    return sim


def _download(server: RunningServer, out: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["download", "--symbols", ",".join(PAIR), "--start", "2026-01-05",
                                      "--end", "2026-01-06", "--out", str(out), "--exchange", server.url,
                                      "--json", *extra])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _server_klines(server: RunningServer, path: str, symbol: str) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for start in range(T0, T0 + 2 * DAY, 1500 * 60_000):
        end = min(start + 1500 * 60_000, T0 + 2 * DAY) - 1
        rows += httpx.get(f"{server.url}{path}", params={"symbol": symbol, "interval": "1m", "startTime": start,
                                                         "endTime": end, "limit": 1500}).json()
    return rows


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    source = tmp_path_factory.mktemp("source")
    _write_source(source)
    feed, first = replay_feed(source, SYMBOLS, speed=None)
    assert first == T0
    with running_server(_sim(), feed=feed) as server:
        feed.start()
        try:
            assert feed.wait_done(120)
        finally:
            feed.stop()
        yield server


def test_download_reads_back_as_the_servers_klines(served: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "data"
    summary = _download(served, out)
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    days = ("2026-01-05", "2026-01-06")
    assert names == sorted([*(f"{s}-1m-{d}.csv" for s in PAIR for d in days),
                            *(f"markPriceKlines/{s}-1m-{d}.csv" for s in PAIR for d in days),
                            *(f"fundingRate/{s}-fundingRate-2026-01.csv" for s in PAIR)])
    assert summary["files_written"] == 10 and summary["files_kept"] == 0
    assert summary["rate_limited_429"] == 0 and summary["peak_used_weight"] <= summary["weight_limit"]
    chunks = list(iter_binance_klines(out, chunk_bars=1000))
    times = np.concatenate([c.open_time for c in chunks])
    assert chunks[0].symbols == PAIR
    assert len(times) == 2 * 1440 and (np.diff(times) == 60_000).all() and times[0] == T0
    for s, symbol in enumerate(PAIR):
        expected = np.array([[float(x) for x in row[1:5]] for row in _server_klines(served, "/fapi/v1/klines", symbol)])
        got = np.column_stack([np.concatenate([getattr(c, f)[:, s] for c in chunks])
                               for f in ("open", "high", "low", "close")])
        np.testing.assert_array_equal(got, expected)
    marks = list(iter_binance_klines(out / "markPriceKlines", chunk_bars=5000))
    assert marks[0].symbols == PAIR and len(marks[0]) == 2 * 1440
    funding = (out / "fundingRate" / "BNBUSDT-fundingRate-2026-01.csv").read_text().splitlines()
    assert funding[0] == "calc_time,funding_interval_hours,last_funding_rate"
    # Funding at 00, 08 and 16 UTC from the first bar through the server's clock (the third day's 00:00).
    assert [int(line.split(",")[0]) for line in funding[1:]] == [T0 + h * 3_600_000 for h in range(0, 49, 8)]
    assert {line.split(",", 1)[1] for line in funding[1:]} == {"8,0.0001"}
    latest = httpx.get(f"{served.url}/fapi/v1/fundingRate", params={"symbol": "BNBUSDT", "limit": 2}).json()
    assert [row["fundingTime"] for row in latest] == [T0 + 40 * 3_600_000, T0 + 48 * 3_600_000]
    first = httpx.get(f"{served.url}/fapi/v1/fundingRate", params={"symbol": "BNBUSDT", "startTime": T0}).json()[0]
    assert first["fundingTime"] == T0  # at the first bar: that bar's open, not wherever the price is now
    assert first["markPrice"] == _server_klines(served, "/fapi/v1/klines", "BNBUSDT")[0][1]
    limits = httpx.get(f"{served.url}/sim/v1/limits", headers=KEY).json()
    assert all(ip["refused429Total"] == 0 and ip["bans"] == 0 for ip in limits["ips"])


def test_download_resumes_with_only_what_is_missing(served: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "data"
    _download(served, out)
    last = out / "ETHUSDT-1m-2026-01-06.csv"
    before = last.read_bytes()
    last.unlink()
    (out / ".ETHUSDT-1m-2026-01-06.csv.part").write_text("1767657600000,1,2")  # an interrupted write
    summary = _download(served, out)
    # January's funding is not asked again: its files end at 2026-01-07 00:00, and the next funding (08:00) is
    # past the server's latest bar (00:01, in progress after the last one played), whatever its serverTime says.
    # It was fetched whole again on every run until the month ended.
    assert summary["written"] == ["ETHUSDT-1m-2026-01-06.csv"]
    # time, exchangeInfo, a day in 3 pages, each symbol's latest bar
    assert summary["files_kept"] == 9 and summary["requests"] == 7
    assert last.read_bytes() == before
    assert Decimal(1440) == sum(len(c) for c in iter_binance_klines(last))


def test_top_n_symbols_and_bad_arguments(served: RunningServer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["download", "--symbols", "2", "--start", "2026-01-05", "--end", "2026-01-05",
                                      "--out", str(tmp_path), "--exchange", served.url, "--json"])
    assert result.exit_code == 0, result.output
    # By 24 h quote volume, as on Binance: each replayed bar trades 10 ETH near 2,500 and 10 BNB near 600;
    # BTCUSDT has no data, so no volume (the ticker's volumes were all "0", which ranked by name).
    assert json.loads(result.stdout)["symbols"] == ["ETHUSDT", "BNBUSDT"]
    for bad in (["--symbols", "NOPEUSDT"], ["--symbols", "BNBUSDT", "--interval", "7m"],
                ["--symbols", "BNBUSDT", "--end", "2026-01-01"]):
        args = ["download", "--start", "2026-01-05", "--out", str(tmp_path), "--exchange", served.url, *bad]
        assert CliRunner().invoke(app, args).exit_code == 2


def test_nothing_listening_at_the_url_says_what_to_check_at_once(tmp_path: Path) -> None:
    """A user trial got only `-1000: network: ExchangeNotAvailable: ... exchangeInfo`, unlike every other command,
    and then 15.5 s after the start: the first request was retried three times, 2, 4 and 8 s apart, as an outage
    is. A connection refused before the exchange ever answered is a wrong address: one line at once."""
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = CliRunner().invoke(app, ["download", "--symbols", "BNBUSDT", "--start", "2026-01-05", "--end",
                                      "2026-01-05", "--out", str(tmp_path), "--exchange", closed])
    assert time.monotonic() - started < 5.0
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"download: from {closed}",
        f"error: --exchange {closed}: nothing answers there (connection refused); start `quantum-trader sim-server` at "
        "that address, or give --exchange the URL of a running one (http://127.0.0.1:8090 by default)"]


def test_an_outage_after_the_first_answer_is_waited_out_saying_so(tmp_path: Path) -> None:
    """The retries are there on purpose for an exchange that has answered and then stops (a restart, a
    network blip): they stay, and each says what it waits for, where the run was silent for 14 s."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def run(stack: ExitStack) -> list[dict[str, Any]]:
        server = stack.enter_context(running_server())
        adapter = CcxtExchange(server.url, api_key="", api_secret="", throttle=False, budget=WeightBudget(),
                               events_via="poll")
        try:
            downloader = Downloader(adapter, tmp_path, sleep=sleep)
            assert await downloader.resolve_symbols("BNBUSDT") == ["BNBUSDT"]
            stack.close()  # the server stops: connections are refused from now on
            with capture_logs() as logs, pytest.raises(ExchangeError):
                await downloader.run(["BNBUSDT"], dt.date(2026, 1, 5), dt.date(2026, 1, 5))
            return logs
        finally:
            await adapter.close()

    with ExitStack() as stack:
        logs = asyncio.run(run(stack))
    assert sleeps == [2.0, 4.0, 8.0]
    said = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert len(said) == 3 and said[0].startswith("no answer from the exchange (") and said[2].endswith(
        "an outage is waited out, trying again in 8 s (3 of 3); after that the run stops and a re-run resumes")


class FakeWall:
    """The budget's wall clock, moved only by the downloader's sleeps: the test waits for nothing."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0  # a minute boundary

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_every_request_waits_for_the_budget(served: RunningServer, tmp_path: Path) -> None:
    """A budget of 40 weight a minute, half of it for routine reads, paced: the 24 pages of 480 rows (weight
    2 each) no longer fit in a minute, so the downloader is refused and waits on the budget's clock instead
    of sending; everything still arrives and the server answers no 429."""
    wall = FakeWall()
    budget = WeightBudget(limit=40, share_pct=50.0, clock=wall.now)

    async def run() -> Any:
        adapter = CcxtExchange(served.url, api_key="", api_secret="", throttle=False, budget=budget,
                               events_via="poll")
        try:
            downloader = Downloader(adapter, tmp_path, sleep=wall.sleep)
            return await downloader.run(list(PAIR), dt.date(2026, 1, 5), dt.date(2026, 1, 6))
        finally:
            await adapter.close()

    report = asyncio.run(run())
    assert len(report.written) == 10 and report.empty == []
    assert budget.refused["routine"] > 0 and report.waited_s > 0
    assert wall.t - 1_800_000_000.0 >= 2 * 60  # 48 weight of klines at 20 a minute: at least two minutes
    limits = httpx.get(f"{served.url}/sim/v1/limits", headers=KEY).json()
    assert all(ip["refused429Total"] == 0 for ip in limits["ips"])


def test_days_without_data_are_named_with_why_and_the_history_the_server_has(served: RunningServer,
                                                                             tmp_path: Path) -> None:
    """A user trial asked a replaying sim-server for days outside its history and read only "16 without data".
    The summary now names each symbol's empty days with the likely reason and the bars the server has (its
    first and latest, read for that symbol only), and a day not over yet says so."""
    args = ["download", "--symbols", "BNBUSDT", "--start", "2026-01-03", "--end", "2026-01-08", "--exchange",
            served.url]
    text = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "text")])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert "5 files written" in lines[0] and "6 without data" in lines[0]
    assert lines[1] == ("BNBUSDT: no data for 2026-01-03..2026-01-04 (2 days, before the first bar the server has), "
                        "2026-01-08 (after the last bar the server has); the server has BNBUSDT from "
                        "2026-01-05 00:00 to 2026-01-07 00:01 UTC: ask for days in that range (a sim-server "
                        "replaying files has only the days it has played)")
    # 2026-01-07 has one bar played, and the next in progress (the latest the server has): the day is not over on
    # its market clock (the replay may play more of it), though its serverTime is long past it. It was written as
    # a partial day and kept for good.
    assert lines[2] == ("2 day files not written: the day is not over on the server's clock (it has no bar after "
                        "it yet); the next run fetches them (BNBUSDT-1m-2026-01-07.csv, "
                        "markPriceKlines/BNBUSDT-1m-2026-01-07.csv)")
    summary = json.loads(CliRunner().invoke(app, [*args, "--out", str(tmp_path / "json"), "--json"]).stdout)
    [entry] = summary["no_data"]
    assert entry["server_has"] == {"first": "2026-01-05 00:00", "last": "2026-01-07 00:01"}
    assert [(s["first"], s["last"], s["days"]) for s in entry["spans"]] == [
        ("2026-01-03", "2026-01-04", 2), ("2026-01-08", "2026-01-08", 1)]
    assert summary["empty"] == [f"{folder}BNBUSDT-1m-2026-01-0{day}.csv" for day in (3, 4, 8)
                                for folder in ("", "markPriceKlines/")]
    assert summary["partial"] == [] and summary["partial_kept"] == []
    assert summary["not_over"] == ["BNBUSDT-1m-2026-01-07.csv", "markPriceKlines/BNBUSDT-1m-2026-01-07.csv"]


def test_the_exchange_read_is_said_before_the_first_request(served: RunningServer, tmp_path: Path) -> None:
    """A user left out `--exchange` in a sim-server walkthrough and reached Binance over the internet, told
    nothing: the text run now says where it reads before it asks anything, `--json` names it in the document,
    and the default's line says how to give a sim-server instead (the default itself is never sent to here)."""
    args = ["download", "--symbols", "BNBUSDT", "--start", "2026-01-05", "--end", "2026-01-05", "--exchange",
            served.url]
    text = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "text")])
    assert text.exit_code == 0, text.output
    assert text.stderr.splitlines()[0] == f"download: from {served.url}"
    document = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "json"), "--json"])
    assert document.stderr == "" and json.loads(document.stdout)["exchange"] == served.url
    assert source_line(BINANCE_URL) == ("download: from https://fapi.binance.com (Binance's public API, no key); "
                                        "for a sim-server give --exchange http://127.0.0.1:PORT")
