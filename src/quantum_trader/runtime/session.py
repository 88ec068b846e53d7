"""The composition root of a running session: `quantum-trader run` in paper, staging or live mode.

It builds the exchange adapter (in-process simulator, or a URL guarded by the paper check), the
journal (write-ahead: every event committed before the next step), the engine (wiring.py), the
feed, the position monitor and the API, runs them on one event loop, and stops them in an order
that loses nothing: new entries stop first, protection orders stay on the exchange, the journal is
flushed last. Live mode starts only when the readiness checklist passes on the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from ..core.bus import EventBus
from ..core.clock import Clock, SimulatedClock, WallClock
from ..core.metrics import Metrics
from ..core.supervisor import RestartPolicy, Supervisor, bus_reporter
from ..core.watchdog import notify, watchdog_interval_s
from ..domain.errors import ConfigError
from ..domain.events import (
    BarClosed,
    ErrorEvent,
    OrderIntentRecorded,
    OrderNotSent,
    OrderRejectedEvent,
)
from ..domain.money import from_float
from ..exchange.budget import WeightBudget
from ..exchange.factory import connect
from ..exchange.order_rate import OrderRate
from ..exchange.port import Exchange
from ..exchange.retry import patient
from ..exchange.staging_gateway import DryRunGateway
from ..journal.db import migrate
from ..journal.reader import JournalReader
from ..journal.writer import Journal
from ..marketdata.bars import BarChunk, bars_from, iter_binance_klines
from ..marketdata.companions import companions_of
from ..marketdata.synthetic import funding_ahead, marks_of, synthetic_market
from ..notify.sender import Notifier, notifier_from_urls
from ..notify.watch import Watcher
from ..settings.model import Settings
from ..signals.registry import build_strategy
from ..signals.scanner_health import ScannerStats
from ..signals.strategy import Strategy, signal_event
from ..sim.engine import ExchangeSimulator
from ..sim.replay_mark import MarkBars
from ..sim.universe import load_universe
from ..trading.monitor import MonitorConfig, PositionMonitor
from .app_service import SessionService
from .backtest import use_recorded_funding
from .bar_tape import BarTape
from .evidence import session_path
from .live_feed import WsKlineFeed, feed_from_settings
from .market_feed import BarFeed, FeedStatus
from .paper_account import open_paper_account
from .pump import pump_forever
from .service import AppService
from .silence import SilenceReporter, scan_safely
from .startup import (
    check_readiness,
    closing_on_error,
    first_live_ms,
    protect_at_start,
    reconcile_journal,
    reconciling_sweep,
    record_instruments,
    startup_errors,
)
from .warmup import SyntheticHistory, prepare_warm_up, synthetic_history
from .wiring import Engine, TradingRules, alerts_for, protect_engine, wire_engine

log = structlog.get_logger(__name__)
#: Seconds the API waits at shutdown for open requests (a dashboard's event stream never ends by itself).
GRACEFUL_SHUTDOWN_S = 3
EXIT_OK, EXIT_CONFIG, EXIT_NOT_READY = 0, 2, 3
#: Background tasks whose loss for good halts entries: without them nothing watches stops or hears fills.
HALT_ON_GIVE_UP = frozenset({"monitor", "exchange-events"})
MINUTE_MS = 60_000
#: Wall seconds the stop waits for queued alerts (the last exit) before giving up on them.
NOTIFY_DRAIN_S = 5.0


def rules_from(settings: Settings, *, live_since_ms: int | None = None) -> TradingRules:
    return TradingRules(stop_loss_pct=settings.stop_loss_pct, take_profit_pct=settings.take_profit_pct,
                        risk_per_trade_pct=settings.risk_per_trade_pct, leverage=settings.leverage,
                        max_positions=settings.max_positions, min_confidence=settings.min_confidence,
                        cooldown_s=settings.cooldown_s, daily_loss_limit_pct=settings.daily_loss_limit_pct,
                        live_since_ms=live_since_ms, live_max_positions=settings.live_max_positions,
                        ev_full_size_pct=settings.ev_full_size_pct)  # task M: edge-scaled sizing, off by default


@dataclass
class Parts:
    exchange: Exchange
    sim: ExchangeSimulator | None
    symbols: tuple[str, ...]
    clock: Clock
    feed: BarFeed | WsKlineFeed
    #: The request budget every REST call of a URL adapter passes (None in process: nothing to count).
    budget: WeightBudget | None = None
    #: Task M (issue 11): the synthetic market's bars before the start, a warming strategy's history (warmup.py).
    history: SyntheticHistory | None = None


async def build_parts(settings: Settings) -> Parts:
    universe = load_universe()
    if settings.exchange == "sim":
        symbols = settings.symbol_list or universe.top(settings.symbol_count or 222)
        unknown = [s for s in symbols if s not in universe.symbols]
        if unknown:
            raise ConfigError(f"QT_SYMBOLS={','.join(unknown)}: not in the simulator's universe of "
                              f"{len(universe.symbols)} perpetuals")
        # The paper account survives restarts (QT_PAPER_STATE); the market continues from its prices and time.
        account = open_paper_account(settings, {s: universe.instrument(s) for s in symbols}, _first_bar_ms(settings))
        sim = account.sim
        prices = {s: float(sim.last_price(s)) for s in symbols}
        start_ms, chunks = _bar_source(settings, symbols, prices, start_ms=account.start_ms, seed=account.seed)
        history = synthetic_history(settings.feed, symbols, [prices[s] for s in symbols], seed=account.seed,
                                    start_ms=start_ms)  # task M: the synthetic market's past (runtime/warmup.py)
        marks = _recorded_marks_and_funding(settings, sim, symbols)
        if settings.feed == "synthetic":
            chunks, marks = _synthetic_marks_and_funding(chunks, sim)
        exchange: Exchange = await connect("sim", paper=True, sim=sim)
        clock: Clock = SimulatedClock(start_ms)
        return Parts(exchange, sim, symbols, clock, BarFeed(settings.feed, chunks, speed=settings.speed_factor,
                                                            clock=clock, sim=sim, marks=marks), history=history)
    budget = WeightBudget(share_pct=settings.weight_budget_pct,
                          orders=OrderRate(entry_share_pct=settings.order_entry_pct))
    exchange = await connect(settings.exchange, paper=settings.paper_trading,
                             api_key=settings.api_key.get_secret_value() if settings.api_key else None,
                             api_secret=settings.api_secret.get_secret_value() if settings.api_secret else None,
                             budget=budget, reading_interval_s=settings.reconcile_interval, ws_url=settings.ws_url)
    instruments = await exchange.instruments()
    symbols = settings.symbol_list or tuple(s for s in universe.top(settings.symbol_count or 222) if s in instruments)
    if settings.feed == "exchange":
        # Closed klines over the market websockets, REST-backfilled through the adapter (runtime/live_feed.py).
        feed = feed_from_settings(settings, symbols, exchange.klines)
        return Parts(exchange, None, symbols, WallClock(), feed, budget)
    marks_now = await exchange.mark_prices(symbols)
    start_ms, chunks = _bar_source(settings, symbols, {s: float(p) for s, p in marks_now.items()})
    clock = SimulatedClock(start_ms)
    return Parts(exchange, None, symbols, clock, BarFeed(settings.feed, chunks, speed=settings.speed_factor,
                                                         clock=clock), budget,
                 history=synthetic_history(settings.feed, symbols, [float(marks_now[s]) for s in symbols],
                                           seed=settings.seed, start_ms=start_ms))  # task M


def _recorded_marks_and_funding(settings: Settings, sim: ExchangeSimulator, symbols: tuple[str, ...],
                                ) -> Callable[[BarChunk], MarkBars] | None:
    """A replay with mark-price klines and funding files beside its klines (marketdata/companions.py): the
    in-process simulator pays the recorded funding, and the feed gets the chunks' recorded marks."""
    if not settings.feed.startswith("replay:"):
        return None
    companions = companions_of(Path(settings.feed.removeprefix("replay:")))
    if not companions:
        return None
    use_recorded_funding(sim, companions.funding(symbols))
    aligner = companions.marks(symbols)
    return None if aligner is None else aligner.align


