"""Background price feeds for `sim-server`: bars played into the simulator on a thread.

`--feed manual` needs nothing here; `synthetic` and `replay:PATH` build a `BarFeed`, which walks bar
chunks (`marketdata.bars`) and, for each bar, takes the server's simulator lock, moves the clock to the
bar's last millisecond (funding due on the way applies) and plays each symbol's OHLC path, so resting stops
and liquidations trigger exactly as they would on a manual step; then the clock moves on to the bar's end,
and the kline streams report it closed. A paced feed plays each bar when its market clock (feed_pace.py)
reaches the bar's end, as Binance closes a kline, and the simulator's time follows that clock between bars.
A thread (not an asyncio task) keeps the event loop free for requests even at `--speed max`, and the lock
is released between bars so requests interleave.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..domain.kline_source import kline_paths
from ..domain.money import Rounding, from_float, round_to_grid
from ..marketdata.bars import BarChunk, iter_binance_klines, synthetic_bars
from ..marketdata.bars import replay_symbols as symbols_of
from ..marketdata.companions import companions_beside
from ..marketdata.holes import DataHole, refuse_holes
from ..sim.feed_bar import play_bar
from ..sim.recorded_funding import RecordedFunding, use_recorded_funding
from ..sim.replay_mark import MarkBars, recorded_mark
from ..sim.traded_prices import admit_traded_prices
from .feed_pace import FeedPace
from .routes_base import ServerState

#: Quote volumes (USDT) are estimated to 8 decimals, the precision of Binance's USDT amounts.
QUOTE_QUANTUM = Decimal("1E-8")

log = logging.getLogger(__name__)

#: Bars per chunk: small, so a feed starts at once and a stop is honoured within one chunk's build.
FEED_CHUNK_BARS = 256
#: Synthetic bars are generated lazily; this only bounds the walk (about 1900 years of 1m bars).
SYNTHETIC_BARS = 10**9
ONE_MINUTE_MS = 60_000
#: Longest wait between two looks at the market's clock: a `POST /sim/v1/clock` shift is noticed this soon.
PACE_POLL_S = 0.25


class FeedError(ValueError):
    """A feed that cannot be built (bad spec, missing file, no symbol in common): the CLI exits 2."""


def parse_speed(text: str) -> float | None:
    """`--speed`: a positive factor of real time (1 = one 1m bar per minute), or `max` (None: no pacing)."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise FeedError(f"--speed {text!r} is not a number or 'max'") from None
    if not math.isfinite(value) or value <= 0:
        raise FeedError(f"--speed {text!r} must be positive")
    return value


@dataclass(frozen=True)
class _Step:
    """One bar to play: bar t of `chunk`, the served symbols' columns, its recorded marks."""

    chunk: BarChunk
    t: int
    columns: list[tuple[str, int]]
    marks: MarkBars | None

    @property
    def end_ms(self) -> int:
        """The bar's end: its close time (`T`, its last millisecond) + 1, when it is played."""
        return int(self.chunk.open_time[self.t]) + self.chunk.interval_ms


