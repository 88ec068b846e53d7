"""Every websocket connection of one simulator server, and the one task that feeds them all.

One publisher task runs a round (under the server's lock, briefly) while at least one connection is
open: new user-data events from the event log, due market payloads from `MarketPublisher`. A request that
changes the simulator (any non-GET call, a feed bar) wakes it at once (`wake`), so a bar closed by
`/sim/v1/advance` goes out without waiting for the next poll; the `poll_s` poll remains for what only
time makes due (mark-price periods, kline updates, lifetimes, listen-key expiry). It serialises each
payload once and puts the text on every subscriber's bounded queue; each connection's own writer drains
its queue (without yielding while it holds messages: a bar close's burst is written in one go), so a slow
client delays nobody else (one that falls `queue_limit` messages behind is cut, as Binance cuts slow
consumers). The hub also enforces the connection limits (24 h lifetime, listen-key expiry) and
carries out the chaos controls of `POST /sim/v1/streams` (drop, stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from fastapi import WebSocket

from .routes_base import PriceStep, ServerState
from .routes_market_stream import MarketPublisher
from .stream_names import StreamSpec

log = logging.getLogger(__name__)

#: Forwarded on the user-data stream; simulator-only facts (LIQUIDATION, ...) stay on the control API.
USER_EVENTS = frozenset({"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "ALGO_UPDATE", "MARGIN_CALL",
                         "ACCOUNT_CONFIG_UPDATE", "TRADE_LITE"})
POLICY_VIOLATION = 1008
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
DROPPED = 1011


class PingOptions(TypedDict):
    """`uvicorn.Config` keywords for protocol pings."""

    ws_ping_interval: float
    ws_ping_timeout: float


@dataclass(frozen=True)
class StreamSettings:
    """Binance's websocket limits (binance_futures.md §7.1, §7.6), smaller in tests that need them to bite.

    `ping_interval_s`/`pong_timeout_s` are protocol pings, sent by the ASGI server: pass
    `uvicorn_options()` to uvicorn (the CLI and the test harness do).
    """

    max_streams: int = 1024
    #: What clients should stay under (NautilusTrader and ccxt use 200); more is logged, not refused.
    advised_streams: int = 200
    max_incoming_per_s: int = 10
    lifetime_s: float = 24 * 3600.0
    ping_interval_s: float = 180.0
    pong_timeout_s: float = 600.0
    poll_s: float = 0.02
    queue_limit: int = 10_000

    def uvicorn_options(self) -> PingOptions:
        return {"ws_ping_interval": self.ping_interval_s, "ws_ping_timeout": self.pong_timeout_s}


@dataclass(frozen=True)
class Close:
    """Queued after the messages that precede it: the writer closes the socket with this code."""

    code: int
    reason: str


@dataclass(eq=False)
class Connection:
    """One client socket: its subscriptions (market) or its listenKey (user data), and its queue."""

    websocket: WebSocket
    opened: float
    combined: bool = False
    listen_key: str | None = None
    events: frozenset[str] | None = None
    #: Index in the simulator's event log of the first event this (user-data) connection may see.
    first_event: int = 0
    streams: dict[str, StreamSpec] = field(default_factory=dict)
    queue: asyncio.Queue[str | Close] = field(default_factory=asyncio.Queue)
    incoming: deque[float] = field(default_factory=deque)
    stalled_until: float = 0.0
    closing: bool = False

    @property
    def kind(self) -> str:
        return "user" if self.listen_key is not None else "market"


class StreamHub:
    """The server's websocket side: connections, subscriptions, the publisher task, chaos controls."""

    def __init__(self, server: ServerState, settings: StreamSettings) -> None:
        self.server = server
        self.settings = settings
        self.market = MarketPublisher(server)
        self.connections: set[Connection] = set()
        self.subscribers: dict[str, int] = {}
        #: Each symbol's (sim time, last, mark) when the server started: bars before its first step.
        self.origin: dict[str, PriceStep] = {}
        #: Per kind ("market", "user"): new handshakes fail until then (a drop's outage).
        self.refuse_until: dict[str, float] = {"market": 0.0, "user": 0.0}
        self._cursor = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    def record_origin(self) -> None:
        sim = self.server.sim
        with self.server.lock:
            self.origin = {s: (sim.now_ms, sim.last_price(s), sim.mark_price(s)) for s in sim.state.instruments}
            self._cursor = len(sim.events)

    # --- connections ------------------------------------------------------------------------------
    def refusing(self, kind: str) -> bool:
        return time.monotonic() < self.refuse_until[kind]

    def open(self, websocket: WebSocket, *, combined: bool = False, listen_key: str | None = None,
             events: frozenset[str] | None = None) -> Connection:
        loop = asyncio.get_running_loop()
        conn = Connection(websocket, time.monotonic(), combined, listen_key, events,
                          queue=asyncio.Queue(self.settings.queue_limit + 1))
        if listen_key is not None:
            with self.server.lock:
                conn.first_event = len(self.server.sim.events)
        self.connections.add(conn)
        self._loop = loop
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()  # bound to this loop (a test may run the app on a later one)
            self._task = loop.create_task(self._publish())
        return conn

    def close(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self.unsubscribe(conn, list(conn.streams))

    def subscribe(self, conn: Connection, specs: Iterable[StreamSpec]) -> None:
        """Add streams to `conn` and queue each one's current state, in order (caller checked limits)."""
        fresh = [s for s in specs if s.name not in conn.streams]
        with self.server.lock:
            self.server.catch_up()
            snapshots = [(s.name, self.market.snapshot(s, self._now())) for s in fresh]
        for spec in fresh:
            conn.streams[spec.name] = spec
            self.subscribers[spec.name] = self.subscribers.get(spec.name, 0) + 1
        if len(conn.streams) > self.settings.advised_streams:
            log.info("simserver: a connection holds %d streams (clients should keep to %d)",
                     len(conn.streams), self.settings.advised_streams)
        for name, payload in snapshots:
            self.send(conn, name, json.dumps(payload, separators=(",", ":")))

    def unsubscribe(self, conn: Connection, names: Iterable[str]) -> None:
        for name in names:
            if conn.streams.pop(name, None) is None:
                continue
            left = self.subscribers.get(name, 1) - 1
            if left > 0:
                self.subscribers[name] = left
            else:
                self.subscribers.pop(name, None)
                with self.server.lock:
                    self.market.forget(name)

    def send(self, conn: Connection, name: str | None, raw: str) -> None:
        """Queue one payload (wrapped `{"stream", "data"}` on a combined connection), unless stalled."""
        if conn.closing or self._now() < conn.stalled_until:
            return
        text = raw if name is None or not conn.combined else f'{_envelope(name)}{raw}}}'
        if conn.queue.qsize() >= self.settings.queue_limit:
            self.shut(conn, POLICY_VIOLATION, "Client too slow: send queue full")
            return
        conn.queue.put_nowait(text)

    def reply(self, conn: Connection, body: dict[str, Any]) -> None:
        self.send(conn, None, json.dumps(body, separators=(",", ":")))

    def shut(self, conn: Connection, code: int, reason: str) -> None:
        """Close `conn` after what is already queued (a drop clears the queue first)."""
        if conn.closing:
            return
        conn.closing = True
        conn.queue.put_nowait(Close(code, reason[:120]))

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    # --- the publisher ----------------------------------------------------------------------------
    def wake(self) -> None:
        """Run a publisher round now, not at the next poll: the simulator just changed. Any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or self._task is None or self._task.done() or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to publish to
                loop.call_soon_threadsafe(wake.set)

    async def _publish(self) -> None:
        wake = self._wake
        try:
            while self.connections:
                wake.clear()  # before the round: a wake during it runs another
                self.tick()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_s):
                        await wake.wait()
        except Exception:
            log.exception("simserver: stream publisher failed")
            for conn in list(self.connections):
                self.shut(conn, DROPPED, "Internal error")

    def tick(self) -> None:
        """One round: user-data events and expiries, due market payloads, connection lifetimes."""
        now = self._now()
        users = [c for c in self.connections if c.listen_key is not None and not c.closing]
        markets = [c for c in self.connections if c.listen_key is None and not c.closing]
        specs: dict[str, StreamSpec] = {}
        for conn in markets:
            specs.update(conn.streams)
        with self.server.lock:
            self.server.catch_up()  # a bar the clock left closes, funding due is paid, as time passes on Binance
            fresh, base, valid = self._user_round(users)
            due = self.market.tick(specs.values(), now) if specs else []
        self._deliver_user(users, fresh, base, valid)
        self._deliver_market(markets, due)
        for conn in list(self.connections):
            if now - conn.opened >= self.settings.lifetime_s:
                self.shut(conn, GOING_AWAY, "Connection lifetime exceeded")

    def _user_round(self, users: list[Connection]) -> tuple[list[dict[str, Any]], int, dict[str, bool]]:
        events = self.server.sim.events
        # Nobody has to see events from before the oldest open user connection (no backlog to encode).
        base = max(self._cursor, min((c.first_event for c in users), default=len(events)))
        fresh = events[base:]
        self._cursor = len(events)
        server = self.server
        valid = {c.listen_key or "": bool(c.listen_key) and c.listen_key == server.listen_key
                 and server.clock() < server.listen_key_expires_ms for c in users}
        return fresh, base, valid

    def _deliver_user(self, users: list[Connection], fresh: list[dict[str, Any]], base: int,
                      valid: dict[str, bool]) -> None:
        texts = [(base + i, e.get("e"), json.dumps(e, separators=(",", ":"), default=str))
                 for i, e in enumerate(fresh) if e.get("e") in USER_EVENTS] if users else []
        for conn in users:
            key = conn.listen_key or ""
            if not valid.get(key, False):
                expired = {"e": "listenKeyExpired", "E": self.server.clock(), "listenKey": key}
                self.reply(conn, expired)
                self.shut(conn, 1000, "listenKeyExpired")
                continue
            wanted = conn.events
            for index, kind, text in texts:
                if index >= conn.first_event and (wanted is None or kind in wanted):
                    self.send(conn, None, text)

    def _deliver_market(self, markets: list[Connection], due: list[tuple[str, str]]) -> None:
        """Queue the round's (already encoded) payloads on each connection subscribed to them."""
        if not due:
            return
        for conn in markets:
            streams = conn.streams
            for name, raw in due:
                if name in streams:
                    self.send(conn, name, raw)

    # --- chaos controls ---------------------------------------------------------------------------
    def control(self, action: str, seconds: float, kind: str) -> int:
        """Drop or stall the matching connections; safe to call from any thread. Returns how many."""
        chosen = [c for c in list(self.connections) if kind == "all" or c.kind == kind]
        now = time.monotonic()
        if action == "drop":
            for name in self.refuse_until:
                if kind in ("all", name):  # 0 ends an outage; a shorter drop inside a longer one leaves it
                    self.refuse_until[name] = 0.0 if seconds == 0 else max(self.refuse_until[name], now + seconds)
        loop = self._loop
        if loop is None or not chosen:
            return len(chosen)

        def apply() -> None:
            for conn in chosen:
                if action == "stall":
                    conn.stalled_until = now + seconds
                    _clear(conn.queue)
                else:
                    _clear(conn.queue)
                    self.shut(conn, DROPPED, "Dropped by /sim/v1/streams")

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            apply()
        else:
            loop.call_soon_threadsafe(apply)
        return len(chosen)

    def expire_listen_key(self) -> int:
        """End the current listen key's life now (caller holds `server.lock`, as a control handler does).

        Only the expiry time moves, so everything after is what a lapse on the clock causes: the next
        publisher round sends `listenKeyExpired` to the key's connections and closes them. Returns how many.
        """
        server = self.server
        server.listen_key_expires_ms = min(server.listen_key_expires_ms, server.clock())
        key = server.listen_key
        return sum(1 for c in list(self.connections) if key is not None and c.listen_key == key and not c.closing)

    def describe(self) -> dict[str, Any]:
        conns = list(self.connections)
        return {"connections": len(conns), "user": sum(c.kind == "user" for c in conns),
                "market": sum(c.kind == "market" for c in conns), "streams": sorted(self.subscribers),
                "refusingNewForSeconds": {k: max(0.0, t - self._now()) for k, t in self.refuse_until.items()}}


@functools.lru_cache(maxsize=8192)
def _envelope(name: str) -> str:
    """The start of a combined stream's `{"stream": name, "data": payload}` (built once per stream name)."""
    return f'{{"stream":{json.dumps(name)},"data":'


def _clear(queue: asyncio.Queue[str | Close]) -> None:
    while not queue.empty():
        queue.get_nowait()
