"""The bus side of alerts: which events become which messages. Handlers only format and enqueue.

Why these handlers subscribe before anything else on the bus (runtime/wiring.py `wire_engine`'s
`observers`): the bus delivers depth-first, so a handler subscribed last sees an event only after
everything its delivery published in turn (a stop placed for a new trade would be seen before the
trade). Subscribed first, the alerts see events in the order they were published. They never
publish and never await, so the event log and the engine's timing stay exactly as without them.

An exit is judged on the evidence the audit reads back from the journal (readmodels/journal.py
`stop_evidence`): the mark the stop witness read when the trade's stop-loss fired (its `stop_triggered`
action, published before the trade closes) and that stop's trigger. Judged without it, a stop the market
jumped through was announced as a plain BREACH while `quantum-trader audit` said `BREACH (gap)` and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import structlog

from ..core.bus import EventBus
from ..domain.events import (
    ErrorEvent,
    HaltEntries,
    KillSwitch,
    OrderChanged,
    ProtectionAction,
    TradeClosed,
    TradeOpened,
)
from ..exchange.ids import belongs_to
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
#: Stops witnessed and trigger prices seen, kept until their trade closes; the oldest are forgotten first.
MEMORY = 1_000
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A stop-loss the stop witness saw fire: its client id, its trade (when the witness knew it), the mark."""

    client_id: str
    trade_id: str | None
    mark: Decimal

    def of(self, trade: TradeClosed) -> bool:
        """The trade's own stop, matched as the audit matches it: the witness names the trade, or the stop's
        client id is one of the trade's (a stop placed before a restart, which the witness cannot name)."""
        return self.trade_id == trade.trade_id or belongs_to(self.client_id, trade.trade_id)


class Alerts:
    """Turns the engine's events into messages for `submit` (the notifier's queue)."""

    def __init__(self, submit: Callable[[Message], None], *, judge: Judge, daily_loss_prefix: str,
                 stop_witnessed: str) -> None:
        """`judge`: the stop audit of one closed trade (trading/audit.py `audit_row`); `daily_loss_prefix`:
        how a daily-loss kill switch's reason starts (risk/daily_loss.py `REASON_PREFIX`); `stop_witnessed`:
        the action the stop witness publishes (trading/stop_witness.py `ACTION`). All are handed in by the
        runtime, since notify may not import trading or risk (same layer)."""
        self._submit, self._judge, self._daily = submit, judge, daily_loss_prefix
        self._witness_action = stop_witnessed
        self._witnessed: dict[str, Witnessed] = {}  # stop client id → what the witness saw
        self._triggers: dict[str, Decimal] = {}  # client id → the trigger price the exchange last reported

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(TradeOpened, self.on_opened)
        bus.subscribe(OrderChanged, self.on_order)
        bus.subscribe(TradeClosed, self.on_closed)
        bus.subscribe(KillSwitch, self.on_kill)
        bus.subscribe(HaltEntries, self.on_halt)
        bus.subscribe(ProtectionAction, self.on_protection)
        bus.subscribe(ErrorEvent, self.on_error)

    def on_opened(self, event: TradeOpened) -> None:
        self._send(lambda: entry_message(event))

    def on_order(self, event: OrderChanged) -> None:
        """Note a stop's trigger: the audit measures a gap from the trigger of the stop that fired, not the plan."""
        trigger = event.snapshot.trigger_price
        if trigger is not None:
            _remember(self._triggers, event.snapshot.client_id, trigger)

    def on_closed(self, event: TradeClosed) -> None:
        trigger, mark = self._stop_evidence(event)
        self._send(lambda: exit_message(event, self._judge(event, trigger=trigger, after_trigger=mark)))

    def _stop_evidence(self, trade: TradeClosed) -> tuple[Decimal | None, Decimal | None]:
        """(trigger, mark when it fired) of the trade's witnessed stop-loss, or (None, None); forgotten once used."""
        found = [w for w in self._witnessed.values() if w.of(trade)]
        for witnessed in found:
            del self._witnessed[witnessed.client_id]
        if not found:
            return None, None
        last = found[-1]  # as the audit: the last witness of the trade wins
        return self._triggers.get(last.client_id), last.mark

    def on_kill(self, event: KillSwitch) -> None:
        self._send(lambda: kill_message(event, daily_loss_prefix=self._daily))

    def on_halt(self, event: HaltEntries) -> None:
        self._send(lambda: halt_message(event))

    def on_protection(self, event: ProtectionAction) -> None:
        if event.action == self._witness_action:
            self._on_witness(event)
        elif is_repair(event):
            self._send(lambda: repaired_message(event))
        elif event.action == "emergency_exit" and not event.reason.startswith(KILL_REASON_PREFIX):
            self._send(lambda: emergency_message(event))  # the kill switch's own exits: its messages say so
        elif event.action == "kill_switch":
            self._send(lambda: kill_done_message(event))

    def _on_witness(self, event: ProtectionAction) -> None:
        """Remember the mark a stop-loss met when it fired, for the exit it precedes (none read: no evidence,
        as in the audit)."""
        if event.price is not None and event.client_id:
            _remember(self._witnessed, event.client_id, Witnessed(event.client_id, event.trade_id, event.price))

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


def _remember(memory: dict[str, V], key: str, value: V) -> None:
    memory.pop(key, None)  # re-inserted: the newest, the last to be forgotten
    memory[key] = value
    if len(memory) > MEMORY:
        del memory[next(iter(memory))]
