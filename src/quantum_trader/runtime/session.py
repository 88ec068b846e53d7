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
import socket
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import version
from typing import Any

import uvicorn

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.listen import ListenOptions, bind_listeners
from ..core.loggers import get_logger
from ..core.metrics import Metrics
from ..core.supervisor import RestartPolicy, Supervisor, bus_reporter
from ..core.watchdog import notify, watchdog_interval_s
from ..domain.events import (
    ErrorEvent,
    OrderIntentRecorded,
    OrderNotSent,
    OrderRejectedEvent,
)
from ..exchange.budget import urgent
from ..exchange.retry import patient
from ..exchange.staging_gateway import DryRunGateway
from ..exchange.user_stream import user_stream_of
from ..feeds.market_feed import FeedStatus
from ..feeds.warmup import prepare_warm_up
from ..journal.db import migrate
from ..journal.reader import JournalReader
from ..journal.writer import Journal
from ..notify.alerts import Alerts
from ..notify.sender import Notifier, notifier_from_urls
from ..notify.watch import Watcher
from ..readmodels.bar_tape import BarTape
from ..readmodels.evidence import session_path
from ..settings.model import Settings
from ..signals.registry import build_strategy
from ..signals.strategy import Strategy
from ..trading.exit_words import DRY_RUN_WORDING, SENT_WORDING
from ..trading.monitor import MonitorConfig, PositionMonitor
from .account_link import account_in_journal
from .app_service import SessionService
from .bar_publisher import signal_publisher
from .paper_owner import journal_identity
from .parts import Parts, build_parts
from .pump import pump_forever
from .service import AppService
from .startup import (
    check_readiness,
    closing_on_error,
    first_live_ms,
    protect_at_start,
    reconcile_journal,
    reconciling_sweep,
    record_instruments,
    refuse_hedge_mode,
    restore_day_start,
    restore_halt,
    startup_errors,
)
from .wiring import Engine, alerts_for, protect_engine, rules_from, wire_engine

