"""The dashboard's own routes: its page and assets, its live stream, and the reads only its charts need.

Everything the page loads comes from here (the charting library is vendored in `webassets`), so the
dashboard works on a machine with no network and leaks nothing to a CDN. The live stream is
server-sent events: one `snapshot` event (the service's `live()` document) every `period_s`, over a
plain GET that the browser reconnects by itself; the session cookie authorises it like any read. It
ends when the client goes or the session stops (`app.state.stopping`), so an open page never holds up
a shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ..runtime.service import AppService
from ..webassets import CHART_LIBRARY, CHART_LIBRARY_LICENSE, vendor_text

#: The page's own files (api/static) and the vendored ones, with their content types; nothing else is served.
PAGE_ASSETS = {"dashboard-common.js": "text/javascript", "dashboard-panels.js": "text/javascript",
               "dashboard-charts.js": "text/javascript", "dashboard.js": "text/javascript",
               "dashboard.css": "text/css", "favicon.svg": "image/svg+xml"}
VENDOR_ASSETS = {CHART_LIBRARY: "text/javascript", CHART_LIBRARY_LICENSE: "text/plain"}
#: Seconds between two snapshots on the stream: twice a monitor interval's worth of news per second at most.
STREAM_PERIOD_S = 0.5
SymbolQuery = Annotated[str, Query(pattern=r"^[A-Z0-9]{2,30}$", description="Binance symbol, e.g. BNBUSDT")]


def _static(name: str) -> str:
    return (files("quantum_trader.api") / "static" / name).read_text(encoding="utf-8")


def add_dashboard(app: FastAPI, service: AppService, *, period_s: float = STREAM_PERIOD_S) -> None:
    page = _static("index.html")
    assets = {name: _static(name) for name in PAGE_ASSETS}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(404, "no such asset")
        return Response(assets[name], media_type=PAGE_ASSETS[name], headers={"Cache-Control": "no-cache"})

    @app.get("/static/vendor/{name}", include_in_schema=False)
    async def vendor(name: str) -> Response:
        if name not in VENDOR_ASSETS:
            raise HTTPException(404, "no such asset")
        return Response(vendor_text(name), media_type=VENDOR_ASSETS[name],
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/api/v1/live", summary="The dashboard's live document (from memory: costs no exchange weight)")
    async def live() -> dict[str, Any]:
        return await service.live()

    @app.get("/api/v1/stream", response_class=EventSourceResponse,
             summary="Server-sent events: a `snapshot` (the /api/v1/live document) every half second")
    async def stream(request: Request) -> AsyncIterator[ServerSentEvent]:
        stopping = getattr(request.app.state, "stopping", None)  # the session's stop: the stream ends with it
        while not await request.is_disconnected() and not (isinstance(stopping, asyncio.Event) and stopping.is_set()):
            try:
                body: dict[str, Any] = await service.live()
            except Exception as exc:  # a failed snapshot is news for the page, not the end of its stream
                body = {"error": type(exc).__name__}
            yield ServerSentEvent(event="snapshot", data=body)
            await asyncio.sleep(period_s)

    @app.get("/api/v1/candles", summary="The last closed bars of one symbol (for the price chart)")
    async def candles(symbol: SymbolQuery, limit: Annotated[int, Query(ge=1, le=5000)] = 720) -> dict[str, Any]:
        return await service.candles(symbol, limit)

    @app.get("/api/v1/fills", summary="Recent fills, newest first, of one symbol or all")
    async def fills(symbol: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{2,30}$")] = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> dict[str, Any]:
        return await service.fills(symbol, limit)

    @app.get("/api/v1/activity", summary="Recent protection actions and errors, newest first")
    async def activity(limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> dict[str, Any]:
        return await service.activity(limit)
