"""The user-data websocket (§7.1): `/ws/{listenKey}` (legacy) and `/private/ws?listenKey=` (2026 layout).

`/ws/<symbol>@...` names are market streams, handed to `routes_market_stream`.

Each connection follows the simulator's event log from the moment it connects and forwards the events
Binance itself sends (ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, ALGO_UPDATE); simulator-only facts such as
LIQUIDATION are kept for the control API. Polling the log every few milliseconds keeps the simulator
free of any knowledge of sockets, and a step's events go out in the order the engine produced them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from .routes_base import ServerState
from .routes_market_stream import is_market_stream, register_market_streams, serve_market_stream

STREAM_EVENTS = frozenset({"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "ALGO_UPDATE", "MARGIN_CALL",
                           "ACCOUNT_CONFIG_UPDATE", "TRADE_LITE"})
POLL_SECONDS = 0.02
#: Binance closes a code that is not a valid listenKey with a policy-violation close.
_POLICY_VIOLATION = 1008


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
        await websocket.close(code=_POLICY_VIOLATION, reason="invalid listenKey")
        return
    with server.lock:
        cursor = len(server.sim.events)
    receiver: asyncio.Future[Any] = asyncio.ensure_future(websocket.receive())
    try:
        while True:
            if receiver.done():
                if receiver.result().get("type") == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(websocket.receive())
            if not _key_valid(server, listen_key):
                await websocket.send_text(json.dumps(
                    {"e": "listenKeyExpired", "E": server.clock(), "listenKey": listen_key}))
                await websocket.close()
                return
            with server.lock:
                fresh = server.sim.events[cursor:]
                cursor += len(fresh)
            for event in fresh:
                if event.get("e") in STREAM_EVENTS:
                    await websocket.send_text(json.dumps(event, separators=(",", ":"), default=str))
            await asyncio.sleep(POLL_SECONDS)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        receiver.cancel()
