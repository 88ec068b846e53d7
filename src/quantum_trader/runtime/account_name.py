"""The name the journal gives the account a session trades (`sessions.account`), with no secret in it.

A restart mid-day must measure the daily loss limit from the day's first equity, not from the equity at
the restart (risk/daily_loss.py), and only the same account's day counts: a fresh paper account after
`paper-reset`, or another exchange account behind another API key, starts its own day. So each session
journals which account it trades:

- the in-process paper account: its random id, made with the account and erased with it
  (sim/paper_store.py `ACCOUNT_ID`);
- an exchange over a URL (a simulator server, the testnet, production): the URL without credentials, spelled
  one way (`same_place`), and the first 12 hex digits of the API key's SHA-256. The key itself never
  reaches the journal; the digest tells two keys apart and cannot be turned back into either (a key is 64
  random characters). A second API key on the same Binance account is therefore another account here: the
  futures API names no account, so two keys cannot be known to share one. After rotating keys mid-day the
  day starts again from the next equity point (the README says so).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from ..readmodels.evidence import public_url


def paper_account_name(account_id: str) -> str:
    return f"paper account {account_id}"


#: Spellings of one machine: the same simulator server whichever way its URL is written.
LOOPBACK = {"localhost": "127.0.0.1", "::1": "127.0.0.1"}
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def same_place(url: str) -> str:
    """The URL without credentials, path or query, spelled one way: `http://localhost:8001/` and
    `HTTP://127.0.0.1:8001` are one exchange, `https://fapi.binance.com:443` is `https://fapi.binance.com`
    (a tester restarted with the other spelling and the losing day got a fresh allowance)."""
    parts = urlsplit(public_url(url))
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    host = LOOPBACK.get(host, host)
    port = parts.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return f"{scheme}://{netloc}"


#: What separates the exchange from the key's fingerprint in an account's name.
KEY_MARK = " key sha256:"


def exchange_account_name(url: str, api_key: str | None) -> str:
    base = same_place(url)
    if not api_key:
        return base
    return f"{base}{KEY_MARK}{hashlib.sha256(api_key.encode()).hexdigest()[:12]}"
