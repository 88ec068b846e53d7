"""The ccxt client the adapter drives: Binance's `binanceusdm`, repointed at any compatible base URL.

Kept apart from the adapter (ccxt_adapter.py) because it is the one place ccxt's own behaviour is chosen:
client-side pacing, the receive window, and Binance's futures error map against a non-Binance hostname.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from .secrets import Secret

PRODUCTION_URL = "https://fapi.binance.com"
#: Binance drops a signed request that arrives later than this after its timestamp (-1021).
RECV_WINDOW_MS = 5000


def make_client(base_url: str, api_key: Secret, api_secret: Secret, *, timeout_s: float,
                throttle: bool = True) -> Any:
    """A `binanceusdm` whose fapi URLs point at `base_url` (binance_futures.md §9.5).

    `throttle=False` turns off ccxt's client-side pacing (it spends 50 ms per request weight, so one
    40-weight `openOrders` waits 2 s): right for a simulator server, which enforces Binance's weights
    itself and answers 429, never for Binance.
    """
    client = ccxt_async.binanceusdm({
        "apiKey": api_key.reveal(), "secret": api_secret.reveal(), "timeout": int(timeout_s * 1000),
        "enableRateLimit": throttle,
        "options": {"fetchCurrencies": False, "adjustForTimeDifference": False,
                    "disableFuturesSandboxWarning": True, "recvWindow": RECV_WINDOW_MS},
    })
    base = base_url.rstrip("/")
    if base != PRODUCTION_URL:
        for name, url in list(client.urls["api"].items()):
            if isinstance(url, str) and url.startswith(PRODUCTION_URL):
                client.urls["api"][name] = base + url[len(PRODUCTION_URL):]
    # Against a non-Binance hostname ccxt would skip its linear error map (-2021 → plain ExchangeError).
    client.exceptions["exact"].update(client.exceptions["linear"]["exact"])
    return client
