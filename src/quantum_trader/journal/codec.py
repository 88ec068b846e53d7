"""Events to journal rows: pure functions, one per event type, no database in sight.

Each function returns `(statement_key, row)` pairs; the writer owns the statements. Keeping the
mapping pure makes it cheap to test and keeps the writer about durability only. Values stay typed
(Decimal, bool, int): the `DecimalText` column type does the one conversion to text.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.logging import scrub
from ..domain.events import (
    TRANSFER,
    CancelNotSent,
    EquitySnapshot,
    ErrorEvent,
    FillEvent,
    KillSwitch,
    OrderChanged,
    OrderIntentRecorded,
    OrderNotSent,
    OrderRejectedEvent,
    PositionChanged,
    ProtectionAction,
    RiskDecision,
    ScannerSilent,
    Signal,
    TradeClosed,
    TradeOpened,
)
from ..domain.exchange_types import BalanceUpdate, OrderIntent

Row = dict[str, Any]
Rows = list[tuple[str, Row]]

#: Order status of an intent that was journaled (and is about to be sent) but not yet answered.
INTENT = "INTENT"
#: Order status of an intent journaled in staging mode and deliberately never sent.
DRY_RUN = "DRY_RUN"
WOULD_CANCEL = "WOULD_CANCEL"
REJECTED = "REJECTED"

#: Protection actions (symbol `*`) that start and end a halt of entries: a kill switch (its command, then the
#: handler's summary of what it did) and a manual resume; a restart replays them (reader.py `kills_since_resume`).
KILL_SWITCH, RESUME = "kill_switch", "resume"

ORDER_UPSERT = "order_upsert"
ORDER_EVENT = "order_events"


def signal_row(event: Signal, signal_id: int, session_id: int | None) -> Row:
    return {"id": signal_id, "session_id": session_id, "symbol": event.symbol, "direction": str(event.direction),
            "confidence": event.confidence, "source": event.source, "reference_price": event.reference_price,
            "reason": event.reason, "time_ms": event.time_ms, "expected_value": event.expected_value,
            "model_version": event.model_version,
            "reasons": json.dumps([[name, value] for name, value in event.reasons]) if event.reasons else None}


def risk_row(event: RiskDecision, signal_id: int | None, session_id: int | None) -> Row:
    sig = event.signal
    return {"session_id": session_id, "signal_id": signal_id, "symbol": sig.symbol, "direction": str(sig.direction),
            "confidence": sig.confidence, "approved": event.approved, "reason": event.reason,
            "trade_id": event.trade_id, "quantity": event.quantity, "planned_stop": event.planned_stop,
            "planned_take_profit": event.planned_take_profit, "planned_loss": event.planned_loss,
            "leverage": event.leverage, "time_ms": event.time_ms}


def _intent_order(intent: OrderIntent, trade_id: str | None, purpose: str | None, time_ms: int,
                  session_id: int | None) -> Row:
    return {"client_id": intent.client_id, "session_id": session_id, "trade_id": trade_id, "purpose": purpose,
            "symbol": intent.symbol, "side": str(intent.side), "type": str(intent.type),
            "quantity": intent.quantity, "price": intent.price, "trigger_price": intent.trigger_price,
            "reduce_only": intent.reduce_only, "close_position": intent.close_position,
            "working_type": str(intent.working_type), "status": INTENT, "venue_id": None, "filled": None,
            "avg_price": None, "dry_run": False, "created_ms": time_ms, "updated_ms": time_ms,
            "reject_code": None, "reject_msg": None}


def _order_event(client_id: str, status: str, reason: str, time_ms: int, session_id: int | None) -> tuple[str, Row]:
    return ORDER_EVENT, {"session_id": session_id, "client_id": client_id, "status": status, "reason": reason,
                         "time_ms": time_ms}


def intent_rows(event: OrderIntentRecorded, session_id: int | None) -> Rows:
    row = _intent_order(event.intent, event.trade_id, event.purpose, event.time_ms, session_id)
    return [(ORDER_UPSERT, row), _order_event(event.intent.client_id, INTENT, event.purpose, event.time_ms,
                                              session_id)]


def not_sent_rows(event: OrderNotSent, session_id: int | None) -> Rows:
    """Staging: the order the bot would have sent, with why; `DRY_RUN` is never pending at a restart."""
    row = _intent_order(event.intent, event.trade_id, event.purpose, event.time_ms, session_id)
    row.update(status=DRY_RUN, dry_run=True, reject_msg=event.reason)
    return [(ORDER_UPSERT, row), _order_event(event.intent.client_id, DRY_RUN, event.reason, event.time_ms,
                                              session_id)]


def cancel_not_sent_rows(event: CancelNotSent, session_id: int | None) -> Rows:
    """Staging: a cancellation the bot would have sent; the order itself is untouched, so only its history says it."""
    return [_order_event(event.client_id, WOULD_CANCEL, event.reason, event.time_ms, session_id)]


def rejected_rows(event: OrderRejectedEvent, session_id: int | None) -> Rows:
    row = _intent_order(event.intent, event.trade_id, event.purpose, event.time_ms, session_id)
    row.update(status=REJECTED, reject_code=event.code, reject_msg=event.message)
    return [(ORDER_UPSERT, row), _order_event(event.intent.client_id, REJECTED, event.message, event.time_ms,
                                              session_id)]


def order_changed_rows(event: OrderChanged, session_id: int | None) -> Rows:
    """Upsert: an order we never sent (found by reconciliation) still gets a row, without trade or purpose."""
    snap = event.snapshot
    row: Row = {"client_id": snap.client_id, "session_id": session_id, "trade_id": None, "purpose": None,
                "symbol": snap.symbol, "side": str(snap.side), "type": str(snap.type), "quantity": snap.quantity,
                "price": snap.price, "trigger_price": snap.trigger_price, "reduce_only": snap.reduce_only,
                "close_position": snap.close_position, "working_type": str(snap.working_type),
                "status": str(snap.status), "venue_id": snap.venue_id, "filled": snap.filled,
                "avg_price": snap.avg_price, "dry_run": False, "created_ms": event.time_ms,
                "updated_ms": event.time_ms, "reject_code": None, "reject_msg": None}
    return [(ORDER_UPSERT, row), _order_event(snap.client_id, str(snap.status), event.reason, event.time_ms,
                                              session_id)]


def fill_rows(event: FillEvent, session_id: int | None) -> Rows:
    return [("fills", {"session_id": session_id, "fill_id": event.fill_id, "client_id": event.client_id,
                       "symbol": event.symbol, "side": str(event.side), "quantity": event.quantity,
                       "price": event.price, "fee": event.fee, "realized_pnl": event.realized_pnl,
                       "maker": event.maker, "time_ms": event.time_ms})]


def position_changed_rows(event: PositionChanged, session_id: int | None) -> Rows:
    snap = event.snapshot
    return [("position_changes", {"session_id": session_id, "symbol": snap.symbol, "amount": snap.amount,
                                  "entry": snap.entry, "mark": snap.mark, "unrealized": snap.unrealized,
                                  "leverage": snap.leverage, "margin_type": str(snap.margin_type),
                                  "liquidation_price": snap.liquidation_price, "reason": event.reason,
                                  "time_ms": event.time_ms})]


def _position(trade_id: str, symbol: str, direction: str, quantity: Any, entry: Any, leverage: int,
              equity: Any, opened_ms: int, session_id: int | None) -> Row:
    return {"trade_id": trade_id, "session_id": session_id, "symbol": symbol, "direction": direction,
            "quantity": quantity, "entry": entry, "planned_stop": None, "planned_take_profit": None,
            "planned_loss": None, "leverage": leverage, "equity_at_entry": equity, "confidence": None,
            "opened_ms": opened_ms, "exit_price": None, "exit_reason": None, "realized_pnl": None, "fees": None,
            "funding": None, "closed_ms": None}


def trade_opened_rows(event: TradeOpened, session_id: int | None) -> Rows:
    row = _position(event.trade_id, event.symbol, str(event.direction), event.quantity, event.entry_price,
                    event.leverage, event.equity, event.time_ms, session_id)
    row.update(planned_stop=event.planned_stop, planned_take_profit=event.planned_take_profit,
               planned_loss=event.planned_loss, confidence=event.confidence)
    return [("position_open", row)]


def trade_closed_rows(event: TradeClosed, session_id: int | None) -> Rows:
    """Carries the opening figures too, so a close whose open was never journaled still makes a full row.

    A row is closed once it has an `exit_reason`. An exit nobody knows (`TradeClosed.exit_known` false: closed
    while the bot was away, no exchange record) keeps exit price, P&L, fees, funding and `closed_ms` empty:
    the event's time is only when the bot found the trade gone, and zeros would read as a trade closed flat."""
    row = _position(event.trade_id, event.symbol, str(event.direction), event.quantity, event.entry_price,
                    event.leverage, event.equity_at_entry, event.opened_ms, session_id)
    row.update(planned_stop=event.planned_stop, planned_loss=event.planned_loss, exit_reason=str(event.exit_reason))
    if event.exit_known:
        row.update(exit_price=event.exit_price, realized_pnl=event.realized_pnl, fees=event.fees,
                   funding=event.funding, closed_ms=event.time_ms)
    return [("position_close", row)]


