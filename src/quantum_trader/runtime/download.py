"""`quantum-trader download`: history from a Binance USDⓈ-M REST API into files the backtest, `train` and
`replay:` read (CONTRACT §3).

Layout under `--out` (data.binance.vision's names, so downloaded and hand-fetched files mix freely):

- `<SYMBOL>-<interval>-<YYYY-MM-DD>.csv`: one UTC day of klines, the 12 columns with Binance's header;
- `markPriceKlines/<SYMBOL>-<interval>-<YYYY-MM-DD>.csv`: the same day of mark-price klines;
- `fundingRate/<SYMBOL>-fundingRate-<YYYY-MM>.csv`: a month of funding, `calc_time,funding_interval_hours,
  last_funding_rate` (the interval is the gap to the neighbouring funding time: the API does not send it).

The mark and funding folders sit beside the klines, where `replay:` and `backtest --data` look for them
(marketdata/companions.py), and out of the klines reader's way (it reads a folder's own files only).

Resuming is by file: a day is written once it is complete (all its bars, or over before the exchange's
clock), a month of funding once it has ended (a month still running is fetched again each run); a file
that exists is never fetched again. Every file goes to a hidden `.part` name first and is renamed, so an
interrupted run leaves no half-written file and never a duplicated row.

Every request goes through the adapter's `call` (exchange/ccxt_adapter.py), so the request budget
(exchange/budget.py) admits it by its weight: a refusal, a 429's Retry-After or a 418 ban is waited out
here (up to `MAX_WAIT_S`; a longer ban stops the run, and the next run resumes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ..domain.errors import ConfigError, ExchangeError
from ..domain.kline_source import FUNDING_FOLDER, MARK_FOLDER
from ..exchange.budget import BudgetRefused, WeightBudget
from .download_gaps import History, no_data

KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore")
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
#: Intervals that divide a UTC day, so a day file holds whole bars (fetched in `pages`).
INTERVALS_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": HOUR_MS,
                "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "8h": 8 * HOUR_MS, "12h": 12 * HOUR_MS,
                "1d": DAY_MS}
#: Rows per klines page: the most that still weigh 2 (binance_futures.md §5.4; domain/request_weights.py).
PAGE_ROWS = 499
#: Binance's fundingRate answers at most 1,000 rows: a month at 1 h funding is 744.
FUNDING_LIMIT = 1000
#: A budget refusal, 429 or ban longer than this ends the run (the next run resumes) instead of sleeping.
MAX_WAIT_S = 600.0
#: A call refused for the minute's share is tried again this soon (asking the budget sends nothing).
PACE_RETRY_S = 1.0
#: Timeouts and 5xx answers are retried this many times (2, 4, 8 s apart), then the run stops.
RETRIES = 3
DEFAULT_OUT = Path("data") / "binance-um"
#: The download may use this share of the IP's minute (the budget paces it over the minute, and counts what
#: the exchange reports as used, so a bot on the same IP keeps the rest for its protection reads).
DOWNLOAD_SHARE_PCT = 50.0

Progress = Callable[[str], None]


class Caller(Protocol):
    """What the download needs of the adapter: budget-aware raw calls (CcxtExchange is one)."""

    budget: WeightBudget

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


class DownloadStopped(Exception):
    """The exchange holds us back for longer than MAX_WAIT_S (a ban): stop; a re-run resumes."""


@dataclass
class DownloadReport:
    """What a run did: the `--json` summary."""

    symbols: list[str]
    start: str
    end: str
    interval: str
    out: str
    written: list[str] = field(default_factory=list)
    kept: int = 0
    rows: int = 0
    empty: list[str] = field(default_factory=list)
    #: Per symbol with an empty day: those days with their likely reason and the history the server has.
    no_data: list[dict[str, Any]] = field(default_factory=list)
    #: Day files with bars but not written: the day is not over on the server's clock (the next run fetches).
    not_over: list[str] = field(default_factory=list)
    #: Day files written with fewer bars than a day has (`file`, `bars`, `of`): all the server had of that day.
    partial: list[dict[str, Any]] = field(default_factory=list)
    waited_s: float = 0.0

    def to_json(self, budget: WeightBudget) -> dict[str, Any]:
        return {"symbols": self.symbols, "start": self.start, "end": self.end, "interval": self.interval,
                "out": self.out, "files_written": len(self.written), "files_kept": self.kept, "rows": self.rows,
                "written": self.written, "empty": self.empty, "no_data": self.no_data, "not_over": self.not_over,
                "partial": self.partial, "requests": budget.sent,
                "peak_used_weight": budget.peak_used, "weight_limit": budget.limit,
                "refused_by_budget": sum(budget.refused.values()), "rate_limited_429": budget.rate_limited_429,
                "rate_limited_418": budget.rate_limited_418, "waited_s": round(self.waited_s, 1)}


def parse_day(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{name} {text!r} is not a date (YYYY-MM-DD)") from None


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """(year, month) of every month the window touches."""
    out: list[tuple[int, int]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def day_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def pages(first_ms: int, bars: int, interval_ms: int) -> list[tuple[int, int]]:
    """(startTime, limit) of the fewest equal pages of at most PAGE_ROWS rows covering `bars` bars from
    `first_ms`: Binance weighs 100-499 rows 2 and 1,000-1,500 rows 10, so a 1 m day (1,440 rows) costs 6
    in three pages of 480 instead of 10 in one."""
    count = -(-bars // PAGE_ROWS)
    size = -(-bars // count)
    return [(first_ms + i * size * interval_ms, min(size, bars - i * size)) for i in range(count)]


def write_atomically(path: Path, lines: Iterable[str]) -> None:
    """Write `path` through a hidden `.part` file and a rename: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    try:
        with part.open("w", encoding="utf-8", newline="") as handle:
            for line in lines:
                handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, path)
    except OSError:  # a full disk: the next run fetches the file again, with no stray part beside it
        part.unlink(missing_ok=True)
        raise


