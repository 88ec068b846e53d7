"""Client order ids for every order the bot sends, allocated in one place.

An id derives from (trade, purpose, attempt) (exchange/ids.py), so that after a timeout the bot can
ask the exchange for the id it used instead of sending twice. The attempt number is the only moving
part: it rises with every order of a (trade, purpose) in this process, never reuses an id the
exchange still has open (Binance answers -4116 to a duplicate among open orders), and starts above
every attempt the journal already knows for the trade after a restart, so a later lookup by client
id always finds one order.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from ..exchange.ids import MAX_ATTEMPT, client_id_for

_ATTEMPT = re.compile(r"-([A-Za-z0-9_]{1,8})-(\d+)$")


class AttemptAllocator:
    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int] = {}

    def next_id(self, trade_id: str, purpose: str, *, taken: Collection[str] = ()) -> str:
        """The next unused client id of (trade, purpose); wraps after MAX_ATTEMPT (ids of closed orders may repeat)."""
        key = (trade_id, purpose)
        attempt = self._next.get(key, 0)
        for _ in range(MAX_ATTEMPT + 1):
            client_id = client_id_for(trade_id, purpose, attempt)
            attempt = attempt + 1 if attempt < MAX_ATTEMPT else 0
            if client_id not in taken:
                self._next[key] = attempt
                return client_id
        raise RuntimeError(f"no free client id for trade {trade_id} {purpose}: every attempt is open")

    def learn(self, trade_id: str, client_ids: Iterable[str]) -> None:
        """Ids already used for a trade (from the journal): later attempts start above them."""
        for client_id in client_ids:
            for purpose in _purposes_in(trade_id, client_id):
                attempt = int(client_id.rsplit("-", 1)[1])
                key = (trade_id, purpose)
                if attempt < MAX_ATTEMPT:
                    self._next[key] = max(self._next.get(key, 0), attempt + 1)


def _purposes_in(trade_id: str, client_id: str) -> list[str]:
    """The purpose of `client_id` if it is one of this trade's ids (checked by rebuilding it)."""
    match = _ATTEMPT.search(client_id)
    if match is None:
        return []
    purpose, attempt = match.group(1), int(match.group(2))
    if attempt > MAX_ATTEMPT or client_id_for(trade_id, purpose, attempt) != client_id:
        return []
    return [purpose]
