"""What an alert says: one pure function per kind of news, event in, `Message` out, no I/O.

Why pure: the figures a person acts on (a realised loss, a breach of the planned loss) must be the
figures the stop audit reports, so they are computed by the audit itself (`judge`, trading/audit.py's
`audit_row`, handed in by the runtime: notify sits beside trading and may not import it) and only
formatted here. Money stays Decimal up to the text: USDT and percentages are rounded half-up to two
places for a phone screen; prices are printed as the exchange gave them (on the symbol's tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Protocol

from ..domain.events import (
    ErrorEvent,
    HaltEntries,
    KillSwitch,
    KillSwitchDone,
    ProtectionAction,
    TradeClosed,
    TradeOpened,
)
from ..domain.money import ZERO, fmt, price_text
from ..domain.position import LossReport

HUNDRED = Decimal(100)
_CENTS = Decimal("0.01")


class Level(StrEnum):
    """How urgent a message is; the values are apprise's notify types (info, success, warning, failure)."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Message:
    """One alert: `kind` is a stable machine word (tests, filters), title and body are for people."""

    kind: str
    title: str
    body: str
    level: Level = Level.INFO

    @property
    def urgent(self) -> bool:
        """A message the user must act on now: it goes ahead of routine news to a destination that is failing
        (notify/lane.py). Urgent is the `failure` level, because exactly those messages are: a position
        UNPROTECTED, an emergency exit at market, the kill switch (manual or the daily loss limit), entries
        halted, a request-weight ban, a background task that died, and a stop-loss breach. The rest (entries,
        ordinary exits, repairs, the kill switch's summary, an exit found while away) is news that may wait.
        A level, not a list of kinds, so a new alert is urgent when it is written as a failure."""
        return self.level is Level.FAILURE


class AuditedExit(Protocol):
    """The stop audit's verdict on one closed trade (trading/audit.py `AuditRow` has these fields)."""

    @property
    def realised(self) -> LossReport | None: ...

    @property
    def planned_loss(self) -> Decimal | None: ...

    @property
    def loss_limit(self) -> Decimal | None: ...

    @property
    def breach(self) -> bool: ...

    @property
    def breach_reason(self) -> str: ...

    @property
    def verdict(self) -> str:
        """The audit's word for the exit (trading/audit.py `verdict_of`): notify shows it, never words its own."""
        ...


class Judge(Protocol):
    """The audit of one closed trade (trading/audit.py `audit_row`), injected so notify never imports trading.

    `trigger` is the trigger of the stop order that fired and `after_trigger` the mark the stop witness read
    when it fired (trading/stop_witness.py): the evidence the audit reads back from the journal to tell a stop
    jumped through by the market from a stop that failed. Without them a gap's breach reads as a failure."""

    def __call__(self, trade: TradeClosed, *, trigger: Decimal | None = None,
                 after_trigger: Decimal | None = None) -> AuditedExit: ...


def usdt(value: Decimal) -> str:
    """`-20.41`: two places, half-up, Decimal throughout (no float ever touches money); never `-0.00`."""
    cents = value.quantize(_CENTS, rounding=ROUND_HALF_UP)
    return f"{abs(cents) if cents == 0 else cents:f}"


def pct(value: Decimal) -> str:
    """`-0.20%`: a percentage already in percent units, two places, half-up."""
    return usdt(value) + "%"


def signed(value: Decimal) -> str:
    text = usdt(value)
    return text if text.startswith("-") else "+" + text