class Downloader:
    """Fetches klines, mark-price klines and funding for symbols and days into `out` (see the module doc)."""

    def __init__(self, caller: Caller, out: Path, interval: str = "1m", *, progress: Progress | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        if interval not in INTERVALS_MS:
            raise ConfigError(f"--interval {interval!r}: use one of {', '.join(INTERVALS_MS)}")
        self.caller, self.out, self.interval = caller, out, interval
        self.interval_ms = INTERVALS_MS[interval]
        self.progress = progress
        self._sleep = sleep
        self.server_ms = 0
        self.waited_s = 0.0
        self.listed: dict[str, int] = {}  # exchangeInfo's onboardDate per symbol, where it gives one
        self._empty_days: dict[str, set[dt.date]] = {}

    async def resolve_symbols(self, spec: str) -> list[str]:
        """`--symbols`: a comma list (checked against exchangeInfo) or N, the N USDT perpetuals trading with the
        largest 24 h quote volume (one weight-40 ticker call for all; ties by name)."""
        info = await self.request("fapiPublicGetExchangeInfo")
        self.listed = {s["symbol"]: int(s["onboardDate"]) for s in info.get("symbols", ()) if s.get("onboardDate")}
        trading = {s["symbol"] for s in info.get("symbols", ())
                   if s.get("status") == "TRADING" and s.get("contractType", "PERPETUAL") == "PERPETUAL"
                   and s.get("quoteAsset", "USDT") == "USDT"}
        text = spec.strip()
        if text.isdigit():
            count = int(text)
            if count < 1:
                raise ConfigError("--symbols count must be at least 1")
            tickers = await self.request("fapiPublicGetTicker24hr")
            ranked = sorted((-Decimal(str(t.get("quoteVolume", "0"))), t["symbol"]) for t in tickers
                            if t.get("symbol") in trading)
            return [symbol for _, symbol in ranked[:count]]
        names = [s.strip().upper() for s in text.split(",") if s.strip()]
        unknown = [s for s in names if s not in trading]
        if not names or unknown:
            raise ConfigError(f"--symbols: not trading perpetuals on this exchange: {', '.join(unknown) or spec!r}")
        return list(dict.fromkeys(names))

    async def run(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> DownloadReport:
        report = DownloadReport(list(symbols), start.isoformat(), end.isoformat(), self.interval, str(self.out))
        self.server_ms = int((await self.request("fapiPublicGetTime"))["serverTime"])
        for symbol in symbols:
            for day in days(start, end):
                for method, folder in (("fapiPublicGetKlines", self.out),
                                       ("fapiPublicGetMarkPriceKlines", self.out / MARK_FOLDER)):
                    await self._day(report, method, folder / f"{symbol}-{self.interval}-{day}.csv", symbol, day)
            for year, month in months(start, end):
                await self._month(report, symbol, year, month)
        for symbol, empty in self._empty_days.items():
            report.no_data.append(no_data(symbol, empty, await self.history(symbol), self.server_ms))
        report.waited_s = self.waited_s
        return report

    async def history(self, symbol: str) -> History:
        """The first and latest bars the server has of `symbol` (weight 1 each), to say why days were empty;
        a failed read leaves them unknown rather than failing a download that has run."""
        ends: list[int | None] = []
        for params in ({"startTime": "0", "limit": 1}, {"limit": 1}):
            try:
                rows = await self.request("fapiPublicGetKlines", {"symbol": symbol, "interval": self.interval,
                                                                  **params})
            except ExchangeError:
                rows = []
            ends.append(int(rows[0][0]) if rows else None)
        return History(ends[0], ends[1], self.listed.get(symbol))

    async def _day(self, report: DownloadReport, method: str, path: Path, symbol: str, day: dt.date) -> None:
        if path.exists():
            report.kept += 1
            self._tick(path)
            return
        first = day_ms(day)
        answer: list[list[Any]] = []
        for start, limit in pages(first, DAY_MS // self.interval_ms, self.interval_ms):
            answer += await self.request(method, {"symbol": symbol, "interval": self.interval, "startTime": str(start),
                                                  "endTime": str(start + limit * self.interval_ms - 1), "limit": limit})
        rows = _unique_rows(answer, first, first + DAY_MS)
        if rows and first + DAY_MS <= self.server_ms:  # a day still running is fetched again next time
            write_atomically(path, [KLINE_HEADER, *(",".join(str(x) for x in row) for row in rows)])
            report.written.append(str(path.relative_to(self.out)))
            report.rows += len(rows)
            if len(rows) < DAY_MS // self.interval_ms:
                report.partial.append({"file": report.written[-1], "bars": len(rows), "of": DAY_MS // self.interval_ms})
        elif not rows:
            report.empty.append(str(path.relative_to(self.out)))
            self._empty_days.setdefault(symbol, set()).add(day)
        else:
            report.not_over.append(str(path.relative_to(self.out)))
        self._tick(path)

    async def _month(self, report: DownloadReport, symbol: str, year: int, month: int) -> None:
        path = self.out / FUNDING_FOLDER / f"{symbol}-fundingRate-{year:04d}-{month:02d}.csv"
        first = day_ms(dt.date(year, month, 1))
        following = day_ms(dt.date(year + month // 12, month % 12 + 1, 1))
        ended = following <= self.server_ms
        if path.exists() and ended:
            report.kept += 1
            self._tick(path)
            return
        answer = await self.request("fapiPublicGetFundingRate", {"symbol": symbol, "startTime": str(first),
                                                                 "endTime": str(following - 1),
                                                                 "limit": FUNDING_LIMIT})
        rows = sorted({int(r["fundingTime"]): str(r["fundingRate"]) for r in answer
                       if first <= int(r["fundingTime"]) < following}.items())
        if rows:
            write_atomically(path, [FUNDING_HEADER, *_funding_lines(rows)])
            report.written.append(str(path.relative_to(self.out)))
            report.rows += len(rows)
        else:
            report.empty.append(str(path.relative_to(self.out)))
        self._tick(path)

    def _tick(self, path: Path) -> None:
        if self.progress is not None:
            self.progress(path.name)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One call through the budget. A refusal for this minute's share is retried within a second (the
        budget paces its share over the minute, so room comes back before the minute ends); a 429's
        Retry-After and a short ban are waited out, a longer one stops the run; a timeout or 5xx is retried
        RETRIES times with a growing pause."""
        failures = 0
        while True:
            try:
                return await self.caller.call(method, params)
            except BudgetRefused as exc:
                wait = exc.retry_after if exc.blocked else min(exc.retry_after, PACE_RETRY_S)
            except ExchangeError as exc:
                if exc.http_status in (418, 429):
                    wait = max(0.0, self.caller.budget.blocked_until - self.caller.budget.clock())
                elif exc.retryable and failures < RETRIES:
                    failures += 1
                    wait = float(2 ** failures)
                else:
                    raise
            if wait > MAX_WAIT_S:
                raise DownloadStopped(f"the exchange holds requests back for {wait:.0f} s (rate limit or ban); "
                                      "run the same command later: it resumes where it stopped")
            self.waited_s += max(wait, 0.05)
            await self._sleep(max(wait, 0.05))


def _unique_rows(answer: list[list[Any]], first: int, end: int) -> list[list[Any]]:
    """The rows opening inside [first, end), one per open time, in time order."""
    by_open: dict[int, list[Any]] = {}
    for row in answer:
        opened = int(row[0])
        if first <= opened < end:
            by_open[opened] = row
    return [by_open[t] for t in sorted(by_open)]


def _funding_lines(rows: list[tuple[int, str]]) -> list[str]:
    """Binance's monthly fundingRate layout; each row's interval is the gap to its neighbour, in hours."""
    lines = []
    for i, (time_ms, rate) in enumerate(rows):
        if len(rows) < 2:
            hours = 8
        else:
            other = rows[i + 1][0] if i + 1 < len(rows) else rows[i - 1][0]
            hours = max(1, round(abs(other - time_ms) / HOUR_MS))
        lines.append(f"{time_ms},{hours},{rate}")
    return lines

