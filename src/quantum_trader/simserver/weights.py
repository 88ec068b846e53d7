"""Per-minute request weight, as Binance counts it (binance_futures.md §5.4).

A bot that polls too hard is banned on the real exchange, so the simulator answers the same way: every
response carries `X-MBX-USED-WEIGHT-1M`, and a request that takes the minute's total past the limit
gets HTTP 429 with -1003 and `Retry-After`. The limit is configurable because Binance's documents
disagree (2400 vs 6000 per minute) and tests want a tiny one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..domain import binance_errors as be
from ..domain.errors import ExchangeError

DEFAULT_WEIGHT_LIMIT = 2400
MINUTE_MS = 60_000
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"

#: Endpoint weights (§5.4); anything unlisted weighs 1. Symbol-dependent ones are in `weight_of`.
_WEIGHTS: dict[tuple[str, str], int] = {
    ("POST", "/fapi/v1/order"): 0,
    ("POST", "/fapi/v1/algoOrder"): 0,
    ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5,
    ("GET", "/fapi/v2/account"): 5,
    ("GET", "/fapi/v3/account"): 5,
    ("GET", "/fapi/v2/balance"): 5,
    ("GET", "/fapi/v3/balance"): 5,
    ("GET", "/fapi/v1/userTrades"): 5,
    ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("GET", "/fapi/v1/commissionRate"): 20,
    ("GET", "/fapi/v1/allOrders"): 5,
    ("GET", "/fapi/v1/ticker/24hr"): 1,
}
_SYMBOL_OPTIONAL: dict[str, int] = {
    "/fapi/v1/openOrders": 40,
    "/fapi/v1/openAlgoOrders": 40,
    "/fapi/v1/ticker/price": 2,
    "/fapi/v2/ticker/price": 2,
    "/fapi/v1/ticker/24hr": 40,
    "/fapi/v1/premiumIndex": 10,
}


def weight_of(method: str, path: str, params: Mapping[str, str]) -> int:
    """The request's weight: by endpoint, by `limit` for klines, heavier without a symbol for lists."""
    if path.startswith("/sim/") or path.startswith("/ws") or path.startswith("/private"):
        return 0
    if path == "/fapi/v1/klines":
        try:
            limit = int(params.get("limit", "500"))
        except ValueError:
            limit = 500
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if method == "GET" and path in _SYMBOL_OPTIONAL and not params.get("symbol"):
        return _SYMBOL_OPTIONAL[path]
    return _WEIGHTS.get((method, path), 1)


@dataclass
class WeightCounter:
    """Weight used in the current wall-clock minute; thread-safe, the window resets on the minute."""

    clock: Callable[[], int]
    limit: int = DEFAULT_WEIGHT_LIMIT
    _minute: int = -1
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self, weight: int) -> int:
        """Add `weight`; the minute's total, or 429/-1003 (`RetryableExchangeError`) past the limit.

        A refused request still counts, as on Binance, so hammering through a 429 keeps it refused.
        """
        with self._lock:
            self._roll()
            self._used += weight
            if self._used > self.limit:
                raise be.too_many_requests(self.limit)
            return self._used

    @property
    def used(self) -> int:
        with self._lock:
            self._roll()
            return self._used

    def retry_after_seconds(self) -> int:
        """Whole seconds until the next minute starts (at least 1)."""
        now = self.clock()
        return max(1, -(-(MINUTE_MS - now % MINUTE_MS) // 1000))

    def _roll(self) -> None:
        minute = self.clock() // MINUTE_MS
        if minute != self._minute:
            self._minute, self._used = minute, 0


ORDER_PATHS = frozenset({"/fapi/v1/order", "/fapi/v1/algoOrder"})
ORDER_COUNT_WINDOWS: tuple[tuple[str, int, int], ...] = (("10S", 10_000, 300), ("1M", MINUTE_MS, 1200))


def too_many_orders(limit: int, interval: str) -> ExchangeError:
    """-1015, Binance's answer past an ORDERS rate limit (HTTP 429 like the weight limit)."""
    return ExchangeError(-1015, f"Too many new orders; current limit is {limit} orders per {interval}.", 429)


@dataclass
class OrderCounter:
    """New orders per 10 s and per minute (the ORDERS rate limits, §5.4): `X-MBX-ORDER-COUNT-*` headers."""

    clock: Callable[[], int]
    windows: tuple[tuple[str, int, int], ...] = ORDER_COUNT_WINDOWS
    _counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self) -> dict[str, str]:
        """Count one new order; the headers to send, or -1015 past a limit (the order still counts)."""
        with self._lock:
            now = self.clock()
            headers: dict[str, str] = {}
            refused: ExchangeError | None = None
            for name, length, limit in self.windows:
                window, count = self._counts.get(name, (-1, 0))
                count = count + 1 if window == now // length else 1
                self._counts[name] = (now // length, count)
                headers[f"X-MBX-ORDER-COUNT-{name}"] = str(count)
                if count > limit and refused is None:
                    refused = too_many_orders(limit, "10 SECONDS" if name == "10S" else "1 MINUTE")
            if refused is not None:
                raise refused
            return headers
