"""A protection outage is loud (user trial 2026-12-06, items 2 and 3): the exchange answers 503 to every
stop and take-profit placement for a while, and a position has no stop meanwhile.

The real in-process simulator behind the adapter's own retries (`RetryingExchange`, the default policy), whose
waits advance the session's simulated clock, so the seconds below are the policy's, exactly. On the old code
nothing was logged or journaled until the stop was placed (or the position closed at market): the trial read
`/metrics` to learn that a stop had been missing for 4.5 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from test_income_resume import info_logs

from quantum_trader.chaos.faults import server_error
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.events import ProtectionAction
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.retry import RetryingExchange, RetryPolicy
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.execution import PROTECTION_ATTEMPTS, give_up_after_s
from quantum_trader.trading.monitor import MonitorConfig, PositionMonitor

SYMBOL = "BTCUSDT"
QTY = Decimal("0.010")


class Outage:
    """The in-process adapter, whose conditional placements fail with 503 while `failures` lasts."""

    def __init__(self, inner: InProcessExchange) -> None:
        self.inner = inner
        self.failures = 0
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        if intent.type.is_conditional and self.failures > 0:
            self.failures -= 1
            self.refused += 1
            raise server_error()
        return await self.inner.place(intent)


class Rig:
    def __init__(self, adapter: Callable[[InProcessExchange], Outage] = Outage) -> None:
        """`adapter`: what stands between the retries and the simulator (by default the 503 outage)."""
        universe = load_universe()
        self.sim = ExchangeSimulator({SYMBOL: universe.instrument(SYMBOL)}, SimConfig())
        self.sim.set_prices({SYMBOL: "100000"})
        self.sim.set_leverage(SYMBOL, 5)
        self.inner = InProcessExchange(self.sim)
        self.inner.drain()
        self.outage = adapter(self.inner)
        self.clock = SimulatedClock(1_800_000_000_000)

        async def sleep(seconds: float) -> None:  # the backoff, on the session's clock
            self.clock.advance(seconds)

        exchange = RetryingExchange(self.outage, RetryPolicy(), sleep=sleep)
        self.engine = wire_engine(self.clock, exchange, dict(self.sim.state.instruments), TradingRules())
        self.monitor = PositionMonitor(self.engine.bus, self.clock, exchange, Metrics(), self.engine.execution,
                                       MonitorConfig(interval_s=1.0))
        self.monitor.attach()
        self.events: list[object] = []
        self.engine.bus.subscribe(object, self.events.append)

    async def pump(self) -> None:
        await publish_all(self.engine.bus, self.clock, self.inner.drain())

    async def protected_long(self) -> None:
        """A position opened by hand, protected by the monitor."""
        self.sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": str(QTY)})
        await self.pump()
        assert {a.order_type for a in self.sim.open_algo_orders(SYMBOL)} == {OrderType.STOP_MARKET,
                                                                            OrderType.TAKE_PROFIT_MARKET}

    async def cancel_stop_by_hand(self, failures: int) -> int:
        """The trial's steps: the stop endpoint starts failing, then the stop is cancelled by hand. The clock then."""
        self.outage.failures = failures
        (stop,) = [a for a in self.sim.open_algo_orders(SYMBOL) if a.order_type is OrderType.STOP_MARKET]
        self.sim.cancel_algo_order(client_algo_id=stop.client_algo_id)
        cancelled_ms = self.clock.now_ms()
        await self.pump()  # the CANCELED update starts the repair at once
        return cancelled_ms

    def actions(self, action: str) -> list[ProtectionAction]:
        return [e for e in self.events if isinstance(e, ProtectionAction) and e.action == action]


def _outage(failures: int) -> tuple[Rig, list[dict[str, Any]], int]:
    rig = Rig()

    async def body() -> int:
        await rig.protected_long()
        return await rig.cancel_stop_by_hand(failures)

    with info_logs() as logs:  # at INFO whatever an earlier test configured
        cancelled_ms = asyncio.run(body())
    return rig, logs, cancelled_ms


def _lines(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in logs if line["event"] == event]


