"""The kill switch: cancel every order (classic and algo), close every position at market, halt entries.

Risk halts on the same `KillSwitch` event (no new entries until a manual reset); this module does the
exchange side. Protection orders are cancelled only here, after which positions are closed with
reduceOnly market orders whose client ids say `kill`, so the audit records `kill_switch` exits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.errors import ExchangeError
from ..domain.events import ErrorEvent, KillSwitch, ProtectionAction
from ..exchange.port import Exchange
from .execution import Execution


@dataclass
class KillSwitchResult:
    cancelled_orders: int = 0
    closed_positions: int = 0


class KillSwitchHandler:
    def __init__(self, bus: EventBus, clock: Clock, exchange: Exchange, execution: Execution) -> None:
        self.bus, self.clock, self.exchange, self.execution = bus, clock, exchange, execution
        self.last = KillSwitchResult()

    def attach(self) -> None:
        self.bus.subscribe(KillSwitch, self.on_kill)

    async def on_kill(self, event: KillSwitch) -> None:
        result = KillSwitchResult()
        for order in await self.exchange.open_orders():
            try:
                await self.exchange.cancel(order.symbol, order.client_id)
                result.cancelled_orders += 1
            except ExchangeError as exc:
                await self.bus.publish(ErrorEvent(component="kill_switch", message=f"cancel {order.client_id}: {exc}",
                                                  time_ms=self.clock.now_ms()))
        for position in await self.exchange.positions():
            trade_id = f"{position.symbol}_k{event.time_ms // 1000}"
            await self.execution.emergency_exit(trade_id, position.symbol, f"kill switch: {event.reason}",
                                                purpose="kill")
            result.closed_positions += 1
        await self.bus.publish(ProtectionAction(symbol="*", action="kill_switch", reason=event.reason,
                                                time_ms=self.clock.now_ms()))
        self.last = result
