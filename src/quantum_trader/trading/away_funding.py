"""Funding paid or received while the bot was stopped, counted under the trade it belongs to at the restart.

Why: a running bot hears each funding payment on the user stream (ACCOUNT_UPDATE FUNDING_FEE), and the tracker
counts it under the open trade and journals it (trades.py). A payment made while the bot was stopped reaches no
stream: the trade's funding, its net P&L and the stop audit missed it, while the wallet had paid it (at 0.01 %
per 8 h, a day of downtime is three payments of the position's notional times the rate). A restart reads the
exchange's income history (runtime/startup.py `read_income_while_away`) and counts the payments here, before the
trade is closed (it went while the bot was away) or adopted.

Which rows are a trade's: its symbol's funding, after the last payment the journal holds for the trade (else
from its entry fill, on the exchange's clock) and, for a trade closed while away, not after its exit. Each is
journaled as the stream's would be (action `funding`, with the payment's time), so a second restart starts after
it. A row within `SAME_PAYMENT_MS` of a payment already counted is that payment, counted once: the stream's
stamp and the income history's may differ by milliseconds, and a symbol's payments are an hour apart at least.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ..core.bus import EventBus
from ..core.loggers import get_logger
from ..domain.exchange_types import FUNDING_FEE, BalanceUpdate
from ..domain.money import ZERO, fmt
from .trades import OpenTrade, funding_action

log = get_logger(__name__)
#: Two stamps of one funding payment are at most this far apart (Binance allows about a minute of slack).
SAME_PAYMENT_MS = 60_000
REASON = "funding fee paid while the bot was stopped, from the income history (signed: + received, - paid)"


def funding_from_ms(trade: OpenTrade) -> int:
    """Where the trade's funding must be read from: after the last payment counted, else from its entry fill
    (the exchange's time of the earliest fill it holds, else its own opening time)."""
    if trade.funding_ms:
        return max(trade.funding_ms) + 1
    return trade.exchange_start_ms


async def count_funding_while_away(bus: EventBus, trade: OpenTrade, found: Iterable[BalanceUpdate],
                                   until_ms: int | None = None) -> Decimal:
    """Count the trade's funding among `found` (the income history's funding and transfers, oldest first) not
    counted yet, up to `until_ms` (its exit, for a trade closed while away), and journal each. Returns the sum."""
    start, symbol = funding_from_ms(trade), trade.opened.symbol
    counted, payments = ZERO, 0
    for payment in found:
        if (payment.reason != FUNDING_FEE or payment.symbol != symbol or payment.time_ms < start
                or (until_ms is not None and payment.time_ms > until_ms)
                or any(abs(payment.time_ms - paid) <= SAME_PAYMENT_MS for paid in trade.funding_ms)):
            continue
        trade.count_funding(payment.change, payment.time_ms)
        await bus.publish(funding_action(trade, payment, REASON))
        counted, payments = counted + payment.change, payments + 1
    if payments:
        log.info("funding paid while the bot was stopped counted under its trade", trade_id=trade.opened.trade_id,
                 symbol=symbol, payments=payments, funding=fmt(counted), total=fmt(trade.funding))
    return counted
