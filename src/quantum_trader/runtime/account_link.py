"""A new API key for an account the journal knows is that account: rotating keys mid-day keeps the day.

runtime/account_name.py names an exchange account by its URL and its key's fingerprint, since the futures API names
no account. A rotated key (a new key made for the same account and the old one deleted, as users do every few
months, or at once after a leak) therefore read as another account: the daily loss limit's reference (the
equity at the UTC day's start) was not found, so the day started again from the next equity point and a trader
who had lost 4 % got a fresh 5 %; the day's daily kill switch no longer held; "today's P&L" and the equity curve
began anew.

So a key the journal has not named yet is shown an order the journal holds from each other key it named on the
same exchange (the last traded first, at most `MAX_PROBES` of them, one request of weight 1 each): the exchange
answers with that order (its client id, its exchange id, what filled and at what average price) only to a key of
the account that placed it; another account has no such order (-2013) or another one under that client id. A
match makes the session take the known account's name, and with it the account's day, halts and history. With
nothing to show (those accounts have no filled order the exchange still keeps: 90 days on Binance) or a failed
request, the key is a new account, as before, and the log says so.
"""

from __future__ import annotations

from ..core.loggers import get_logger
from ..domain.errors import ExchangeError
from ..exchange.port import ExchangeReader
from ..journal.account_orders import KnownOrder, accounts_named, last_traded_order
from ..journal.reader import JournalReader
from .account_name import KEY_MARK

log = get_logger(__name__)
#: Other keys' accounts asked about, the last traded first: a start costs at most this many requests.
MAX_PROBES = 3


async def account_of_key(exchange: ExchangeReader, reader: JournalReader, account: str | None) -> str | None:
    """The journal's name for the account this session's key trades: its own name when the journal knows it or
    nothing proves otherwise, else the name of the known account on the same exchange it proves to trade."""
    if account is None or KEY_MARK not in account:
        return account  # the in-process paper account, or no key: nothing to rotate
    known = accounts_named(reader, account.partition(KEY_MARK)[0] + KEY_MARK)
    if account in known:
        return account
    for other in known[:MAX_PROBES]:
        order = last_traded_order(reader, other)
        if order is None:
            continue
        try:
            if await _placed(exchange, order):
                log.info("a new API key trades an account the journal knows (it was shown that account's order): "
                         "the account's day, halts and history go on", account=other, order=order.client_id)
                return other
        except ExchangeError as exc:
            log.warning("could not ask whether the new API key trades an account the journal knows; it counts as "
                        "another account (a daily loss limit starts its day again)", error=str(exc))
            return account
    if known:
        log.info("a new API key, not shown any order of the accounts the journal knows on this exchange: another "
                 "account", known=len(known))
    return account


async def account_in_journal(exchange: ExchangeReader, db_url: str, account: str | None) -> str | None:
    """`account_of_key` on the journal at `db_url` (migrated already)."""
    reader = JournalReader(db_url)
    try:
        return await account_of_key(exchange, reader, account)
    finally:
        reader.close()


async def _placed(exchange: ExchangeReader, order: KnownOrder) -> bool:
    """True when the exchange shows this key the very order: same exchange id, quantity filled and average price."""
    found = await exchange.query(order.symbol, order.client_id)
    return (found is not None and found.venue_id == order.venue_id and found.filled == order.filled
            and found.avg_price == order.avg_price)
