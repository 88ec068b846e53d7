"""Retries and idempotent placement through a fault-injecting proxy in front of the simulator server.

Whatever goes wrong on the wire (the answer lost after the order was accepted, a timeout, 503, 429
with Retry-After), each client id ends up as exactly one order on the exchange, and none is lost.
A rejection is never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import TypeVar

import pytest
from test_exchange_proxy_support import FaultProxy, fault_proxy
from test_simserver_support import API_KEY, API_SECRET, RunningServer, running_server

from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.errors import OrderRejected, RetryableExchangeError
from quantum_trader.domain.exchange_types import OrderIntent, SnapshotStatus
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.ccxt_errors import TransientExchangeError
from quantum_trader.exchange.ids import client_id_for
from quantum_trader.exchange.retry import RetryingExchange, RetryPolicy

T = TypeVar("T")
SYMBOL = "BNBUSDT"
POLICY = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)
ORDER, ALGO = "/fapi/v1/order", "/fapi/v1/algoOrder"


@pytest.fixture
def wire() -> Iterator[tuple[RunningServer, FaultProxy]]:
    with running_server() as server, fault_proxy(server.url) as proxy:
        yield server, proxy


def run(proxy: FaultProxy, body: Callable[[RetryingExchange], Awaitable[T]], delays: list[float],
        policy: RetryPolicy = POLICY) -> T:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(min(seconds, 0.05))

    async def main() -> T:
        inner = CcxtExchange(proxy.url, api_key=API_KEY, api_secret=API_SECRET, timeout_s=1.0)
        exchange = RetryingExchange(inner, policy, sleep=sleep)
        try:
            return await body(exchange)
        finally:
            await exchange.close()

    return asyncio.run(main())


def entry(trade: str) -> OrderIntent:
    return OrderIntent(client_id=client_id_for(trade, "entry"), symbol=SYMBOL, side=Side.BUY,
                       type=OrderType.MARKET, quantity=Decimal(1))


def stop(trade: str, trigger: str = "570") -> OrderIntent:
    return OrderIntent(client_id=client_id_for(trade, "sl"), symbol=SYMBOL, side=Side.SELL,
                       type=OrderType.STOP_MARKET, trigger_price=Decimal(trigger), close_position=True,
                       working_type=WorkingType.MARK_PRICE)


def orders_with(server: RunningServer, client_id: str) -> int:
    return sum(1 for o in server.sim.all_orders(SYMBOL) if o.client_order_id == client_id)


def algos_with(server: RunningServer, client_id: str) -> int:
    return sum(1 for a in server.sim.all_algo_orders(SYMBOL) if a.client_algo_id == client_id)


@pytest.mark.parametrize("fault", ["drop", "hang", "503"])
def test_a_lost_or_failed_entry_is_one_order(wire: tuple[RunningServer, FaultProxy], fault: str) -> None:
    server, proxy = wire
    proxy.inject("POST", ORDER, fault, seconds=2.0)
    intent = entry(f"E{fault}")
    placed = run(proxy, lambda ex: ex.place(intent), [])
    assert (placed.client_id, placed.status, placed.filled) == (intent.client_id, SnapshotStatus.FILLED, Decimal(1))
    assert orders_with(server, intent.client_id) == 1
    assert server.sim.position(SYMBOL).amount == 1
    resent = proxy.count("POST", ORDER)
    assert resent == (2 if fault == "503" else 1)  # accepted once → found by query, never sent again


@pytest.mark.parametrize("fault", ["drop", "hang"])
def test_a_lost_stop_answer_is_found_not_resent(wire: tuple[RunningServer, FaultProxy], fault: str) -> None:
    server, proxy = wire

    async def body(ex: RetryingExchange) -> object:
        await ex.place(entry("S1"))
        proxy.inject("POST", ALGO, fault, seconds=2.0)
        return await ex.place(stop("S1"))

    placed = run(proxy, body, [])
    assert getattr(placed, "conditional", False) and getattr(placed, "status", None) is SnapshotStatus.OPEN
    assert algos_with(server, stop("S1").client_id) == 1
    assert proxy.count("POST", ALGO) == 1


def test_429_honours_retry_after(wire: tuple[RunningServer, FaultProxy]) -> None:
    server, proxy = wire
    proxy.inject("POST", ORDER, "429")
    delays: list[float] = []
    placed = run(proxy, lambda ex: ex.place(entry("R1")), delays)
    assert placed.status is SnapshotStatus.FILLED
    assert delays and delays[0] >= 1.0
    assert orders_with(server, entry("R1").client_id) == 1


def test_reads_are_retried_on_5xx(wire: tuple[RunningServer, FaultProxy]) -> None:
    _, proxy = wire
    proxy.inject("GET", "/fapi/v2/account", "503")
    proxy.inject("GET", "/fapi/v2/account", "429")
    account = run(proxy, lambda ex: ex.account(), [])
    assert account.wallet == Decimal(10000)
    assert proxy.count("GET", "/fapi/v2/account") == 3


def test_a_rejection_is_never_retried(wire: tuple[RunningServer, FaultProxy]) -> None:
    _, proxy = wire

    async def body(ex: RetryingExchange) -> None:
        await ex.place(entry("X1"))
        await ex.place(stop("X1", trigger="610"))  # above mark for a long's stop: -2021

    with pytest.raises(OrderRejected) as info:
        run(proxy, body, [])
    assert info.value.code == -2021
    assert proxy.count("POST", ALGO) == 1


def test_retries_give_up_after_the_policy_attempts(wire: tuple[RunningServer, FaultProxy]) -> None:
    server, proxy = wire
    for _ in range(POLICY.attempts):
        proxy.inject("POST", ORDER, "503")
    delays: list[float] = []
    with pytest.raises(RetryableExchangeError) as info:
        run(proxy, lambda ex: ex.place(entry("G1")), delays)
    assert isinstance(info.value, TransientExchangeError)
    assert delays[:3] == [0.05, 0.1, 0.2]  # exponential, capped at max_delay
    assert orders_with(server, entry("G1").client_id) == 0


def test_a_request_still_in_flight_is_waited_for_not_duplicated(wire: tuple[RunningServer, FaultProxy]) -> None:
    """The proxy holds the POST 1.5 s (client timeout 1 s): the lookup finds nothing yet, and resending at
    once would fill twice. Waiting out the in-flight window, then looking again, finds the late order."""
    server, proxy = wire
    proxy.inject("POST", ORDER, "delay", seconds=1.5)
    intent = entry("L1")

    async def main() -> object:
        inner = CcxtExchange(proxy.url, api_key=API_KEY, api_secret=API_SECRET, timeout_s=1.0)
        policy = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2, in_flight_window=3.0)
        exchange = RetryingExchange(inner, policy)
        try:
            return await exchange.place(intent)
        finally:
            await exchange.close()

    placed = asyncio.run(main())
    assert getattr(placed, "status", None) is SnapshotStatus.FILLED
    assert orders_with(server, intent.client_id) == 1 and proxy.count("POST", ORDER) == 1
    assert server.sim.position(SYMBOL).amount == 1


#: An entry not found after a failure would wait this window (30 s) before it is sent again.
WINDOWED = RetryPolicy(attempts=5, base_delay=0.05, max_delay=0.2, in_flight_window=30.0)


def test_a_stop_refused_with_5xx_is_sent_again_at_once(wire: tuple[RunningServer, FaultProxy]) -> None:
    """A closePosition stop cannot be duplicated (the exchange refuses a twin with -4130), so after a 503 it is
    sent again after the backoff, not after the in-flight window: the position waits for its stop, not 30 s."""
    server, proxy = wire
    delays: list[float] = []

    async def body(ex: RetryingExchange) -> object:
        await ex.place(entry("W1"))
        for _ in range(3):
            proxy.inject("POST", ALGO, "503")
        return await ex.place(stop("W1"))

    placed = run(proxy, body, delays, WINDOWED)
    assert getattr(placed, "status", None) is SnapshotStatus.OPEN
    assert algos_with(server, stop("W1").client_id) == 1 and proxy.count("POST", ALGO) == 4
    assert max(delays) < 1.0  # backoff only


def test_a_late_stop_and_its_resend_are_one_order(wire: tuple[RunningServer, FaultProxy]) -> None:
    """The first POST is held 1.5 s (client timeout 1 s) and still reaches the exchange; the re-send, sent at
    once, gets there first. Whichever arrives second is refused as a twin: one stop, found under its id."""
    server, proxy = wire

    async def body(ex: RetryingExchange) -> object:
        await ex.place(entry("W2"))
        proxy.inject("POST", ALGO, "delay", seconds=1.5)
        placed = await ex.place(stop("W2"))
        await asyncio.sleep(1.0)  # the held request arrives meanwhile
        return placed

    placed = run(proxy, body, [], WINDOWED)
    assert getattr(placed, "status", None) is SnapshotStatus.OPEN
    assert algos_with(server, stop("W2").client_id) == 1 and proxy.count("POST", ALGO) == 2
    assert len(server.sim.open_algo_orders(SYMBOL)) == 1


def test_a_resend_refused_because_the_first_attempt_got_through_returns_it() -> None:
    """Unit level: the first attempt times out after reaching the exchange; the re-send is refused with -4130
    (its twin is there): the lookup finds the first attempt's order and returns it."""
    from quantum_trader.domain.errors import OrderRejected as Rejected
    from quantum_trader.domain.exchange_types import OrderSnapshot
    from quantum_trader.exchange.retry import place_once

    intent = stop("W3")
    resting = OrderSnapshot(client_id=intent.client_id, venue_id="1", symbol=SYMBOL, side=Side.SELL,
                            type=OrderType.STOP_MARKET, status=SnapshotStatus.OPEN, conditional=True,
                            quantity=Decimal(0), filled=Decimal(0), avg_price=Decimal(0),
                            trigger_price=Decimal(570), price=None, reduce_only=False, close_position=True,
                            working_type=WorkingType.MARK_PRICE, update_time=0)

    class Twin:
        def __init__(self) -> None:
            self.placed, self.queried = 0, 0

        async def place(self, _: OrderIntent) -> OrderSnapshot:
            self.placed += 1
            if self.placed == 1:
                raise TransientExchangeError(-1007, "Timeout waiting for response from backend server.", 408)
            raise Rejected(-4130, "An open stop or take profit order with GTE and closePosition in the direction "
                                  "is existing.")

        async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
            self.queried += 1
            return None if self.queried == 1 else resting  # not visible yet at the first look

    async def no_sleep(_: float) -> None:
        return None

    twin = Twin()
    found = asyncio.run(place_once(twin, intent, RetryPolicy(in_flight_window=30.0), no_sleep))  # type: ignore[arg-type]
    assert found is resting and twin.placed == 2