@dataclass
class BarFeed:
    """Plays `bars()` into a server's simulator until exhausted or stopped.

    `speed` None plays as fast as possible; otherwise each bar is played when the feed's market clock
    (`FeedPace`: from where the market stands when the pace applies, at `speed` times the server's clock)
    reaches its end, so a bar of `interval_ms` lasts interval/speed of wall time. `attach` binds the server
    (done by `create_app`), `start`/`stop` run the thread.
    """

    name: str
    bars: Callable[[], Iterable[BarChunk]]
    speed: float | None = 1.0
    bars_played: int = 0
    #: A replay's recorded mark-price bars (markPriceKlines/ beside the klines): a fresh aligner per run
    #: (it streams the mark files in step with the bars), or None when there are none.
    marks: Callable[[], Callable[[BarChunk], MarkBars] | None] | None = None
    #: A replay's recorded funding (fundingRate/ beside the klines), put into the simulator on `attach`.
    funding: RecordedFunding | None = None
    #: The first bars are history: played unpaced, so that many closed klines exist before the replay's pace
    #: applies: a client warming up from REST klines starts at once, as against Binance, which has the past.
    #: The bar after them is then in progress, and played when the paced clock reaches its close.
    history_bars: int = 0
    #: Why the replay stopped before its data ended (a hole in it), also in /sim/v1/info's `feed`; else None.
    stopped: str | None = None
    #: The market's clock starts at the server's (`sim-server --feed synthetic`: the market is now), not at
    #: the simulator's time: at `--speed 1` it is then `/fapi/v1/time` itself (feed_pace.py).
    live: bool = False
    #: The served symbols the feed moves (a replay: those its files hold); the others stay at their prices.
    symbols: tuple[str, ...] = ()
    _pace: FeedPace | None = None
    _server: ServerState | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cursor: Iterator[_Step] | None = None
    #: The bar taken from the cursor and waiting for its close: a stop meanwhile keeps it for the next start.
    _waiting: _Step | None = None
    #: The bars ran out or the replay stopped at a hole: the feed plays nothing more.
    done: bool = False

    def attach(self, server: ServerState) -> None:
        self._server = server
        server.feed_progress.update(name=self.name, barsPlayed=self.bars_played, historyBars=self.history_bars,
                                    historyPlayed=self.history_played, symbols=len(self.symbols))
        server.market_clock = self._market_ms
        server.feed_owns_clock = self._owns_clock
        if self.funding is not None:
            use_recorded_funding(server.sim, self.funding)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._server is None:
            raise RuntimeError("BarFeed.start before attach: pass the feed to create_app")
        if self.running:
            return
        self._stop.clear()
        # A fresh clock each start: the time the feed was stopped does not count as market time.
        self._pace = None if self.speed is None else FeedPace(self.speed, self.live)
        self._thread = threading.Thread(target=self._run, name=f"sim-feed-{self.name}", daemon=True)
        self._thread.start()

    def _market_ms(self) -> int | None:
        """`ServerState.market_clock`: where the simulator's time may be now (the caller holds the lock)."""
        pace, server = self._pace, self._server
        if pace is None or server is None:
            return None
        return pace.market_ms(server)

    def _owns_clock(self) -> str | None:
        """`ServerState.feed_owns_clock`: while the feed has bars to play (running, or stopped part way), which
        it is, and when its next bar closes; None before it starts and once it is done (the caller holds the lock)."""
        if self.done or not (self.running or self._cursor is not None):
            return None
        step = self._waiting
        due = "" if step is None else f" (the next closes at {step.end_ms - 1})"
        return f"the {self.name} feed has bars to play{due}"

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_done(self, timeout: float) -> bool:
        """Block until the bars run out (True) or `timeout` seconds pass (False): for tests and scripts."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        """Play until the bars run out or `stop`; a later `start` resumes after the last bar played (the
        simulator's clock never goes back, and a bar already in its klines is never counted twice)."""
        server = self._server
        assert server is not None
        try:
            if self.stopped is not None:  # at a hole: a later start does not play past it either
                self.done = True
                log.error("simserver feed %s stays stopped: %s", self.name, self.stopped)
                return
            if self._cursor is None:
                self._cursor = self._steps(server)
            while not self._stop.is_set():
                step = self._waiting = self._waiting or self._next_step(server)
                if step is None:
                    self.done = True
                    return
                paced = self._pace is not None and self.history_played
                if paced and not self._until_end(server, step):
                    return
                self._waiting = None
                self._play(server, step)
                if paced and server.streams is not None:
                    server.streams.wake()  # paced: the bar it closed goes out now (unpaced, the poll batches them)
        except Exception:
            log.exception("simserver feed %s failed", self.name)
        finally:
            if self._pace is not None:
                self._pace.due_ms = None  # stopped: the simulator's time stays where the last bar left it

    def _next_step(self, server: ServerState) -> _Step | None:
        """The next bar, or None at the end of the bars or at a hole in them (said once, kept in `stopped`)."""
        assert self._cursor is not None
        try:
            step = next(self._cursor, None)
        except DataHole as hole:
            self.stopped = (f"the data has {hole}; playing on would jump the clock across it and charge "
                            "funding for all of it: replay each period on its own")
            with server.lock:
                server.feed_progress.update(stopped=self.stopped)
            log.error("simserver feed %s stops after %d bars: %s", self.name, self.bars_played, self.stopped)
            return None
        if step is None:
            self._log_end()
        return step

    def _until_end(self, server: ServerState, step: _Step) -> bool:
        """Wait until the market's clock reaches the bar's end (at once when it is behind the pace); False if
        `stop` came first. Meanwhile the simulator's time may follow the clock up to the bar's last millisecond."""
        pace = self._pace
        assert pace is not None
        with server.lock:
            pace.begin(server)
            pace.due_ms = step.end_ms
            wait = pace.seconds_to(server, step.end_ms)
        if self.bars_played == self.history_bars and wait >= 1.0:  # a client would otherwise think it stuck
            log.info("simserver feed %s: the first bar plays when it closes, in %.1f s", self.name, wait)
        while wait > 0:
            if self._stop.wait(min(wait, PACE_POLL_S)):
                return False
            wait = pace.seconds_to(server, step.end_ms)
        return True

    def _play(self, server: ServerState, step: _Step) -> None:
        """Play the bar and count it, under the lock."""
        with server.lock:
            self._play_bar(server, step)
            self.bars_played += 1
            if self._pace is not None:
                self._pace.due_ms = None  # until the next bar is taken, the clock stays at this bar's end
            server.feed_progress.update(barsPlayed=self.bars_played, historyPlayed=self.history_played)
        if self.history_bars and self.bars_played == self.history_bars:
            log.info("simserver feed %s: %d closed bars of history played; now at its pace", self.name,
                     self.history_bars)

    def _steps(self, server: ServerState) -> Iterator[_Step]:
        """Every bar of every chunk, with what playing it needs (the chunk's recorded marks aligned once)."""
        align = None if self.marks is None else self.marks()
        for chunk in refuse_holes(self.bars()):
            with server.lock:  # requests read the filters (exchangeInfo, orders) from another thread
                admit_traded_prices(server.sim, chunk)
            columns = [(s, i) for i, s in enumerate(chunk.symbols) if s in server.sim.state.instruments]
            marks = None if align is None else align(chunk)
            for t in range(len(chunk)):
                yield _Step(chunk, t, columns, marks)

    def _log_end(self) -> None:
        log.info("simserver feed %s: bars exhausted after %d bars", self.name, self.bars_played)
        if not self.history_played:
            log.warning("simserver feed %s: the replay ended inside its history (--history-bars %d, %d bars)",
                        self.name, self.history_bars, self.bars_played)

    @property
    def history_played(self) -> bool:
        """The history bars are played (closed): the bar after them is in progress, at the replay's pace."""
        return self.bars_played >= self.history_bars

    @staticmethod
    def _play_bar(server: ServerState, step: _Step) -> None:
        """The bar's path at its last millisecond (what it triggers is stamped inside the bar, never before an
        order sent while it was in progress), then the clock at its end: the bar is closed."""
        sim, chunk, t = server.sim, step.chunk, step.t
        last_ms = step.end_ms - 1
        sim.set_time(last_ms)
        for symbol, s in step.columns:
            marks = recorded_mark(step.marks, t, s)
            prices = play_bar(sim, symbol, chunk.bar(t, s), marks)
            if prices is None:
                continue
            # The whole bar, not just its close, so /fapi/v1/klines and kline streams show its range; the
            # mark walked the recorded mark bar where there is one (markPriceKlines), else the last's path.
            # Recorded at the bar's last millisecond whatever the simulator's time (a /sim/v1/advance may have
            # moved it on): the bar's own kline holds them.
            rows = server.price_rows(symbol)
            if marks is None:
                rows.extend((last_ms, p, p) for p in prices)
            else:
                rows.extend((last_ms, p, m) for p, m in zip(prices, marks, strict=True))
            volume = float(chunk.volume[t, s])
            if math.isfinite(volume) and volume >= 0:  # a gap in a symbol's data (NaN) has no volume
                # In the symbol's quantity steps, as Binance counts it (a synthetic volume is a float).
                lot = sim.instrument(symbol).step_size
                base = round_to_grid(from_float(volume, "volume"), lot, Rounding.NEAREST)
                typical = (prices[1] + prices[2] + prices[3]) / 3
                server.record_volume(symbol, base, (base * typical).quantize(QUOTE_QUANTUM), last_ms)
        sim.set_time(step.end_ms)


def synthetic_feed(start_prices: dict[str, Decimal], *, start_ms: int, seed: int = 0,
                   speed: float | None = 1.0, live: bool = False) -> BarFeed:
    """Seeded 1m random walk from `start_prices` (the simulator's current prices: the universe's
    typical prices at start-up), its first bar the minute `start_ms` falls in.

    Each bar is played when the feed's clock reaches its close: the first when the minute `start_ms` falls in
    closes. Starting at the next minute boundary instead (as it once did) put the simulator's clock up to
    60 s ahead of `/fapi/v1/time`. `live` (the CLI's): the feed's clock starts at the server's clock, so at
    `--speed 1` it is `/fapi/v1/time`; else at the simulator's time (a test's market placed in the past)."""
    if not start_prices:
        raise FeedError("synthetic feed needs at least one symbol")
    symbols = sorted(start_prices)
    first = start_ms // ONE_MINUTE_MS * ONE_MINUTE_MS

    def bars() -> Iterator[BarChunk]:
        return synthetic_bars(symbols, [float(start_prices[s]) for s in symbols], SYNTHETIC_BARS,
                              ONE_MINUTE_MS, seed=seed, chunk_bars=FEED_CHUNK_BARS, start_ms=first)

    return BarFeed("synthetic", bars, speed, live=live, symbols=tuple(symbols))


def replay_symbols(path: str | Path) -> list[str]:
    """The symbols a replay's kline files hold, by their names (no file is read), sorted; FeedError when the
    path names no kline file."""
    try:
        return symbols_of(path)
    except ValueError as exc:
        raise FeedError(f"replay path {exc}") from None


def replay_feed(path: str | Path, server_symbols: Iterable[str], *, speed: float | None = 1.0,
                history_bars: int = 0) -> tuple[BarFeed, int]:
    """A replay of Binance public-data kline files, and the first bar's open time (the simulated clock
    should start there, or funding and bar times would be in the simulator's past).

    Symbols the server does not trade are skipped with a log line; none in common is a `FeedError`. The
    mark-price klines and funding files beside the klines (marketdata/companions.py) are replayed too, as
    `run` and `backtest` replay them: MARK_PRICE stops see the recorded mark, funding the recorded rates.
    """
    source = Path(path)
    try:
        files = kline_paths(source)  # resolved once: a glob names the same files for the whole replay
    except ValueError as exc:
        raise FeedError(f"replay path {exc}") from None
    wanted = set(server_symbols)
    try:
        first_chunk = next(iter_binance_klines(files, chunk_bars=1))
    except (ValueError, OSError, StopIteration) as exc:
        raise FeedError(f"cannot read klines from {source}: {exc}") from None
    skipped = sorted(set(first_chunk.symbols) - wanted)
    if skipped:
        log.warning("simserver replay: skipping symbols the server does not trade: %s", ", ".join(skipped))
    if not wanted & set(first_chunk.symbols):
        raise FeedError(f"replay {source}: none of its symbols ({', '.join(first_chunk.symbols)}) is served")

    def bars() -> Iterator[BarChunk]:
        return iter_binance_klines(files, chunk_bars=FEED_CHUNK_BARS)

    served = sorted(wanted & set(first_chunk.symbols))
    companions = companions_beside(files)
    try:
        funding = companions.funding(served) if companions.funding_paths else None
    except (ValueError, OSError) as exc:  # a malformed funding file: say so at start, not mid-replay
        raise FeedError(f"replay {source}: {exc}") from None

    def marks() -> Callable[[BarChunk], MarkBars] | None:
        aligner = companions.marks(served, first_chunk.interval_ms)
        return None if aligner is None else aligner.align

    feed = BarFeed(f"replay:{source}", bars, speed, marks=marks if companions.mark_paths else None, funding=funding,
                   history_bars=history_bars, symbols=tuple(served))
    return feed, int(first_chunk.open_time[0])


def parse_feed(spec: str) -> tuple[str, str | None]:
    """`manual`, `synthetic` or `replay:PATH` → (kind, path)."""
    text = spec.strip()
    if text in ("manual", "synthetic"):
        return text, None
    if text.startswith("replay:") and text[len("replay:"):].strip():
        return "replay", text[len("replay:"):].strip()
    raise FeedError(f"--feed {spec!r} is not manual, synthetic or replay:PATH")
