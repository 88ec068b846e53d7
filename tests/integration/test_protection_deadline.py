"""A stop endpoint that does not answer at all: the position goes to the emergency exit by the stop-loss deadline.

`PROTECTION_ATTEMPTS` counts tries, not time: when Binance's Algo Order service (where STOP_MARKET goes) hangs
while the classic endpoint (where the reduce-only exit goes) works, each try waits out the HTTP timeout, so 15
tries would leave a position naked for minutes. `STOP_DEADLINE_S` bounds it on the event loop's clock: the send
still waiting is cancelled and the position closed. Here the stop reaches the exchange but its answer never
comes (the worst case: the order is there, unseen), on the rig of test_protection_outage.py (the real
`RetryingExchange` in front of the in-process simulator), with the deadline shortened to 0.4 s. On the old code
the repair waits forever (the guard below fails it at 5 s).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from test_income_resume import info_logs
from test_protection_outage import QTY, SYMBOL, Outage, Rig

from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.events import Direction
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.retry import RetryPolicy
from quantum_trader.trading.protection_outage import STOP_DEADLINE_S, give_up_after_s

DEADLINE_S = 0.4
GUARD_S = 5.0  # the old code never gives up: fail instead of hanging


class Unanswered(Outage):
    """Conditional placements reach the exchange, then their answer never comes (while `hang` is set)."""

    def __init__(self, inner: InProcessExchange) -> None:
        super().__init__(inner)
        self.hang = False
        self.hung = 0

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        if not (intent.type.is_conditional and self.hang):
            return await super().place(intent)
        await self.inner.place(intent)  # on the exchange...
        self.hung += 1
        await asyncio.sleep(3600)  # ...but no answer: cancelled by the deadline, or the guard
        raise AssertionError("unreachable")


def _rig() -> Rig:
    rig = Rig(Unanswered)
    rig.engine.execution.stop_deadline_s = DEADLINE_S
    return rig


def _unanswered(rig: Rig) -> Unanswered:
    assert isinstance(rig.outage, Unanswered)
    return rig.outage


def _run(rig: Rig, body: Any) -> tuple[list[dict[str, Any]], float]:
    """The body's logs and how long it took on the wall clock."""
    async def guarded() -> None:
        await asyncio.wait_for(body(), GUARD_S)

    with info_logs() as logs:
        started = time.monotonic()
        asyncio.run(guarded())
        return logs, time.monotonic() - started


def _lines(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in logs if line["event"] == event]


def _assert_exited_by_the_deadline(rig: Rig, logs: list[dict[str, Any]]) -> None:
    assert _unanswered(rig).hung == 1  # one send, never answered: the tries bound alone would wait on
    (failed,) = _lines(logs, "protective order not placed")
    assert failed["purpose"] == "stop-loss" and failed["next"] == "emergency exit now"
    assert failed["answer"].startswith(f"no answer within the stop-loss deadline ({DEADLINE_S:g} s since its first")
    (journaled,) = rig.actions("place_failed")
    assert "next: emergency exit now" in journaled.reason and "deadline" in journaled.reason
    (exit_action,) = rig.actions("emergency_exit")
    assert exit_action.reason and "the stop-loss could not be placed" in exit_action.reason
    assert rig.sim.position(SYMBOL).amount == 0  # the classic endpoint works: closed at market


def test_the_deadline_is_a_little_over_the_tries_bound() -> None:
    """The documented rule: 5xx answers are given up on by the tries (11.25 s), unchanged; the deadline only cuts
    short an exchange that does not answer."""
    assert give_up_after_s(RetryPolicy()) < STOP_DEADLINE_S == 15.0


def test_a_stop_repair_the_exchange_never_answers_ends_in_the_emergency_exit_by_the_deadline() -> None:
    rig = _rig()

    async def body() -> None:
        await rig.protected_long()
        _unanswered(rig).hang = True
        (stop,) = [a for a in rig.sim.open_algo_orders(SYMBOL) if a.order_type is OrderType.STOP_MARKET]
        rig.sim.cancel_algo_order(client_algo_id=stop.client_algo_id)
        await rig.pump()  # the CANCELED update starts the repair, which hangs until the deadline
        await rig.pump()  # the exit's fill; the monitor then cancels the stop that did land, now an orphan
        await rig.monitor.sweep(reading=True)

    logs, took = _run(rig, body)
    assert DEADLINE_S <= took < DEADLINE_S + 1.0
    _assert_exited_by_the_deadline(rig, logs)
    assert rig.sim.open_algo_orders(SYMBOL) == []  # no stop or take-profit left for the flat position


def test_a_stop_at_entry_the_exchange_never_answers_ends_in_the_emergency_exit_by_the_deadline() -> None:
    rig = _rig()

    async def body() -> None:
        _unanswered(rig).hang = True
        rig.sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": str(QTY)})
        protected = await rig.engine.execution.protect("t1", SYMBOL, Direction.LONG, Decimal("100000"))
        assert not protected
        await rig.pump()
        await rig.monitor.sweep(reading=True)

    logs, took = _run(rig, body)
    assert DEADLINE_S <= took < DEADLINE_S + 1.0
    _assert_exited_by_the_deadline(rig, logs)
    assert rig.sim.open_algo_orders(SYMBOL) == []