def test_each_failed_try_is_said_rate_limited_and_the_end_of_the_outage_too() -> None:
    """Nine 503s (the trial's 6 s outage): the first failure at once, one line per doubling of the outage's age,
    then the placement says after how many failures and how long, and the stop's absence is measured."""
    rig, logs, cancelled_ms = _outage(9)
    assert rig.outage.refused == 9
    failed = _lines(logs, "protective order not placed")
    assert failed and all(line["log_level"] == "warning" for line in failed)
    first = failed[0]
    assert (first["symbol"], first["purpose"], first["type"]) == (SYMBOL, "stop-loss", "STOP_MARKET")
    assert first["trade_id"].startswith(f"ext_{SYMBOL}_")
    assert first["answer"].startswith("HTTP 503 code -1001: Internal error")
    assert first["next"] == ("retry in 0.25 s (try 2 of 5, send 1 of 3); emergency exit if still not placed in "
                             "~11.2 s")
    assert len(failed) < 9  # rate-limited: 1st at 0 s, then at 3.75 s (the first send given up on)
    assert [line["failed_tries"] for line in failed] == [1, 5]
    assert failed[1]["next"] == "send again now (send 2 of 3); emergency exit if still not placed in ~7.5 s"
    # The journal holds the same lines (protection actions, which readiness does not count as errors).
    journaled = rig.actions("place_failed")
    assert len(journaled) == len(failed)
    assert journaled[0].reason.startswith("stop-loss not placed (HTTP 503 code -1001: ")
    assert journaled[0].trade_id == first["trade_id"] and journaled[0].order_type == "STOP_MARKET"
    # The end: placed, with the outage's length; and how long the position had no stop.
    placed = [line for line in _lines(logs, "protection placed") if line.get("failed_tries_before")]
    assert [(p["purpose"], p["failed_tries_before"]) for p in placed] == [("sl", 9)]
    assert rig.actions("placed")[-1].reason == "stop-loss missing (after 9 failed tries over 7.5 s)"
    (back,) = _lines(logs, "position protected again")
    assert back["symbol"] == SYMBOL and back["without_stop_s"] == (rig.clock.now_ms() - cancelled_ms) / 1000 == 7.5
    assert rig.sim.position(SYMBOL).amount == QTY  # ridden out: no emergency exit
    assert rig.actions("emergency_exit") == []


def test_a_stop_that_keeps_failing_is_given_up_on_after_the_documented_time_then_the_position_is_closed() -> None:
    """Item 3: the rule is `PROTECTION_ATTEMPTS` sends of the adapter's whole retrying call: 3 x 5 tries over
    3 x 3.75 s of backoff (README, Protection). The give-up is said before the exit, always."""
    assert PROTECTION_ATTEMPTS == 3 and give_up_after_s(RetryPolicy()) == 11.25
    rig, logs, cancelled_ms = _outage(1_000)
    assert rig.outage.refused == PROTECTION_ATTEMPTS * RetryPolicy().attempts == 15
    failed = _lines(logs, "protective order not placed")
    assert failed[-1]["next"] == "emergency exit now" and failed[-1]["failed_tries"] == 15
    assert len(failed) <= 5
    (exit_action,) = rig.actions("emergency_exit")
    assert (exit_action.time_ms - cancelled_ms) / 1000 == give_up_after_s(RetryPolicy())
    assert rig.actions("place_failed")[-1].reason.startswith("stop-loss not placed (HTTP 503")
    assert rig.sim.position(SYMBOL).amount == 0
    (closed,) = _lines(logs, "position without a working stop is closed")
    assert closed["without_stop_s"] == 11.25


def test_a_take_profit_outage_says_the_stop_still_protects() -> None:
    rig = Rig()

    async def body() -> None:
        await rig.protected_long()
        rig.outage.failures = 1_000
        (take,) = [a for a in rig.sim.open_algo_orders(SYMBOL) if a.order_type is OrderType.TAKE_PROFIT_MARKET]
        rig.sim.cancel_algo_order(client_algo_id=take.client_algo_id)
        await rig.pump()

    with info_logs() as logs:  # at INFO whatever an earlier test configured
        asyncio.run(body())
    failed = _lines(logs, "protective order not placed")
    assert failed[0]["purpose"] == "take-profit"
    assert failed[0]["next"].endswith("if still not placed in ~11.2 s: the monitor tries again at its next sweep; "
                                      "the stop-loss still protects the position")
    assert rig.sim.position(SYMBOL).amount == QTY and rig.actions("emergency_exit") == []


def test_no_failure_no_line() -> None:
    rig, logs, _ = _outage(0)
    assert _lines(logs, "protective order not placed") == [] and rig.actions("place_failed") == []
    assert rig.actions("placed")[-1].reason == "stop-loss missing"
    assert _lines(logs, "position protected again") == []  # replaced at once: nothing worth a line


