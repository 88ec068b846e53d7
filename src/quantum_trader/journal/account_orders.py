"""What the journal knows of the accounts behind the keys used on one exchange: which accounts it names there, and
an order each of them placed that the exchange can still be asked about (runtime/account_link.py: a new API key
proves it trades one of them by being shown that order)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from .models import OrderRow, SessionRow
from .reader import JournalReader, _table

#: Classic orders (what `GET /fapi/v1/order` finds by client id); a stop or take-profit goes through Binance's Algo
#: Order API and is looked up elsewhere.
CLASSIC_TYPES = ("MARKET", "LIMIT")
#: Orders that filled: Binance forgets an order cancelled without a fill after 3 days, a filled one after 90.
FILLED = "FILLED"


@dataclass(frozen=True)
class KnownOrder:
    """An order as the journal holds it: what a key of the same account is shown again, to the last digit."""

    symbol: str
    client_id: str
    venue_id: str
    filled: Decimal
    avg_price: Decimal


def accounts_named(reader: JournalReader, prefix: str) -> list[str]:
    """The accounts whose name starts with `prefix` (an exchange's URL and " key "), the last traded first."""
    s = _table(SessionRow)
    query = (select(s.c.account).where(s.c.account.startswith(prefix, autoescape=True))
             .group_by(s.c.account).order_by(func.max(s.c.id).desc()))
    with reader.engine.connect() as conn:
        return [str(name) for name in conn.execute(query).scalars()]


def last_traded_order(reader: JournalReader, account: str) -> KnownOrder | None:
    """The account's latest classic order that traded, with the exchange's id for it (None: it has none)."""
    o, s = _table(OrderRow), _table(SessionRow)
    query = (select(o.c.symbol, o.c.client_id, o.c.venue_id, o.c.filled, o.c.avg_price)
             .select_from(o.join(s, o.c.session_id == s.c.id))
             .where(s.c.account == account, o.c.type.in_(CLASSIC_TYPES), o.c.status == FILLED,
                    o.c.venue_id.is_not(None), o.c.filled.is_not(None), o.c.avg_price.is_not(None),
                    o.c.dry_run.is_(False))
             .order_by(o.c.updated_ms.desc()).limit(1))
    with reader.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return KnownOrder(str(row[0]), str(row[1]), str(row[2]), Decimal(str(row[3])), Decimal(str(row[4])))