def entry_message(trade: TradeOpened) -> Message:
    """A new position: what was bought or sold, where its stop is and what the stop would cost."""
    side = trade.direction.value
    lines = [f"{trade.symbol} {side} {fmt(trade.quantity)} @ {fmt(trade.entry_price)} (leverage {trade.leverage}x)",
             f"Planned stop: {price_text(trade.planned_stop)}, take-profit: {price_text(trade.planned_take_profit)}"]
    if trade.planned_loss is not None:
        share = trade.planned_loss / trade.equity * HUNDRED if trade.equity > 0 else ZERO
        lines.append(f"Planned loss at the stop: {usdt(trade.planned_loss)} USDT ({pct(share)} of equity "
                     f"{usdt(trade.equity)} USDT)")
    else:
        lines.append("Planned loss at the stop: unknown (no planned stop)")
    if trade.confidence is not None:
        lines.append(f"Confidence: {trade.confidence:.2f}")
    lines.append(f"Trade: {trade.trade_id}")
    return Message("entry", f"Entry {trade.symbol} {side} @ {fmt(trade.entry_price)}", "\n".join(lines))


def exit_message(trade: TradeClosed, audited: AuditedExit, *, unheard_s: float | None = None) -> Message:
    """A position went flat: the realised result in the audit's four units, against the plan. `unheard_s`: the
    alert waited that long for the stop's trigger report in vain (notify/alerts.py), so it says the verdict was
    reached without it and who judges again."""
    r = audited.realised
    if r is None or trade.exit_price is None:
        return unknown_exit_message(trade)
    side, reason = trade.direction.value, trade.exit_reason.value
    lines = [f"{trade.symbol} {side} {fmt(trade.quantity)} closed by {reason} at {fmt(trade.exit_price)} "
             f"(entry {fmt(trade.entry_price)})",
             f"Realised P&L: {signed(r.usdt)} USDT = {pct(r.pct_equity)} of equity (at entry "
             f"{usdt(trade.equity_at_entry)} USDT), {pct(r.pct_notional)} of notional, {pct(r.pct_margin)} of margin"]
    if audited.planned_loss is not None:
        limit = "" if audited.loss_limit is None else f" (breach above {usdt(audited.loss_limit)} USDT)"
        lines.append(f"Planned loss: {usdt(audited.planned_loss)} USDT{limit}")
    else:
        lines.append("Planned loss: none (no planned stop)")
    verdict = breach_verdict(audited)
    if verdict:
        lines.append(f"{verdict}: {audited.breach_reason}")
    if unheard_s is not None:
        lines.append(f"Judged without the stop's trigger report (not heard within {unheard_s:g} s of the close); "
                     "`quantum-trader audit` judges it again from the journal.")
    lines.append(f"Trade: {trade.trade_id}")
    title = f"Exit {trade.symbol} {side} ({reason}): {signed(r.usdt)} USDT ({pct(r.pct_equity)} of equity)"
    # Every breach is a failure, as the audit counts it (exit 5, readiness's `stops_held` refuses one a gap
    # explains too); the "(gap)" says it is not one to chase, as the audit's table says it.
    level = Level.FAILURE if audited.breach else (Level.SUCCESS if r.usdt > 0 else Level.WARNING)
    return Message("exit_breach" if audited.breach else "exit", (f"{verdict} " if verdict else "") + title,
                   "\n".join(lines), level)


def breach_verdict(audited: AuditedExit) -> str:
    """The audit's word for a breach, exactly as `quantum-trader audit` and the dashboard show it (`BREACH (gap)`
    when a gap explains it, else `BREACH`), or "" for none: an exit within its plan needs no word in an alert."""
    return audited.verdict if audited.breach else ""


def unknown_exit_message(trade: TradeClosed) -> Message:
    """A trade found closed after a restart of which the exchange kept no record: said so, with no price or
    P&L made up (trading/away_exits.py); the journal's `exit_unknown` action says what was looked for."""
    side = trade.direction.value
    body = (f"{trade.symbol} {side} {fmt(trade.quantity)} (entry {fmt(trade.entry_price)}) was closed while the bot "
            f"was away, and the exchange kept no record of how: exit price and P&L unknown, not judged by the "
            f"stop audit.\nTrade: {trade.trade_id}")
    return Message("exit_unknown", f"Exit {trade.symbol} {side} unknown (closed while away)", body, Level.WARNING)


