"""When `download` writes a day (download/downloader.py): once it is over on the market's clock. These cases need
bars missing on the exchange, which sim-server cannot show (its klines are contiguous, a quiet minute flat at
the last close, as tests/integration/test_download_replaying.py relies on), so a small stand-in answers as
Binance's klines do: bars from startTime through endTime up to limit, the latest `limit` without startTime."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from quantum_trader.download.downloader import Downloader, DownloadReport
from quantum_trader.exchange.budget import WeightBudget

DAY = 86_400_000
MINUTE = 60_000
JAN_5 = 1_767_571_200_000  # 2026-01-05 00:00 UTC


class Klines:
    """Binance's klines and time over a set of open times; records what was asked."""

    def __init__(self, opens: list[int], server_ms: int) -> None:
        self.opens, self.server_ms = sorted(opens), server_ms
        self.budget = WeightBudget()
        self.calls: list[dict[str, Any]] = []

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        params = params or {}
        self.calls.append(params)
        if method == "fapiPublicGetTime":
            return {"serverTime": self.server_ms}
        limit = int(params["limit"])
        if "startTime" not in params:
            return [self._row(t) for t in self.opens[-limit:]]
        end = int(params.get("endTime", 2**62))
        return [self._row(t) for t in self.opens if int(params["startTime"]) <= t <= end][:limit]

    @staticmethod
    def _row(t: int) -> list[Any]:
        return [t, "1", "1", "1", "1", "1", t + MINUTE - 1, "1", 1, "0", "0", "0"]


def _day(exchange: Klines, out: Path, day: dt.date) -> DownloadReport:
    async def run() -> DownloadReport:
        downloader = Downloader(exchange, out)
        report = DownloadReport(["BNBUSDT"], str(day), str(day), "1m", str(out))
        downloader.server_ms = exchange.server_ms
        await downloader._day(report, "fapiPublicGetKlines", out / f"BNBUSDT-1m-{day}.csv", "BNBUSDT", day)
        return report

    return asyncio.run(run())


def test_a_gap_across_midnight_is_over_once_the_market_is_past_it(tmp_path: Path) -> None:
    """Maintenance from 23:50 to 00:10: no bar after the day in its pages, but the latest bar is later (one
    weight-1 read), so the day is written with its 1,430 bars; a re-run keeps it after one weight-1 look at
    the bar after its last (in a later day), without fetching it again."""
    gap = set(range(JAN_5 + DAY - 10 * MINUTE, JAN_5 + DAY + 10 * MINUTE, MINUTE))
    opens = [t for t in range(JAN_5, JAN_5 + 2 * DAY, MINUTE) if t not in gap]
    exchange = Klines(opens, JAN_5 + 2 * DAY)
    report = _day(exchange, tmp_path, dt.date(2026, 1, 5))
    assert report.partial == [{"file": "BNBUSDT-1m-2026-01-05.csv", "bars": 1430, "of": 1440}]
    assert [c.get("startTime") for c in exchange.calls][-1] is None  # the latest bar, after the three pages
    exchange.calls.clear()
    again = _day(exchange, tmp_path, dt.date(2026, 1, 5))
    assert again.kept == 1 and again.written == [] and len(exchange.calls) == 1


def test_a_whole_day_whose_last_bar_is_still_open_is_not_written(tmp_path: Path) -> None:
    """Binance at 23:59:30: the day has its 1,440 bars, the last one still open; serverTime is inside the day."""
    exchange = Klines(list(range(JAN_5, JAN_5 + DAY, MINUTE)), JAN_5 + DAY - 30_000)
    report = _day(exchange, tmp_path, dt.date(2026, 1, 5))
    assert report.not_over == ["BNBUSDT-1m-2026-01-05.csv"] and report.written == []
    exchange.opens.append(JAN_5 + DAY)  # 00:00 opens: the day is over
    exchange.server_ms = JAN_5 + DAY + 1_000
    assert _day(exchange, tmp_path, dt.date(2026, 1, 5)).written == ["BNBUSDT-1m-2026-01-05.csv"]
