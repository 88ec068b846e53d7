"""Order and position events from Binance's user-data stream, with a REST reconciliation after every connect.

Client: the `websockets` library, with our own listen-key lifecycle, rather than ccxt.pro. ccxt.pro
parses ORDER_TRADE_UPDATE into its unified structures (floats, its own status names) and keeps its
reconnects and listen-key refreshes to itself; we need the raw events (parsed by `wire`, the same
parser as the in-process adapter's, into Decimal), to know exactly when a connection ended so the
time without a stream is read back over REST, and a heartbeat we can test against the simulator
server's `stall`. The listen-key calls go through the adapter's `call`, so they are weighed and
error-translated like every other request.

One `events()` subscription is one connection:
1. a listen key (POST /fapi/v1/listenKey, reused while valid), kept alive by a PUT every 30 minutes;
2. connect to `<ws base>/private/ws?listenKey=<k>`;
3. the reconciliation: the poller's sweep (positions, open orders incl. algo, orders this adapter
   placed), diffed against what the stream last said, so only what changed while disconnected is emitted;
4. the stream's events, until the connection ends: a drop, Binance's 24-hour close, `listenKeyExpired`,
   a keep-alive answered -1125, or a stall (no message and no ping for `heartbeat_s`: a half-open
   connection that never closes). Then the subscription raises `StreamBroken`; the session's pump
   (runtime/pump.py) runs the monitor's full sweep and subscribes again, which reconnects. Repeated
   failures back off exponentially here (the pump's own pause is fixed).

The pump warns at every break; the stream itself says when it is back (`exchange event stream reconnected`:
how long it was down, how many connects failed, what broke it, what the reconciliation read back), because a
user trial dropped it for 3 s and read three warnings and no word that it ever came back. `/health` shows
it under `user_stream` (`status()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.frames import Frame, Opcode

from ..core.loggers import get_logger
from ..domain.errors import ExchangeError, RetryableExchangeError
from ..domain.exchange_types import ExchangeEvent
from . import wire
from .budget import held_back
from .ccxt_poll import CcxtPoller

if TYPE_CHECKING:
    from .ccxt_adapter import CcxtExchange

log = get_logger(__name__)
#: Binance's answer to a keep-alive of a listen key it no longer knows.
LISTEN_KEY_MISSING = -1125
DISCONNECTED = -1001
#: Known REST hosts whose websocket host differs (binance_futures.md §7.1).
WS_HOSTS = {"fapi.binance.com": "fstream.binance.com", "testnet.binancefuture.com": "fstream.binancefuture.com"}


class StreamBroken(RetryableExchangeError):
    """The user-data stream ended; subscribing again reconnects (and reads back what was missed)."""

    def __init__(self, why: str) -> None:
        super().__init__(DISCONNECTED, f"user-data stream: {why}", 503)


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Timings of the user-data stream; tests shorten them.

    `heartbeat_s` must exceed the server's ping interval (Binance pings every 3 minutes) or an idle
    account reconnects for nothing; our own pings (`ping_interval_s`) catch a dead TCP connection sooner.
    """

    ws_url: str | None = None
    keepalive_s: float = 30 * 60.0
    heartbeat_s: float = 240.0
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    open_timeout_s: float = 10.0
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    #: A connection that lived this long was healthy: its end does not count as a failure.
    healthy_after_s: float = 10.0
    reconcile_retry_s: float = 5.0
    #: How long an order we sent may go without any event on the stream before it counts as stalled.
    echo_timeout_s: float = 5.0


def ws_base(rest_base: str) -> str:
    """The websocket base for a REST base URL: https://fapi.binance.com → wss://fstream.binance.com,
    http://127.0.0.1:PORT → ws://127.0.0.1:PORT (the simulator server serves both on one port)."""
    parts = urlsplit(rest_base)
    host = parts.netloc
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{WS_HOSTS.get(host, host)}"


class _Heard(ClientConnection):
    """A client connection that remembers when the server last sent anything: a message or a ping
    (not a pong: a stalled server still answers our pings)."""

    last_heard: float = 0.0

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PING):
            self.last_heard = time.monotonic()
        super().process_event(event)


