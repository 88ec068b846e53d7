"""The price a stop-loss met when it fired, journaled, so the audit can tell a gap from a failure.

A stop-market that fires fills at market: at the first price after its trigger, plus what the book
takes. When the market steps through the stop in one move (BNB from 658 to 640 through a stop at
645.28), that first price is the far side of the jump, the fill lands there, and the loss beyond
the plan is the gap's, not the stop's. The journal held the stop's trigger and its fill but no price
around the moment it fired (market data is not journaled), so the audit could never say which it was.

This component journals that price: the first time the exchange reports one of the bot's own
stop-loss orders triggered or filled, it publishes a protection action `stop_triggered` with a mark from
after the stop fired (the price a MARK_PRICE stop triggers on) as its `price`, the stop's client id and
trigger, and in its reason where the mark came from and, when the bot held it, how long after the stop.
The audit (trading/audit.py `gap_explains`) reads it back from the journal; the exit alert (notify/alerts.py)
hears it on the bus, often before the trade closes (on the REST path, or when the mark is still to come,
just after: the alert waits for it, see there), and judges the same.

Which mark, and when it is published. The witness is a bus handler, and the bus delivers depth-first: while a
handler awaits, every later event of the session waits (other positions' fills, the monitor's repairs, the
kill switch), so the witness never waits on the bus for a mark:
- a mark the adapter already holds and knows to be from after the stop fired (`mark_since`: the in-process
  simulator's mark now; over a URL, the market stream's latest mark, stamped after the stop's report) is
  published at once, inside the handler, with no request: in process that is always the case, so the event
  log stays the same for the same seed and inputs;
- otherwise the handler returns at once and a task publishes the witness later: with the next mark the market
  stream brings for the symbol (Binance pushes each symbol's mark every second; no request weight spent), or,
  where nothing streams marks or the stream brings none within `STREAM_WAIT_S`, the mark read over REST
  (`mark_prices`, given up after `READ_TIMEOUT_S`). A session's stop waits for such tasks (`finish`), so their
  witness is journaled before the journal closes; one cut short is logged, never lost silently.

How close the mark is to "the first price after the trigger" depends on the path: on a simulator
server stepped by hand (`POST /sim/v1/prices`) it is exactly the step's price; on Binance it is the
first streamed mark stamped after the stop's report (within about a second), or the mark a few hundred
milliseconds later read over REST; on the in-process simulator fed whole bars it is the bar's close, so
a gap at a bar's open that the bar then ran away from is not recognised. A mark stamped before (or at
the same time as) the stop's report is never taken: it could be the price before the jump. Each mistake
goes the safe way: a fill far from the mark is never called a gap. A stop that fired while the bot was
away has no such record and is never explained by a gap.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TypeVar

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.loggers import get_logger
from ..domain.enums import ExitReason
from ..domain.events import OrderChanged, OrderIntentRecorded, ProtectionAction
from ..domain.exchange_types import HeldMark, OrderSnapshot, SnapshotStatus
from ..domain.money import fmt
from ..exchange.port import ExchangeReader
from .trades import exit_reason_for

log = get_logger(__name__)
ACTION = "stop_triggered"
#: A REST read of the mark gives up after this long (wall seconds): the stop is then witnessed without a mark.
READ_TIMEOUT_S = 1.0
#: How long a fired stop waits for the market stream's next mark of its symbol (Binance pushes one every second)
#: before the mark is read over REST instead; and how often the stream's marks are looked at meanwhile.
STREAM_WAIT_S = 1.5
STREAM_LOOK_S = 0.05
#: Wall seconds a session's stop gives the witnesses still waiting (each is bounded by the waits above).
FINISH_S = STREAM_WAIT_S + READ_TIMEOUT_S + 0.5
#: Stops witnessed (their client ids) remembered against duplicates; old ones are forgotten first.
MEMORY = 10_000
V = TypeVar("V")


def fired(snap: OrderSnapshot) -> bool:
    """The bot's own stop-loss order has fired: triggered, or filled at least in part."""
    if not snap.client_id.startswith("qt-") or exit_reason_for(snap.client_id) is not ExitReason.STOP_LOSS:
        return False
    return snap.status in (SnapshotStatus.TRIGGERED, SnapshotStatus.FILLED) or snap.filled > 0


