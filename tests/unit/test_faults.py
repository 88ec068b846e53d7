"""FaultyExchange: each fault at its configured rate, seeded, and each with its real consequence on the venue.

The inner exchange is the real in-process simulator, so "the timeout came after acceptance" is checked
by reading the order back from the simulator, not by trusting the wrapper.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from quantum_trader.chaos.faults import BotKilled, FaultRates, FaultyExchange
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.errors import OrderRejected, RetryableExchangeError
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.retry import RetryingExchange, RetryPolicy
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

T = TypeVar("T")
SYM = "BTCUSDT"
CALLS = 4000


def run(coro: Awaitable[T]) -> T:
    async def wrap() -> T:
        return await coro
    return asyncio.run(wrap())


def simulator() -> ExchangeSimulator:
    sim = ExchangeSimulator({SYM: load_universe().instrument(SYM)}, SimConfig(balance=Decimal(10_000_000)))
    sim.set_prices({SYM: "50000"})
    return sim


def faulty(rates: FaultRates, seed: int = 3) -> tuple[ExchangeSimulator, InProcessExchange, FaultyExchange]:
    sim = simulator()
    inner = InProcessExchange(sim)
    return sim, inner, FaultyExchange(inner, random.Random(seed), rates)


def buy(n: int = 0) -> OrderIntent:
    return OrderIntent(client_id=f"qt-T{n}-entry-0", symbol=SYM, side=Side.BUY, type=OrderType.MARKET,
                       quantity=Decimal("0.003"))


async def _no_sleep(_: float) -> None:
    return None


def within(count: int, rate: float, n: int) -> bool:
    """Binomial count within 5 standard deviations of n * rate (a seeded draw: stable, not flaky)."""
    sd: float = (n * rate * (1 - rate)) ** 0.5
    return abs(count - n * rate) <= 5 * sd


def only(fault: str, rate: float) -> FaultRates:
    """Rates with one fault switched on."""
    build: Any = FaultRates
    rates: FaultRates = build(**{fault: rate})
    return rates


@pytest.mark.parametrize("fault", ["server_error", "rate_limit", "timeout_after"])
def test_read_faults_happen_at_their_rate(fault: str) -> None:
    _, _, exchange = faulty(only(fault, 0.1))

    async def calls() -> int:
        failed = 0
        for _ in range(CALLS):
            try:
                await exchange.positions()
            except RetryableExchangeError:
                failed += 1
        return failed

    failed = run(calls())
    assert failed == exchange.injected[fault]
    assert within(failed, 0.1, CALLS), failed
    assert set(exchange.injected) == {fault}


def test_rejects_are_for_placements_only_and_happen_before_sending() -> None:
    sim, inner, exchange = faulty(FaultRates(reject=0.2))

    async def calls() -> tuple[int, int]:
        rejected = 0
        for n in range(CALLS // 4):
            await exchange.account()  # never rejected: a read is not a business decision
            try:
                await exchange.place(buy(n))
            except OrderRejected as exc:
                codes.add(exc.code)
                missing.append(await inner.query(SYM, buy(n).client_id) is None)  # nothing reached the venue
                rejected += 1
        return rejected, len(sim.all_orders())

    codes: set[int] = set()
    missing: list[bool] = []
    rejected, placed = run(calls())
    assert within(rejected, 0.2, CALLS // 4), rejected
    assert rejected > 0 and rejected == exchange.injected["reject"]
    assert codes == {-4131} and all(missing)
    assert placed == CALLS // 4 - rejected


@pytest.mark.parametrize("fault", ["server_error", "rate_limit"])
def test_5xx_and_429_come_before_the_call(fault: str) -> None:
    sim, _, exchange = faulty(only(fault, 1.0))
    with pytest.raises(RetryableExchangeError) as caught:
        run(exchange.place(buy()))
    assert caught.value.code == (-1001 if fault == "server_error" else -1003)
    assert sim.all_orders() == []


def test_timeout_after_acceptance_really_placed_the_order() -> None:
    sim, _, exchange = faulty(FaultRates(timeout_after=1.0))
    with pytest.raises(RetryableExchangeError) as caught:
        run(exchange.place(buy()))
    assert caught.value.code == -1007
    placed = sim.query_order(SYM, client_order_id=buy().client_id)
    assert placed.executed_qty == Decimal("0.003")


def test_retrying_over_timeouts_never_duplicates_an_order() -> None:
    sim, _, exchange = faulty(FaultRates(timeout_after=0.3, server_error=0.1))
    retrying = RetryingExchange(exchange, RetryPolicy(attempts=8), sleep=_no_sleep)

    async def place_all() -> None:
        for n in range(200):
            snapshot = await retrying.place(buy(n))
            assert snapshot.client_id == buy(n).client_id

    run(place_all())
    assert exchange.injected["timeout_after"] > 20
    client_ids = [o.client_order_id for o in sim.all_orders()]
    assert len(client_ids) == len(set(client_ids)) == 200


@pytest.mark.parametrize(("fault", "placed"), [("crash_before", 0), ("crash_after", 1)])
def test_a_crash_kills_the_bot_for_every_later_call(fault: str, placed: int) -> None:
    sim, _, exchange = faulty(only(fault, 1.0))
    assert run(exchange.account()) is not None  # reads never crash: only a mutating call is a crash point
    with pytest.raises(BotKilled):
        run(exchange.place(buy()))
    assert exchange.dead
    assert len(sim.all_orders()) == placed
    with pytest.raises(BotKilled):
        run(exchange.account())


def test_a_dropped_stream_loses_events_for_its_window() -> None:
    _, inner, exchange = faulty(FaultRates(drop_events=1.0, drop_window=2))
    inner.drain()
    run(inner.place(buy(1)))
    assert exchange.drain() == []
    assert exchange.dropped_events > 0
    run(inner.place(buy(2)))
    assert exchange.drain() == []
    assert exchange.injected["drop_events"] == 1  # one outage, two drains long
    quiet = FaultyExchange(inner, random.Random(1), FaultRates())
    run(inner.place(buy(3)))
    assert quiet.drain() != []


def test_same_seed_same_faults() -> None:
    def sequence(seed: int) -> list[str]:
        _, _, exchange = faulty(FaultRates(server_error=0.2, timeout_after=0.2), seed)
        out = []
        for _ in range(300):
            try:
                run(exchange.positions())
                out.append("ok")
            except RetryableExchangeError as exc:
                out.append(str(exc.code))
        return out

    assert sequence(5) == sequence(5)
    assert sequence(5) != sequence(6)


@pytest.mark.parametrize("rates", [{"reject": 1.5}, {"server_error": -0.1}, {"reject": 0.6, "timeout_after": 0.6}])
def test_impossible_rates_are_refused(rates: dict[str, float]) -> None:
    build: Any = FaultRates
    with pytest.raises(ValueError, match="FaultRates"):
        build(**rates)
