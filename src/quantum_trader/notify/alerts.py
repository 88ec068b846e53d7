"""The bus side of alerts: which events become which messages. Handlers only format and enqueue.

Why these handlers subscribe before anything else on the bus (runtime/wiring.py `wire_engine`'s
`observers`): the bus delivers depth-first, so a handler subscribed last sees an event only after
everything its delivery published in turn (a stop placed for a new trade would be seen before the
trade). Subscribed first, the alerts see events in the order they were published. They never
publish and never await, so the event log and the engine's timing stay exactly as without them.

An exit is judged on the evidence the audit reads back from the journal (readmodels/journal.py
`stop_evidence`): the mark the stop witness took when the trade's stop-loss fired (its `stop_triggered`
action) and that stop's trigger. Judged without it, a stop the market jumped through was announced as a
plain BREACH while `quantum-trader audit` said `BREACH (gap)` and why.

That evidence does not always come first. On the REST-polling path (exchange/ccxt_poll.py) a sweep reads the
orders, then the positions: a stop that fires between the two reads leaves the position flat while the stop
still looked open, and the next sweep reports the stop's fill (which closes the trade) before the stop's own
FILLED report, the witness's cue. So a stop-loss exit whose audit is a breach and whose witness has not been
heard is held, not sent: the witness's action (with or without a mark) sends it judged as the audit will
judge it, at most `HOLD_S` seconds of wall time later. The wait is that short because the witness follows
the stop's report within 2.5 s: the report is in the same sweep as the fill, and a witness whose mark the
bot does not already hold publishes from a task once the market stream's next mark comes (waited for at most
1.5 s) or a REST read answers (given up after 1 s; trading/stop_witness.py `STREAM_WAIT_S`,
`READ_TIMEOUT_S`); five seconds leave room for the close's other handlers on a loaded machine. The same task
is why a witness can come after the close on the streaming path too. Held longer, the alert would stop being
news; not held, it would be wrong. Only such exits wait: any other exit, a stop-loss within its plan (the
evidence changes no word of that message) or one whose witness came first is sent at once. If the bound
passes (a stop whose report never reaches the bot, as when its exit had to be looked up), the alert goes out
judged without the evidence and says so, pointing at `quantum-trader audit`, which judges again from the
journal. A session that stops sends what is held (`flush`) before the notifier's last drain, once the
witnesses still waiting for their mark have published (trading/stop_witness.py `finish`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from ..core.bus import EventBus
from ..core.loggers import get_logger
from ..domain.enums import ExitReason
from ..domain.events import (
    ErrorEvent,
    HaltEntries,
    KillSwitch,
    KillSwitchDone,
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

log = get_logger(__name__)
#: The supervisor names its failure reports `task:NAME` (core/supervisor.py `bus_reporter`).
TASK_COMPONENT_PREFIX = "task:"
#: The kill switch's emergency exits carry this reason (trading/kill_switch.py); they are not news of their own.
KILL_REASON_PREFIX = "kill switch:"
#: Stops witnessed and trigger prices seen, kept until their trade closes; the oldest are forgotten first.
MEMORY = 1_000
#: Wall seconds a stop-loss breach heard before its stop's witness waits for it (see the module docstring).
HOLD_S = 5.0
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A stop-loss the stop witness saw fire: its client id, its trade (when the witness knew it), the mark."""

    client_id: str
    trade_id: str | None
    #: None: the witness could not read the mark. No evidence, as in the audit, but heard: nothing to wait for.
    mark: Decimal | None

    def of(self, trade: TradeClosed) -> bool:
        """The trade's own stop, matched as the audit matches it: the witness names the trade, or the stop's
        client id is one of the trade's (a stop placed before a restart, which the witness cannot name)."""
        return self.trade_id == trade.trade_id or belongs_to(self.client_id, trade.trade_id)


@dataclass(frozen=True, slots=True)
class Held:
    """A stop-loss exit waiting for its stop's witness, and the timer that sends it without one."""

    trade: TradeClosed
    timer: asyncio.TimerHandle


