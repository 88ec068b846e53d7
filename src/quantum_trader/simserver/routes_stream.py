"""The user-data websocket (§7.1): `/ws/{listenKey}` (legacy) and `/private/ws?listenKey=` (2026 layout).

`/ws/<symbol>@...` names are market streams, handed to `routes_market_stream`.

Each connection follows the simulator's event log from the moment it connects and forwards the events
Binance itself sends (ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, ALGO_UPDATE); simulator-only facts such as
LIQUIDATION are kept for the control API. Polling the log every few milliseconds keeps the simulator
free of any knowledge of sockets, and a step's events go out in the order the engine produced them.
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket

from .routes_base import ServerState
from .routes_market_stream import is_market_stream, register_market_streams, serve_market_stream
from .ws_poll import POLICY_VIOLATION, poll_until_closed, send_json

STREAM_EVENTS = frozenset({"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "ALGO_UPDATE", "MARGIN_CALL",
                           "ACCOUNT_CONFIG_UPDATE", "TRADE_LITE"})
#: Binance closes a code that is not a valid listenKey with a policy-violation close.


def register_stream(app: FastAPI, server: ServerState) -> None:
    @app.websocket("/ws/{listen_key}")
    async def legacy_stream(websocket: WebSocket, listen_key: str) -> None:
        # The legacy layout shares `/ws/` between listenKeys and market streams (`bnbusdt@markPrice`).
        if is_market_stream(listen_key):
            await serve_market_stream(server, websocket, listen_key)
        else:
            await _serve(server, websocket, listen_key)

    @app.websocket("/private/ws")
    async def private_stream(websocket: WebSocket) -> None:
        await _serve(server, websocket, websocket.query_params.get("listenKey", ""))

    register_market_streams(app, server)


def _key_valid(server: ServerState, listen_key: str) -> bool:
    return bool(listen_key) and listen_key == server.listen_key and server.clock() < server.listen_key_expires_ms


async def _serve(server: ServerState, websocket: WebSocket, listen_key: str) -> None:
    await websocket.accept()
    if not _key_valid(server, listen_key):
        await websocket.close(code=POLICY_VIOLATION, reason="invalid listenKey")
        return
    with server.lock:
        cursor = [len(server.sim.events)]

    async def tick() -> bool:
        if not _key_valid(server, listen_key):
            await send_json(websocket, {"e": "listenKeyExpired", "E": server.clock(), "listenKey": listen_key})
            await websocket.close()
            return False
        with server.lock:
            fresh = server.sim.events[cursor[0]:]
            cursor[0] += len(fresh)
        for event in fresh:
            if event.get("e") in STREAM_EVENTS:
                await send_json(websocket, event)
        return True

    await poll_until_closed(websocket, tick)