log = get_logger(__name__)
#: Seconds the API waits at shutdown for open requests (a dashboard's event stream never ends by itself).
GRACEFUL_SHUTDOWN_S = 3
EXIT_OK, EXIT_CONFIG, EXIT_NOT_READY = 0, 2, 3
#: Background tasks whose loss for good halts entries: without them nothing watches stops or hears fills.
HALT_ON_GIVE_UP = frozenset({"monitor", "exchange-events"})
MINUTE_MS = 60_000
#: Wall seconds the stop waits for queued alerts (the last exit) before giving up on them.
NOTIFY_DRAIN_S = 5.0
#: How a user sets the API's address, for the line a busy or foreign address stops start-up with.
API_ADDRESS = ListenOptions(port="--port / QT_API_PORT", host="--host / QT_API_HOST")


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
        #: What turns the bus's events into the notifier's messages; at the stop it sends the exits it holds.
        self.alerts: Alerts | None = alerts_for(self.notifier) if self.notifier else None
        #: The API's sockets, bound first thing in `run` (core/listen.py) and served by uvicorn.
        self._listeners: list[socket.socket] = []

    async def run(self) -> int:
        """The API's address is taken before anything else (the journal, the exchange, the start-up sweep), so a
        busy port is one `ConfigError` line (exit 2), not a failure after start-up has already touched the exchange."""
        self._listeners = bind_listeners(self.settings.api_host, self.settings.api_port, API_ADDRESS)
        try:
            return await self._run()
        finally:
            for sock in self._listeners:
                sock.close()

    async def _run(self) -> int:
        s = self.settings
        logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter is not session news
        if s.mode == "live":
            await asyncio.to_thread(migrate, s.db_url)
            await asyncio.to_thread(check_readiness, s)
        await asyncio.to_thread(migrate, s.db_url)
        # Every exchange read up to the first sweep waits out a short outage (runtime/startup.py) and reads at
        # protection priority (`urgent`): routine pacing must not hold back the sweep that stops a naked position;
        # the strategy (the AI scanner's model, its klines) comes after that sweep, at routine priority.
        with patient(s.startup_patience_s), urgent(), startup_errors(s):
            # The in-process paper account must be this journal's (runtime/paper_owner.py).
            owner = await asyncio.to_thread(journal_identity, s.db_url) if s.exchange == "sim" else None
            parts = await build_parts(s, journal_id=owner)
            async with closing_on_error(parts.exchange):  # a start-up that fails leaves no session open
                await refuse_hedge_mode(parts.exchange, s)  # One-way Mode only: exit 2 before anything is recorded
                parts.account = await account_in_journal(parts.exchange, s.db_url, parts.account)  # a rotated key
                journal = Journal(s.db_url, batch_size=1, now_ms=parts.clock.now_ms)
                journal.start_session(s.mode, json.dumps(s.public_dict(), sort_keys=True), version("quantum-trader"),
                                      **session_path(s, parts.clock),  # readiness counts only the live path's sessions
                                      account=parts.account)
                instruments = await parts.exchange.instruments()
                record_instruments(journal, {s: instruments[s] for s in parts.symbols if s in instruments},
                                   parts.clock.now_ms())
                live_since = first_live_ms(s.db_url) if s.mode == "live" else None
                engine = wire_engine(parts.clock, parts.exchange, instruments, rules_from(s, live_since_ms=live_since),
                                     journal=journal, gateway=DryRunGateway() if s.mode == "staging" else None,
                                     exit_wording=DRY_RUN_WORDING if s.mode == "staging" else SENT_WORDING,
                                     observers=(self.alerts.attach,) if self.alerts else ())
                monitor, kill = protect_engine(engine, self.metrics, MonitorConfig(
                    interval_s=s.monitor_interval, trailing_stop_pct=s.trailing_stop_pct))
                assert monitor is not None
                reader = JournalReader(s.db_url)
                restore_halt(engine, reader, parts.account)  # a kill switch before the restart still holds
                restore_day_start(engine, reader, parts.account)  # and a restart mid-day is no fresh day
                # A restart: the journal knows the trades, the exchange the truth (trades closed while away close now;
                # the income history tells the transfers and funding made while the bot was stopped).
                await reconcile_journal(engine, monitor, parts.exchange, reader)
                self._count_events(engine)
                await protect_at_start(engine, monitor)  # risk and the monitor learn what is open; the first sweep
        strategy = build_strategy(s.strategy, s)
        # Task M (issue 11): history before the first bar, never traded (synthetic: now; exchange feed: at its start).
        tape = BarTape(tuple(parts.symbols),  # the dashboard's charts: the warm-up history, then every bar
                       ticks={name: inst.tick_size for name, inst in instruments.items()})
        await prepare_warm_up(strategy, parts.feed, parts.history, parts.exchange.klines, tape)
        self.service = SessionService(s, engine, monitor, kill, reader, self.metrics, parts.feed.status,
                                      strategy=strategy, account=parts.account)
        self.service.tape = tape
        self.service.budget = parts.budget
        self.service.exchange_clock = parts.exchange_clock
        self.service.user_stream = user_stream_of(parts.exchange)
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
        # Not supervised: if it dies, the session ends. It serves the sockets `run` bound before anything started.
        api = asyncio.create_task(server.serve(sockets=self._listeners), name="api")
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
            if engine.witness is not None:  # a stop's mark still to come: journaled (and heard) before the close
                await engine.witness.finish()
            if self.alerts is not None:  # exits held for their stop's witness go now, saying it was not heard
                self.alerts.flush()
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
        on_bar = signal_publisher(engine, strategy, 1.0 if self.settings.feed == "exchange" else
                                   self.settings.speed_factor, tape=self.service.tape if self.service else None,
                                   market_now_ms=parts.feed.now_ms)
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


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM / SIGINT: stop cleanly (exit 0) instead of dying mid-write."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
