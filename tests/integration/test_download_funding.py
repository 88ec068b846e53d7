"""`download`'s month of funding against a sim-server still replaying that month, through the real ccxt client.

A user trial re-ran `download` and read `3 files written (156 rows), 108 already there` on every run: a month of
funding not yet over on the market's clock was fetched whole again each time, though no row could have been
added. And a file written while its month was running was kept for good once the month ended, without the
month's later rows. Now a file that holds the month's last funding is kept unread; one that stops earlier is
asked for the rows after its last, and only once the market's clock has passed the next funding time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from test_download_replaying import gated_replay
from test_simserver_support import RunningServer

from quantum_trader.download.downloader import Downloader, DownloadReport
from quantum_trader.exchange.budget import WeightBudget
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.simserver.feed import FEED_CHUNK_BARS, BarFeed

HOUR = 3_600_000
#: 2026-01-31T06:00:00Z: the replay starts on the month's last day, with funding at 08:00 and 16:00 ahead.
T0 = int(dt.datetime(2026, 1, 31, 6, tzinfo=dt.UTC).timestamp() * 1000)
FEB_1 = T0 + 18 * HOUR
BARS = 18 * 60 + 2  # through 2026-02-01 00:01: January is over on the market's clock
GATE_BARS = FEED_CHUNK_BARS  # 10:16, between the month's two fundings
FUNDING = "fapiPublicGetFundingRate"
JANUARY = "fundingRate/BNBUSDT-fundingRate-2026-01.csv"


class Recording:
    """The adapter, with every call it makes written down (the download's requests, by method and params)."""

    def __init__(self, inner: CcxtExchange) -> None:
        self.inner, self.budget = inner, inner.budget
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append((method, dict(params or {})))
        return await self.inner.call(method, params)


@pytest.fixture
def replaying(tmp_path: Path) -> Iterator[tuple[RunningServer, BarFeed, threading.Event]]:
    rng = np.random.default_rng(3)
    closes = 600.0 * np.exp(np.cumsum(rng.normal(0, 0.001, BARS)))
    opens = np.concatenate([[600.0], closes[:-1]])
    lines = [f"{T0 + i * 60_000},{o:.2f},{max(o, c) * 1.0005:.2f},{min(o, c) * 0.9995:.2f},{c:.2f},10,"
             f"{T0 + i * 60_000 + 59_999},0,1,0,0,0" for i, (o, c) in enumerate(zip(opens, closes, strict=True))]
    (tmp_path / "BNBUSDT-1m-2026-01.csv").write_text("\n".join(lines) + "\n")
    with gated_replay(tmp_path, T0, GATE_BARS) as served:
        yield served


def _download(server: RunningServer, out: Path) -> tuple[DownloadReport, list[dict[str, Any]]]:
    """One run over 2026-01-31 (and so January's funding): its report and its fundingRate requests."""
    async def run() -> tuple[DownloadReport, list[dict[str, Any]]]:
        adapter = CcxtExchange(server.url, api_key="", api_secret="", throttle=False, budget=WeightBudget(),
                               events_via="poll")
        recording = Recording(adapter)
        try:
            report = await Downloader(recording, out).run(["BNBUSDT"], dt.date(2026, 1, 31), dt.date(2026, 1, 31))
        finally:
            await adapter.close()
        return report, [params for method, params in recording.calls if method == FUNDING]

    return asyncio.run(run())


def _times(path: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:]]


def test_a_running_month_is_asked_only_for_rows_it_may_have_added(
        replaying: tuple[RunningServer, BarFeed, threading.Event], tmp_path: Path) -> None:
    server, feed, gate = replaying
    out = tmp_path / "out"
    first, asked = _download(server, out)
    assert first.written == [JANUARY] and len(asked) == 1 and _times(out / JANUARY) == [T0 + 2 * HOUR]  # 08:00
    before = (out / JANUARY).read_bytes()

    again, asked = _download(server, out)  # the market is at 10:16: the next funding (16:00) cannot be there yet
    assert asked == [] and again.written == [] and again.kept == 1 and again.rows == 0
    assert (out / JANUARY).read_bytes() == before

    gate.set()  # the replay plays the rest of January and the first two bars of February
    assert feed.wait_done(60) and feed.bars_played == BARS
    ended, asked = _download(server, out)
    # Only the rows after the file's last; the month's 16:00 funding was kept out for good before.
    assert [int(params["startTime"]) for params in asked] == [T0 + 2 * HOUR + 1]
    assert JANUARY in ended.written and ended.rows == 2 * 1080 + 1  # the day from 06:00, its marks, one funding row
    server_rows = httpx.get(f"{server.url}/fapi/v1/fundingRate", params={"symbol": "BNBUSDT", "startTime": T0,
                                                                         "endTime": FEB_1 - 1}).json()
    assert _times(out / JANUARY) == [row["fundingTime"] for row in server_rows] == [T0 + 2 * HOUR, T0 + 10 * HOUR]
    assert (out / JANUARY).read_text().splitlines()[1:] == [f"{T0 + 2 * HOUR},8,{server_rows[0]['fundingRate']}",
                                                            f"{T0 + 10 * HOUR},8,{server_rows[1]['fundingRate']}"]

    last, asked = _download(server, out)  # the file holds the month's last funding: nothing more is asked
    assert asked == [] and JANUARY not in last.written
