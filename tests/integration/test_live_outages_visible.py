"""The user trial of 2026-12-06 (items 2 and 11) on the live path: the real bot (a subprocess: ccxt, the adapter's
retries, the user-data stream, the monitor) against the simulator server and its fault and stream controls.

- The user-data stream dropped for 2 s: the bot warned that it broke and never said it was back, and `/health`
  had nothing on it. Now one info line says it reconnected (how long it was down, what the reconciliation read
  back) and `/health` has `user_stream` (state, breaks, reconnects, last outage).
- 503s on `POST /fapi/v1/algoOrder` while a stop-loss is cancelled by hand: the position was without a stop for
  seconds and nothing but `/metrics` said so. Now each failure is a warning naming the symbol, the trade, the
  answer (HTTP 503) and what happens next, journaled as `place_failed` (in `/api/v1/activity`), and the stop's
  return says after how many failures and how long the position was without it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from quantum_trader.chaos.live.bot import BotProcess
from quantum_trader.chaos.live.server import API_KEY, API_SECRET, SimServer, build_sim, running_server
from quantum_trader.domain.enums import OrderType

SYM = "ETHUSDT"
FAULT_S = 4


def _signed(params: dict[str, Any]) -> str:
    query = urlencode({"timestamp": time.time_ns() // 1_000_000, **params})
    return f"{query}&signature={hmac.new(API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()}"


def _stops(server: SimServer) -> list[Any]:
    with server.lock:
        return [a for a in server.sim.open_algo_orders(SYM) if a.order_type is OrderType.STOP_MARKET]


async def _until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def _log_since(bot: BotProcess, mark: int) -> list[str]:
    return bot.log_path.read_text(errors="replace")[mark:].splitlines()


@asynccontextmanager
async def _protected_long(workdir: Path) -> AsyncIterator[tuple[SimServer, BotProcess, httpx.AsyncClient]]:
    """The bot against a fresh server, with a long it opened and protected; stopped on exit."""
    async with httpx.AsyncClient() as client:
        with running_server(build_sim(5), client) as server:
            bot = BotProcess(server.url, tuple(server.sim.state.instruments), workdir, client,
                             extra_env={"QT_MONITOR_INTERVAL": "1.0"})
            bot.spawn()
            try:
                assert await bot.wait_ready(60) is not None, bot.last_error()
                assert (await bot.force_entry(SYM, "long"))["accepted"] is True

                async def protected() -> bool:
                    return len(_stops(server)) == 1
                await _until(protected)
                yield server, bot, client
            finally:
                bot.stop()


def test_a_user_stream_drop_and_a_stop_endpoint_outage_are_said_in_the_log_health_and_journal(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        async with _protected_long(tmp_path) as (server, bot, client):
            health = await bot.health()
            assert health is not None
            before = health["user_stream"]
            # Item 11: the user-data stream dropped for 2 s.
            mark = len(bot.log_path.read_text(errors="replace"))
            await server.control("/sim/v1/streams", {"action": "drop", "seconds": 2, "kind": "user"})

            async def reconnected() -> dict[str, Any] | None:
                body = await bot.health()
                stream = None if body is None else body["user_stream"]
                return stream if stream and stream["reconnects"] >= 1 and stream["state"] == "live" else None
            after = await _until(reconnected)
            drop_log = _log_since(bot, mark)
            # Item 2: the stop endpoint answers 503 while the stop is cancelled by hand.
            mark = len(bot.log_path.read_text(errors="replace"))
            await server.control("/sim/v1/faults", {"kind": "server_error", "seconds": FAULT_S,
                                                    "paths": ["/fapi/v1/algoOrder"], "methods": ["POST"]})
            (stop,) = _stops(server)
            cancelled = await client.delete(
                f"{server.url}/fapi/v1/algoOrder?" + _signed({"symbol": SYM, "algoId": stop.algo_id}),
                headers={"X-MBX-APIKEY": API_KEY})
            assert cancelled.status_code == 200, cancelled.text
            started = time.monotonic()

            async def replaced() -> bool:
                return any(s.algo_id != stop.algo_id for s in _stops(server))
            await _until(replaced)
            naked_s = time.monotonic() - started
            await asyncio.sleep(1.5)  # the monitor's next sweep measures the end of the stretch
            outage_log = _log_since(bot, mark)
            activity = (await client.get(f"{bot.api}/api/v1/activity?limit=200")).json()
        return {"before": before, "after": after, "drop_log": drop_log, "outage_log": outage_log,
                "naked_s": naked_s, "activity": activity}

    seen = asyncio.run(scenario())
    print("\n" + "\n".join(line for line in seen["drop_log"] + seen["outage_log"]
                           if "stream" in line or "protect" in line))
    # 11: /health's user stream, and the line saying it is back.
    before, after = seen["before"], seen["after"]
    assert (before["state"], before["breaks"], before["reconnects"]) == ("live", 0, 0), before
    assert after["breaks"] >= 1 and after["reconnects"] == 1 and after["down_s"] is None, after
    assert 1.5 <= after["last_down_s"] < 15, after
    back = [line for line in seen["drop_log"] if "exchange event stream reconnected" in line]
    assert len(back) == 1 and "down_s=" in back[0] and "Dropped by /sim/v1/streams" in back[0], seen["drop_log"]
    # 2: each failure (rate-limited) and the end, in the log...
    failed = [line for line in seen["outage_log"] if "protective order not placed" in line]
    assert failed, seen["outage_log"]
    assert all("[warning" in line and f"symbol={SYM}" in line and "trade_id=" in line and "HTTP 503" in line
               and "purpose=stop-loss" in line for line in failed), failed
    assert "retry in 0.25 s" in failed[0] and "emergency exit if still not placed in ~11.2 s" in failed[0]
    assert any("protection placed" in line and "failed_tries_before=" in line for line in seen["outage_log"])
    assert any("position protected again" in line and "without_stop_s=" in line for line in seen["outage_log"])
    # ... and in the journal, which the API's activity shows; the monitor's own record stays clean.
    journaled = [a for a in seen["activity"]["protection_actions"] if a["action"] == "place_failed"]
    assert len(journaled) == len(failed) and all(a["symbol"] == SYM for a in journaled)
    assert seen["activity"]["errors"] == []
    assert FAULT_S - 1 <= seen["naked_s"] < FAULT_S + 4, seen["naked_s"]
