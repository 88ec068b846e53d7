"""The words of a protection outage's lines (trading/protection_outage.py): what comes next, and the answer.

A stop-loss has two bounds on its way to the emergency exit: its tries (for an exchange that answers with errors)
and its wall-clock deadline (for one that stops answering). A line that counted the tries alone promised the exit
"in ~11.2 s" with a second of the deadline left.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.errors import RetryableExchangeError
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.retry import PlaceRetry, RetryPolicy
from quantum_trader.trading import protection_outage
from quantum_trader.trading.protection_outage import Fallback, Plan, ProtectionOutage, StopDeadline

STOP = OrderIntent(client_id="qt-BNBUSDT_1_1-sl-0", symbol="BNBUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
                   trigger_price=Decimal("590"), close_position=True, working_type=WorkingType.MARK_PRICE,
                   price_protect=True)


class _Log:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})


def _first_line(monkeypatch: pytest.MonkeyPatch, deadline_s: float | None, error: RetryableExchangeError) -> str:
    recorded = _Log()
    monkeypatch.setattr(protection_outage, "log", recorded)

    async def fail_once() -> None:
        outage = ProtectionOutage(EventBus(), SimulatedClock(1_000))
        policy = outage.policy = RetryPolicy()
        deadline = None if deadline_s is None else StopDeadline.start(deadline_s)
        outage.sending(STOP, Plan("BNBUSDT_1_1", "sl", 0, 3, Fallback.EXIT, deadline))
        await outage.retrying(PlaceRetry(STOP, error, 0, policy.attempts, policy.backoff(0), policy.waits_s(1)))

    asyncio.run(fail_once())
    (line,) = recorded.lines
    return f"{line['answer']} | {line['next']}"


def test_the_exit_is_promised_by_the_tries_or_the_deadline_whichever_comes_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    error = RetryableExchangeError(-1001, "Internal error", 503)
    by_tries = _first_line(monkeypatch, None, error)
    assert by_tries.endswith("; emergency exit if still not placed in ~11.2 s")
    assert _first_line(monkeypatch, 60.0, error) == by_tries  # a far deadline changes nothing
    near = _first_line(monkeypatch, 1.0, error)
    assert near.endswith("; emergency exit if still not placed in ~1.0 s"), near

