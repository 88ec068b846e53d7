"""What became of one order or cancellation that execution was asked to send, as a value.

Callers branch on the result instead of reading execution's state after the call: a protection
repair needs to know whether the exchange refused for good (-2021: the stop is already crossed;
retrying cannot help), refused for now (a timeout, 429: a retry may), or whether the gateway sent
nothing at all (staging), in which case the repair is reported as what the bot *would* do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..domain.exchange_types import OrderIntent, OrderSnapshot
from ..domain.fast_init import fast_init
from ..domain.money import fmt


class Sent(StrEnum):
    ACCEPTED = "accepted"  # the exchange took it; `snapshot` is its answer
    REJECTED = "rejected"  # the exchange (or the adapter) refused; `code` is Binance's when there is one
    NOT_SENT = "not_sent"  # nothing left the process: the journal refused the intent, or a dry-run gateway


@fast_init
@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Sent
    snapshot: OrderSnapshot | None = None
    code: int | None = None
    message: str = ""
    #: For a refusal: True when sending the same thing again may succeed (timeouts, 5xx, 429).
    retryable: bool = False
    #: For a refusal: the HTTP status of the exchange's answer (a 503 says more than its code -1001).
    http_status: int | None = None
    #: For NOT_SENT: True when the gateway sends nothing by design (staging), False when the journal refused
    #: the intent. The kill switch treats a position as closed in a dry run only: in paper or live an exit
    #: that could not be journaled leaves the position open, and its stop-loss must stay.
    dry_run: bool = False

    @property
    def accepted(self) -> bool:
        return self.outcome is Sent.ACCEPTED

    @property
    def refused_for_good(self) -> bool:
        """The exchange refused these parameters: the same order will be refused again."""
        return self.outcome is Sent.REJECTED and not self.retryable

    @property
    def not_sent(self) -> bool:
        return self.outcome is Sent.NOT_SENT


def not_opened_reason(intent: OrderIntent, entry: SendResult) -> str | None:
    """What became of an entry that opened no position, in words (None: it filled, or the exchange holds it open).
    A dry run says it sent nothing and what it would have sent, as the kill switch's answer does."""
    quantity = None if intent.quantity is None else fmt(intent.quantity)
    order = f"{intent.side.value.lower()} {quantity} {intent.symbol} at market"
    if entry.dry_run:
        return f"sent nothing (dry run): would {order}"
    if entry.not_sent:
        return f"{entry.message} ({order})"
    if not entry.accepted:
        verb = "did not confirm" if entry.retryable else "refused"
        code = "" if entry.code is None else f"{entry.code} "
        return f"the exchange {verb} the entry ({order}): {code}{entry.message}"
    if entry.snapshot is not None and not entry.snapshot.status.is_open:
        return f"the exchange filled none of the entry ({order}): {entry.snapshot.status.value}"
    return None