class Alerts:
    """Turns the engine's events into messages for `submit` (the notifier's queue)."""

    def __init__(self, submit: Callable[[Message], None], *, judge: Judge, daily_loss_prefix: str,
                 stop_witnessed: str, hold_s: float = HOLD_S) -> None:
        """`judge`: the stop audit of one closed trade (trading/audit.py `audit_row`); `daily_loss_prefix`:
        how a daily-loss kill switch's reason starts (risk/daily_loss.py `REASON_PREFIX`); `stop_witnessed`:
        the action the stop witness publishes (trading/stop_witness.py `ACTION`). All are handed in by the
        runtime, since notify may not import trading or risk (same layer). `hold_s`: how long a stop-loss
        breach waits for its witness (module docstring)."""
        self._submit, self._judge, self._daily = submit, judge, daily_loss_prefix
        self._witness_action, self._hold_s = stop_witnessed, hold_s
        self._witnessed: dict[str, Witnessed] = {}  # stop client id → what the witness saw
        self._triggers: dict[str, Decimal] = {}  # client id → the trigger price the exchange last reported
        self._held: dict[str, Held] = {}  # trade id → its exit alert, waiting for the stop's witness

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(TradeOpened, self.on_opened)
        bus.subscribe(OrderChanged, self.on_order)
        bus.subscribe(TradeClosed, self.on_closed)
        bus.subscribe(KillSwitch, self.on_kill)
        bus.subscribe(KillSwitchDone, self.on_kill_done)
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
        """Send the exit judged on its stop's evidence, or hold it for that evidence (module docstring)."""
        if self._witnessed_for(event) or not self._waits(event) or not self._hold(event):
            self._send_exit(event)

    def _waits(self, trade: TradeClosed) -> bool:
        """Whether the witness could still change the verdict: only a stop-loss exit has one (it witnesses only the
        bot's stop-losses), and only a breach's words depend on it (a gap explains a breach, nothing else)."""
        if trade.exit_reason is not ExitReason.STOP_LOSS:
            return False
        try:
            return self._judge(trade).breach
        except Exception:
            return False  # sent at once: `_send` logs the failure

    def _hold(self, trade: TradeClosed) -> bool:
        """Hold the exit until its witness or `hold_s`; False outside an event loop (nothing could release it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._held[trade.trade_id] = Held(trade, loop.call_later(self._hold_s, self._give_up, trade.trade_id))
        return True

    def _give_up(self, trade_id: str) -> None:
        held = self._held.pop(trade_id, None)
        if held is not None:
            held.timer.cancel()
            self._send_exit(held.trade, unheard_s=self._hold_s)

    def flush(self) -> None:
        """Send every held exit now, judged without the evidence it waited for: the session is stopping."""
        for trade_id in list(self._held):
            self._give_up(trade_id)

    def _send_exit(self, trade: TradeClosed, *, unheard_s: float | None = None) -> None:
        trigger, mark = self._stop_evidence(trade)
        self._send(lambda: exit_message(trade, self._judge(trade, trigger=trigger, after_trigger=mark),
                                        unheard_s=unheard_s))

    def _witnessed_for(self, trade: TradeClosed) -> list[Witnessed]:
        return [w for w in self._witnessed.values() if w.of(trade)]

    def _stop_evidence(self, trade: TradeClosed) -> tuple[Decimal | None, Decimal | None]:
        """(trigger, mark when it fired) of the trade's witnessed stop-loss, or (None, None); forgotten once used."""
        found = self._witnessed_for(trade)
        for witnessed in found:
            del self._witnessed[witnessed.client_id]
        marked = [w for w in found if w.mark is not None]
        if not marked:
            return None, None
        last = marked[-1]  # as the audit: the last witness of the trade with a mark wins
        return self._triggers.get(last.client_id), last.mark

    def on_kill(self, event: KillSwitch) -> None:
        self._send(lambda: kill_message(event, daily_loss_prefix=self._daily))

    def on_kill_done(self, event: KillSwitchDone) -> None:
        self._send(lambda: kill_done_message(event))

    def on_halt(self, event: HaltEntries) -> None:
        self._send(lambda: halt_message(event))

    def on_protection(self, event: ProtectionAction) -> None:
        if event.action == self._witness_action:
            self._on_witness(event)
        elif is_repair(event):
            self._send(lambda: repaired_message(event))
        elif event.action == "emergency_exit" and not event.reason.startswith(KILL_REASON_PREFIX):
            self._send(lambda: emergency_message(event))  # the kill switch's own exits: its messages say so

    def _on_witness(self, event: ProtectionAction) -> None:
        """Remember the mark a stop-loss met when it fired (None if not read: heard, but no evidence, as in the
        audit) for the exit it precedes, or send the held exit it follows."""
        if not event.client_id:
            return
        witnessed = Witnessed(event.client_id, event.trade_id, event.price)
        _remember(self._witnessed, event.client_id, witnessed)
        for held in [h for h in self._held.values() if witnessed.of(h.trade)]:
            del self._held[held.trade.trade_id]
            held.timer.cancel()
            self._send_exit(held.trade)

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