class StopWitness:
    """Journals a mark from just after each of the bot's stop-loss orders fired (see the module docstring)."""

    def __init__(self, bus: EventBus, clock: Clock, exchange: ExchangeReader) -> None:
        self.bus, self.clock, self.exchange = bus, clock, exchange
        self._trade_of: dict[str, str] = {}  # stop client id → trade id, from execution's intents
        self._seen: dict[str, None] = {}
        self._waiting: set[asyncio.Task[None]] = set()  # witnesses whose mark is still to come

    def attach(self) -> None:
        self.bus.subscribe(OrderIntentRecorded, self._on_intent)
        self.bus.subscribe(OrderChanged, self._on_order)

    def _on_intent(self, event: OrderIntentRecorded) -> None:
        if event.purpose == "sl":
            _remember(self._trade_of, event.intent.client_id, event.trade_id)

    async def _on_order(self, event: OrderChanged) -> None:
        """Witness at once with a mark already held, else from a task: never await a mark on the bus."""
        snap = event.snapshot
        if not fired(snap) or snap.client_id in self._seen:
            return
        _remember(self._seen, snap.client_id, None)
        since = snap.update_time or event.time_ms  # the exchange's stamp of the report; else when the bot heard it
        held = self.exchange.mark_since(snap.symbol, since)
        if held is not None:
            await self._publish(snap, held.price, _held_words(held, since))
            return
        task = asyncio.create_task(self._witness_later(snap, since), name=f"stop-witness:{snap.client_id}")
        self._waiting.add(task)
        task.add_done_callback(self._done)

    @property
    def waiting(self) -> int:
        """Witnesses whose mark is still to come."""
        return len(self._waiting)

    async def finish(self, timeout_s: float = FINISH_S) -> None:
        """A session's stop (after the exchange's events stopped, before the journal closes): the witnesses still
        waiting publish theirs (each is bounded: `STREAM_WAIT_S` + `READ_TIMEOUT_S`); any that `timeout_s` cuts
        short is cancelled, and logged as not witnessed."""
        if not self._waiting:
            return
        _, late = await asyncio.wait(set(self._waiting), timeout=timeout_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _witness_later(self, snap: OrderSnapshot, since: int) -> None:
        try:
            mark, words = await self._later_mark(snap.symbol, since)
        except asyncio.CancelledError:
            log.warning("stop witness: stopped before a mark came; the stop is not witnessed",
                        symbol=snap.symbol, client_id=snap.client_id)
            raise
        await self._publish(snap, mark, words)

    async def _later_mark(self, symbol: str, since: int) -> tuple[Decimal | None, str]:
        """The stream's next mark if it streams this symbol's marks at all, else (or if none comes) a REST read."""
        if self.exchange.mark_since(symbol, 0) is not None:
            deadline = time.monotonic() + STREAM_WAIT_S
            while time.monotonic() < deadline:
                await asyncio.sleep(STREAM_LOOK_S)
                held = self.exchange.mark_since(symbol, since)
                if held is not None:
                    return held.price, _held_words(held, since)
        mark = await self._read(symbol)
        return mark, "not read" if mark is None else "read over REST"

    async def _read(self, symbol: str) -> Decimal | None:
        """The symbol's mark now, or None: a failed read must not become an error of the session (readiness
        counts those against the monitor), it only leaves this stop without a witness price."""
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                return (await self.exchange.mark_prices([symbol])).get(symbol)
        except Exception as exc:  # any failure: no witness price, never a failed task
            log.warning("stop witness: mark not read", symbol=symbol, error=f"{type(exc).__name__}: {exc}")
            return None

    async def _publish(self, snap: OrderSnapshot, mark: Decimal | None, words: str) -> None:
        trigger = "unknown" if snap.trigger_price is None else fmt(snap.trigger_price)
        heard = "unknown" if mark is None else fmt(mark)
        await self.bus.publish(ProtectionAction(
            symbol=snap.symbol, action=ACTION, time_ms=self.clock.now_ms(), trade_id=self._trade_of.get(snap.client_id),
            client_id=snap.client_id, order_type=str(snap.type), price=mark,
            reason=f"stop-loss {snap.client_id} (trigger {trigger}) {snap.status.value.lower()}; mark after it "
                   f"fired: {heard} ({words})"))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._waiting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stop witness failed", task=task.get_name(), error=repr(task.exception()))


def _held_words(held: HeldMark, since: int) -> str:
    return f"held, {held.time_ms - since} ms after the stop's report"


def _remember(memory: dict[str, V], key: str, value: V) -> None:
    memory[key] = value
    if len(memory) > MEMORY:
        del memory[next(iter(memory))]
