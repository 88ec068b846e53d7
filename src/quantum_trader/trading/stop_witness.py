"""The price a stop-loss met when it fired, journaled, so the audit can tell a gap from a failure.

A stop-market that fires fills at market: at the first price after its trigger, plus what the book
takes. When the market steps through the stop in one move (BNB from 658 to 640 through a stop at
645.28), that first price is the far side of the jump, the fill lands there, and the loss beyond
the plan is the gap's, not the stop's. The journal held the stop's trigger and its fill but no price
around the moment it fired (market data is not journaled), so the audit could never say which it was.

This component journals that price: the first time the exchange reports one of the bot's own
stop-loss orders triggered or filled, it reads the symbol's mark (the price a MARK_PRICE stop
triggers on) and publishes a protection action `stop_triggered` with the mark as its `price`, the
stop's client id and trigger. The audit (trading/audit.py `gap_explains`) reads it back from the
journal; the exit alert (notify/alerts.py) hears it on the bus, usually before the trade closes (on the REST
path sometimes just after: the alert waits for it, see there), and judges the same.

How close the mark is to "the first price after the trigger" depends on the path: on a simulator
server stepped by hand (`POST /sim/v1/prices`) it is exactly the step's price; on Binance it is the
mark a few hundred milliseconds later; on the in-process simulator fed whole bars it is the bar's
close, so a gap at a bar's open that the bar then ran away from is not recognised. Each mistake goes
the safe way: a fill far from the mark read is never called a gap. A stop that fired while the bot
was away has no such record and is never explained by a gap.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TypeVar

import structlog

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.enums import ExitReason
from ..domain.events import OrderChanged, OrderIntentRecorded, ProtectionAction
from ..domain.exchange_types import OrderSnapshot, SnapshotStatus
from ..domain.money import fmt
from ..exchange.port import ExchangeReader
from .trades import exit_reason_for

log = structlog.get_logger(__name__)
ACTION = "stop_triggered"
#: The bus waits for the read (so a replay stays deterministic); a slow venue must not hold it longer.
READ_TIMEOUT_S = 1.0
#: Stops witnessed (their client ids) remembered against duplicates; old ones are forgotten first.
MEMORY = 10_000
V = TypeVar("V")


def fired(snap: OrderSnapshot) -> bool:
    """The bot's own stop-loss order has fired: triggered, or filled at least in part."""
    if not snap.client_id.startswith("qt-") or exit_reason_for(snap.client_id) is not ExitReason.STOP_LOSS:
        return False
    return snap.status in (SnapshotStatus.TRIGGERED, SnapshotStatus.FILLED) or snap.filled > 0


class StopWitness:
    """Journals the mark met by each of the bot's stop-loss orders when it fired (see the module docstring)."""

    def __init__(self, bus: EventBus, clock: Clock, exchange: ExchangeReader) -> None:
        self.bus, self.clock, self.exchange = bus, clock, exchange
        self._trade_of: dict[str, str] = {}  # stop client id → trade id, from execution's intents
        self._seen: dict[str, None] = {}

    def attach(self) -> None:
        self.bus.subscribe(OrderIntentRecorded, self._on_intent)
        self.bus.subscribe(OrderChanged, self._on_order)

    def _on_intent(self, event: OrderIntentRecorded) -> None:
        if event.purpose == "sl":
            _remember(self._trade_of, event.intent.client_id, event.trade_id)

    async def _on_order(self, event: OrderChanged) -> None:
        snap = event.snapshot
        if not fired(snap) or snap.client_id in self._seen:
            return
        _remember(self._seen, snap.client_id, None)
        mark = await self._mark(snap.symbol)
        trigger = "unknown" if snap.trigger_price is None else fmt(snap.trigger_price)
        heard = "unknown (not read)" if mark is None else fmt(mark)
        await self.bus.publish(ProtectionAction(
            symbol=snap.symbol, action=ACTION, time_ms=self.clock.now_ms(), trade_id=self._trade_of.get(snap.client_id),
            client_id=snap.client_id, order_type=str(snap.type), price=mark,
            reason=f"stop-loss {snap.client_id} (trigger {trigger}) {snap.status.value.lower()}; mark when the bot "
                   f"heard of it: {heard}"))

    async def _mark(self, symbol: str) -> Decimal | None:
        """The symbol's mark now, or None: a failed read must not become an error of the session (readiness
        counts those against the monitor), it only leaves this stop without a witness."""
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                return (await self.exchange.mark_prices([symbol])).get(symbol)
        except Exception as exc:  # any failure: no witness, never a failed handler
            log.warning("stop witness: mark not read", symbol=symbol, error=f"{type(exc).__name__}: {exc}")
            return None



def _remember(memory: dict[str, V], key: str, value: V) -> None:
    memory[key] = value
    if len(memory) > MEMORY:
        del memory[next(iter(memory))]
