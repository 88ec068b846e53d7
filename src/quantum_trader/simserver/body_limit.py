"""A cap on request bodies, enforced before a body is read in full (an ASGI middleware).

Binance's largest request (a batch of orders) is a few kilobytes, so a 1 MiB cap refuses nothing real and
keeps a client from making the server buffer 20 MB. Binance documents no answer for an oversized body
(its edge would answer first); the simulator answers HTTP 413 with Binance's -1101 (TOO_MANY_PARAMETERS,
the catalogued code nearest in meaning) so clients parse it as any other `{"code", "msg"}` refusal.
A declared `Content-Length` above the cap is refused without reading a byte; a chunked body is counted
as it arrives and refused as soon as it passes the cap. The refusal carries no weight header: it never
reaches the weight counter, as it never reaches an endpoint.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import binance_errors as be

MAX_BODY_BYTES = 1 << 20


class BodyLimit:
    """Refuse HTTP requests whose body exceeds `max_bytes`; pass everything else (websockets) through."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"declared body of {declared} bytes")
            return
        body, complete = await self._read(receive)
        if body is None:
            await self._refuse(send, "body")
            return
        if not complete:  # the client went away mid-body: nobody to answer
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes | None, bool]:
        """The whole body (None once it passes the cap) and whether it arrived before a disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), False
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None, True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True

    async def _refuse(self, send: Send, what: str) -> None:
        error = be.too_many_parameters(f"{what} larger than the limit of {self.max_bytes} bytes")
        payload = json.dumps(error.to_body(), separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": error.http_status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the buffered body once, then defers to the real one (disconnects)."""
    pending = [True]

    async def replay() -> Message:
        if pending[0]:
            pending[0] = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
