"""The bus side of alerts: which events become which messages. Handlers only format and enqueue.

Why these handlers subscribe before anything else on the bus (runtime/wiring.py `wire_engine`'s
`observers`): the bus delivers depth-first, so a handler subscribed last sees an event only after
everything its delivery published in turn (a stop placed for a new trade would be seen before the
trade). Subscribed first, the alerts see events in the order they were published. They never
publish and never await, so the event log and the engine's timing stay exactly as without them.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from ..core.bus import EventBus
from ..domain.events import ErrorEvent, HaltEntries, KillSwitch, ProtectionAction, TradeClosed, TradeOpened
from .messages import (
    Judge,
    Message,
    emergency_message,
    entry_message,
    exit_message,
    halt_message,
    is_repair,
    kill_done_message,
    kill_message,
    repaired_message,
    task_died_message,
)

log = structlog.get_logger(__name__)
#: The supervisor names its failure reports `task:NAME` (core/supervisor.py `bus_reporter`).
TASK_COMPONENT_PREFIX = "task:"
#: The kill switch's emergency exits carry this reason (trading/kill_switch.py); they are not news of their own.
KILL_REASON_PREFIX = "kill switch:"


class Alerts:
    """Turns the engine's events into messages for `submit` (the notifier's queue)."""

    def __init__(self, submit: Callable[[Message], None], *, judge: Judge, daily_loss_prefix: str) -> None:
        """`judge`: the stop audit of one closed trade (trading/audit.py `audit_row`); `daily_loss_prefix`:
        how a daily-loss kill switch's reason starts (risk/daily_loss.py `REASON_PREFIX`). Both are handed
        in by the runtime, since notify may not import trading or risk (same layer)."""
        self._submit, self._judge, self._daily = submit, judge, daily_loss_prefix

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(TradeOpened, self.on_opened)
        bus.subscribe(TradeClosed, self.on_closed)
        bus.subscribe(KillSwitch, self.on_kill)
        bus.subscribe(HaltEntries, self.on_halt)
        bus.subscribe(ProtectionAction, self.on_protection)
        bus.subscribe(ErrorEvent, self.on_error)

    def on_opened(self, event: TradeOpened) -> None:
        self._send(lambda: entry_message(event))

    def on_closed(self, event: TradeClosed) -> None:
        self._send(lambda: exit_message(event, self._judge(event)))

    def on_kill(self, event: KillSwitch) -> None:
        self._send(lambda: kill_message(event, daily_loss_prefix=self._daily))

    def on_halt(self, event: HaltEntries) -> None:
        self._send(lambda: halt_message(event))

    def on_protection(self, event: ProtectionAction) -> None:
        if is_repair(event):
            self._send(lambda: repaired_message(event))
        elif event.action == "emergency_exit" and not event.reason.startswith(KILL_REASON_PREFIX):
            self._send(lambda: emergency_message(event))  # the kill switch's own exits: its messages say so
        elif event.action == "kill_switch":
            self._send(lambda: kill_done_message(event))

    def on_error(self, event: ErrorEvent) -> None:
        if event.component.startswith(TASK_COMPONENT_PREFIX):
            self._send(lambda: task_died_message(event))

    def _send(self, build: Callable[[], Message]) -> None:
        """Build and enqueue; a formatting bug is logged here, never raised into the bus (where it would
        become an ErrorEvent, journaled because of an alert)."""
        try:
            self._submit(build())
        except Exception:
            log.exception("alert not built")
