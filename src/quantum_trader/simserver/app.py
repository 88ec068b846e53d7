"""`create_app`: the simulator behind Binance USDⓈ-M's REST paths, for unmodified clients.

Every route goes through one wrapper that does what Binance does before an endpoint runs: count the
request's weight per IP (429/-1003 past the limit, 418 for an IP that keeps going), check the API key,
the timestamp window and the HMAC signature over the raw bytes, check the spelling of every numeric
parameter (-1100), let an armed network fault strike (`routes_faults`: 5xx, 429, a late answer), then
run the handler under one lock so the simulator sees requests one at a time (its clock first moved up to
the server's on a server without a feed, or to a paced feed's clock: `ServerState.catch_up`). Bodies above 1 MiB are
refused before they are read (`body_limit`). Errors leave as Binance's `{"code", "msg"}` with the HTTP
status the error carries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain import binance_errors as be
from ..domain.errors import ExchangeError
from ..sim.engine import ExchangeSimulator
from ..sim.params import check_numeric_params
from ..sim.universe import Universe, load_universe
from . import (
    routes_account,
    routes_algo,
    routes_control,
    routes_faults,
    routes_keys,
    routes_market,
    routes_orders,
    routes_stream_control,
)
from .auth import authenticate_signed, check_api_key, merge_params
from .body_limit import MAX_BODY_BYTES, BodyLimit
from .clock_shift import ShiftedClock
from .feed import BarFeed
from .routes_base import Call, Route, Security, ServerState, price_history_rows
from .routes_stream import register_stream
from .stream_hub import StreamSettings
from .weights import (
    BAN_BASE_MS,
    DEFAULT_BAN_AFTER,
    DEFAULT_WEIGHT_LIMIT,
    ORDER_PATHS,
    USED_WEIGHT_HEADER,
    OrderCounter,
    WeightCounter,
    weight_of,
)

log = logging.getLogger(__name__)
ROUTES: tuple[Route, ...] = tuple(
    r for module in (routes_market, routes_orders, routes_algo, routes_account, routes_control,
                     routes_stream_control, routes_faults, routes_keys)
    for r in module.table.routes
)
_UNKNOWN = ExchangeError(-1000, "An unknown error occured while processing the request.", 500)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _order_windows(limits: tuple[int, int]) -> tuple[tuple[str, int, int], ...]:
    return (("10S", 10_000, limits[0]), ("1M", 60_000, limits[1]))


def create_app(sim: ExchangeSimulator, *, api_key: str, api_secret: str,
               clock: Callable[[], int] = wall_clock_ms, weight_limit: int = DEFAULT_WEIGHT_LIMIT,
               universe: Universe | None = None, order_limits: tuple[int, int] = (300, 1200),
               feed: BarFeed | None = None, ban_base_ms: int = BAN_BASE_MS, ban_after: int = DEFAULT_BAN_AFTER,
               max_body_bytes: int = MAX_BODY_BYTES, streams: StreamSettings | None = None,
               follow_clock: bool = False) -> FastAPI:
    """A FastAPI app serving `sim`; `clock` (ms) is the server time requests are signed against.

    `universe` supplies exchangeInfo and leverage brackets; by default the packaged one, which must
    hold every symbol the simulator trades. `order_limits` are the ORDERS limits per 10 s and per minute
    (Binance's 300 / 1200 by default; load tests raise them on purpose). `feed` plays bars into `sim`
    under the server's lock; it runs for the app's lifespan (a server run with lifespan off, as the
    test harness does, starts and stops it itself). `ban_base_ms` is the first 418 ban's length and
    `ban_after` the 429s tolerated per IP and minute before one; `max_body_bytes` caps request bodies.
    `follow_clock`: before each request and stream round the simulator's clock moves up to `clock`, as on
    Binance, where event and trade times are server time; for a server without a feed (`--feed manual`),
    whose clock nothing else moves. Off, it moves only with `/sim/v1/advance` (tests that step it by hand).
    """
    shifted = ShiftedClock(clock)  # POST /sim/v1/clock moves it (the chaos of a machine clock off the exchange's)
    server = ServerState(sim=sim, universe=universe or load_universe(), api_key=api_key, api_secret=api_secret,
                         clock=shifted, clock_shift=shifted,
                         weights=WeightCounter(clock, weight_limit, ban_base_ms, ban_after),
                         orders=OrderCounter(clock, _order_windows(order_limits)),
                         history_rows=price_history_rows(len(sim.state.instruments)), follows_clock=follow_clock)
    if feed is not None:
        feed.attach(server)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if feed is not None:
            feed.start()
        try:
            yield
        finally:
            if feed is not None:
                feed.stop()

    # "USDS-M" in what a browser shows (/sim/docs): no font a Debian browser has draws Binance's Ⓢ.
    app = FastAPI(title="Quantum Trader simulator (Binance USDS-M compatible)", docs_url="/sim/docs",
                  openapi_url="/sim/openapi.json", redoc_url=None, lifespan=lifespan)
    app.state.server = server
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    for route in ROUTES:
        app.add_api_route(route.path, _endpoint(server, route), methods=[route.method],
                          name=f"{route.method} {route.path}", include_in_schema=True)

    @app.exception_handler(StarletteHTTPException)
    async def unknown_path(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown paths answer like Binance's -5000 body, logged: a client may need something new."""
        log.warning("simserver: %s %s not served (%s)", request.method, request.url.path, exc.status_code)
        error = ExchangeError(-5000, f"Path {request.url.path}, Method {request.method} is invalid",
                              exc.status_code)
        return _error_response(server, error, _client_ip(request))

    register_stream(app, server, streams)  # websockets; `streams` sets their limits (tests shrink them)
    return app


def _client_ip(request: Request) -> str:
    """What Binance counts weight and bans by: the caller's address."""
    return request.client.host if request.client is not None else ""


def _json_response(body: Any, status: int, server: ServerState, ip: str) -> Response:
    text = json.dumps(body, separators=(",", ":"), default=str)
    return Response(text, status_code=status, media_type="application/json",
                    headers={USED_WEIGHT_HEADER: str(server.weights.used_by(ip))})


def _error_response(server: ServerState, error: ExchangeError, ip: str) -> Response:
    response = _json_response(error.to_body(), error.http_status, server, ip)
    if error.http_status in (418, 429):
        response.headers["Retry-After"] = str(server.weights.retry_after_seconds(ip))
    return response


def _endpoint(server: ServerState, route: Route) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        query: bytes = request.scope.get("query_string", b"")
        body = await request.body()
        ip = _client_ip(request)
        order_headers: dict[str, str] = {}
        delay_s = 0.0
        try:
            params = _admit(server, route, request, query, body)
            delay_s = routes_faults.strike(server, route.method, route.path, ip)  # 5xx/429 raise: not processed
            if route.method == "POST" and route.path in ORDER_PATHS:
                order_headers = server.orders.charge()
            payload = _json_body(body) if route.path.startswith("/sim/") else None
            with server.lock:
                server.catch_up()
                result = route.handler(server, Call(route.method, params, payload, ip))
        except ExchangeError as error:
            response = _error_response(server, error, ip)
        except Exception:
            log.exception("simserver: %s %s failed", route.method, route.path)
            response = _error_response(server, _UNKNOWN, ip)
        else:
            response = _json_response(result, 200, server, ip)
            if route.method != "GET" and server.streams is not None:
                server.streams.wake()  # a bar it closed or an event it logged goes out now, not at the next poll
        response.headers.update(order_headers)
        if delay_s:
            await asyncio.sleep(delay_s)  # a `slow` fault: processed already, answered late, no lock held
        return response

    endpoint.__name__ = f"{route.method.lower()}_{route.path.strip('/').replace('/', '_')}"
    return endpoint


def _admit(server: ServerState, route: Route, request: Request, query: bytes, body: bytes) -> dict[str, str]:
    """Weight first (a refused request still counts), then the route's security, then the spelling of
    numeric params (-1100); the merged params. Control paths are not Binance's: no weight, no ban."""
    control = route.path.startswith("/sim/")
    form = b"" if control else body
    params = merge_params(query, form)
    if not control:
        server.weights.charge(weight_of(route.method, route.path, params), _client_ip(request))
    if route.security is Security.SIGNED:
        params = authenticate_signed(request.headers, query, form, api_key=server.keys, server_time_ms=server.clock())
    elif route.security is Security.API_KEY:
        check_api_key(request.headers, server.keys, control=control)
    check_numeric_params(params)
    return params


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise be.invalid_data("body") from None
