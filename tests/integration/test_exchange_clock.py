"""A machine whose clock is off the exchange's still trades: the ccxt adapter signs with the exchange's time.

Binance refuses a signed request whose timestamp is 1 s ahead of its clock or more than recvWindow behind
(-1021, binance_futures.md §5.3), and so does the simulator server. Before, every signed request of a
machine 3 s fast was refused: no reading, no order, no stop. Here the server's clock is set apart from
the machine's, and the adapter must measure the offset once (GET /fapi/v1/time), send the refused request
again, place each order exactly once, and measure again when the machine's clock moves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import ccxt
import httpx
import pytest
from test_run_session import bot_env, journal_rows, long_with_resting_stop, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, ccxt_client, running_server

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.errors import ExchangeError
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.clock_sync import TIMESTAMP_REFUSED

T = TypeVar("T")


class ServerClock:
    """The exchange's clock: the machine's plus an offset a test may change mid-session."""

    def __init__(self, behind_ms: int) -> None:
        self.behind_ms = behind_ms

    def __call__(self) -> int:
        return int(time.time() * 1000) - self.behind_ms


def run(url: str, body: Callable[[CcxtExchange], Awaitable[T]]) -> T:
    async def main() -> T:
        ex = CcxtExchange(url, api_key=API_KEY, api_secret=API_SECRET, throttle=False)
        try:
            return await body(ex)
        finally:
            await ex.close()

    return asyncio.run(main())


@pytest.mark.parametrize("behind_ms", [3_000, -8_000], ids=["machine 3 s fast", "machine 8 s slow"])
def test_signed_requests_follow_the_exchange_clock_and_an_order_goes_once(behind_ms: int) -> None:
    with running_server(clock=ServerClock(behind_ms)) as server:
        async def body(ex: CcxtExchange) -> tuple[int, int, Decimal]:
            await ex.instruments()
            await ex.account()  # refused once for its timestamp, measured, sent again
            first = ex.clock.reading.measurements
            order = await ex.place(OrderIntent(symbol="ETHUSDT", side=Side.BUY, type=OrderType.MARKET,
                                               quantity=Decimal("0.5"), client_id="clock-entry"))
            await ex.positions()
            return first, ex.clock.reading.measurements, order.filled

        first, after, filled = run(server.url, body)
        assert (first, after) == (1, 1)  # measured once; later requests are signed right the first time
        assert filled == Decimal("0.5")
        assert [o.client_order_id for o in server.sim.all_orders("ETHUSDT")] == ["clock-entry"]  # placed once
        assert server.sim.position("ETHUSDT").amount == Decimal("0.5")


def test_the_offset_is_measured_again_when_the_machine_clock_moves() -> None:
    clock = ServerClock(0)
    with running_server(clock=clock) as server:
        async def body(ex: CcxtExchange) -> list[tuple[int, int]]:
            await ex.instruments()
            await ex.account()
            seen = [(ex.clock.reading.measurements, ex.clock.reading.offset_ms)]  # in step: never measured
            clock.behind_ms = 2_500  # an NTP step on the machine, mid-session
            await ex.account()
            seen.append((ex.clock.reading.measurements, ex.clock.reading.offset_ms))
            return seen

        [before, after] = run(server.url, body)
        assert before == (0, 0)
        assert after[0] == 1 and 2_300 <= after[1] <= 2_700, after


def test_a_refusal_other_than_the_clock_is_not_sent_again() -> None:
    with running_server() as server:
        async def body(ex: CcxtExchange) -> tuple[int, int]:
            await ex.instruments()
            with pytest.raises(ExchangeError) as refused:
                await ex.set_leverage("ETHUSDT", 500)  # above the bracket: refused for what it asks, not when
            return refused.value.code, ex.clock.reading.measurements

        code, measured = run(server.url, body)
        assert code != TIMESTAMP_REFUSED and measured == 0


def test_the_bot_on_a_machine_3_s_fast_starts_protects_a_position_and_shows_the_offset(tmp_path: Path) -> None:
    """The real bot on the live path (ccxt, user-data stream) against the simulator server. Before, its start-up
    reading was refused for its timestamp, again and again: it never traded, and a position's stop could not
    have been placed or repaired."""
    with running_server(follow_clock=True, clock=ServerClock(3_000)) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT", QT_SPEED="1", QT_MONITOR_INTERVAL="1")
        with running_bot(env) as (_proc, url):
            long_with_resting_stop(url, tmp_path, server)  # entry, then its stop resting on the server
            health = wait_for(lambda: (h := httpx.get(f"{url}/health").json())["positions"] == 1 and h)
            refused = journal_rows(tmp_path, "select count(*) from errors where message like '%-1021%'")
    offset = health["exchange_clock"]["offset_ms"]
    assert 2_800 <= offset <= 3_300 and health["exchange_clock"]["measurements"] >= 1, health["exchange_clock"]
    assert health["unprotected_positions"] == 0 and health["positions"] == 1
    assert refused == [(0,)]  # the refused request was sent again: nothing failed on the way


def test_the_server_clock_is_shifted_by_its_control_route_and_a_bad_offset_changes_nothing() -> None:
    """`POST /sim/v1/clock` (the live chaos campaign's clock step): the signed check follows the shifted clock.
    Set back, it first holds where it stood (time never goes back), then runs at the offset."""
    with running_server() as server:
        key = {"X-MBX-APIKEY": API_KEY}
        before = httpx.get(f"{server.url}/fapi/v1/time").json()["serverTime"]
        answer = httpx.post(f"{server.url}/sim/v1/clock", json={"offset_ms": -1_500}, headers=key).json()
        assert answer["offset_ms"] == -1_500 and answer["serverTime"] >= before and answer["hold_ms"] > 0
        time.sleep(answer["hold_ms"] / 1000 + 0.1)
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):  # unmodified ccxt signs with the machine's clock
            ccxt_client(server.url).fapiPrivateV2GetAccount()
        for bad in ("3000", 1.5, True, 86_400_001):
            wrong = httpx.post(f"{server.url}/sim/v1/clock", json={"offset_ms": bad}, headers=key)
            assert wrong.status_code == 400 and "offset_ms" in wrong.json()["msg"], (bad, wrong.text)
        assert httpx.get(f"{server.url}/sim/v1/clock", headers=key).json()["offset_ms"] == -1_500
        httpx.post(f"{server.url}/sim/v1/clock", json={"offset_ms": 0}, headers=key)
        assert run(server.url, lambda ex: ex.account()).wallet > 0  # back in step