def _first_bar_ms(settings: Settings) -> int:
    """A replay's first bar, else the wall clock's minute: where a fresh session's market starts."""
    if settings.feed.startswith("replay:"):
        first = next(iter_binance_klines(Path(settings.feed.removeprefix("replay:")), chunk_bars=1))
        return int(first.open_time[0])
    return (time.time_ns() // 1_000_000) // MINUTE_MS * MINUTE_MS


def _bar_source(settings: Settings, symbols: tuple[str, ...], prices: dict[str, float], *,
                start_ms: int | None = None, seed: int | tuple[int, int] | None = None,
                ) -> tuple[int, Callable[[], Iterator[BarChunk]]]:
    """Bars from `start_ms` (default: `_first_bar_ms`): a resumed paper account gives its own start and seed."""
    start = _first_bar_ms(settings) if start_ms is None else start_ms
    if settings.feed.startswith("replay:"):
        path = Path(settings.feed.removeprefix("replay:"))
        return start, lambda: bars_from(iter_binance_klines(path, chunk_bars=256), start)
    names = list(symbols)
    path_seed = settings.seed if seed is None else seed
    # The crypto-like market (heavy tails, clustering, market factor, gaps, mark basis, funding).
    return start, lambda: synthetic_market(names, [prices[s] for s in names], 10**9, MINUTE_MS, seed=path_seed,
                                           chunk_bars=64, start_ms=start)


def _synthetic_marks_and_funding(chunks: Callable[[], Iterator[BarChunk]], sim: ExchangeSimulator,
                                 ) -> tuple[Callable[[], Iterator[BarChunk]], Callable[[BarChunk], MarkBars]]:
    """The synthetic market's own marks (so MARK_PRICE stops see the basis; two digits finer than the price, as
    Binance's) and funding rates (handed to the simulator a chunk ahead of their instants: synthetic.funding_ahead)."""
    def marks(chunk: BarChunk) -> MarkBars:
        return marks_of(chunk, [sim.instrument(s).price_precision + 2 for s in chunk.symbols])

    return lambda: funding_ahead(chunks(), sim.state.funding_rates.set_series), marks


#: Builds the ASGI app for the session (the API layer sits above runtime, so it is passed in).
AppFactory = Callable[[AppService, Metrics, str | None], Any]


class Session:
    """One run of the bot; `run()` returns the process exit code."""

    #: How a dead background task is restarted (tests shorten it); the feed and the watchdog may also just end.
    restart_policy = RestartPolicy(base_delay_s=0.5, max_delay_s=30.0, max_restarts=5, window_s=300.0)
    _bus_counted: int = 0  # bus events already counted in the metrics (see _monitor_loop)

    def __init__(self, settings: Settings, app_factory: AppFactory, *, stop: asyncio.Event | None = None) -> None:
        self.settings = settings
        self.app_factory = app_factory
        self.stop = stop or asyncio.Event()
        self.metrics = Metrics()
        self.service: SessionService | None = None
        self.port: int | None = None
        #: QT_NOTIFY_URLS's alerts (None when unset): subscribed first on the bus, sent by a supervised worker.
        self.notifier: Notifier | None = notifier_from_urls(settings.notify_url_list) if settings.notify_urls else None

    async def run(self) -> int:
        s = self.settings
        logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter is not session news
        if s.mode == "live":
            await asyncio.to_thread(migrate, s.db_url)
            await asyncio.to_thread(check_readiness, s)
        await asyncio.to_thread(migrate, s.db_url)
        # Every exchange read up to the first sweep waits out a short outage (runtime/startup.py); the strategy
        # (the AI scanner's model, its history) comes after that sweep, not before it.
        with patient(s.startup_patience_s), startup_errors(s):
            parts = await build_parts(s)
            async with closing_on_error(parts.exchange):  # a start-up that fails leaves no session open
                journal = Journal(s.db_url, batch_size=1, now_ms=parts.clock.now_ms)
                journal.start_session(s.mode, json.dumps(s.public_dict(), sort_keys=True), version("quantum-trader"),
                                      **session_path(s, parts.clock))  # readiness counts only the live path's sessions
                instruments = await parts.exchange.instruments()
                record_instruments(journal, {s: instruments[s] for s in parts.symbols if s in instruments},
                                   parts.clock.now_ms())
                live_since = first_live_ms(s.db_url) if s.mode == "live" else None
                engine = wire_engine(parts.clock, parts.exchange, instruments, rules_from(s, live_since_ms=live_since),
                                     journal=journal, gateway=DryRunGateway() if s.mode == "staging" else None,
                                     observers=(alerts_for(self.notifier).attach,) if self.notifier else ())
                monitor, kill = protect_engine(engine, self.metrics, MonitorConfig(
                    interval_s=s.monitor_interval, trailing_stop_pct=s.trailing_stop_pct))
                assert monitor is not None
                reader = JournalReader(s.db_url)
                # A restart: the journal knows the trades, the exchange the truth (trades closed while away close now).
                await reconcile_journal(engine, monitor, parts.exchange, reader)
                self._count_events(engine)
                await protect_at_start(engine, monitor)  # risk and the monitor learn what is open; the first sweep
        strategy = build_strategy(s.strategy, s)
        # Task M (issue 11): history before the first bar, never traded (synthetic: now; exchange feed: at its start).
        tape = BarTape(tuple(parts.symbols),  # the dashboard's charts: the warm-up history, then every bar
                       ticks={name: inst.tick_size for name, inst in instruments.items()})
        await prepare_warm_up(strategy, parts.feed, parts.history, parts.exchange.klines, tape)
        self.service = SessionService(s, engine, monitor, kill, reader, self.metrics, parts.feed.status,
                                      strategy=strategy)
        self.service.tape = tape
        self.service.budget = parts.budget
        self.service.notifier = self.notifier
        try:
            await self._serve(engine, parts, strategy, monitor, journal)
        finally:
            journal.flush()
            journal.close()
            reader.close()
            await parts.exchange.close()
        return EXIT_OK

    def _count_events(self, engine: Engine) -> None:
        metrics = self.metrics
        engine.bus.subscribe(OrderRejectedEvent, lambda e: metrics.order_rejected(e.code or "none"))
        engine.bus.subscribe(ErrorEvent, lambda e: metrics.error(e.component))
        engine.bus.subscribe(OrderIntentRecorded, lambda e: metrics.order_sent(e.purpose))
        engine.bus.subscribe(OrderNotSent, lambda e: metrics.order_rejected("not_sent"))

    async def _serve(self, engine: Engine, parts: Parts, strategy: Strategy, monitor: PositionMonitor,
                     journal: Journal) -> None:
        s = self.settings
        assert self.service is not None
        app = self.app_factory(self.service, self.metrics, s.api_token.get_secret_value() if s.api_token else None)
        with contextlib.suppress(AttributeError):  # long-lived answers (the dashboard's stream) end when this is set
            app.state.stopping = self.stop
        # An open dashboard holds its event stream open forever: at shutdown it gets a moment, not a veto.
        server = uvicorn.Server(uvicorn.Config(app, host=s.api_host, port=s.api_port, log_config=None,
                                               lifespan="off", access_log=False,
                                               timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
        api = asyncio.create_task(server.serve(), name="api")  # not supervised: if it dies, the session ends
        supervisor = self._start_tasks(engine, parts, strategy, monitor)
        self.service.supervisor = supervisor
        try:
            await self._wait_started(server)
            notify("READY=1")
            log.info("session started", mode=s.mode, exchange=s.exchange, feed=s.feed, strategy=s.strategy,
                     symbols=len(parts.symbols), api=f"http://{s.api_host}:{self.port}")
            await self._until_stopped(api)
        finally:
            notify("STOPPING=1")
            log.info("stopping: no new entries; protection orders stay on the exchange")
            self.stop.set()
            server.should_exit = True
            await supervisor.stop()
            if self.notifier is not None:  # the worker is stopped: send what is left (the last exit) here
                await self.notifier.drain(NOTIFY_DRAIN_S)
            await asyncio.gather(api, return_exceptions=True)

    def _start_tasks(self, engine: Engine, parts: Parts, strategy: Strategy, monitor: PositionMonitor) -> Supervisor:
        """The background tasks under a supervisor: a death is logged, journaled (`ErrorEvent`), turns /health
        unhealthy and is restarted with backoff; a monitor or event pump that cannot be restarted halts
        entries (no new position while nothing watches stops or hears fills; open ones keep theirs)."""
        report = bus_reporter(engine.bus, parts.clock.now_ms, halt_on_give_up=HALT_ON_GIVE_UP)
        supervisor = Supervisor(on_failure=report, stopping=self.stop)
        forever = self.restart_policy  # the feed may end (a replay file does): for it, returning is no failure
        # How fast the clock runs against the wall: a live feed's clock is the wall; at `--speed max`, None.
        on_bar = _signal_publisher(engine, strategy, 1.0 if self.settings.feed == "exchange" else
                                   self.settings.speed_factor, tape=self.service.tape if self.service else None)
        starts = itertools.count()

        async def exchange_events() -> None:
            if next(starts):  # a restart: events published while the pump was down are read back by a sweep
                await reconciling_sweep(monitor)
            await pump_forever(engine.bus, parts.clock, parts.exchange,
                               on_reconnect=functools.partial(reconciling_sweep, monitor))

        supervisor.start("exchange-events", exchange_events, forever)
        supervisor.start("feed", lambda: parts.feed.run(on_bar, self.stop), replace(forever, forever=False))
        supervisor.start("monitor", lambda: self._monitor_loop(monitor, parts.clock, parts.feed.status, engine.bus),
                         forever)
        if watchdog_interval_s() is not None:  # only under systemd: elsewhere there is nobody to ping
            supervisor.start("watchdog", self._watchdog, forever)
        if self.notifier is not None:
            self._start_alerts(supervisor, self.notifier, parts, monitor)
        return supervisor

    def _start_alerts(self, supervisor: Supervisor, notifier: Notifier, parts: Parts, monitor: PositionMonitor) -> None:
        """The alerts' sender, and the watcher for what no event announces (a position unprotected for more than
        one monitor interval, a request-budget ban); both only read, so the event log is the same without them."""
        watcher = Watcher(notifier.submit, now_ms=parts.clock.now_ms, interval_s=self.settings.monitor_interval,
                          unprotected=lambda: monitor.state.unprotected_since_ms,
                          budget=parts.budget.snapshot if parts.budget is not None else None)
        supervisor.start("notify", notifier.run, self.restart_policy)
        supervisor.start("notify-watch", watcher.run, self.restart_policy)

    async def _wait_started(self, server: uvicorn.Server) -> None:
        for _ in range(500):
            if server.started:
                sockets = [sock for srv in getattr(server, "servers", []) for sock in srv.sockets]
                self.port = sockets[0].getsockname()[1] if sockets else self.settings.api_port
                return
            await asyncio.sleep(0.01)
        raise RuntimeError(f"the API did not start on {self.settings.api_host}:{self.settings.api_port}")

    async def _until_stopped(self, api: asyncio.Task[None]) -> None:
        """Until a stop (signal, `--duration`) or the API ends; an API that died ends the session with its error."""
        stopper = asyncio.create_task(self.stop.wait())
        duration = self.settings.duration
        done, _ = await asyncio.wait([stopper, api], timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        self.stop.set()
        stopper.cancel()
        if api in done and not api.cancelled() and api.exception() is not None:
            raise api.exception()  # type: ignore[misc]

    async def _monitor_loop(self, monitor: PositionMonitor, clock: Clock, feed: FeedStatus, bus: EventBus) -> None:
        """One sweep per monitor interval. Bus events are counted from `self._bus_counted`, which survives a
        restart of this loop by the supervisor (a local would count everything again)."""
        while not self.stop.is_set():
            await clock.sleep(self.settings.monitor_interval)
            await monitor.sweep()
            self.metrics.set_feed_lag(feed.age_s() or 0.0)
            self.metrics.bus_event(bus.published - self._bus_counted)
            self._bus_counted = bus.published

    async def _watchdog(self) -> None:
        interval = watchdog_interval_s()
        while interval is not None and not self.stop.is_set():
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def _signal_publisher(engine: Engine, strategy: Strategy, clock_speed: float | None = 1.0, *,
                      tape: BarTape | None = None) -> Callable[[BarChunk], Awaitable[None]]:
    """Each new bar: a `BarClosed` per symbol on the bus (when anything listens), then the strategy's
    score of the bar and a `Signal` per symbol it picks (with the model's details, if any). A strategy
    that keeps `ScannerStats` (the AI scanner) learns how late its scan finished (`scan_lag_bars`)."""
    stats = getattr(strategy, "stats", None)
    silence = SilenceReporter()  # task M: why the strategy is silent, journaled once per change

    async def on_bar(chunk: BarChunk) -> None:
        if tape is not None:
            tape.record(chunk)
        if engine.bus.has_subscribers(BarClosed):
            for bar in _bars_closed(chunk, engine.clock.now_ms()):
                await engine.bus.publish(bar)
        arrived_ms, started = engine.clock.now_ms(), time.perf_counter()
        batch, raised = scan_safely(strategy, chunk)  # task M: a strategy's error is no signal, never a dead feed
        if isinstance(stats, ScannerStats):
            stats.note_lag(scan_lag_bars(chunk, arrived_ms, time.perf_counter() - started, clock_speed))
        t = len(chunk) - 1
        for s in batch.direction[t].nonzero()[0]:
            await engine.bus.publish(signal_event(batch, chunk, t, int(s), source=strategy.name,
                                                  time_ms=engine.clock.now_ms()))
        silent = silence.event(strategy, raised, engine.clock.now_ms())
        if silent is not None:
            await engine.bus.publish(silent)

    return on_bar


def scan_lag_bars(chunk: BarChunk, arrived_ms: int, scan_s: float, clock_speed: float | None) -> int:
    """Bars that closed after the chunk's last bar before its scan finished: the delay with which the bar
    reached the strategy (clock ms) plus the scan's wall time at the clock's speed, in bar intervals. At
    `--speed max` (None) the feed waits for the scan, so no bar can close during it: 0."""
    if clock_speed is None:
        return 0
    close_ms = int(chunk.open_time[-1]) + chunk.interval_ms
    late_ms = max(arrived_ms - close_ms, 0) + scan_s * 1000.0 * clock_speed
    return int(late_ms // chunk.interval_ms)


def _bars_closed(chunk: BarChunk, time_ms: int) -> list[BarClosed]:
    """The chunk's last bar per symbol as events (symbols without data at that bar are left out)."""
    t, out = len(chunk) - 1, []
    for s, symbol in enumerate(chunk.symbols):
        o, h, lo, c = chunk.bar(t, s)
        if c == c:  # not NaN
            out.append(BarClosed(symbol=symbol, open_time_ms=int(chunk.open_time[t]), open=from_float(o),
                                 high=from_float(h), low=from_float(lo), close=from_float(c),
                                 volume=from_float(chunk.volume[t, s]), time_ms=time_ms))
    return out


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM / SIGINT: stop cleanly (exit 0) instead of dying mid-write."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
