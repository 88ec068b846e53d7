"""The live bar feed: closed one-minute klines from Binance's market websockets, one row per minute.

Why: a strategy is backtested on closed one-minute klines of the whole universe, one row per minute.
Live, it must see exactly those bars: none missing, none twice, in order, all symbols of a minute in one
row. This feed gets them from the kline streams (`<symbol>@kline_1m`, only messages with `k.x == true`,
Binance's mark of a closed bar) and repairs whatever the network loses with REST klines.

Client: the `websockets` library, not ccxt.pro's `watch_ohlcv_for_symbols`. ccxt keeps the current bar in
a cache it updates in place and hides `k.x`, so a closed bar has to be guessed from the next one's arrival
(a minute late for a quiet symbol); it subscribes with SUBSCRIBE messages (Binance allows 10 per second per
connection) and reconnects on its own schedule, out of sight of the backfill that must follow every
reconnect. Raw websockets give the exact `x` flag, streams named in the URL (`/market/stream?streams=`, at
most `MAX_STREAMS` per connection, several connections for a large universe), and reconnects this module
owns, so each one is followed by a backfill.

How bars are kept exact (marketdata/kline_rows.py holds the rows):
- the *frontier* is the open time of the newest bar the server has shown (an open bar's `t`, a closed
  bar's `t` + 1 minute): every bar opened before it is closed, so a REST backfill up to it returns only
  closed bars;
- after each (re)connect, on the connection's first kline message, every symbol of that connection is
  backfilled from its first missing minute to the frontier (`GET /fapi/v1/klines`, through the exchange
  adapter's `klines` read, injected as `backfill`);
- a closed bar arriving for a symbol that lacks an earlier minute is a detected gap: backfilled first;
- a late symbol: once a minute has closed on the server (the frontier passed it), its row waits at most
  `grace_s` of wall time for the missing symbols, then they are backfilled over REST (Binance closes a bar
  for a symbol without trades too, so REST has it), and a symbol still missing after that gets NaN in that
  row (BarChunk's mark of a missing bar, as the replay feed uses); its bar, should it come later, is
  dropped, so no minute is delivered twice. `forced_missing` counts such bars.
Stalls: every connection carries a heartbeat stream (the first one `!markPrice@arr@1s`, which also keeps
the latest mark per symbol and its time in `marks`, a board the exchange adapter answers `mark_since` from;
the others one symbol's `@markPrice@1s`), so silence for `stall_s` means a half-open connection: it is
closed and reopened, with exponential backoff between attempts.

Cost per message (222 symbols close a bar in the same instant, and an open bar updates every 250 ms): no
timer per receive (one watchdog task per connection reads the time of the last message instead), no
permessage-deflate (small JSON over a fast link; inflating costs more than it saves), a receive queue deep
enough for a whole burst, and an open bar that does not move the frontier is dropped at the socket,
before any Decimal is built. What is counted (`FeedCounters`) is read by /health and /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import websockets

from ..core.loggers import get_logger
from ..domain.errors import ExchangeError
from ..domain.kline import Kline, kline_from_stream
from ..domain.money import ZERO, to_decimal
from ..exchange.mark_board import MarkBoard
from ..marketdata.bars import BarChunk
from ..marketdata.kline_rows import MinuteRows
from ..settings.model import Settings
from .market_feed import FeedCounters, FeedStatus, OnBar

log = get_logger(__name__)

Backfill = Callable[[str, int, int], Awaitable[list[Kline]]]
#: Binance: at most 200 streams per market-stream connection.
MAX_STREAMS = 200
MINUTE_MS = 60_000
ALL_MARKS = "!markPrice@arr@1s"
#: Messages a connection buffers before it stops reading the socket: a bar close's whole burst.
RECEIVE_QUEUE = 4096
#: Binance's public hosts: a REST base URL maps to its market-stream host.
_WS_HOSTS = {"fapi.binance.com": "fstream.binance.com", "testnet.binancefuture.com": "fstream.binancefuture.com"}


def market_ws_url(rest_url: str) -> str:
    """The market-stream base for a REST base URL: Binance's stream host, or the same host (a sim-server)."""
    parts = urlsplit(rest_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    host = _WS_HOSTS.get(parts.hostname or "", parts.netloc)
    return f"{scheme}://{host}"


def stream_groups(symbols: Sequence[str], max_streams: int = MAX_STREAMS) -> list[list[str]]:
    """Stream names per connection: the first carries `!markPrice@arr@1s`, each other a one-symbol mark
    stream as its heartbeat, and every symbol's `@kline_1m` goes to exactly one connection."""
    per_conn = max_streams - 1
    groups = [list(symbols[i:i + per_conn]) for i in range(0, len(symbols), per_conn)] or [[]]
    return [[ALL_MARKS if n == 0 else f"{group[0].lower()}@markPrice@1s", *(f"{s.lower()}@kline_1m" for s in group)]
            for n, group in enumerate(groups)]


@dataclass(frozen=True)
class WsFeedConfig:
    """The feed's options; settings/model.py exposes the ones a user tunes (QT_FEED_*)."""

    stall_s: float = 10.0
    grace_s: float = 2.0
    backoff_first_s: float = 0.2
    backoff_max_s: float = 30.0
    #: Closed bars before the first live minute, backfilled at start (a strategy's warm-up); 0: none.
    warmup_bars: int = 0
    max_streams: int = MAX_STREAMS


def feed_from_settings(settings: Settings, symbols: Sequence[str], backfill: Backfill, *,
                       marks: MarkBoard | None = None) -> WsKlineFeed:
    """The session's exchange feed: at QT_WS_URL (else the stream host of QT_EXCHANGE), QT_FEED_* options;
    `marks`: where it keeps the marks it hears (the adapter's board, so the adapter holds them too)."""
    config = WsFeedConfig(stall_s=settings.feed_stall_s, grace_s=settings.feed_grace_s,
                          max_streams=settings.feed_max_streams)
    return WsKlineFeed(settings.ws_url or market_ws_url(settings.exchange), symbols, backfill, config=config,
                       marks=marks)


@dataclass
class _Item:
    conn: int
    symbol: str
    kline: Kline | None = None  # None: the connection (re)opened
    closed: bool = False


class WsKlineFeed:
    """Closed one-minute bars of `symbols` over websockets, backfilled over REST, as one-row chunks."""

    def __init__(self, ws_base: str, symbols: Sequence[str], backfill: Backfill, *,
                 config: WsFeedConfig | None = None, marks: MarkBoard | None = None) -> None:
        self.counters = FeedCounters()
        self.status = FeedStatus("exchange", repairs=self.counters)
        #: The latest mark per symbol with its exchange time (`E`), as the mark streams deliver them.
        self.marks = marks if marks is not None else MarkBoard()
        self.symbols = tuple(symbols)
        self._base, self._backfill, self.config = ws_base.rstrip("/"), backfill, config or WsFeedConfig()
        self._groups = stream_groups(self.symbols, self.config.max_streams)
        self._conn_of = {s: n for n, g in enumerate(self._groups) for s in (x.split("@")[0].upper() for x in g[1:])}
        self.rows: MinuteRows | None = None  # survives a restart of run(): nothing is delivered twice
        self.frontier = 0
        self._fresh: set[int] = set()
        #: Connections whose first kline since their (re)connect has been queued (the backfill trigger).
        self._primed: set[int] = set()
        self._opened: set[int] = set()
        self._closed_seen: tuple[int, float] | None = None  # (next_open, wall time its minute was seen closed)
        #: Awaited once with the first live minute, before any row exists: the strategy's history load
        #: (feeds/warmup.py), so history ends exactly where the live rows begin.
        self.before_first_row: Callable[[int], Awaitable[None]] | None = None

    @property
    def forced_missing(self) -> int:
        return 0 if self.rows is None else self.rows.forced_missing

    async def run(self, on_bar: OnBar, stop: asyncio.Event) -> None:
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        tasks = [asyncio.create_task(self._connection(n, streams, queue, stop), name=f"kline-ws-{n}")
                 for n, streams in enumerate(self._groups)]
        try:
            while not stop.is_set():
                failed = [t.exception() for t in tasks if t.done() and not t.cancelled()]
                if any(failed):  # a connection task died of a bug: fail, and let the supervisor restart us
                    raise next(exc for exc in failed if exc is not None)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):  # wake up for the grace check even when all is quiet
                        item = await queue.get()
                    await self._take(item)
                    while not queue.empty():
                        await self._take(queue.get_nowait())
                await self._release(on_bar)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- the consumer: one task, so rows and backfills never interleave ----------------------------
    async def _take(self, item: _Item) -> None:
        if item.kline is None:
            self._fresh.add(item.conn)
            return
        t = item.kline.open_ms
        self.frontier = max(self.frontier, t + MINUTE_MS if item.closed else t)
        if self.rows is None:
            if self.before_first_row is not None:
                hook, self.before_first_row = self.before_first_row, None
                await hook(self.frontier - self.config.warmup_bars * MINUTE_MS)
            self.rows = MinuteRows(self.symbols, MINUTE_MS, self.frontier - self.config.warmup_bars * MINUTE_MS)
        rows = self.rows
        if item.conn in self._fresh:
            self._fresh.discard(item.conn)
            await self._fill([s for s, n in self._conn_of.items() if n == item.conn])
        if not item.closed:
            return
        if rows.behind(item.symbol) < t:
            self.counters.gaps += 1
            await self._fill([item.symbol])
        rows.add(item.symbol, item.kline)

    async def _fill(self, symbols: Sequence[str]) -> None:
        """REST klines for each symbol from its first missing minute up to the frontier (closed bars only)."""
        rows = self.rows
        if rows is None:
            return
        for symbol in symbols:
            start = rows.behind(symbol)
            if start >= self.frontier:
                continue
            self.counters.backfill_calls += 1
            try:
                klines = await self._backfill(symbol, start, self.frontier - 1)
            except ExchangeError as exc:
                self.counters.errors.append(f"{symbol}: {exc}")
                log.warning("kline backfill failed", symbol=symbol, start_ms=start, error=str(exc))
                continue
            for k in klines:
                if k.open_ms < self.frontier and rows.add(symbol, k):
                    self.counters.backfilled_bars += 1

    async def _release(self, on_bar: OnBar) -> None:
        """Deliver complete rows; a row whose minute closed `grace_s` ago gets a REST try, then NaN."""
        rows = self.rows
        if rows is None:
            return
        while True:
            for chunk in rows.ready():
                await self._deliver(on_bar, chunk)
            if self.frontier <= rows.next_open:
                return
            seen = self._closed_seen
            if seen is None or seen[0] != rows.next_open:
                self._closed_seen = (rows.next_open, time.monotonic())
                return
            if time.monotonic() - seen[1] < self.config.grace_s:
                return
            late = rows.missing()
            await self._fill(late)
            still = rows.missing()
            self.counters.late_filled += len(late) - len(still)
            if still:
                log.warning("bars missing after the grace period", open_ms=rows.next_open, symbols=still)
                self.counters.nan_rows += 1
                self.counters.nan_bars += len(still)
                await self._deliver(on_bar, rows.force())

    async def _deliver(self, on_bar: OnBar, chunk: BarChunk) -> None:
        await on_bar(chunk)
        self.status.bars += 1
        self.status.last_bar_monotonic = time.monotonic()

    # --- the connections: read, parse, queue; reconnect on close, error or silence ----------------
    async def _connection(self, conn: int, streams: list[str], queue: asyncio.Queue[_Item],
                          stop: asyncio.Event) -> None:
        url = f"{self._base}/market/stream?streams={'/'.join(streams)}"
        failures = 0
        while not stop.is_set():
            stalled = False
            try:
                async with websockets.connect(url, open_timeout=self.config.stall_s, max_size=2**24,
                                              max_queue=RECEIVE_QUEUE, compression=None, ping_interval=None,
                                              close_timeout=1.0) as ws:
                    self._connected(conn)
                    failures = 0
                    queue.put_nowait(_Item(conn, ""))
                    watchdog = asyncio.create_task(self._watch(conn, ws, stop), name=f"kline-ws-{conn}-watchdog")
                    try:
                        async for raw in ws:  # ends when the watchdog closes it for `stop`
                            self.counters.heard[conn] = time.monotonic()
                            self._parse(conn, raw, queue)
                    finally:
                        watchdog.cancel()
                        stalled = (watchdog.done() and not watchdog.cancelled() and watchdog.exception() is None
                                   and watchdog.result())
            except TimeoutError:  # the handshake took `stall_s`: as silent as a stalled stream
                stalled = True
            except (OSError, websockets.WebSocketException) as exc:
                if not stalled:
                    log.warning("market stream closed: reconnecting", connection=conn, error=str(exc))
            if stalled:
                self.counters.stalls += 1
                log.warning("market stream silent: reconnecting", connection=conn, stall_s=self.config.stall_s)
            elif stop.is_set():
                return
            failures += 1
            await _pause(stop, self._backoff(failures))

    def _connected(self, conn: int) -> None:
        counters = self.counters
        counters.connects += 1
        counters.reconnects += conn in self._opened
        counters.heard[conn] = time.monotonic()
        self._opened.add(conn)
        self._primed.discard(conn)

    async def _watch(self, conn: int, ws: websockets.ClientConnection, stop: asyncio.Event) -> bool:
        """Close `ws` when it has been silent for `stall_s` (True: a stall) or when `stop` is set (False).

        Why a task: a timeout around every receive costs a timer per message, 222 of them per bar close.
        A stalled connection is aborted, not closed: a half-open one would not answer a closing handshake.
        """
        heard = self.counters.heard
        while True:
            left = heard[conn] + self.config.stall_s - time.monotonic()
            if left <= 0:
                ws.transport.abort()
                return True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await stop.wait()
            if stop.is_set():
                await ws.close()
                return False

    def _backoff(self, failures: int) -> float:
        """Exponential from `backoff_first_s` (the first retry is quick: most drops are one-offs), capped,
        with jitter so several connections do not reconnect in step."""
        base = min(self.config.backoff_max_s, self.config.backoff_first_s * 2.0 ** (failures - 1))
        return base * random.uniform(0.5, 1.0) if failures > 1 else base

    def _parse(self, conn: int, raw: str | bytes, queue: asyncio.Queue[_Item]) -> None:
        """Queue a kline for the consumer; an open bar only when it moves the frontier or is the
        connection's first kline (which starts its backfill): the others change nothing downstream."""
        message: dict[str, Any] = json.loads(raw)
        data = message.get("data")
        if isinstance(data, list):
            self._marks(data)
        elif isinstance(data, dict) and data.get("e") == "kline":
            self._heard_at(data.get("E"))
            k = data["k"]
            closed = k["x"] is True
            if not closed and k["t"] <= self.frontier and conn in self._primed:
                return
            self._primed.add(conn)
            queue.put_nowait(_Item(conn, str(k["s"]), kline_from_stream(k) if closed else _open_bar(k), closed))
        elif isinstance(data, dict) and data.get("e") == "markPriceUpdate":
            self._marks([data])

    def _marks(self, rows: list[dict[str, Any]]) -> None:
        """Keep each symbol's mark with its event time (what the stop witness takes instead of a REST read:
        exchange/mark_board.py); the heartbeat's event time gives the stream's lag behind the exchange."""
        for row in rows:
            self.marks.put(str(row["s"]), to_decimal(row["p"], "p"), int(row.get("E", 0)))
        if rows:
            self._heard_at(rows[-1].get("E"))

    def _heard_at(self, event_ms: object) -> None:
        """A message stamped `E` by the exchange arrived now: the stream's lag behind the exchange's clock."""
        if isinstance(event_ms, int) and event_ms > 0:
            self.counters.lag_ms = time.time_ns() // 1_000_000 - event_ms

    def now_ms(self) -> int:
        """The exchange's clock as this feed last heard it: the wall clock less the newest message's lag.

        Against Binance that is the wall clock to within the network's delay; against a simulator replaying
        February it is February. A bar's lateness (the scanner's `behind`) is measured on this clock: on the
        wall clock, every bar of a replay would be months late and /health degraded for nothing."""
        return time.time_ns() // 1_000_000 - (self.counters.lag_ms or 0)


def _open_bar(k: dict[str, Any]) -> Kline:
    """An open bar's kline: only its open time is read (the frontier), so no prices are parsed."""
    return Kline(int(k["t"]), ZERO, ZERO, ZERO, ZERO, ZERO, int(k["T"]))


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
