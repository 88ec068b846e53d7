"""A 429 or a ban in the middle of the restart's income reading resumes it from the page it had reached.

Found by counting requests: a restarted bot reads the income history page by page (runtime/startup.py
`read_income_while_away`), and a 429 or a 418 on, say, the sixth page left the reading; the retry layer waited
out the Retry-After and asked for the whole reading again, from page 1. The five pages already read were asked
for again (weight 30 each), and a long history, read exactly when the budget is tight, could meet the next 429
before it ever got past where it was struck. Now the reading keeps its place and its rows across the wait: the
refused page is the only one asked for twice.

The paper path exactly as a session builds it (exchange/factory.py `connect`: the retry layer over the real
ccxt adapter, start-up's patience) against the simulator server on loopback, whose own per-IP count of requests
(`GET /sim/v1/limits` `requestsTotal`) is read before and after each reading. The 429 and the ban are the
server's chaos faults (`/sim/v1/faults`), armed to let the first pages through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs
from test_simserver_support import API_KEY, API_SECRET, RunningServer, running_server

from quantum_trader.domain.exchange_types import BalanceUpdate
from quantum_trader.exchange import income_reading
from quantum_trader.exchange.factory import connect
from quantum_trader.exchange.port import Exchange
from quantum_trader.exchange.retry import patient

ROWS = 1_000
#: Rows per page in these tests (Binance's is 1,000): 1,000 rows make 11 pages, each repeating its predecessor's
#: last row (the next page starts at that row's millisecond).
PAGE = 100
PAGES = 11
#: The page the fault strikes.
STRUCK = 6


@contextmanager
def info_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """`capture_logs` at INFO whatever an earlier test in this process configured: it swaps the processors but
    keeps the wrapper's level filter, and a test before this one in the same process that ran a command or an
    in-process sweep (they configure WARNING) left the "reading resumed" line filtered out (seen when the unit
    folder and this file ran in one process)."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(wrapper_class=wrapper)


def requests_sent(server: RunningServer) -> int:
    """What the server counted from this machine since it started (every request, refused ones too)."""
    rows = httpx.get(f"{server.url}/sim/v1/limits", headers={"X-MBX-APIKEY": API_KEY}).json()["ips"]
    return sum(int(row["requestsTotal"]) for row in rows)


def read_twice(server: RunningServer, start_ms: int, fault: dict[str, Any]) -> list[tuple[list[BalanceUpdate], int]]:
    """An undisturbed reading, then one with `fault` armed to strike page STRUCK: each one's rows and the
    requests the server counted for it, inside start-up's patience as a restarting session reads it."""
    async def one(exchange: Exchange) -> tuple[list[BalanceUpdate], int]:
        before = await asyncio.to_thread(requests_sent, server)
        found = await exchange.income(start_ms)
        return found, await asyncio.to_thread(requests_sent, server) - before

    async def main() -> list[tuple[list[BalanceUpdate], int]]:
        exchange = await connect(server.url, paper=True, api_key=API_KEY, api_secret=API_SECRET)
        try:
            await exchange.instruments()  # the budget learns the server's limit, as a session's start-up does
            with patient(60):
                clean = await one(exchange)
                await asyncio.to_thread(server.control, "/sim/v1/faults", {
                    **fault, "count": 1, "after": STRUCK - 1, "paths": ["/fapi/v1/income"]})
                return [clean, await one(exchange)]
        finally:
            await exchange.close()

    return asyncio.run(main())


@pytest.mark.parametrize("fault", [{"kind": "rate_limit", "retry_after_s": 1}, {"kind": "ban", "retry_after_s": 1}],
                         ids=["429", "418"])
def test_a_429_or_a_ban_mid_reading_resumes_from_the_page_reached(fault: dict[str, Any],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(income_reading, "INCOME_LIMIT", PAGE)
    with running_server(weight_limit=24_000) as server:
        sim = server.sim
        start = sim.now_ms
        for n in range(ROWS):
            sim.transfer(Decimal(n % 7 + 1))
            sim.advance(1)
        listed = [(r.time_ms, r.amount) for r in sim.state.income.records]
        with info_logs() as logs:
            (clean, clean_requests), (struck, struck_requests) = read_twice(server, start, fault)
        injected = httpx.get(f"{server.url}/sim/v1/faults", headers={"X-MBX-APIKEY": API_KEY}).json()["injected"]
    assert [(u.time_ms, u.change) for u in clean] == listed and struck == clean  # every row, each once
    assert injected[fault["kind"]] == 1
    assert clean_requests == PAGES
    # The struck page is asked for again, and only it: was PAGES + STRUCK (17), the reading restarted from page 1.
    assert struck_requests == PAGES + 1
    [resumed] = [e for e in logs if e["event"] == "income history reading resumed"]
    assert resumed["pages_read"] == STRUCK - 1
    print(f"\n{fault['kind']} on page {STRUCK} of {PAGES}: {struck_requests} requests "
          f"(undisturbed: {clean_requests}; restarted from page 1 it would be {PAGES + STRUCK})")
