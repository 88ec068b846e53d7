"""The websocket paths, as Binance serves them (binance_futures.md §7.1, §7.6; CONTRACT §5).

Market streams, 2026 layout: `/market/ws/<a>/<b>...` (raw payloads) and `/market/stream?streams=a/b`
(`{"stream": name, "data": payload}` envelopes); legacy layout: `/ws/<a>/<b>...` and `/stream?streams=`.
Any of them may start empty and `SUBSCRIBE` later (ccxt.pro opens `/market/ws/<n>` and subscribes). A
path segment that is no stream name at all (no `@`, not `!...`), such as ccxt.pro's connection index,
subscribes nothing; a stream name this server does not publish (unknown symbol, uppercase symbol,
unknown kind) closes the connection with 1008 and the name in the reason.

User data: `/private/ws?listenKey=<k>[&events=A/B]` and the legacy `/ws/<listenKey>` (a listenKey is
one path segment without `@`). An invalid key closes with 1008 "invalid listenKey"; a key that expires
(60 minutes on the server clock without `PUT /fapi/v1/listenKey`) or is deleted sends
`listenKeyExpired`, then the connection closes. `events=` keeps only the named event types.
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket

from . import stream_session
from .routes_base import ServerState
from .stream_hub import POLICY_VIOLATION, TRY_AGAIN_LATER, PingOptions, StreamHub, StreamSettings
from .stream_names import looks_like_stream


def register_stream(app: FastAPI, server: ServerState, settings: StreamSettings | None = None) -> StreamHub:
    """Register every websocket path on `app`; the hub is also `server.streams` and `app.state.stream_hub`."""
    hub = StreamHub(server, settings or StreamSettings())
    hub.record_origin()
    server.streams = hub
    app.state.stream_hub = hub

    @app.websocket("/ws")
    @app.websocket("/market/ws")
    async def bare_stream(websocket: WebSocket) -> None:
        await _market(hub, websocket, [], combined=False)

    @app.websocket("/ws/{path:path}")
    async def legacy_stream(websocket: WebSocket, path: str) -> None:
        names = [n for n in path.split("/") if n]
        if len(names) == 1 and not looks_like_stream(names[0]):
            await _user(hub, websocket, names[0], None)
        else:
            await _market(hub, websocket, names, combined=False)

    @app.websocket("/market/ws/{path:path}")
    async def market_stream(websocket: WebSocket, path: str) -> None:
        await _market(hub, websocket, [n for n in path.split("/") if n], combined=False)

    @app.websocket("/stream")
    @app.websocket("/market/stream")
    async def combined_stream(websocket: WebSocket) -> None:
        names = [n for n in websocket.query_params.get("streams", "").split("/") if n]
        await _market(hub, websocket, names, combined=True)

    @app.websocket("/private/ws")
    async def private_stream(websocket: WebSocket) -> None:
        events = websocket.query_params.get("events")
        wanted = frozenset(e for e in events.split("/") if e) if events else None
        await _user(hub, websocket, websocket.query_params.get("listenKey", ""), wanted)

    return hub


def uvicorn_ws_options(app: FastAPI) -> PingOptions:
    """Protocol ping settings for the ASGI server running `app` (pings are not the app's to send)."""
    hub = getattr(app.state, "stream_hub", None)
    settings = hub.settings if isinstance(hub, StreamHub) else StreamSettings()
    return settings.uvicorn_options()


async def _market(hub: StreamHub, websocket: WebSocket, names: list[str], *, combined: bool) -> None:
    if hub.refusing("market"):
        await websocket.close(code=TRY_AGAIN_LATER)  # before accept: the handshake fails, as in an outage
        return
    streams = [n for n in names if looks_like_stream(n)]
    specs = stream_session.parse_all(hub, streams)
    if specs is None:
        bad = next(n for n in streams if stream_session.parse_all(hub, [n]) is None)
        await stream_session.refuse(websocket, POLICY_VIOLATION, f"Invalid request: invalid stream {bad}")
        return
    if len({s.name for s in specs}) > hub.settings.max_streams:
        await stream_session.refuse(websocket, POLICY_VIOLATION, f"Too many streams: {len(specs)} > "
                                    f"{hub.settings.max_streams} per connection")
        return
    await websocket.accept()
    conn = hub.open(websocket, combined=combined)
    hub.subscribe(conn, specs)
    await stream_session.run(hub, conn)


def _key_valid(server: ServerState, listen_key: str) -> bool:
    with server.lock:
        return bool(listen_key) and listen_key == server.listen_key and server.clock() < server.listen_key_expires_ms


async def _user(hub: StreamHub, websocket: WebSocket, listen_key: str, events: frozenset[str] | None) -> None:
    if hub.refusing("user"):
        await websocket.close(code=TRY_AGAIN_LATER)
        return
    if not _key_valid(hub.server, listen_key):
        await stream_session.refuse(websocket, POLICY_VIOLATION, "invalid listenKey")
        return
    await websocket.accept()
    conn = hub.open(websocket, listen_key=listen_key, events=events)
    await stream_session.run(hub, conn)
