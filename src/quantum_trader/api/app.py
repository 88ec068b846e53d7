"""The bot's HTTP API (CONTRACT section 4): a thin layer over the application service.

Every read endpoint returns the service's document unchanged, which is also what the CLI's `--json`
prints, so there is one truth. The app holds no state of its own beyond the metrics registry and the
mutation guard; anything it does not know (positions, health) it asks the service on each request.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field

from ..core.loggers import get_logger
from ..core.metrics import CONTENT_TYPE, Metrics
from ..runtime.service import AppService
from .auth import ApiAccess, MutationGuard
from .dashboard_routes import add_dashboard
from .login import add_login, login_page

log = get_logger(__name__)
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}$")
Limit = Annotated[int, Query(ge=1, le=10_000)]


class ForceEntryBody(BaseModel):
    """`{"symbol": "BNBUSDT", "side": "short"}`; unknown fields are refused so a typo is not ignored."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(pattern=SYMBOL_PATTERN.pattern, description="Binance symbol, uppercase, e.g. BNBUSDT")
    side: Literal["long", "short"]


def create_app(service: AppService, metrics: Metrics, *, api_token: str | None,
               public_reads: bool = False) -> FastAPI:
    """The API and dashboard for one running session.

    With `api_token`, every path but /health and /login needs the token (auth.py), unless
    `public_reads` serves everything but the mutations openly (QT_API_PUBLIC_READS).
    """
    # /docs and /redoc with their scripts served from the package (fastapi-offline), not a CDN: the bot needs
    # no network (CONTRACT §1), and an API page that loads code from the internet is not one to trust.
    # "USDS-M", not Binance's "USDⓈ-M": no font a Debian browser has draws Ⓢ, and /docs read "USD□-M".
    app = FastAPIOffline(title="Quantum Trader", version="0.1.0",
                         description="Protected Binance USDS-M futures trading: health, positions, orders, control.")
    access = ApiAccess(api_token, public_reads=public_reads)
    guard = MutationGuard(access)

    @app.middleware("http")
    async def _internal_error(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Count and log a failure; answer without the exception text, which may carry venue details.

        Handled here rather than with an exception handler, which Starlette re-raises into the server.
        """
        try:
            return await call_next(request)
        except Exception as exc:
            metrics.error("api")
            with contextlib.suppress(Exception):  # a broken log sink must not turn a 500 into a dropped answer
                log.error("api request failed", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
            return JSONResponse({"error": "internal error", "path": request.url.path}, status_code=500)

    @app.middleware("http")
    async def _require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Before routing, so /docs, /openapi.json, /metrics and unknown paths are covered alike."""
        if access.may_read(request):
            return await call_next(request)
        if request.method == "GET" and request.url.path == "/":
            return login_page()
        return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.get("/health", summary="Liveness and protection status; 503 when unhealthy")
    async def health() -> JSONResponse:
        body = await service.health()
        return JSONResponse(body, status_code=503 if body.get("status") == "unhealthy" else 200)

    @app.get("/metrics", summary="Prometheus text exposition", response_class=Response)
    async def prometheus() -> Response:
        try:
            metrics.observe_health(await service.health())
        except Exception:  # metrics must scrape even when the service cannot answer
            metrics.error("api")
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    _add_reads(app, service)
    add_dashboard(app, service)
    _add_mutations(app, service, guard)
    add_login(app, access)
    return app


def _add_reads(app: FastAPI, service: AppService) -> None:
    @app.get("/api/v1/positions", summary="Open positions with P&L in four units and protection")
    async def positions() -> dict[str, Any]:
        return await service.positions()

    @app.get("/api/v1/orders", summary="Open orders grouped by position, with flags")
    async def orders() -> dict[str, Any]:
        return await service.orders()

    @app.get("/api/v1/trades", summary="Recent trades, newest first")
    async def trades(limit: Limit = 100) -> dict[str, Any]:
        return await service.trades(limit)

    @app.get("/api/v1/signals", summary="Recent signals")
    async def signals(limit: Limit = 100) -> dict[str, Any]:
        return await service.signals(limit)

    @app.get("/api/v1/audit", summary="Stop audit of closed positions")
    async def audit(limit: Annotated[int | None, Query(ge=1, le=10_000)] = None) -> dict[str, Any]:
        """Every closed position, or the last `limit`; `summary`, `breaches` and `count` are of all of them."""
        return await service.audit(limit)

    @app.get("/api/v1/readiness", summary="Go-live checklist")
    async def readiness() -> dict[str, Any]:
        return await service.readiness()

    @app.get("/api/v1/equity", summary="Equity curve")
    async def equity(limit: Limit = 1000) -> dict[str, Any]:
        return await service.equity(limit)


def _add_mutations(app: FastAPI, service: AppService, guard: MutationGuard) -> None:
    @app.post("/api/v1/force-entry", dependencies=[Depends(guard)],
              summary="Open a position through the normal risk, execution and protection path",
              responses={409: {"description": "refused; the body says why"}})
    async def force_entry(body: ForceEntryBody) -> JSONResponse:
        result = await service.force_entry(body.symbol, body.side)
        log.info("force entry requested", symbol=body.symbol, side=body.side, accepted=result.get("accepted"))
        return JSONResponse(result, status_code=200 if result.get("accepted") else 409)

    @app.post("/api/v1/resume", dependencies=[Depends(guard)],
              summary="Manual reset after a kill switch: new entries are allowed again")
    async def resume() -> dict[str, Any]:
        log.warning("trading resumed by request")
        return await service.resume()

    @app.post("/api/v1/kill-switch", dependencies=[Depends(guard)],
              summary="Cancel all orders, close all positions, stop new entries")
    async def kill_switch() -> dict[str, Any]:
        log.warning("kill switch requested")
        return await service.kill_switch()
