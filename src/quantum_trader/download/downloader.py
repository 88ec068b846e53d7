"""`quantum-trader download`: history from a Binance USDⓈ-M REST API into files the backtest, `train` and
`replay:` read (CONTRACT §3).

Layout under `--out` (data.binance.vision's names, so downloaded and hand-fetched files mix freely):

- `<SYMBOL>-<interval>-<YYYY-MM-DD>.csv`: one UTC day of klines, the 12 columns with Binance's header;
- `markPriceKlines/<SYMBOL>-<interval>-<YYYY-MM-DD>.csv`: the same day of mark-price klines;
- `fundingRate/<SYMBOL>-fundingRate-<YYYY-MM>.csv`: a month of funding, `calc_time,funding_interval_hours,
  last_funding_rate` (the interval is the gap to the neighbouring funding time: the API does not send it).

The mark and funding folders sit beside the klines, where `replay:` and `backtest --data` look for them
(marketdata/companions.py), and out of the klines reader's way (it reads a folder's own files only).

Resuming is by file: a day is written once it is over on the market's clock (a bar after it on the server;
or all its bars, with `serverTime` past it), never on `serverTime` alone, which a sim-server replaying old
data answers with now; a month of funding is kept once its file holds the month's last funding, and a file
that stops earlier is extended from its last row once the market's clock has passed the next funding time
(`Downloader._month`). A day file that exists is not fetched again unless it stops before the day's
last bar and the server now has more of that day (`Downloader._keep`). Every file goes to a hidden `.part`
name first and is renamed, so an interrupted run leaves no half-written file and never a duplicated row.

Every request goes through the adapter's `call` (exchange/ccxt_adapter.py), so the request budget
(exchange/budget.py) admits it by its weight: a refusal, a 429's Retry-After or a 418 ban is waited out
here (up to `MAX_WAIT_S`; a longer ban stops the run, and the next run resumes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ..core.loggers import get_logger
from ..domain.errors import ConfigError, ExchangeError
from ..domain.kline_source import FUNDING_FOLDER, MARK_FOLDER
from ..exchange.budget import BudgetRefused, WeightBudget
from .files import (
    FUNDING_HEADER,
    HOUR_MS,
    KLINE_HEADER,
    funding_lines,
    funding_rows,
    last_open_time,
    unique_rows,
    write_atomically,
)
from .gaps import History, no_data

log = get_logger(__name__)
DAY_MS = 86_400_000
KLINES = "fapiPublicGetKlines"
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


class NothingAnswers(Exception):
    """The first request found nothing listening at the URL (refused, no such host): a wrong address or a
    server not started, said at once; the retries are for outages of an exchange that has answered."""


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
    #: Day files with bars but not written: the day is not over on the market's clock, the latest bar the
    #: server has (the next run fetches).
    not_over: list[str] = field(default_factory=list)
    #: Day files written with fewer bars than a day has (`file`, `bars`, `of`): the day is over on the market's
    #: clock, so that is all the server will have of it (a gap, a listing day).
    partial: list[dict[str, Any]] = field(default_factory=list)
    #: Day files an earlier run wrote with part of a day that is still not over: kept; the next run completes.
    partial_kept: list[str] = field(default_factory=list)
    waited_s: float = 0.0

    def to_json(self, budget: WeightBudget) -> dict[str, Any]:
        return {"symbols": self.symbols, "start": self.start, "end": self.end, "interval": self.interval,
                "out": self.out, "files_written": len(self.written), "files_kept": self.kept, "rows": self.rows,
                "written": self.written, "empty": self.empty, "no_data": self.no_data, "not_over": self.not_over,
                "partial": self.partial, "partial_kept": self.partial_kept, "requests": budget.sent,
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
        self.answered = False  # until the exchange first answers, a refused connection is a wrong address
        self.listed: dict[str, int] = {}  # exchangeInfo's onboardDate per symbol, where it gives one
        self._empty_days: dict[str, set[dt.date]] = {}
        self._latest: dict[tuple[str, str], int] = {}

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
                for method, folder in ((KLINES, self.out),
                                       ("fapiPublicGetMarkPriceKlines", self.out / MARK_FOLDER)):
                    await self._day(report, method, folder / f"{symbol}-{self.interval}-{day}.csv", symbol, day)
            for year, month in months(start, end):
                await self._month(report, symbol, year, month)
        for symbol, empty in self._empty_days.items():
            report.no_data.append(no_data(symbol, empty, await self.history(symbol), self.server_ms))
        report.waited_s = self.waited_s
        return report

    async def history(self, symbol: str) -> History:
        """The first and latest bars the server has of `symbol` (weight 1 each; the latest is `latest_open`'s,
        read once per run), to say why days were empty; a failed read leaves them unknown rather than failing
        a download that has run."""
        try:
            rows = await self.request(KLINES, {"symbol": symbol, "interval": self.interval, "startTime": "0",
                                               "limit": 1})
        except ExchangeError:
            rows = []
        try:
            latest: int | None = await self.latest_open(KLINES, symbol)
        except ExchangeError:
            latest = None
        return History(int(rows[0][0]) if rows else None, None if latest is None or latest < 0 else latest,
                       self.listed.get(symbol))

    async def _day(self, report: DownloadReport, method: str, path: Path, symbol: str, day: dt.date) -> None:
        first, name = day_ms(day), str(path.relative_to(self.out))
        if path.exists() and await self._keep(report, method, path, symbol, first):
            self._tick(path)
            return
        rows, after = await self._fetch_day(method, symbol, first)
        if rows and await self._over(method, symbol, first, len(rows), after):
            write_atomically(path, [KLINE_HEADER, *(",".join(str(x) for x in row) for row in rows)])
            report.written.append(name)
            report.rows += len(rows)
            if len(rows) < DAY_MS // self.interval_ms:
                report.partial.append({"file": name, "bars": len(rows), "of": DAY_MS // self.interval_ms})
        elif not rows:
            report.empty.append(name)
            self._empty_days.setdefault(symbol, set()).add(day)
        else:  # a day still running on the market's clock is fetched again next time
            report.not_over.append(name)
        self._tick(path)

    async def _fetch_day(self, method: str, symbol: str, first: int) -> tuple[list[list[Any]], bool]:
        """The day's rows, and whether the server has a bar after the day. The pages ask for one bar more
        than the day holds (1,441 rows are still three pages of weight 2), so the usual proof that the day
        is over on the market's clock, the next day's first bar, costs nothing."""
        answer: list[list[Any]] = []
        for start, limit in pages(first, DAY_MS // self.interval_ms + 1, self.interval_ms):
            answer += await self.request(method, {"symbol": symbol, "interval": self.interval, "startTime": str(start),
                                                  "endTime": str(start + limit * self.interval_ms - 1), "limit": limit})
        end = first + DAY_MS
        return unique_rows(answer, first, end), any(int(row[0]) >= end for row in answer)

    async def _over(self, method: str, symbol: str, first: int, bars: int, after: bool) -> bool:
        """Whether the day is over on the market's clock, so its file can be written for good.

        `serverTime` alone cannot say: a sim-server replaying old data answers now while its bars are in the
        replay's past, and a day it had played one bar of was written as over and never fetched again. A
        bar after the day proves it; so does a whole day once `serverTime` is past it (on Binance the two
        clocks agree, and the check keeps a day whose last bar is still open from being written); else the
        latest bar the server has (one weight-1 read per symbol and run) decides: a day missing bars that
        the market has left behind (a maintenance gap) is over, as complete as it will be."""
        end = first + DAY_MS
        if after or (bars == DAY_MS // self.interval_ms and end <= self.server_ms):
            return True
        return await self.latest_open(method, symbol) >= end

    async def latest_open(self, method: str, symbol: str) -> int:
        """Open time of the latest bar the server has of `symbol` (klines without startTime, limit 1: weight
        1), read once per run; -1 when it has none."""
        key = (method, symbol)
        if key not in self._latest:
            rows = await self.request(method, {"symbol": symbol, "interval": self.interval, "limit": 1})
            self._latest[key] = int(rows[-1][0]) if rows else -1
        return self._latest[key]

    async def _keep(self, report: DownloadReport, method: str, path: Path, symbol: str, first: int) -> bool:
        """Whether an existing day file stays as it is (True), or is fetched again (False).

        Earlier versions wrote a day a replaying server had only partly played, and a re-run kept it for
        good. The file itself tells, with no marker beside it: one whose last bar is the day's last is kept
        unread (a listing day that starts late included); one that stops earlier costs one weight-1 read of
        the bar after its last. The server's next bar inside the day: fetched again. Its next bar in a later
        day: the day is over with a gap at its end, kept. No bar after it: the day is not over on the
        market's clock; kept, named in `partial_kept`, and looked at again by the next run."""
        last = last_open_time(path)
        end = first + DAY_MS
        if last is None or last >= end - self.interval_ms:
            report.kept += 1
            return True
        following = await self.request(method, {"symbol": symbol, "interval": self.interval,
                                                 "startTime": str(last + self.interval_ms), "limit": 1})
        if following and int(following[0][0]) < end:
            return False
        if following:
            report.kept += 1
        else:
            report.partial_kept.append(str(path.relative_to(self.out)))
        return True

    async def _month(self, report: DownloadReport, symbol: str, year: int, month: int) -> None:
        """A month of funding: fetched whole when there is no file; a file that holds the month's last funding
        (its last row plus its interval reaches the next month) is kept unread; one that stops earlier is
        extended from its last row, and only once the market's clock has passed the next funding time (before
        that no new row can exist: a re-run asked for the whole month again, every run, until it ended)."""
        path = self.out / FUNDING_FOLDER / f"{symbol}-fundingRate-{year:04d}-{month:02d}.csv"
        first = day_ms(dt.date(year, month, 1))
        following = day_ms(dt.date(year + month // 12, month % 12 + 1, 1))
        held = funding_rows(path) if path.exists() else []
        since = first
        if held:
            due = held[-1][0] + held[-1][1] * HOUR_MS  # the next funding time after the file's last
            if due >= following or not await self._reached(symbol, due):
                report.kept += 1
                self._tick(path)
                return
            since = held[-1][0] + 1
        answer = await self.request("fapiPublicGetFundingRate", {"symbol": symbol, "startTime": str(since),
                                                                 "endTime": str(following - 1),
                                                                 "limit": FUNDING_LIMIT})
        new = {int(r["fundingTime"]): str(r["fundingRate"]) for r in answer
               if since <= int(r["fundingTime"]) < following}
        if new:
            rows = sorted({**{t: rate for t, _, rate in held}, **new}.items())
            write_atomically(path, [FUNDING_HEADER, *funding_lines(rows)])
            report.written.append(str(path.relative_to(self.out)))
            report.rows += len(new)
        elif held:  # nothing new yet (a delisted symbol's month, too: one weight-1 read a run)
            report.kept += 1
        else:
            report.empty.append(str(path.relative_to(self.out)))
        self._tick(path)

    async def _reached(self, symbol: str, time_ms: int) -> bool:
        """Whether the market's clock may have passed `time_ms`: `serverTime` has (a replaying server's is
        ahead of its market), and so has the bar in progress, the latest the server has (one weight-1 read
        per symbol and run, shared with the day files')."""
        return time_ms <= self.server_ms and time_ms < await self.latest_open(KLINES, symbol) + self.interval_ms

    def _tick(self, path: Path) -> None:
        if self.progress is not None:
            self.progress(path.name)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One call through the budget. A refusal for this minute's share is retried within a second (the
        budget paces its share over the minute, so room comes back before the minute ends); a 429's
        Retry-After and a short ban are waited out, a longer one stops the run; a timeout or 5xx is retried
        RETRIES times with a growing pause, each said on stderr (an outage is waited out on purpose). Before the
        exchange has answered once, a connection that cannot be made is NothingAnswers at once: it took 15.5 s
        of silent retries to say that nothing listened at a mistyped port."""
        failures = 0
        while True:
            try:
                answer = await self.caller.call(method, params)
                self.answered = True
                return answer
            except BudgetRefused as exc:
                wait = exc.retry_after if exc.blocked else min(exc.retry_after, PACE_RETRY_S)
            except ExchangeError as exc:
                why = getattr(exc, "unreachable", None)
                if why and not self.answered:
                    raise NothingAnswers(why) from None
                if exc.http_status in (418, 429):
                    wait = max(0.0, self.caller.budget.blocked_until - self.caller.budget.clock())
                elif exc.retryable and failures < RETRIES:
                    failures += 1
                    wait = float(2 ** failures)
                    log.warning(f"no answer from the exchange ({exc.msg}): an outage is waited out, trying again "
                                f"in {wait:g} s ({failures} of {RETRIES}); after that the run stops and a re-run "
                                "resumes")
                else:
                    raise
            if wait > MAX_WAIT_S:
                raise DownloadStopped(f"the exchange holds requests back for {wait:.0f} s (rate limit or ban); "
                                      "run the same command later: it resumes where it stopped")
            self.waited_s += max(wait, 0.05)
            await self._sleep(max(wait, 0.05))
