"""The name the journal gives the account a session trades (`sessions.account`), with no secret in it.

A restart mid-day must measure the daily loss limit from the day's first equity, not from the equity at
the restart (risk/daily_loss.py), and only the same account's day counts: a fresh paper account after
`paper-reset`, or another exchange account behind another API key, starts its own day. So each session
journals which account it trades:

- the in-process paper account: its random id, made with the account and erased with it
  (sim/paper_store.py `ACCOUNT_ID`);
- an exchange over a URL (a simulator server, the testnet, production): the URL without credentials, and
  the first 12 hex digits of the API key's SHA-256. The key itself never reaches the journal; the digest
  tells two keys apart and cannot be turned back into either (a key is 64 random characters).
"""

from __future__ import annotations

import hashlib

from ..readmodels.evidence import public_url


def paper_account_name(account_id: str) -> str:
    return f"paper account {account_id}"


def exchange_account_name(url: str, api_key: str | None) -> str:
    base = public_url(url)
    if not api_key:
        return base
    return f"{base} key sha256:{hashlib.sha256(api_key.encode()).hexdigest()[:12]}"
