"""Harness for the simulator-server tests: a real uvicorn server on a free loopback port, in a thread.

Kept in a `test_simserver_*` module (it holds no tests) so the server tests share one way of starting
and stopping it. The socket is bound before the server starts, so there is no race for the port.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.app import create_app
from quantum_trader.simserver.routes_stream import uvicorn_ws_options
from quantum_trader.simserver.threaded import serve_in_thread

API_KEY = "test-key"
API_SECRET = "test-secret"
SYMBOLS = ("BNBUSDT", "BTCUSDT", "ETHUSDT")
START_PRICES = {"BNBUSDT": "600", "BTCUSDT": "100000", "ETHUSDT": "2500"}


class ManualClock:
    """A server clock the test moves by hand (`now_ms += ...`): minutes, bans and faults on demand."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def make_sim(balance: Decimal = Decimal("10000")) -> ExchangeSimulator:
    """Three real instruments, 10 000 USDT (or `balance`), simulated time starting now (as the CLI does)."""
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS},
                            SimConfig(balance=balance, start_time_ms=time.time_ns() // 1_000_000))
    sim.set_prices(START_PRICES)
    return sim


@dataclass
class RunningServer:
    url: str
    port: int
    sim: ExchangeSimulator

    def signed(self, params: dict[str, Any], *, secret: str = API_SECRET) -> str:
        """A signed query string the way a minimal client builds it."""
        query = urlencode(params)
        return f"{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"

    def call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        """A signed request as a minimal client sends it (POST as a form body, others in the query); must answer 200."""
        signed = self.signed({"timestamp": time.time_ns() // 1_000_000, **params})
        headers = {"X-MBX-APIKEY": API_KEY}
        if method == "POST":
            response = httpx.post(f"{self.url}{path}", content=signed,
                                  headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
        else:
            response = httpx.request(method, f"{self.url}{path}?{signed}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def control(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, headers={"X-MBX-APIKEY": API_KEY})
        response.raise_for_status()
        return response.json()


@contextmanager
def running_server(sim: ExchangeSimulator | None = None, *, port: int = 0, api_key: str = API_KEY,
                   api_secret: str = API_SECRET, **app_options: Any) -> Iterator[RunningServer]:
    sim = sim or make_sim()
    universe = load_universe().subset(sim.state.instruments)
    app = create_app(sim, api_key=api_key, api_secret=api_secret, universe=universe, **app_options)
    with serve_app(app, ready_path="/fapi/v1/ping", port=port, **uvicorn_ws_options(app)) as url:
        yield RunningServer(url, int(url.rsplit(":", 1)[1]), sim)


@contextmanager
def serve_app(app: Any, *, ready_path: str, host: str = "127.0.0.1", **server_options: Any) -> Iterator[str]:
    """Any ASGI app on a real uvicorn, on a free port of `host`, in a thread; yields its base URL.

    `server_options` go to `uvicorn.Config` (the simulator's websocket ping interval and pong timeout).
    """
    with serve_in_thread(app, ready_path=ready_path, host=host, ready_timeout_s=10.0, **server_options) as (url, _):
        yield url


def repoint(ex: Any, url: str) -> Any:
    """A ccxt (or ccxt.pro) `binanceusdm` whose Binance URLs point at `url` (binance_futures.md §9.5), with
    Binance's futures error classes; its websocket URL too when it has one."""
    for name, api_url in ex.urls["api"].items():
        if isinstance(api_url, str):
            ex.urls["api"][name] = api_url.replace("https://fapi.binance.com", url)
    if isinstance(ex.urls["api"].get("ws"), dict):
        ex.urls["api"]["ws"]["linear"] = url.replace("http://", "ws://") + "/ws"
    ex.exceptions["exact"].update(ex.exceptions["linear"]["exact"])
    return ex


def ccxt_client(url: str) -> Any:
    """Unmodified ccxt `binanceusdm` with the server's default keys, repointed at `url`."""
    import ccxt

    return repoint(ccxt.binanceusdm({"apiKey": API_KEY, "secret": API_SECRET, "options": {"fetchCurrencies": False}}),
                   url)


def refuse_orders_and_cancel_stop(server: RunningServer, symbol: str, market: str) -> None:
    """Leave `symbol`'s position naked for good: from now on (120 s) the server answers 503 to every new
    order, so neither a new stop nor an emergency exit can be placed; then cancel the bot's STOP_MARKET
    by hand with ccxt (`market` is ccxt's name, e.g. BNB/USDT:USDT)."""
    from quantum_trader.domain.enums import OrderType

    server.control("/sim/v1/faults", {"kind": "server_error", "seconds": 120, "methods": ["POST"],
                                      "paths": ["/fapi/v1/algoOrder", "/fapi/v1/order"]})
    [stop] = [a for a in server.sim.open_algo_orders(symbol) if a.order_type == OrderType.STOP_MARKET]
    hand = ccxt_client(server.url)
    hand.load_markets()
    hand.cancel_order(str(stop.algo_id), market, params={"trigger": True})
