"""The polling loop both websocket streams share: push what changed, notice when the client leaves.

The simulator has no async notification of its own, so each stream polls it every `POLL_SECONDS` and a
pending `receive()` tells us when the client has gone, without blocking the push side.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

POLL_SECONDS = 0.02
POLICY_VIOLATION = 1008


async def send_json(websocket: WebSocket, message: dict[str, Any]) -> None:
    await websocket.send_text(json.dumps(message, separators=(",", ":"), default=str))


async def poll_until_closed(websocket: WebSocket, tick: Callable[[], Awaitable[bool]]) -> None:
    """Call `tick` every poll interval until the client disconnects or `tick` returns False."""
    receiver: asyncio.Future[Any] = asyncio.ensure_future(websocket.receive())
    try:
        while True:
            if receiver.done():
                if receiver.result().get("type") == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(websocket.receive())
            if not await tick():
                return
            await asyncio.sleep(POLL_SECONDS)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        receiver.cancel()
