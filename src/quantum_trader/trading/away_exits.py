"""How a trade closed while the bot was away, as the exchange recorded it; never made up.

The old reconciliation closed such a trade at its own protection order's average price, or else as
`manual` at the mark of the moment of the restart with zero fees, and stamped it with the restart's
clock, which after a restart on a fresh simulated clock lay a day before the entry. Each part of that
was invented, and the audit then reported a breach that never happened. The exit now comes from the
exchange's own record, in this order:

1. The account's fills on the symbol (`account_trades`): the fills on the trade's exit side that
   come after its own entry fill (so a trade opened in the second another was closed does not take
   that one's exit) and make up its quantity. Price is their average, time the last one's, fees the
   sum of the exchange's commissions for the entry and exit fills (and of the fills the bot itself heard
   and journaled that the exchange's list lacks: trading/reconcile.py `fees_of`), realised P&L the exchange's
   `realizedPnl`; the reason comes from the closing order's client id (`-sl-` stop-loss, `-tp-`
   take-profit, `-em-`/`-soft-` emergency, `-kill-` kill switch, `autoclose-` liquidation, another
   id manual, no id known: unknown).
2. Where the venue keeps no fills, the trade's own exit orders, asked for by their deterministic
   client ids: a filled one gives reason, average price and time; the exchange reports no fees, so
   only the fills the bot heard (its entry's, journaled) are counted, and the note says so.
3. Nothing: `unknown`, with why. No price is claimed: exit price, realised P&L and fees are None
   (not the entry price and zeros, which the journal, the API and every sum would have read as a
   trade closed flat at its entry in the second it opened), the mark at the restart goes into the
   note only, and the audit counts it apart.

An exit is never dated before the trade's entry; an unknown one is not dated at all (its `time_ms`
is when the bot found the trade gone, and the journal leaves its `closed_ms` empty).

The exchange's clock need not be the bot's: a simulator replaying a past month stamps its fills and
orders in that month while the bot journals on the machine's clock. The fills are read from the trade's
entry fill as the exchange stamped it (`OpenTrade.exchange_start_ms`; from its opening on the bot's
clock, the restart found none, fell back to the stop order, which keeps no fees, and journaled the entry
fee alone), and an exit time that cannot be on the bot's clock (before the trade opened, or after now)
is moved onto it at the entry: the trade opened on the bot's clock when its entry filled on the
exchange's (`on_bot_clock`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..domain.enums import ExitReason
from ..domain.events import FillEvent, TradeOpened
from ..domain.exchange_types import FillUpdate, SnapshotStatus
from ..domain.money import ZERO, fmt
from ..exchange.ids import belongs_to, client_id_for
from ..exchange.port import ExchangeReader
from .trades import OpenTrade, exit_reason_for

#: The trade's own exit orders, by purpose (a kill switch closing under an id of its own is found by fills).
PURPOSES = (("sl", ExitReason.STOP_LOSS), ("tp", ExitReason.TAKE_PROFIT), ("em", ExitReason.EMERGENCY),
            ("soft", ExitReason.EMERGENCY), ("kill", ExitReason.KILL_SWITCH))
ATTEMPTS = 3
#: The entry fill's exchange time may precede the trade's (clock) time by the round trip: look back this far.
ENTRY_SLACK_MS = 60_000


@dataclass(frozen=True, slots=True)
class FoundExit:
    reason: ExitReason
    #: None (with `realized_pnl`): no record of the exit at all, so nothing is claimed.
    price: Decimal | None
    #: The exit's time on the exchange's clock (its last fill's, its order's); with no record, when the bot
    #: found the trade gone (its own clock). `on_bot_clock` gives the journal's closing time.
    time_ms: int
    fees: Decimal
    realized_pnl: Decimal | None
    #: How the exit was found (or why it could not be): journaled with the close.
    note: str
    #: The exchange's fills the figures came from (the trade's entry fills and its exit's); none without fills.
    fills: tuple[FillUpdate, ...] = ()


#: How `find_exit`'s note begins when nothing is found: why the bot itself did not see the exit.
AWAY = "closed while the bot was away"


async def find_exit(exchange: ExchangeReader, open_trade: OpenTrade, now_ms: int, *, why_unseen: str = AWAY
                    ) -> FoundExit:
    """The exit of a trade that is no longer on the exchange (see the module's docstring)."""
    trade, start_ms = open_trade.opened, open_trade.exchange_start_ms
    fills = await exchange.account_trades(trade.symbol, max(start_ms - ENTRY_SLACK_MS, 0))
    found = from_fills(trade, fills, start_ms)
    if found is not None:
        return found
    found = await _from_own_orders(exchange, trade)
    if found is not None:
        return found
    mark = (await exchange.mark_prices([trade.symbol])).get(trade.symbol)
    return FoundExit(ExitReason.UNKNOWN, None, max(now_ms, trade.time_ms), ZERO, None,
                     f"{why_unseen}; the exchange has no fill or order of this trade's exit "
                     f"(mark now {fmt(mark) if mark is not None else 'unknown'}): no exit price is claimed")


def from_fills(trade: TradeOpened, fills: Sequence[FillUpdate], start_ms: int | None = None) -> FoundExit | None:
    """The exit made of the exit-side fills after the trade's own entry fill; None when there are none.
    `start_ms`: when the trade began on the exchange's clock (`OpenTrade.exchange_start_ms`; its opening
    time by default): without a named entry fill, only fills from then on can be its exit."""
    entries, exits = _split(trade, fills, trade.time_ms if start_ms is None else start_ms)
    if not exits:
        return None
    qty = sum((f.quantity for f in exits), ZERO)
    price = sum((f.price * f.quantity for f in exits), ZERO) / qty
    paid = entries + exits
    closing = exits[-1]
    reason = exit_reason_for(closing.client_id) if closing.client_id else ExitReason.UNKNOWN
    part = "" if qty >= trade.quantity else f"; only {fmt(qty)} of {fmt(trade.quantity)} found"
    unreported = "" if all(f.fee is not None for f in paid) else "; some fees not reported"
    who = closing.client_id or "an order the exchange did not name"
    return FoundExit(reason, price, closing.time_ms,
                     sum((f.fee for f in paid if f.fee is not None), ZERO), sum((f.realized_pnl for f in exits), ZERO),
                     f"fills on the exchange: closed by {who} ({len(exits)} fills){part}{unreported}",
                     tuple(paid))


def _split(trade: TradeOpened, fills: Sequence[FillUpdate], start_ms: int
           ) -> tuple[list[FillUpdate], list[FillUpdate]]:
    """The trade's own entry fills, and the exit-side fills after the last of them up to its quantity."""
    own = [i for i, f in enumerate(fills) if _own_entry(trade, f)]
    # Without a named entry fill, only fills at or after the trade's start can be its exit.
    after = fills[own[-1] + 1:] if own else [f for f in fills if f.time_ms >= start_ms]
    exits: list[FillUpdate] = []
    qty = ZERO
    for fill in after:
        if fill.side is trade.direction.exit_side and qty < trade.quantity:
            exits.append(fill)
            qty += fill.quantity
    return [fills[i] for i in own], exits


async def _from_own_orders(exchange: ExchangeReader, trade: TradeOpened) -> FoundExit | None:
    for purpose, reason in PURPOSES:
        for attempt in range(ATTEMPTS):
            client_id = client_id_for(trade.trade_id, purpose, attempt)
            order = await exchange.query(trade.symbol, client_id)
            if order is not None and order.status is SnapshotStatus.FILLED and order.avg_price > 0:
                sign = Decimal(trade.direction.sign)
                return FoundExit(reason, order.avg_price, order.update_time, ZERO,
                                 sign * (order.avg_price - trade.entry_price) * trade.quantity,
                                 f"order {client_id} filled on the exchange; it keeps no fills: fees not reported "
                                 "by the exchange (those of the fills the bot heard are counted)")
    return None


def _own_entry(trade: TradeOpened, fill: FillUpdate | FillEvent) -> bool:
    return fill.side is trade.direction.entry_side and belongs_to(fill.client_id, trade.trade_id)


def on_bot_clock(trade: OpenTrade, found: FoundExit, now_ms: int) -> int:
    """The exit's time on the bot's clock, where the journal's opening and closing times are. A time within the
    trade's life on the bot's clock (from its opening to `now_ms`) is taken as it is: the exchange keeps the
    same clock, a fill stamped a round trip (in paper, a bar) before the bot heard it. One outside it is on a
    clock of the exchange's own (a replay of a past month): moved by the distance between the trade's opening
    and its entry fill's stamp (the exchange's list, else the fills the bot heard), so the exit keeps its
    distance from the entry. Never before the opening, never after now; an exit with no record (no price) is
    when the bot found the trade gone, already the bot's."""
    opened = trade.opened
    latest = max(now_ms, opened.time_ms)
    if found.price is None or opened.time_ms <= found.time_ms <= latest:
        return max(found.time_ms, opened.time_ms)
    listed = [f.time_ms for f in found.fills if _own_entry(opened, f)]
    entries = listed + [f.time_ms for f in trade.fills.values() if _own_entry(opened, f)]
    shift = opened.time_ms - min(entries) if entries else 0
    return min(max(found.time_ms + shift, opened.time_ms), latest)
