"""Execution: the single writer of orders. An approved entry becomes entry → stop-loss → take-profit.

Each order is first journaled by an explicit call that raises when the write fails (write-ahead:
an intent that is not on disk is not sent), then published as `OrderIntentRecorded`, sent through
the gateway, and its answer published as `OrderChanged`, so a crash at any point leaves a journal
that says what may be on the exchange. Client ids derive from (trade, purpose, attempt), with the
attempt numbers allocated here alone (client_ids.py). Every send returns a `SendResult`.

Execution holds the only `OrderGateway`. Staging wires a gateway that sends nothing
(exchange/staging_gateway.py): each order is then journaled as what the bot would have sent, with why.
An approved entry that opens nothing (not sent, refused, filled by none, or never sent because the exchange refused
its symbol's leverage or margin type) is published as `EntryNotOpened`, so risk frees the slot it held for it: a
dry run's entry is an order that was not placed, not a position.

Protection follows the entry fill at once: STOP_MARKET with closePosition on MARK_PRICE with
priceProtect (through the Algo Order API: the adapter routes conditional types there), then
TAKE_PROFIT_MARKET, each read back from the exchange before it counts. A stop the exchange refuses
because its price is already crossed (-2021) or that cannot be placed after bounded attempts is
replaced by an emergency market exit with reduceOnly: no position is left without a stop. How long "bounded"
is: `PROTECTION_ATTEMPTS` and `give_up_after_s` for an exchange that answers with errors, `STOP_DEADLINE_S` of
wall-clock time for one that does not answer (trading/protection_outage.py, where each failed try is logged
and journaled as it happens, so an outage is never silent while the bot rides it out).
"At once" means from the first report of the fill: when the user stream reports it before the entry's
REST answer, protection starts from the stream's report (trading/entry_fills.py).
The continuous monitor that repairs protection later (missing, cancelled by hand, wrong type) is
trading/monitor.py's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.loggers import get_logger
from ..domain.enums import MarginType, OrderType, Side, WorkingType
from ..domain.errors import ExchangeError, OrderNotSent
from ..domain.events import (
    CancelNotSent,
    Direction,
    EntryNotOpened,
    OrderChanged,
    OrderIntentRecorded,
    OrderRejectedEvent,
    ProtectionAction,
    RiskDecision,
    TradeOpened,
)
from ..domain.events import OrderNotSent as OrderNotSentEvent
from ..domain.exchange_types import OrderIntent, OrderSnapshot, PositionSnapshot, SnapshotStatus
from ..domain.instrument import Instrument
from ..domain.money import fmt
from ..domain.stops import protection_prices
from ..exchange.port import ExchangeReader, OrderGateway
from ..exchange.retry import CLOSE_POSITION_EXISTS, observe_place_retries
from .client_ids import AttemptAllocator
from .entry_fills import EntryFills
from .exit_words import DRY_RUN_WORDING as DRY_RUN_WORDING  # re-exported: the wordings lived here
from .exit_words import SENT_WORDING as SENT_WORDING
from .exit_words import ExitLog, WarningExitLog
from .exit_words import ExitWording as ExitWording
from .monitor_rules import plan_side
from .protection_outage import (
    PROTECTION_ATTEMPTS,
    STOP_DEADLINE_S,
    Fallback,
    Plan,
    ProtectionOutage,
    StopDeadline,
    StopDeadlinePassed,
    within,
)
from .protection_outage import give_up_after_s as give_up_after_s  # re-exported: the rule's name
from .sending import SendResult, Sent
from .sending import not_opened_reason as not_opened_reason  # re-exported: it lived here

log = get_logger(__name__)


class IntentLog(Protocol):
    """Where intents are written before they are sent; `record_intent` raises when it could not write."""

    def record_intent(self, event: OrderIntentRecorded) -> None: ...


class NoIntentLog:
    """For engines run without a journal (tests, benchmarks): nothing to write, nothing to fail."""

    def record_intent(self, event: OrderIntentRecorded) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    margin_type: MarginType = MarginType.ISOLATED


class Execution:
    def __init__(self, bus: EventBus, clock: Clock, gateway: OrderGateway, reader: ExchangeReader,
                 instruments: Mapping[str, Instrument], config: ExecutionConfig, *,
                 intents: IntentLog | None = None, exit_wording: ExitWording = SENT_WORDING,
                 exit_log: ExitLog | None = None, stop_deadline_s: float = STOP_DEADLINE_S) -> None:
        """`exit_wording` and `exit_log`: how an exit is announced and where (trading/exit_words.py); by default
        one warning per exit, as live, paper and staging log it. `stop_deadline_s`: how long a position without a
        stop waits for one before the emergency exit (`STOP_DEADLINE_S`; tests shorten it); the monitor's too."""
        self.bus, self.clock, self.gateway, self.reader = bus, clock, gateway, reader
        self.instruments, self.config = instruments, config
        self.intents = intents or NoIntentLog()
        self.exit_wording = exit_wording
        self.exit_log: ExitLog = exit_log if exit_log is not None else WarningExitLog()
        self.ids = AttemptAllocator()
        self.stop_deadline_s = stop_deadline_s
        self._configured: dict[str, int] = {}  # symbol → leverage already set (with the margin type)
        self.orders_sent = 0
        #: Entries in flight whose fill the user stream may report before their REST answer.
        self.entry_fills = EntryFills()
        #: Failed placements of protection, logged and journaled (it hears the adapter's retries too).
        self.outage = ProtectionOutage(bus, clock)
        self.outage.policy = observe_place_retries(gateway, self.outage.retrying)

    def attach(self) -> None:
        self.bus.subscribe(RiskDecision, self.on_decision)
        self.bus.subscribe(OrderChanged, self.entry_fills.on_order)

    async def on_decision(self, decision: RiskDecision) -> None:
        if not decision.approved or decision.quantity is None or decision.trade_id is None or decision.equity is None:
            return  # an approved decision carries its size, its trade id and the equity it was sized from
        signal, trade_id = decision.signal, decision.trade_id
        intent = OrderIntent(client_id=self.ids.next_id(trade_id, "entry"), symbol=signal.symbol,
                             side=signal.direction.entry_side, type=OrderType.MARKET, quantity=decision.quantity)
        refused = await self._prepare_symbol(signal.symbol, decision.leverage or 1)
        if refused is not None:
            await self._entry_ended(trade_id, intent, await self._not_sent(intent, trade_id, "entry", refused))
            return
        self.entry_fills.expect(intent.client_id, lambda snap: self.protect(trade_id, signal.symbol,
                                                                             signal.direction, snap.avg_price))
        try:
            entry = await self.send(intent, trade_id, "entry", reason=f"{signal.source} signal")
        finally:
            early = self.entry_fills.release(intent.client_id)
        if early is not None:  # the stream reported the fill before the answer: protection is already under way
            await early.protection
            await self._opened(decision, trade_id, early.snapshot, early.time_ms)
            return
        if entry.snapshot is None or entry.snapshot.filled <= 0:
            await self._entry_ended(trade_id, intent, entry)
            return
        filled_ms = self.clock.now_ms()  # the trade's time is its entry fill: readiness measures protection from it
        await self.protect(trade_id, signal.symbol, signal.direction, entry.snapshot.avg_price)
        await self._opened(decision, trade_id, entry.snapshot, filled_ms)

    async def _opened(self, decision: RiskDecision, trade_id: str, filled: OrderSnapshot, filled_ms: int) -> None:
        """TradeOpened for a protected (or emergency-exited) entry, with the fill's final quantity and price."""
        signal = decision.signal
        assert decision.equity is not None  # on_decision sends nothing for a decision without it
        equity = decision.equity  # recording the trade reads nothing: no request budget can keep it out
        stop, take = protection_prices(self.instruments[signal.symbol], signal.direction, filled.avg_price,
                                       self.config.stop_loss_pct, self.config.take_profit_pct)
        await self.bus.publish(TradeOpened(
            trade_id=trade_id, symbol=signal.symbol, direction=signal.direction, quantity=filled.filled,
            entry_price=filled.avg_price, planned_stop=stop, planned_take_profit=take,
            planned_loss=_planned_loss(decision, filled), leverage=decision.leverage or 1, equity=equity,
            time_ms=filled_ms, confidence=signal.confidence))

    async def _entry_ended(self, trade_id: str, intent: OrderIntent, entry: SendResult) -> None:
        """An entry that opened nothing says so (`EntryNotOpened`): risk holds a slot for it from its approval, and
        a dry run's entry, never sent, must not hold it as if a position were open. An entry the exchange took
        and holds open without a fill yet says nothing: it may still fill."""
        reason = not_opened_reason(intent, entry)
        if reason is not None:
            await self.bus.publish(EntryNotOpened(trade_id=trade_id, symbol=intent.symbol, sent=not entry.not_sent,
                                                  dry_run=entry.dry_run, reason=reason, time_ms=self.clock.now_ms()))

    async def _prepare_symbol(self, symbol: str, leverage: int) -> str | None:
        """Margin type and leverage once per symbol; a gateway that sends nothing leaves the account as it is.
        Returns None when the symbol is ready, else why the entry is not sent, in words: the exchange refused
        (or did not confirm) one of them (-4028 a leverage it no longer allows, a budget refusal, a 5xx), and an
        entry at a leverage it was not sized for must not go out. The symbol is asked again at its next entry."""
        if self._configured.get(symbol) == leverage:
            return None
        step = f"margin type {self.config.margin_type.value}"
        try:
            await self.gateway.set_margin_type(symbol, self.config.margin_type)
            step = f"leverage {leverage}"
            await self.gateway.set_leverage(symbol, leverage)
        except OrderNotSent:
            pass
        except ExchangeError as exc:
            verb = "did not confirm" if exc.retryable else "refused"
            log.warning("entry not sent: symbol setup failed", symbol=symbol, step=step, code=exc.code, error=exc.msg)
            return f"not sent: the exchange {verb} {step} for {symbol}: {exc.code} {exc.msg}"
        self._configured[symbol] = leverage
        return None

    async def _not_sent(self, intent: OrderIntent, trade_id: str, purpose: str, message: str) -> SendResult:
        """An order execution declines to send (its symbol's setup failed, or the journal refused its intent),
        journaled as the order it would have been, with why: the Signals panel reads an entry's as rejected."""
        await self.bus.publish(OrderRejectedEvent(intent=intent, trade_id=trade_id, purpose=purpose, code=None,
                                                  message=message, time_ms=self.clock.now_ms()))
        return SendResult(Sent.NOT_SENT, message=message)

    # --- protection -------------------------------------------------------------------------------
    async def protect(self, trade_id: str, symbol: str, direction: Direction, fill_price: Decimal) -> bool:
        """Stop-loss then take-profit; an unplaceable stop ends in an emergency exit. True if protected."""
        stop, take = protection_prices(self.instruments[symbol], direction, fill_price,
                                       self.config.stop_loss_pct, self.config.take_profit_pct)
        placed = await self._place_protection(trade_id, symbol, direction, "sl", OrderType.STOP_MARKET, stop)
        if not placed:
            await self.emergency_exit(trade_id, symbol, "the stop-loss could not be placed")
            return False
        await self._place_protection(trade_id, symbol, direction, "tp", OrderType.TAKE_PROFIT_MARKET, take)
        return True

    async def _place_protection(self, trade_id: str, symbol: str, direction: Direction, purpose: str,
                                kind: OrderType, trigger: Decimal) -> bool:
        fallback = Fallback.EXIT if purpose == "sl" else Fallback.NEXT_SWEEP
        deadline = StopDeadline.start(self.stop_deadline_s) if fallback is Fallback.EXIT else None
        for send in range(PROTECTION_ATTEMPTS):
            intent = OrderIntent(client_id=self.ids.next_id(trade_id, purpose), symbol=symbol,
                                 side=direction.exit_side, type=kind, trigger_price=trigger, close_position=True,
                                 working_type=WorkingType.MARK_PRICE, price_protect=True)
            self.outage.sending(intent, Plan(trade_id, purpose, send, PROTECTION_ATTEMPTS, fallback, deadline))
            result = await self.send(intent, trade_id, purpose, deadline=deadline)
            if result.accepted and await self.verify(trade_id, intent, deadline):
                return True
            if result.code == CLOSE_POSITION_EXISTS and await self._held_by_another(trade_id, intent, purpose,
                                                                                     deadline):
                return True
            final = (result.refused_for_good or result.not_sent or send == PROTECTION_ATTEMPTS - 1
                     or (deadline is not None and deadline.passed))
            await self.outage.failed(intent, result, final=final)
            if final:
                return False  # -2021 crossed, -4006, ...: retrying the same parameters cannot help
        return False

    async def _held_by_another(self, trade_id: str, intent: OrderIntent, purpose: str,
                               deadline: StopDeadline | None) -> bool:
        """-4130: a closePosition order of this type and direction is already there. When it works for the
        position (the monitor placed it while this placement was retrying 5xx answers, or it survived from
        before), the position is protected: read back and published as `verified`, not emergency-exited.

        The reads are the stop-loss's like its send: bound by its deadline, and a read that fails or is cut off
        leaves the twin unconfirmed (False), so the placement goes on to its next try or, given up, the
        emergency exit; a read that never answered held it past the deadline, and a failed one escaped it."""
        try:
            position = next(iter(await within(self.reader.positions(intent.symbol), deadline)), None)
            if position is None or position.amount == 0:
                return False
            orders = await within(self.reader.open_orders(intent.symbol), deadline)
        except (ExchangeError, StopDeadlinePassed) as exc:
            log.warning("closePosition twin not checked", symbol=intent.symbol, client_id=intent.client_id,
                        purpose=purpose, error=str(exc))
            return False
        keep = plan_side(orders, position, purpose).keep
        if keep is None:
            return False
        self.outage.covered(intent.symbol, purpose)
        await self.bus.publish(ProtectionAction(
            symbol=intent.symbol, action="verified", time_ms=self.clock.now_ms(), trade_id=trade_id,
            reason=f"-4130: {keep.type.value} {keep.client_id} already protects the position (read back)",
            client_id=keep.client_id, order_type=keep.type.value, price=keep.trigger_price))
        return True

    async def verify(self, trade_id: str, intent: OrderIntent, deadline: StopDeadline | None = None) -> bool:
        """Read the order back: it counts only if the exchange shows it working (or already fired).
        Published as `verified` / `verify_failed`; the monitor's repairs use the same rule. A stop-loss's
        `deadline` bounds the read too: not read back by then, it does not count."""
        try:
            found = await within(self.reader.query(intent.symbol, intent.client_id), deadline)
            seen = f"read back {found.status.value if found else 'nothing'}"
        except StopDeadlinePassed as exc:
            found, seen = None, f"not read back: {exc}"
        ok = found is not None and found.status in (SnapshotStatus.OPEN, SnapshotStatus.TRIGGERED,
                                                    SnapshotStatus.FILLED)
        await self.bus.publish(ProtectionAction(
            symbol=intent.symbol, action="verified" if ok else "verify_failed", reason=seen,
            time_ms=self.clock.now_ms(), trade_id=trade_id, client_id=intent.client_id, order_type=intent.type.value,
            price=intent.trigger_price))
        return ok

    async def cancel(self, symbol: str, client_id: str, trade_id: str | None, reason: str) -> SendResult:
        """Cancel one open order (classic or conditional) and publish the answer, so the journal records it.

        A refusal (already filled, cancelled or unknown) is returned, not raised: the caller re-reads the
        exchange rather than trusting its own picture.
        """
        try:
            snapshot = await self.gateway.cancel(symbol, client_id)
        except OrderNotSent as exc:
            await self.bus.publish(CancelNotSent(symbol=symbol, client_id=client_id, trade_id=trade_id,
                                                 reason=f"would cancel: {reason} ({exc})", time_ms=self.clock.now_ms()))
            return SendResult(Sent.NOT_SENT, message=str(exc), dry_run=True)
        except ExchangeError as exc:
            log.warning("cancel refused", symbol=symbol, client_id=client_id, code=exc.code, reason=reason)
            return SendResult(Sent.REJECTED, code=exc.code, message=exc.msg, retryable=exc.retryable)
        log.info("order cancelled", symbol=symbol, client_id=client_id, type=snapshot.type.value,
                 trigger_price=_fmt(snapshot.trigger_price), trade_id=trade_id, reason=reason)
        await self.bus.publish(OrderChanged(snapshot=snapshot, reason="CANCELED", time_ms=self.clock.now_ms()))
        return SendResult(Sent.ACCEPTED, snapshot=snapshot)

    async def emergency_exit(self, trade_id: str, symbol: str, why: str, purpose: str = "em",
                             action: str = "emergency_exit") -> SendResult | None:
        """Close at market with reduceOnly, for the whole position the exchange reports (None: no position)."""
        position = next(iter(await self.reader.positions(symbol)), None)
        if position is None or position.amount == 0:
            return None
        side = Side.SELL if position.amount > 0 else Side.BUY
        await self._announce_exit(trade_id, position, why, purpose, action)
        result = SendResult(Sent.NOT_SENT)
        for _ in range(PROTECTION_ATTEMPTS):
            intent = OrderIntent(client_id=self.ids.next_id(trade_id, purpose), symbol=symbol, side=side,
                                 type=OrderType.MARKET, quantity=abs(position.amount), reduce_only=True)
            result = await self.send(intent, trade_id, purpose, reason=why)
            if result.accepted or result.not_sent:
                break
        self.exit_log.outcome(symbol, why, purpose, result)
        return result

    async def _announce_exit(self, trade_id: str, position: PositionSnapshot, why: str, purpose: str,
                             action: str) -> None:
        """Log and journal the exit before it is sent, so a slow exchange cannot hold the warning back, in the
        words of the wiring (`ExitWording`: staging says `would_<action>` and "not sent") and to its log (`ExitLog`)."""
        amount, symbol, words = str(position.amount), position.symbol, self.exit_wording
        self.exit_log.announce(words.log_event, symbol=symbol, amount=amount, reason=why, purpose=purpose)
        await self.bus.publish(ProtectionAction(
            symbol=symbol, action=words.action_prefix + action, time_ms=self.clock.now_ms(), trade_id=trade_id,
            reason=words.reason.format(amount=amount, why=why)))

    # --- sending ----------------------------------------------------------------------------------
    async def send(self, intent: OrderIntent, trade_id: str, purpose: str, reason: str | None = None,
                   deadline: StopDeadline | None = None) -> SendResult:
        """Journal the intent (or refuse to send), send it through the gateway, publish the answer.

        `reason` is why the bot sends it: the `placed` protection action says it, and so does the
        journal's record of an order a dry-run gateway did not send. A stop-loss's `deadline` cancels a send
        still waiting on the exchange at it: a refusal that may be retried (its outcome is unknown).
        """
        now = self.clock.now_ms()
        recorded = OrderIntentRecorded(intent=intent, trade_id=trade_id, purpose=purpose, time_ms=now)
        try:
            self.intents.record_intent(recorded)
        except Exception as exc:  # whatever the database raised: write-ahead says do not send
            message = f"not sent: the journal could not record the intent (write-ahead): {type(exc).__name__}"
            log.error("intent not journaled; order not sent", client_id=intent.client_id, error=str(exc))
            return await self._not_sent(intent, trade_id, purpose, message)
        await self.bus.publish(recorded)
        try:
            snapshot = await self._place(intent, deadline)
        except StopDeadlinePassed as exc:
            await self.bus.publish(OrderRejectedEvent(intent=intent, trade_id=trade_id, purpose=purpose, code=None,
                                                      message=str(exc), time_ms=self.clock.now_ms()))
            return SendResult(Sent.REJECTED, message=str(exc), retryable=True)
        except OrderNotSent as exc:
            await self.bus.publish(OrderNotSentEvent(intent=intent, trade_id=trade_id, purpose=purpose,
                                                     reason=f"{reason or purpose} ({exc})",
                                                     time_ms=self.clock.now_ms()))
            return SendResult(Sent.NOT_SENT, message=str(exc), dry_run=True)
        except ExchangeError as exc:
            await self.bus.publish(OrderRejectedEvent(intent=intent, trade_id=trade_id, purpose=purpose,
                                                      code=exc.code, message=exc.msg, time_ms=self.clock.now_ms()))
            return SendResult(Sent.REJECTED, code=exc.code, message=exc.msg, retryable=exc.retryable,
                              http_status=exc.http_status)
        self.orders_sent += 1
        await self.bus.publish(OrderChanged(snapshot=snapshot, reason="PLACED", time_ms=self.clock.now_ms()))
        if intent.type.is_conditional:
            await self._protection_placed(intent, trade_id, purpose, reason)
        return SendResult(Sent.ACCEPTED, snapshot=snapshot)

    async def _place(self, intent: OrderIntent, deadline: StopDeadline | None) -> OrderSnapshot:
        """The gateway's answer. An entry whose fill the stream already reported is on the exchange whatever
        the answer says (a timeout, -1007 unknown outcome, a 5xx after the fill): it counts as placed, with
        the stream's report as its answer, so the journal and the monitor treat it as the open position it is."""
        try:
            return await within(self.gateway.place(intent), deadline)
        except ExchangeError as exc:
            early = self.entry_fills.answered(intent.client_id)
            if early is None:
                raise
            log.warning("entry answer failed after its fill was heard on the stream; counted as placed",
                        symbol=intent.symbol, client_id=intent.client_id, code=exc.code, error=exc.msg)
            return early.snapshot
        finally:  # before anything else runs: a report arriving after the answer starts nothing
            self.entry_fills.answered(intent.client_id)

    async def _protection_placed(self, intent: OrderIntent, trade_id: str, purpose: str, reason: str | None) -> None:
        """Logged and journaled as `placed`; after an outage (failed tries of this symbol's `purpose`) both say
        how many tries failed and for how long, so the end of the outage is as visible as its start."""
        outage = self.outage.placed(intent)
        after = {} if outage is None else {"failed_tries_before": outage[0], "failing_for_s": round(outage[1], 1)}
        log.info("protection placed", symbol=intent.symbol, type=intent.type.value, side=intent.side.value,
                 trigger_price=_fmt(intent.trigger_price), quantity=_fmt(intent.quantity),
                 working_type=intent.working_type.value, close_position=intent.close_position, purpose=purpose,
                 client_id=intent.client_id, **after)
        why = reason or f"{purpose} after entry fill"
        if outage is not None:
            why += f" (after {outage[0]} failed tries over {outage[1]:.1f} s)"
        await self.bus.publish(ProtectionAction(
            symbol=intent.symbol, action="placed", reason=why,
            time_ms=self.clock.now_ms(), trade_id=trade_id, client_id=intent.client_id,
            order_type=intent.type.value, price=intent.trigger_price))


def _fmt(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _planned_loss(decision: RiskDecision, entry: OrderSnapshot) -> Decimal | None:
    """Risk planned for the ordered size; a partial fill plans proportionally less."""
    if decision.planned_loss is None or decision.quantity is None or decision.quantity == 0:
        return None
    return decision.planned_loss * entry.filled / decision.quantity