def protection_rows(event: ProtectionAction, session_id: int | None) -> Rows:
    return [("protection_actions", {"session_id": session_id, "symbol": event.symbol, "action": event.action,
                                    "reason": event.reason, "trade_id": event.trade_id,
                                    "client_id": event.client_id, "order_type": event.order_type,
                                    "price": event.price, "time_ms": event.time_ms})]


def transfer_rows(event: BalanceUpdate, session_id: int | None) -> Rows:
    """A transfer in or out of the wallet, among protection actions (symbol `*`, action `transfer`, `price` the
    signed amount), as the daily loss limit's references are: "today's P&L" leaves it out. Other balance
    changes (funding) are the trades' own and are not recorded here."""
    if not event.is_transfer:
        return []
    return [("protection_actions", {"session_id": session_id, "symbol": "*", "action": TRANSFER,
                                    "reason": event.reason, "trade_id": None, "client_id": None,
                                    "order_type": None, "price": event.change, "time_ms": event.time_ms})]


def kill_switch_rows(event: KillSwitch, session_id: int | None) -> Rows:
    """Recorded among protection actions (symbol `*`): it is the last line of protection."""
    return [("protection_actions", {"session_id": session_id, "symbol": "*", "action": KILL_SWITCH,
                                    "reason": event.reason, "trade_id": None, "client_id": None,
                                    "order_type": None, "price": None, "time_ms": event.time_ms})]


