"""How execution announces an exit it is about to send: in which words (`ExitWording`, the wiring's choice with
its gateway) and where to (`ExitLog`, the wiring's choice with its mode).

Every session (live, paper, staging) logs each exit as one warning the moment before it is sent
(`WarningExitLog`). The research commands wire their own log (research/kill_digest.py): there a daily loss
limit's kill switch closing every position of a 222-symbol backtest printed one warning per position, before
the report that already counts them. A mode is an adapter chosen by the wiring, never a flag execution reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..core.loggers import get_logger
from .sending import SendResult

#: Execution's logger: the announcement is execution's line, named as it always was, wherever it is written from.
log = get_logger("quantum_trader.trading.execution")


@dataclass(frozen=True, slots=True)
class ExitWording:
    """How execution announces an exit it is about to send. It announces first (a slow exchange must not hold
    the warning back), so it cannot learn from the gateway's answer that nothing will be sent: the wiring that
    chooses a gateway that sends nothing (staging) chooses `DRY_RUN_WORDING` with it.

    `repair` is what becomes of an unprotected position, as the dashboard's banner says it (the live document's
    `repair`): it is shown the moment a sweep finds the position naked, before any repair has answered, so it
    too is the wiring's word, not something learnt from the gateway.

    `kill_switch` is how the kill switch's summary begins (trading/kill_switch.py): a kill switch with nothing to
    cancel or close asks the gateway nothing, so only the wiring can say that a dry run would have sent nothing
    either; staging's "cancelled 0 orders, closed 0 positions" read as if it had flattened the account."""

    log_event: str = "emergency exit"
    action_prefix: str = ""
    reason: str = "{why}"
    repair: str = "the monitor is repairing it"
    kill_switch: str = "cancelled {cancelled}, closed {closed}"


SENT_WORDING = ExitWording()
DRY_RUN_WORDING = ExitWording(log_event="emergency exit not sent (dry run)", action_prefix="would_",
                              reason="would close {amount} at market: {why}",
                              repair="staging: the repair is journaled, not sent",
                              kill_switch="sent nothing (dry run): would cancel {would_cancel} and close {would_close}")


class ExitLog(Protocol):
    """Where execution says that it is about to send an exit (`announce`, before the order leaves: a slow
    exchange must not hold it back) and what came of it (`outcome`, after its last attempt). `event` is the
    wiring's words (`ExitWording.log_event`); `reason` is why the exit is sent; `purpose` is its client id's
    (`em`, `soft`, `kill`: trading/client_ids.py)."""

    def announce(self, event: str, *, symbol: str, amount: str, reason: str, purpose: str) -> None: ...

    def outcome(self, symbol: str, reason: str, purpose: str, result: SendResult) -> None: ...


class WarningExitLog:
    """One warning per exit, as it is announced. Its outcome is not logged here: the caller reports it (the kill
    switch's summary and the positions it left open, the monitor's repairs), and the journal records each answer."""

    def announce(self, event: str, *, symbol: str, amount: str, reason: str, purpose: str) -> None:
        log.warning(event, symbol=symbol, amount=amount, reason=reason, purpose=purpose)

    def outcome(self, symbol: str, reason: str, purpose: str, result: SendResult) -> None:
        return None
