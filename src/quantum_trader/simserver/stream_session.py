"""One websocket connection's life: its writer, its reader, and the JSON requests Binance accepts on it.

Market connections take `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY` and
`GET_PROPERTY` (`{"method": ..., "params": [...], "id": n}` → `{"result": ..., "id": n}`), which is how
ccxt.pro subscribes: it opens `/market/ws/<n>` and sends SUBSCRIBE. Errors are answered the way Binance
answers them, `{"error": {"code": 2, "msg": "Invalid request: ..."}, "id": n}`, and the connection stays.
Limits close the connection with a reason: more than `max_incoming_per_s` messages in a second, more
than `max_streams` streams on one connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from .stream_hub import POLICY_VIOLATION, Close, Connection, StreamHub
from .stream_names import StreamSpec, parse_stream

_METHODS = "SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"


async def run(hub: StreamHub, conn: Connection) -> None:
    """Serve `conn` until the client leaves or the hub closes it; always unregisters it."""
    writer = asyncio.ensure_future(_write(conn))
    reader = asyncio.ensure_future(_read(hub, conn))
    try:
        await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        if not writer.done() and conn.closing:  # the reader broke a limit: let the close frame go out
            await asyncio.wait({writer}, timeout=5.0)
    finally:
        hub.close(conn)
        for task in (writer, reader):
            if not task.done():
                task.cancel()


async def _write(conn: Connection) -> None:
    websocket = conn.websocket
    try:
        while True:
            item = await conn.queue.get()
            if isinstance(item, Close):
                await websocket.close(code=item.code, reason=item.reason)
                return
            await websocket.send_text(item)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


async def _read(hub: StreamHub, conn: Connection) -> None:
    websocket = conn.websocket
    try:
        while True:
            message = await websocket.receive()
            if message.get("type") == "websocket.disconnect":
                return
            if not _admit(hub, conn):
                return
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            if text is not None and conn.listen_key is None:
                handle_request(hub, conn, text)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


def _admit(hub: StreamHub, conn: Connection) -> bool:
    """Binance's 10 incoming messages per second per connection; the next one costs the connection."""
    now = time.monotonic()
    window = conn.incoming
    window.append(now)
    while window and window[0] <= now - 1.0:
        window.popleft()
    if len(window) > hub.settings.max_incoming_per_s:
        hub.shut(conn, POLICY_VIOLATION, f"Too many requests: more than {hub.settings.max_incoming_per_s} "
                                         "messages per second")
        return False
    return True


def _error(hub: StreamHub, conn: Connection, code: int, msg: str, request_id: Any) -> None:
    hub.reply(conn, {"error": {"code": code, "msg": msg}, "id": request_id})


def handle_request(hub: StreamHub, conn: Connection, text: str) -> None:
    try:
        request = json.loads(text)
    except ValueError as exc:
        _error(hub, conn, 3, f"Invalid JSON: {exc}", None)
        return
    if not isinstance(request, dict):
        _error(hub, conn, 2, "Invalid request: expected an object", None)
        return
    request_id = request.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, int)
                                   or request_id < 0):
        _error(hub, conn, 2, "Invalid request: request ID must be an unsigned integer", None)
        return
    method, params = request.get("method"), request.get("params", [])
    if not isinstance(params, list):
        _error(hub, conn, 2, "Invalid request: params must be an array", request_id)
        return
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        _subscription(hub, conn, method, params, request_id)
    elif method == "LIST_SUBSCRIPTIONS":
        hub.reply(conn, {"result": list(conn.streams), "id": request_id})
    elif method in ("SET_PROPERTY", "GET_PROPERTY"):
        _property(hub, conn, method, params, request_id)
    else:
        _error(hub, conn, 2, f"Invalid request: unknown variant {method}, expected one of {_METHODS}", request_id)


def _subscription(hub: StreamHub, conn: Connection, method: str, params: list[Any], request_id: Any) -> None:
    if not all(isinstance(p, str) for p in params):
        _error(hub, conn, 2, "Invalid request: stream names must be strings", request_id)
        return
    if method == "UNSUBSCRIBE":
        hub.unsubscribe(conn, params)
        hub.reply(conn, {"result": None, "id": request_id})
        return
    specs = parse_all(hub, params)
    if specs is None:
        _error(hub, conn, 2, "Invalid request: invalid stream", request_id)
        return
    if not within_limit(hub, conn, specs):
        return
    hub.reply(conn, {"result": None, "id": request_id})
    hub.subscribe(conn, specs)


def _property(hub: StreamHub, conn: Connection, method: str, params: list[Any], request_id: Any) -> None:
    if not params or params[0] != "combined":
        _error(hub, conn, 0, "Unknown property", request_id)
    elif method == "GET_PROPERTY":
        hub.reply(conn, {"result": conn.combined, "id": request_id})
    elif len(params) != 2 or not isinstance(params[1], bool):
        _error(hub, conn, 1, "Invalid value type: expected Boolean", request_id)
    else:
        conn.combined = params[1]
        hub.reply(conn, {"result": None, "id": request_id})


def parse_all(hub: StreamHub, names: list[str]) -> list[StreamSpec] | None:
    """Every name parsed, or None when one of them is not a stream this server publishes."""
    symbols = hub.server.sim.state.instruments
    specs = [parse_stream(name, symbols) for name in names]
    if any(spec is None for spec in specs):
        return None
    return [spec for spec in specs if spec is not None]


def within_limit(hub: StreamHub, conn: Connection, specs: list[StreamSpec]) -> bool:
    """Binance accepts 1,024 streams on a connection; more closes it, with the count in the reason."""
    total = len(set(conn.streams) | {s.name for s in specs})
    if total <= hub.settings.max_streams:
        return True
    hub.shut(conn, POLICY_VIOLATION, f"Too many streams: {total} > {hub.settings.max_streams} per connection")
    return False


async def refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Accept only to close at once with a reason a client can log (a refused handshake has none)."""
    await websocket.accept()
    await websocket.close(code=code, reason=reason[:120])
