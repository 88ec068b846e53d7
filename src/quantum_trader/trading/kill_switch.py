"""The kill switch: cancel every order (classic and algo), close every position at market, halt entries.

Risk halts on the same `KillSwitch` event (no new entries until a manual reset); this module does the
exchange side, through execution like every other order: it reads the account through the reader
and cancels and closes through `Execution`, so a staging session (whose gateway sends nothing)
reports what it *would* cancel and close and touches nothing. Positions are closed with reduceOnly
market orders whose client ids say `kill`, so the audit records `kill_switch` exits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.events import ErrorEvent, KillSwitch, ProtectionAction
from ..domain.exchange_types import OrderSnapshot
from ..exchange.budget import urgent
from ..exchange.port import ExchangeReader
from .execution import Execution
from .sending import SendResult
from .trades import TradeTracker


@dataclass
class KillSwitchResult:
    cancelled_orders: int = 0
    closed_positions: int = 0
    #: What a gateway that sends nothing (staging) declined: client ids and symbols.
    would_cancel: list[str] = field(default_factory=list)
    would_close: list[str] = field(default_factory=list)
    failed: int = 0

    def summary(self) -> str:
        done = f"cancelled {_count(self.cancelled_orders, 'order')}, closed {_count(self.closed_positions, 'position')}"
        if self.would_cancel or self.would_close:
            done = (f"sent nothing (dry run): would cancel {_count(len(self.would_cancel), 'order')} "
                    f"({', '.join(self.would_cancel)}) and close {_count(len(self.would_close), 'position')} "
                    f"({', '.join(self.would_close)})")
        return done + (f"; {self.failed} refused" if self.failed else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class KillSwitchHandler:
    def __init__(self, bus: EventBus, clock: Clock, reader: ExchangeReader, execution: Execution, *,
                 trades: TradeTracker | None = None, new_trade_id: Callable[[str], str] | None = None) -> None:
        """`trades`: a position the bot knows is closed under its own trade id (its exit is then that
        trade's); `new_trade_id(symbol)` names the close of a position it knows no trade for."""
        self.bus, self.clock, self.reader, self.execution = bus, clock, reader, execution
        self.trades, self._new_trade_id = trades, new_trade_id
        self.last = KillSwitchResult()

    def attach(self) -> None:
        self.bus.subscribe(KillSwitch, self.on_kill)

    async def on_kill(self, event: KillSwitch) -> None:
        result = KillSwitchResult()
        with urgent():  # a request budget must not hold these reads back (exchange/budget.py)
            orders = await self.reader.open_orders()
        for order in orders:
            sent = await self.execution.cancel(order.symbol, order.client_id, None, f"kill switch: {event.reason}")
            await self._tally_cancel(result, order, sent)
        with urgent():
            positions = await self.reader.positions()
        for position in positions:
            trade_id = self._trade_id_for(position.symbol, event.time_ms)
            closed = await self.execution.emergency_exit(trade_id, position.symbol,
                                                         f"kill switch: {event.reason}", purpose="kill")
            if closed is not None and closed.not_sent:
                result.would_close.append(f"{position.symbol} {position.amount}")
            elif closed is not None and closed.accepted:
                result.closed_positions += 1
            elif closed is not None:
                result.failed += 1
        await self.bus.publish(ProtectionAction(symbol="*", action="kill_switch",
                                                reason=f"{event.reason}: {result.summary()}",
                                                time_ms=self.clock.now_ms()))
        self.last = result

    def _trade_id_for(self, symbol: str, time_ms: int) -> str:
        known = self.trades.open.get(symbol) if self.trades is not None else None
        if known is not None:
            return known.opened.trade_id
        if self._new_trade_id is not None:
            return self._new_trade_id(symbol)
        return f"{symbol}_k{time_ms // 1000}"  # a bare handler (tests): readable, unique per second

    async def _tally_cancel(self, result: KillSwitchResult, order: OrderSnapshot, sent: SendResult) -> None:
        if sent.accepted:
            result.cancelled_orders += 1
        elif sent.not_sent:
            result.would_cancel.append(order.client_id)
        else:
            result.failed += 1
            await self.bus.publish(ErrorEvent(component="kill_switch",
                                              message=f"cancel {order.client_id}: {sent.code} {sent.message}",
                                              time_ms=self.clock.now_ms()))
