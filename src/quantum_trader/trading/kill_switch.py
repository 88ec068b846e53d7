"""The kill switch: close every position at market, leave no order behind, halt entries; and never leave a
position without its stop-loss on the way.

The order of operations is the protection promise (a position keeps its working stop until it is flat):
1. cancel every order that could open or add exposure (entries; anything neither reduceOnly nor closePosition);
2. close every position with a reduceOnly market order (execution's emergency exit, with its attempts);
3. read the account back, orders first: on every symbol now flat, cancel what is left. Binance expires a
   position's closePosition stop-loss and take-profit itself when the position closes (GTE_GTC), so those are
   counted as removed once read back gone; a reduceOnly order with a quantity stays open and is cancelled here.
   A position still open (its exit refused: a burst of 503s) keeps its stop-loss and take-profit, and the
   summary and a `kill_switch_open` protection action say it is still open, protected by which stop or not
   protected at all. The monitor keeps repairing it as any position (it does not pause for the kill switch);
   pressing the kill switch again once the exchange answers finishes the job.
Cancelling the stops first (as this module once did) left a position whose exit failed naked until the monitor
noticed, for as long as the exchange refused orders.

Every kill switch ends with its summary: published (the `kill_switch` protection action, journaled, and
`KillSwitchDone`, which the alert reads) and kept as `last`, which the API answers. When a first reading of the
account (open orders, then positions) fails after the adapter's retries, nothing is closed and no stop-loss or
take-profit is cancelled, and the summary says the account could not be read: the positions' state is unknown,
every one may still be open. That kill switch raised into the bus, published nothing, and the API answered the
previous kill switch's result as if it were this one's.

Risk halts on the same `KillSwitch` event (no new entries until a manual reset); this module does the
exchange side, through execution like every other order: it reads the account through the reader
and cancels and closes through `Execution`, so a staging session (whose gateway sends nothing)
reports what it *would* cancel and close and touches nothing: there a position counts as closed (its exit
would have been sent), so its protective orders are listed as what would be cancelled after it. The summary
begins in the wiring's words (execution's `ExitWording.kill_switch`), so a dry run with nothing to cancel or
close says it sent nothing too, rather than "cancelled 0 orders, closed 0 positions". Positions are
closed with reduceOnly market orders whose client ids say `kill`, so the audit records `kill_switch` exits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.loggers import get_logger
from ..domain.errors import ExchangeError
from ..domain.events import ErrorEvent, KillSwitch, KillSwitchDone, ProtectionAction
from ..domain.exchange_types import OrderSnapshot, PositionSnapshot
from ..domain.money import fmt
from ..exchange.budget import urgent
from ..exchange.port import ExchangeReader
from .execution import Execution
from .exit_words import SENT_WORDING, ExitWording
from .monitor_rules import SL, has_working_stop, plan_side
from .sending import SendResult, Sent
from .trades import TradeTracker

log = get_logger(__name__)
#: The protection action of a position the kill switch could not close (its stop-loss kept, or none there).
STILL_OPEN = "kill_switch_open"
#: The purpose of a kill switch's exits (their client ids say `kill`: the audit's `kill_switch` exits).
KILL_PURPOSE = "kill"
#: The component of the `ErrorEvent`s the kill switch publishes.
COMPONENT = "kill_switch"


def exit_reason(reason: str) -> str:
    """Why each exit of a kill switch raised for `reason` is sent (its journal row and its log line say it)."""
    return f"kill switch: {reason}"


@dataclass
class KillSwitchResult:
    #: Orders the kill switch removed: cancelled by it, or read back gone once their position was closed (a
    #: closePosition stop-loss or take-profit expires with its position on Binance) or cancelled meanwhile.
    cancelled_orders: int = 0
    closed_positions: int = 0
    #: What a gateway that sends nothing (staging) declined: client ids and symbols.
    would_cancel: list[str] = field(default_factory=list)
    would_close: list[str] = field(default_factory=list)
    failed: int = 0
    #: Positions still open afterwards, each with what protects it ("BTCUSDT 0.01 still open, protected by ...").
    still_open: list[str] = field(default_factory=list)
    #: Why the account could not be read back after closing (every protective order was then kept).
    unconfirmed: str | None = None
    #: Why the account could not be read before closing: nothing was closed, no protective order cancelled.
    unread: str | None = None
    #: The wiring's words (execution's): a dry run's summary says it sent nothing even when there was nothing to send.
    wording: ExitWording = SENT_WORDING

    @property
    def unknown(self) -> str | None:
        """Why the positions' state is unknown (the account not read before or after closing), else None."""
        return self.unread or self.unconfirmed

    def summary(self) -> str:
        done = self.wording.kill_switch.format(
            cancelled=_count(self.cancelled_orders, "order"), closed=_count(self.closed_positions, "position"),
            would_cancel=_listed(self.would_cancel, "order"), would_close=_listed(self.would_close, "position"))
        done += f"; {self.failed} refused" if self.failed else ""
        done += f"; {'; '.join(self.still_open)}" if self.still_open else ""
        return done + (f"; {self.unknown}" if self.unknown else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _listed(items: Sequence[str], noun: str) -> str:
    """"2 orders (a, b)"; "0 orders" when there are none."""
    return f"{_count(len(items), noun)} ({', '.join(items)})" if items else _count(0, noun)


def protective(order: OrderSnapshot) -> bool:
    """An order that can only reduce a position (a stop-loss, a take-profit, a reduce-only close): it stays
    until its position is flat. Anything else could open or add exposure and is cancelled first."""
    return order.reduce_only or order.close_position


def _key(order: OrderSnapshot) -> tuple[str, str]:
    return order.symbol, order.client_id


class KillSwitchHandler:
    def __init__(self, bus: EventBus, clock: Clock, reader: ExchangeReader, execution: Execution, *,
                 trades: TradeTracker | None = None, new_trade_id: Callable[[str], str] | None = None) -> None:
        """`trades`: a position the bot knows is closed under its own trade id (its exit is then that
        trade's); `new_trade_id(symbol)` names the close of a position it knows no trade for."""
        self.bus, self.clock, self.reader, self.execution = bus, clock, reader, execution
        self.trades, self._new_trade_id = trades, new_trade_id
        self.last = KillSwitchResult(wording=execution.exit_wording)

    def attach(self) -> None:
        self.bus.subscribe(KillSwitch, self.on_kill)

    async def on_kill(self, event: KillSwitch) -> None:
        result, why = KillSwitchResult(wording=self.execution.exit_wording), exit_reason(event.reason)
        read = await self._cancel_entries_and_read(result, why)
        if read is not None:
            before, positions = read
            declined = {p.symbol for p in positions if await self._close(result, p, why, event.time_ms)}
            await self._clear_flat(result, before, declined, why)
        self.last = result  # before publishing: whatever a subscriber does, the API answers this kill switch
        summary, now = result.summary(), self.clock.now_ms()
        await self.bus.publish(ProtectionAction(symbol="*", action="kill_switch", reason=f"{event.reason}: {summary}",
                                                time_ms=now))
        await self.bus.publish(KillSwitchDone(reason=event.reason, summary=summary, time_ms=now,
                                              still_open=tuple(result.still_open), unknown=result.unknown))

    async def _cancel_entries_and_read(self, result: KillSwitchResult, why: str,
                                       ) -> tuple[Sequence[OrderSnapshot], Sequence[PositionSnapshot]] | None:
        """Step 1, then the positions to close; None when the account could not be read (after the adapter's
        retries; `result.unread` says why), and then nothing is closed and no stop-loss is cancelled."""
        try:
            with urgent():  # a request budget must not hold these reads back (exchange/budget.py)
                before = await self.reader.open_orders()
            for order in before:
                if not protective(order):
                    await self._cancel(result, order, why)
            with urgent():
                return before, await self.reader.positions()
        except ExchangeError as exc:
            result.unread = (f"could not read the account ({exc.code} {exc.msg}): nothing closed, no stop-loss or "
                             "take-profit cancelled; every position may still be open: press the kill switch again "
                             "once the exchange answers")
            await self._error(result.unread)
            return None

    async def _close(self, result: KillSwitchResult, position: PositionSnapshot, why: str, time_ms: int) -> bool:
        """One position's exit, counted; True when a gateway that sends nothing declined it (staging)."""
        trade_id = self._trade_id_for(position.symbol, time_ms)
        try:
            closed = await self.execution.emergency_exit(trade_id, position.symbol, why, purpose=KILL_PURPOSE)
        except ExchangeError as exc:  # its position could not be read: the other positions still get their exit
            closed = SendResult(Sent.REJECTED, code=exc.code, message=exc.msg)
            await self._error(f"close {position.symbol}: {exc.code} {exc.msg}")
        if closed is not None and closed.not_sent and closed.dry_run:
            result.would_close.append(f"{position.symbol} {position.amount}")
            return True
        if closed is not None and closed.accepted:
            result.closed_positions += 1
        elif closed is not None:
            result.failed += 1  # refused, or not journaled (write-ahead): the position is still open
        return False

    async def _clear_flat(self, result: KillSwitchResult, before: Sequence[OrderSnapshot], declined: set[str],
                          why: str) -> None:
        """Read back which positions are flat and cancel what is left on them; a position still open keeps its
        protective orders. Orders are read before positions: a stop placed after the orders were read belongs
        to a position the positions' reading then shows, so no reading can make a fresh stop look orphaned.
        `declined`: symbols whose exit a dry run declined, treated as closed (what would follow the close)."""
        try:
            with urgent():
                orders = await self.reader.open_orders()
                positions = await self.reader.positions()
        except ExchangeError as exc:
            result.unconfirmed = (f"not read back after closing ({exc.code} {exc.msg}): every stop-loss and "
                                  "take-profit kept")
            await self._error(result.unconfirmed)
            return
        still_open = {p.symbol: p for p in positions if p.amount != 0 and p.symbol not in declined}
        listed = {_key(o) for o in orders}
        result.cancelled_orders += sum(1 for o in before if protective(o) and o.symbol not in still_open
                                       and _key(o) not in listed)  # ended with their position
        asked = {_key(o) for o in before if not protective(o)}
        for order in orders:
            if _key(order) not in asked and not (protective(order) and order.symbol in still_open):
                await self._cancel(result, order, why)
        for position in still_open.values():
            await self._report_open(result, position, [o for o in orders if o.symbol == position.symbol])

    async def _report_open(self, result: KillSwitchResult, position: PositionSnapshot,
                           orders: Sequence[OrderSnapshot]) -> None:
        """A position the kill switch could not close: say that it is open and what still protects it."""
        stop = plan_side(orders, position, SL).keep if has_working_stop(position, orders) else None
        if stop is None:
            state = "UNPROTECTED: no working stop-loss (the monitor places one)"
        else:
            at = f" at {fmt(stop.trigger_price)}" if stop.trigger_price is not None else ""
            state = f"protected by its stop-loss {stop.client_id}{at} (kept)"
        result.still_open.append(f"{position.symbol} {position.amount} still open, {state}")
        log.warning("kill switch left a position open", symbol=position.symbol, amount=str(position.amount),
                    stop=stop.client_id if stop is not None else None)
        await self.bus.publish(ProtectionAction(
            symbol=position.symbol, action=STILL_OPEN, time_ms=self.clock.now_ms(),
            reason=f"kill switch could not close {position.amount}: still open, {state}",
            trade_id=self._known_trade_id(position.symbol), client_id=stop.client_id if stop else None,
            order_type=stop.type.value if stop else None, price=stop.trigger_price if stop else None))

    def _known_trade_id(self, symbol: str) -> str | None:
        known = self.trades.open.get(symbol) if self.trades is not None else None
        return known.opened.trade_id if known is not None else None

    def _trade_id_for(self, symbol: str, time_ms: int) -> str:
        known = self._known_trade_id(symbol)
        if known is not None:
            return known
        if self._new_trade_id is not None:
            return self._new_trade_id(symbol)
        return f"{symbol}_k{time_ms // 1000}"  # a bare handler (tests): readable, unique per second

    async def _cancel(self, result: KillSwitchResult, order: OrderSnapshot, why: str) -> None:
        """Cancel one order and count it. A refusal for an order no longer open (the monitor cancelled an
        orphan, the exchange expired it with its position) is not a failure: the order is gone as asked."""
        sent = await self.execution.cancel(order.symbol, order.client_id, None, why)
        if sent.accepted:
            result.cancelled_orders += 1
        elif sent.not_sent:
            result.would_cancel.append(order.client_id)
        elif await self._gone(order):
            result.cancelled_orders += 1
        else:
            result.failed += 1
            await self._error(f"cancel {order.client_id}: {sent.code} {sent.message}")

    async def _gone(self, order: OrderSnapshot) -> bool:
        try:
            with urgent():
                found = await self.reader.query(order.symbol, order.client_id)
        except ExchangeError:
            return False
        return found is None or not found.status.is_open

    async def _error(self, message: str) -> None:
        await self.bus.publish(ErrorEvent(component=COMPONENT, message=message, time_ms=self.clock.now_ms()))
