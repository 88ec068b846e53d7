"""Entries in flight, and the fills the user stream reports for them before their REST answer.

Binance fills a MARKET entry at once and says so on the user-data stream within milliseconds, but the
REST answer to the POST can be seconds late (a slow gateway, a timeout followed by a lookup). Waiting
for the answer before placing the stop leaves a real position naked for that whole time. So execution
registers each entry's client id here before sending it; the first *final* report of the order that
shows a fill (FILLED, or EXPIRED/CANCELED after a partial fill) and arrives while the answer is still
awaited starts the protection at once, in its own task, from the stream's average price.

Why only final reports: a MARKET order's partial fills and its final status come out of one matching
pass, milliseconds apart, and the final report carries the final quantity and average price, which
the trade is opened with; a stop with closePosition covers any size, so nothing is gained by acting
on the first partial fill and the trade would otherwise need a second, corrected quantity.

Why a task and not an `asyncio.Event` the entry awaits: stream events reach the bus from the pump's
task, and `bus.publish` awaits its handlers one after another; protecting inside the handler would
hold every later stream event (including the stop's own echo) until both orders are read back, and an
entry awaiting an event only the same task can publish would wait forever. The handler only starts the
task; the entry awaits it when its answer (or failure) comes.

When the answer comes first (the normal case, and always in process, where placing never yields),
`answered` closes the watch before anything else runs: reports after that are ignored, nothing is
spawned, and the event log is exactly what it was without this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ..core.loggers import get_logger
from ..domain.events import OrderChanged
from ..domain.exchange_types import OrderSnapshot, SnapshotStatus

log = get_logger(__name__)
#: Final statuses a MARKET entry can end in with something filled.
FINAL_WITH_FILL = frozenset({SnapshotStatus.FILLED, SnapshotStatus.EXPIRED, SnapshotStatus.CANCELED})
OnFill = Callable[[OrderSnapshot], Coroutine[Any, Any, bool]]


@dataclass
class EarlyFill:
    """What the stream reported before the REST answer, and the protection it started."""

    snapshot: OrderSnapshot
    #: When the fill was heard (the bus event's clock time): the trade's time, from which readiness
    #: measures protection.
    time_ms: int
    protection: asyncio.Task[bool]


@dataclass
class _Watch:
    on_fill: OnFill
    answered: bool = False
    early: EarlyFill | None = None


class EntryFills:
    """One watch per entry client id in flight; subscribe `on_order` to `OrderChanged`."""

    def __init__(self) -> None:
        self._watches: dict[str, _Watch] = {}
        self._running: set[asyncio.Task[bool]] = set()  # strong references until done

    def expect(self, client_id: str, on_fill: OnFill) -> None:
        """Before sending the entry: `on_fill(snapshot)` protects it if the stream reports it filled first."""
        self._watches[client_id] = _Watch(on_fill)

    def on_order(self, event: OrderChanged) -> None:
        watch = self._watches.get(event.snapshot.client_id)
        snap = event.snapshot
        if watch is None or watch.answered or watch.early is not None:
            return
        if snap.status not in FINAL_WITH_FILL or snap.filled <= 0:
            return
        log.info("entry fill heard on the stream before its answer; protecting now", symbol=snap.symbol,
                 client_id=snap.client_id, filled=str(snap.filled), avg_price=str(snap.avg_price))
        task = asyncio.get_running_loop().create_task(watch.on_fill(snap), name=f"protect {snap.client_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        watch.early = EarlyFill(snapshot=snap, time_ms=event.time_ms, protection=task)

    def answered(self, client_id: str) -> EarlyFill | None:
        """The REST answer (or its failure) is in: no report starts protection from now on. Returns the
        early fill if one did."""
        watch = self._watches.get(client_id)
        if watch is None:
            return None
        watch.answered = True
        return watch.early

    def release(self, client_id: str) -> EarlyFill | None:
        """The entry is done with: forget its watch; returns the early fill, if any."""
        watch = self._watches.pop(client_id, None)
        return None if watch is None else watch.early