class UserStream:
    """The adapter's user-data stream: the listen key, the connections and the reconciliation state."""

    def __init__(self, exchange: CcxtExchange, reconciler: CcxtPoller, options: StreamOptions) -> None:
        self._exchange = exchange
        self._reconciler = reconciler
        self.options = options
        self.url = (options.ws_url or ws_base(exchange.base_url)).rstrip("/")
        self._key: str | None = None
        self._key_lost = asyncio.Event()
        self._keepalive: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._failures = 0
        #: Observability for tests and /health: connections opened, listen keys created, last reconnect's cause.
        self.connects = 0
        self.keys_created = 0
        self.reconciliations = 0
        self.keepalives = 0
        self._reconcile_at: float | None = None
        self.last_break = ""
        #: Connected and reconciled: every change from here on arrives as an event.
        self.live = False
        #: When an order we sent must have been echoed by an event (`expect_echo`); None: nothing owed.
        self._echo_due: float | None = None
        self._last_message_at = 0.0
        self._echo_what = ""
        #: Connections replaced because an order we sent was never echoed (a stalled stream).
        self.echo_timeouts = 0
        #: Connections (or attempts) that ended in an error, and recoveries from such a run of them.
        self.breaks = 0
        self.reconnects = 0
        #: While down: since when (monotonic), what broke it first, and the connects that failed since.
        self._down_since: float | None = None
        self._down_cause = ""
        self._failed_connects = 0
        #: How long the last outage lasted (seconds), once it is over.
        self.last_down_s: float | None = None

    async def run(self) -> AsyncIterator[ExchangeEvent]:
        """One connection's events (reconciliation first); raises `StreamBroken` when it ends, returns on close."""
        await self._back_off()
        if self._closed.is_set():
            return
        started = time.monotonic()
        try:
            async for event in self._connected():
                yield event
        except (ExchangeError, OSError, TimeoutError, WebSocketException) as exc:
            lived = time.monotonic() - started
            self._failures = 0 if lived >= self.options.healthy_after_s else self._failures + 1
            self.last_break = f"{type(exc).__name__}: {exc}"
            if self._closed.is_set():
                return
            self._broke()
            if isinstance(exc, StreamBroken):
                raise
            raise StreamBroken(self.last_break) from exc
        finally:
            self.live = False

    async def _connected(self) -> AsyncIterator[ExchangeEvent]:
        key = await self._listen_key()
        self._key_lost.clear()
        async with connect(f"{self.url}/private/ws?listenKey={key}", create_connection=_Heard,
                           ping_interval=self.options.ping_interval_s, ping_timeout=self.options.ping_timeout_s,
                           open_timeout=self.options.open_timeout_s, close_timeout=1.0) as ws:
            assert isinstance(ws, _Heard)
            ws.last_heard = time.monotonic()
            self.connects += 1
            self._reconcile_at = time.monotonic()
            while not self._closed.is_set():
                if self._reconcile_at is not None and time.monotonic() >= self._reconcile_at:
                    events = await self._reconcile()  # the stream buffers meanwhile
                    for event in events:
                        yield event
                    self.live = self._reconcile_at is None  # None: the reading succeeded
                    if self.live:
                        self._back(len(events))
                    ws.last_heard = max(ws.last_heard, time.monotonic())  # a slow reading is no stall
                text = await self._next(ws)
                if text is not None:
                    for event in self._parse(text):
                        yield event

    def _broke(self) -> None:
        self.breaks += 1
        if self._down_since is None:
            self._down_since, self._down_cause, self._failed_connects = time.monotonic(), self.last_break, 0
        else:
            self._failed_connects += 1

    def _back(self, read_back: int) -> None:
        """Connected and reconciled after a break: said once, with how long the stream was down."""
        if self._down_since is None:
            return
        self.last_down_s = time.monotonic() - self._down_since
        self._down_since = None
        self.reconnects += 1
        log.info("exchange event stream reconnected", stream="user-data", down_s=round(self.last_down_s, 1),
                 failed_connects=self._failed_connects, cause=self._down_cause[:200],
                 reconciled=f"positions and open orders read back over REST: {read_back} change(s) missed")

    @property
    def state(self) -> Literal["live", "down", "connecting"]:
        """`live`: connected and reconciled; `down`: broken and reconnecting; `connecting`: not live yet."""
        if self.live:
            return "live"
        return "down" if self._down_since is not None else "connecting"

    def status(self) -> dict[str, Any]:
        """/health's `user_stream` object: its state, how long it has been down, and counts since start."""
        down = None if self._down_since is None else round(time.monotonic() - self._down_since, 1)
        return {"state": self.state, "down_s": down,
                "last_down_s": None if self.last_down_s is None else round(self.last_down_s, 1),
                "connects": self.connects, "breaks": self.breaks, "reconnects": self.reconnects,
                "reconciliations": self.reconciliations, "echo_timeouts": self.echo_timeouts,
                "listen_keys_created": self.keys_created, "keepalives": self.keepalives,
                "last_break": self.last_break[:200] or None}

    def _parse(self, text: str | bytes) -> list[ExchangeEvent]:
        """One message's events; one that cannot be parsed is logged and skipped (the next reconciliation
        reads its effect back), not allowed to end a working connection."""
        try:
            return self._translate(json.loads(text, parse_float=Decimal))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("unparsable user-stream message skipped", error=f"{type(exc).__name__}: {exc}",
                        message=str(text)[:200])
            return []

    async def _reconcile(self) -> list[ExchangeEvent]:
        """The REST reading after a connect; if it fails (a timeout, the budget's refusal) the stream goes on
        and the reading is tried again shortly, rather than dropping a working connection."""
        try:
            events = await self._reconciler.reconcile()
        except ExchangeError as exc:
            # The request budget pacing a routine read is the design (the reading comes shortly): no warning.
            say = log.info if held_back(exc) else log.warning
            say("user-stream reconciliation failed; retrying", error=str(exc))
            self._reconcile_at = time.monotonic() + self.options.reconcile_retry_s
            return []
        self._reconcile_at = None
        self.reconciliations += 1
        return events

    def expect_echo(self, what: str, sent_at: float) -> None:
        """An order was just placed or cancelled over REST: Binance reports every such change on this
        stream within milliseconds. If nothing at all arrives within `echo_timeout_s`, the connection is
        alive to our pings but delivers nothing (a stalled server, which the heartbeat would only notice
        after minutes): it is replaced, and the reconnect's reading recovers what it missed. `sent_at`
        (monotonic): a message since then already proves the stream delivers (an echo may beat the answer)."""
        if self.live and self._echo_due is None and self._last_message_at < sent_at:
            self._echo_due, self._echo_what = time.monotonic() + self.options.echo_timeout_s, what

    async def _next(self, ws: _Heard) -> str | bytes | None:
        """The next message, or None after a short wait (to look at the close and heartbeat flags)."""
        if self._key_lost.is_set():
            raise StreamBroken("listen key no longer valid (keep-alive answered -1125)")
        if self._echo_due is not None and time.monotonic() >= self._echo_due:
            self._echo_due = None
            self.echo_timeouts += 1
            raise StreamBroken(f"stalled: no event for {self._echo_what} within {self.options.echo_timeout_s} s")
        silent = time.monotonic() - ws.last_heard
        if silent >= self.options.heartbeat_s:
            raise StreamBroken(f"stalled: nothing heard for {silent:.1f} s")
        wait = min(self.options.heartbeat_s - silent, 0.5)
        try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that meets a message
            async with asyncio.timeout(wait):
                message = await ws.recv()
        except TimeoutError:
            return None
        self._echo_due, self._last_message_at = None, time.monotonic()  # the stream delivers
        return message

    def _translate(self, event: Any) -> list[ExchangeEvent]:
        if not isinstance(event, dict):
            return []
        kind = event.get("e")
        if kind == "listenKeyExpired":
            self._key = None
            raise StreamBroken("listenKeyExpired")
        if kind == "ACCOUNT_CONFIG_UPDATE" and isinstance(event.get("ac"), dict):
            self._reconciler.leverage_changed(str(event["ac"]["s"]), int(event["ac"]["l"]))
            return []
        return self._reconciler.admit(wire.user_events(event, self._reconciler.position_at))

    # --- the listen key ---------------------------------------------------------------------------
    async def _listen_key(self) -> str:
        if self._key is None:
            answer = await self._exchange.call("fapiPrivatePostListenKey")
            self._key = str(answer["listenKey"])
            self.keys_created += 1
        if self._keepalive is None or self._keepalive.done():
            self._keepalive = asyncio.create_task(self._keep_alive(), name="listen-key-keepalive")
        return self._key

    async def _keep_alive(self) -> None:
        """PUT every `keepalive_s`; a -1125 means the key is gone: a new one, and a new connection."""
        while not self._closed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.keepalive_s):
                    await self._closed.wait()
            if self._closed.is_set() or self._key is None:
                continue
            try:
                await self._exchange.call("fapiPrivatePutListenKey")
                self.keepalives += 1
            except ExchangeError as exc:
                if exc.code == LISTEN_KEY_MISSING:
                    self._key = None
                    self._key_lost.set()
                else:  # a timeout or a 5xx: the key has 60 minutes, the next keep-alive will do
                    log.warning("listen key keep-alive failed", error=str(exc))

    async def _back_off(self) -> None:
        if self._failures == 0:
            return
        pause = min(self.options.max_backoff_s, self.options.backoff_s * 2 ** (self._failures - 1))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pause):
                await self._closed.wait()

    async def close(self) -> None:
        """Ends subscriptions at their next look (within half a second) and the keep-alive."""
        self._closed.set()
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive



def user_stream_of(exchange: object) -> UserStream | None:
    """The user-data stream an adapter's events come from (through a `RetryingExchange`); None where events are
    polled or the exchange is in process."""
    inner = getattr(exchange, "inner", exchange)
    stream = getattr(inner, "user_stream", None)
    return stream if isinstance(stream, UserStream) and getattr(inner, "streams_events", False) else None