def error_rows(event: ErrorEvent, session_id: int | None) -> Rows:
    """Scrubbed as a log line is (the API shows these rows): an exception's text may hold a URL's `signature=` or,
    in a ccxt message, a request's headers."""
    details = {key: scrub(value) for key, value in event.details.items()}
    return [("errors", {"session_id": session_id, "component": event.component, "message": scrub(event.message),
                        "fatal": event.fatal, "details": json.dumps(details, sort_keys=True),
                        "time_ms": event.time_ms})]


#: `errors.details` kind of a strategy's "no signal" row (ScannerSilent): readiness does not count it as a failure.
NO_SIGNAL = "no_signal"


def silent_rows(event: ScannerSilent, session_id: int | None) -> Rows:
    """A "no signal" event in the errors table (component: the strategy; details: kind `no_signal`, its cause
    and the symbols concerned), so /api/v1/errors and an audit show why the scanner said nothing."""
    details = {"kind": NO_SIGNAL, "cause": event.kind, "symbols": ",".join(event.symbols)}
    return [("errors", {"session_id": session_id, "component": event.source, "message": event.reason,
                        "fatal": False, "details": json.dumps(details, sort_keys=True), "time_ms": event.time_ms})]


def equity_rows(event: EquitySnapshot, session_id: int | None) -> Rows:
    return [("equity_snapshots", {"session_id": session_id, "wallet": event.wallet, "equity": event.equity,
                                  "available": event.available, "open_positions": event.open_positions,
                                  "time_ms": event.time_ms})]
