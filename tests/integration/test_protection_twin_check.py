"""A stop-loss refused with -4130 (a closePosition stop of that side is already there) is checked by reading the
position and the open orders: those reads are bound by the stop-loss's deadline and may fail like any other.

Left alone (4f1338a's note), a read that never answered held the placement past the 15 s deadline, and a read
that failed (a 503 after the adapter's retries) escaped the placement altogether: no further try and no
emergency exit from it, the position left to the monitor's next sweep. On the rig of test_protection_outage.py
(the real `RetryingExchange` in front of the in-process simulator), with a stop-loss placed by hand first so the
simulator itself answers -4130, and the deadline shortened to 0.4 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal

from test_income_resume import info_logs
from test_protection_outage import QTY, SYMBOL, Outage, Rig

from quantum_trader.chaos.faults import server_error
from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.events import Direction
from quantum_trader.domain.exchange_types import OrderSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.retry import CLOSE_POSITION_EXISTS

DEADLINE_S = 0.4
GUARD_S = 5.0  # the old code waits on the read for ever: fail instead of hanging


class OrdersUnread(Outage):
    """The next open-order read never answers (`hang`: later ones do, as the emergency exit's and the monitor's),
    or every one fails with 503 (`fail`)."""

    def __init__(self, inner: InProcessExchange) -> None:
        super().__init__(inner)
        self.hang = self.fail = False
        self.reads = 0

    async def open_orders(self, symbol: str | None = None) -> Sequence[OrderSnapshot]:
        if self.hang or self.fail:
            self.reads += 1
            if self.fail:
                raise server_error()
            self.hang = False
            await asyncio.sleep(3600)
        return await self.inner.open_orders(symbol)


def _rig() -> tuple[Rig, OrdersUnread]:
    rig = Rig(OrdersUnread)
    rig.engine.execution.stop_deadline_s = DEADLINE_S
    assert isinstance(rig.outage, OrdersUnread)
    rig.sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": str(QTY)})
    rig.sim.new_algo_order({"symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET", "algoType": "CONDITIONAL",
                            "triggerPrice": "97000", "closePosition": "true", "clientAlgoId": "by-hand"})
    return rig, rig.outage


def _protect(rig: Rig) -> tuple[bool, float]:
    """execution.protect of the long (its stop-loss meets -4130), then the exchange's events; (protected, seconds)."""
    async def body() -> bool:
        protected = await rig.engine.execution.protect("t1", SYMBOL, Direction.LONG, Decimal("100000"))
        await rig.pump()
        return protected

    started = time.monotonic()
    protected = asyncio.run(asyncio.wait_for(body(), GUARD_S))
    return protected, time.monotonic() - started


def test_a_twin_check_whose_read_never_answers_ends_in_the_emergency_exit_by_the_deadline() -> None:
    rig, adapter = _rig()
    adapter.hang = True
    with info_logs() as logs:
        protected, took = _protect(rig)
    assert not protected and DEADLINE_S <= took < DEADLINE_S + 1.0
    assert adapter.reads == 1
    (failed,) = [line for line in logs if line["event"] == "protective order not placed"]
    assert failed["purpose"] == "stop-loss" and failed["next"] == "emergency exit now"
    assert str(CLOSE_POSITION_EXISTS) in failed["answer"]
    (unchecked,) = [line for line in logs if line["event"] == "closePosition twin not checked"]
    assert "deadline" in unchecked["error"]
    (exit_action,) = rig.actions("emergency_exit")
    assert exit_action.reason and "the stop-loss could not be placed" in exit_action.reason
    assert rig.sim.position(SYMBOL).amount == 0


def test_a_twin_check_whose_read_fails_goes_on_trying_then_exits() -> None:
    rig, adapter = _rig()
    adapter.fail = True
    with info_logs() as logs:
        protected, _ = _protect(rig)  # on the old code the 503 escaped protect() here
    assert not protected and adapter.reads >= 1
    assert [line for line in logs if line["event"] == "closePosition twin not checked"]
    assert rig.actions("emergency_exit") and rig.sim.position(SYMBOL).amount == 0


def test_a_twin_read_back_in_time_still_counts_as_protection() -> None:
    rig, _ = _rig()
    protected, _ = _protect(rig)
    assert protected and not rig.actions("emergency_exit")
    assert rig.sim.position(SYMBOL).amount == QTY
    (verified,) = [a for a in rig.actions("verified") if a.reason and "-4130" in a.reason]
    assert verified.client_id == "by-hand"
    assert {a.order_type for a in rig.sim.open_algo_orders(SYMBOL)} >= {OrderType.STOP_MARKET}
