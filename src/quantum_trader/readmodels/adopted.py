"""The open trades a restart adopts, rebuilt from the journal with what they paid before it.

The journal's `positions` row of an open trade says how it opened, not what it cost so far: the trade tracker
kept that in memory (its entry fee, funding, any part already closed), and a restart used to adopt the trade
with none of it, so a trade closed in the session after its entry was journaled with the exit fee alone and
the audit's realised P&L drifted from the wallet's by every such entry fee. The journal holds the fills and the
funding (journaled under the trade's id) the tracker counted; they are read back here.
"""

from __future__ import annotations

from ..domain.enums import Side
from ..domain.events import FillEvent
from ..domain.money import to_decimal
from ..exchange.ids import PREFIX
from ..journal.reader import JournalReader
from ..trading.away_exits import ENTRY_SLACK_MS
from ..trading.trades import OpenTrade
from .journal import JsonRow, opened_from_row


def adopted_trades(reader: JournalReader) -> list[OpenTrade]:
    """Every trade the journal holds open (oldest first), with its journaled fills and funding: what
    reconciliation closes (gone while away) or the tracker adopts."""
    trades = []
    for row in reader.open_trades():
        opened = opened_from_row(row)
        journaled = reader.fills_since(opened.symbol, opened.time_ms - ENTRY_SLACK_MS, f"{PREFIX}-{opened.trade_id}-")
        fills = [fill_from_row(f) for f in journaled]
        trades.append(OpenTrade.restored(opened, fills, reader.trade_funding(opened.trade_id)))
    return trades


def fill_from_row(row: JsonRow) -> FillEvent:
    """A journaled `fills` row back into the event it recorded."""
    return FillEvent(fill_id=str(row["fill_id"]), symbol=str(row["symbol"]), client_id=str(row["client_id"]),
                     side=Side(str(row["side"])), quantity=to_decimal(row["quantity"], "quantity"),
                     price=to_decimal(row["price"], "price"), fee=to_decimal(row["fee"], "fee"),
                     realized_pnl=to_decimal(row["realized_pnl"], "realized_pnl"), time_ms=int(row["time_ms"]),
                     maker=bool(row["maker"]))