def kill_message(event: KillSwitch, *, daily_loss_prefix: str) -> Message:
    """The kill switch: the daily loss limit's own (its reason starts with risk/daily_loss.py's prefix) or manual."""
    if event.reason.startswith(daily_loss_prefix):
        return Message("daily_loss_limit", "Daily loss limit hit: flattening, entries halted until UTC midnight",
                       f"Kill switch (daily loss limit): {event.reason}", Level.FAILURE)
    return Message("kill_switch", "Kill switch: cancelling all orders and flattening all positions",
                   f"Kill switch (manual or requested): {event.reason}", Level.FAILURE)


def kill_done_message(done: KillSwitchDone) -> Message:
    """What the kill switch did (trading/kill_switch.py). Only a flat account is "done", at warning level; a
    position it could not close, or an account it could not read (every position may still be open), is a
    failure whose title says so: "Kill switch done" over a position still open at market risk read as the end
    of the matter."""
    body = f"{done.reason}: {done.summary}"
    if done.flat:
        return Message("kill_switch_done", "Kill switch done", body, Level.WARNING)
    n = len(done.still_open)
    title = ("Kill switch NOT done: account not read, positions may still be open" if done.unknown is not None
             else f"Kill switch NOT done: {n} position{'' if n == 1 else 's'} still open")
    return Message("kill_switch_not_flat", title, f"{body}\nCheck the positions and press the kill switch again once "
                   "the exchange answers; a position keeps its stop-loss until it is read back flat.", Level.FAILURE)


def halt_message(event: HaltEntries) -> Message:
    return Message("entries_halted", "New entries halted", f"{event.reason}\nOpen positions keep their stops.",
                   Level.FAILURE)


#: Placements that mean the monitor put back protection that was missing or wrong (trading/monitor_guard.py).
_REPAIR_REASONS = ("stop-loss missing", "stop-loss replaces", "take-profit missing", "take-profit replaces")


def is_repair(action: ProtectionAction) -> bool:
    return action.action == "placed" and action.reason.startswith(_REPAIR_REASONS)


def repaired_message(action: ProtectionAction) -> Message:
    what = (action.order_type or "protection").replace("_", " ").lower()
    return Message("protection_repaired", f"{action.symbol}: protection repaired ({what} {price_text(action.price)})",
                   f"{action.symbol}: {action.reason}; placed {action.order_type or ''} at {price_text(action.price)}"
                   f" (trade {action.trade_id or 'unknown'})", Level.SUCCESS)


def emergency_message(action: ProtectionAction) -> Message:
    return Message("emergency_exit", f"{action.symbol}: emergency exit at market",
                   f"{action.symbol}: {action.reason} (trade {action.trade_id or 'unknown'})", Level.FAILURE)


def unprotected_message(symbol: str, seconds: float, interval_s: float) -> Message:
    """A position has had no working stop for longer than one monitor interval."""
    return Message("unprotected", f"{symbol}: UNPROTECTED for {seconds:.1f} s",
                   f"{symbol} has had no working stop-loss for {seconds:.1f} s (monitor interval {interval_s:g} s); "
                   "the monitor keeps trying to place one.", Level.FAILURE)


def banned_message(budget: Mapping[str, object]) -> Message:
    until = budget.get("banned_until_ms")
    return Message("request_ban", "Exchange request budget: IP banned (418)",
                   f"The exchange banned this IP for request weight (banned_until_ms={until}); reads and orders "
                   "wait until it lifts. Used weight "
                   f"{budget.get('used_weight')} of {budget.get('limit')}.", Level.FAILURE)


def task_died_message(event: ErrorEvent) -> Message:
    """A supervised background task died (core/supervisor.py `bus_reporter`: component `task:NAME`)."""
    name = event.component.removeprefix("task:")
    gave_up = event.details.get("gave_up") == "true"
    then = ("it will NOT be restarted" if gave_up
            else f"restarting in {event.details.get('retry_in_s', '?')} s")
    return Message("task_died", f"Background task {name} died", f"{name}: {event.message}; {then}.",
                   Level.FAILURE)
