"""The simulator server the live campaign trades against, hosted in the campaign's own process.

Hosting it here (uvicorn on a background thread, as the test harness and the benchmark do) is what
makes the observer independent and exact: it reads the `ExchangeSimulator` itself under the server's
lock, the lock every request handler runs under, so each look is a consistent snapshot of what the
exchange holds, never what the bot (or a REST answer in flight) believes. Binance's request weights are
enforced (2,400 per minute by default), so the bot's budget is graded by the server's own count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from ...sim.engine import ExchangeSimulator
from ...sim.state import SimConfig
from ...sim.universe import load_universe
from ...simserver.app import create_app
from ...simserver.routes_base import ServerState
from ...simserver.routes_stream import uvicorn_ws_options
from ...simserver.threaded import serve_in_thread
from ...simserver.weights import DEFAULT_WEIGHT_LIMIT

API_KEY = "chaos-live-key"
API_SECRET = "chaos-live-secret"
HEADERS = {"X-MBX-APIKEY": API_KEY}


@dataclass
class SimServer:
    """A running server: its base URL, the simulator behind it and the server state (lock, weights)."""

    url: str
    sim: ExchangeSimulator
    state: ServerState
    client: httpx.AsyncClient

    @property
    def lock(self) -> threading.Lock:
        """Held by every request handler; hold it to read the simulator between two requests."""
        return self.state.lock

    async def control(self, path: str, body: dict[str, Any]) -> Any:
        """A control call (`/sim/v1/...`: no weight, never banned); raises on an error answer."""
        answer = await self.client.post(f"{self.url}{path}", json=body, headers=HEADERS)
        answer.raise_for_status()
        return answer.json()

    async def read(self, path: str) -> Any:
        answer = await self.client.get(f"{self.url}{path}", headers=HEADERS)
        answer.raise_for_status()
        return answer.json()

    async def serves(self, path: str) -> bool:
        """Does this server have `path` (a control route another build may not have yet)?"""
        answer = await self.client.get(f"{self.url}{path}", headers=HEADERS)
        return answer.status_code == 200


def build_sim(symbols: int, balance: str = "10000") -> ExchangeSimulator:
    """The `symbols` most liquid instruments of the universe at their typical prices; simulated time starts
    now and the campaign moves it with the wall clock, so one-minute klines close every minute."""
    universe = load_universe()
    names = universe.top(symbols)
    return ExchangeSimulator({s: universe.instrument(s) for s in names},
                             SimConfig(start_time_ms=time.time_ns() // 1_000_000, balance=Decimal(balance)))


@contextmanager
def running_server(sim: ExchangeSimulator, client: httpx.AsyncClient, *,
                   weight_limit: int = DEFAULT_WEIGHT_LIMIT) -> Iterator[SimServer]:
    """The server on a free loopback port in a daemon thread; stopped on exit."""
    universe = load_universe().subset(sim.state.instruments)
    app = create_app(sim, api_key=API_KEY, api_secret=API_SECRET, universe=universe, weight_limit=weight_limit)
    with serve_in_thread(app, ready_path="/fapi/v1/ping", thread_name="chaos-sim-server",
                         **uvicorn_ws_options(app)) as (url, _):
        yield SimServer(url, sim, app.state.server, client)
