"""Deterministic client order ids: the same (trade, purpose, attempt) always gives the same id.

That is what makes placement idempotent: after a timeout the bot asks the exchange for the id it
would have used, instead of sending a second order. Ids fit Binance's rule (1-36 characters of
`[.A-Za-z0-9:/_-]`); a trade id that is too long or uses other characters is replaced by a stable
hash of itself, so two different trades never share an id by accident of cleaning.
"""

from __future__ import annotations

import hashlib
import re

from ..domain.exchange_types import check_client_id

PREFIX = "qt"
MAX_LEN = 36
MAX_ATTEMPT = 9999
_TRADE_OK = re.compile(r"^[A-Za-z0-9_.:/]+\Z")
_PURPOSE_OK = re.compile(r"^[A-Za-z0-9_]{1,8}\Z")


def client_id_for(trade_id: str, purpose: str, attempt: int = 0) -> str:
    """`qt-<trade>-<purpose>-<attempt>`, e.g. `qt-T42-sl-0`; at most 36 characters."""
    if not 0 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt: {attempt} must be within 0..{MAX_ATTEMPT}")
    if not _PURPOSE_OK.match(purpose):
        raise ValueError(f"purpose: {purpose!r} must be 1-8 characters of [A-Za-z0-9_]")
    tail = f"-{purpose}-{attempt}"
    room = MAX_LEN - len(PREFIX) - 1 - len(tail)
    trade = trade_id
    if not _TRADE_OK.match(trade_id) or len(trade_id) > room:
        trade = "h" + hashlib.sha256(trade_id.encode()).hexdigest()[: room - 1]
    return check_client_id(f"{PREFIX}-{trade}{tail}")


def belongs_to(client_id: str, trade_id: str) -> bool:
    """True when `client_id` is one of the trade's own deterministic ids (`qt-<trade>-<purpose>-<n>`): the inverse
    of `client_id_for`, so whoever sees only an order's id (the trade tracker, the alerts) can tell its trade."""
    parts = client_id.split("-")
    if len(parts) < 4 or parts[0] != PREFIX or not parts[-1].isdigit():
        return False
    try:
        return client_id_for(trade_id, parts[-2], int(parts[-1])) == client_id
    except ValueError:
        return False
