"""The account's order rate: Binance's ORDERS limits, and entries held back before them.

Binance limits new orders per account as well as request weight per IP (binance_futures.md §5.4): by
default 300 per 10 seconds and 1 200 per minute (`exchangeInfo.rateLimits`, type ORDERS), reported on
every order answer as `X-MBX-ORDER-COUNT-10S` / `-1M`, and answered past a limit with HTTP 429 and
-1015 "Too many new orders". A bot that spends the whole allowance on entries has none left for the
stop that must follow a fill, so `OrderRate` keeps a margin for protection:

- each window's count is our own count of new orders sent, raised to the server's header whenever that
  is higher (other sessions on the same account count too);
- a NEW entry is refused before it is sent once any window is at or above `entry_share_pct` of its
  limit (default 80 %); an order that can only reduce a position (stop-loss, take-profit, emergency or
  kill-switch close) never is, and cancels are not new orders at all;
- after a -1015 no new order leaves until its Retry-After (or, without one, the end of the window the
  message names): the server would refuse it anyway and count it against the limit again.

How the budget tells an entry from protection: by the order's own parameters (`order_kind`), not by a
marker the caller sets. Every protective order the bot sends carries `closePosition=true` or
`reduceOnly=true`, because in one-way mode an exit without either could open the opposite position;
an order with neither can open or grow a position, which is exactly what an entry is. So trading/ says
nothing new, and no code path can forget to say it: an order that can add exposure is held back near
the limit, and one that cannot is never held back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..core.loggers import get_logger

log = get_logger(__name__)

#: New orders (the paths the ORDERS limits count); cancels, queries and leverage changes are not.
NEW_ORDER_PATHS = frozenset({"/fapi/v1/order", "/fapi/v1/algoOrder"})
ORDER_COUNT_HEADER = "x-mbx-order-count-"
#: Binance's answer past an ORDERS limit (HTTP 429, like the weight limit's -1003).
TOO_MANY_ORDERS = -1015
DEFAULT_ENTRY_SHARE_PCT = 80.0
#: /health is degraded this long after the exchange refused an order for the order rate.
ORDER_RATE_DEGRADED_S = 300.0
_UNITS = {"SECOND": ("S", 1.0), "MINUTE": ("M", 60.0), "HOUR": ("H", 3600.0), "DAY": ("D", 86400.0)}
_NAMED_WINDOW = re.compile(r"per (\d+) (SECOND|MINUTE|HOUR|DAY)", re.IGNORECASE)


class OrderKind(Enum):
    """What a new order can do to a position: the only thing the order-rate rule needs to know."""

    ENTRY = "entry"  # neither reduceOnly nor closePosition: may open or grow a position
    REDUCE = "reduce"  # stop-loss, take-profit, emergency or kill-switch close: can only shrink one


def order_kind(method: str, path: str, params: Mapping[str, Any]) -> OrderKind | None:
    """None for anything that is not a new order (reads, cancels, leverage, listen keys)."""
    if method != "POST" or path not in NEW_ORDER_PATHS:
        return None
    if str(params.get("reduceOnly", "")).lower() == "true" or str(params.get("closePosition", "")).lower() == "true":
        return OrderKind.REDUCE
    return OrderKind.ENTRY


def window_name(interval: str, interval_num: int) -> tuple[str, float] | None:
    """Binance's header suffix for a rate-limit interval ("10S", "1M") and its length in seconds."""
    unit = _UNITS.get(interval.upper())
    return None if unit is None else (f"{interval_num}{unit[0]}", interval_num * unit[1])


@dataclass
class OrderWindow:
    """New orders in one fixed wall-clock window (the server's windows are multiples of `length_s`).

    One count: raised to the server's header when that is higher (it includes other sessions' orders;
    an older answer arriving late cannot lower it), and one more for each order we send after it."""

    name: str
    length_s: float
    limit: int
    peak: int = 0
    _index: int = -1
    _count: int = 0

    def count(self, now: float) -> int:
        self._roll(now)
        return self._count

    def add(self, now: float) -> None:
        self._roll(now)
        self._count += 1
        self.peak = max(self.peak, self._count)

    def seen(self, now: float, server: int) -> None:
        self._roll(now)
        self._count = max(self._count, server)
        self.peak = max(self.peak, self._count)

    def _roll(self, now: float) -> None:
        index = int(now // self.length_s)
        if index != self._index:
            self._index, self._count = index, 0


def default_windows() -> list[OrderWindow]:
    return [OrderWindow("10S", 10.0, 300), OrderWindow("1M", 60.0, 1200)]


@dataclass
class OrderRate:
    """The account's new orders per window, as this client sees them; `now` is wall time in seconds."""

    entry_share_pct: float = DEFAULT_ENTRY_SHARE_PCT
    windows: list[OrderWindow] = field(default_factory=default_windows)
    blocked_until: float = 0.0
    sent: int = 0
    entries_held_back: int = 0
    rate_limited: int = 0
    last_rate_limited: float | None = None

    def learn(self, rate_limits: Iterable[Mapping[str, Any]]) -> None:
        """The ORDERS rows of exchangeInfo's `rateLimits`: known windows take their limit, new ones are added."""
        for row in rate_limits:
            if row.get("rateLimitType") != "ORDERS":
                continue
            named = window_name(str(row.get("interval", "")), int(row.get("intervalNum", 1)))
            if named is None:
                continue
            known = next((w for w in self.windows if w.name == named[0]), None)
            if known is None:
                self.windows.append(OrderWindow(named[0], named[1], int(row["limit"])))
            else:
                known.limit = int(row["limit"])

    def observe(self, headers: Mapping[str, str] | None, now: float) -> None:
        """`X-MBX-ORDER-COUNT-<window>` headers from an answer (any case; unknown windows are ignored)."""
        for name, value in (headers or {}).items():
            lowered = name.lower()
            if not lowered.startswith(ORDER_COUNT_HEADER):
                continue
            suffix = lowered[len(ORDER_COUNT_HEADER):].upper()
            window = next((w for w in self.windows if w.name == suffix), None)
            if window is not None and value.strip().isdigit():
                window.seen(now, int(value))

    def charge(self, now: float) -> None:
        """One new order is being sent: it counts in every window, whatever the answer."""
        self.sent += 1
        for window in self.windows:
            window.add(now)

    def entry_refusal(self, now: float) -> tuple[str, float] | None:
        """Why a new entry must not be sent now, and the seconds until that window ends (None: it may be
        sent): a window at or above the entry share of its limit."""
        share = self.entry_share_pct / 100.0
        for window in self.windows:
            count = window.count(now)
            if window.limit > 0 and count >= window.limit * share:
                return (f"{count} new orders in this {window.name} window, at or above {self.entry_share_pct:g} % "
                        f"of its limit {window.limit}: the rest is kept for protection",
                        (now // window.length_s + 1) * window.length_s - now)
        return None

    def server_refused(self, now: float, retry_after: float | None, message: str) -> float:
        """A -1015 came back: no new order until Retry-After, or the end of the window the message names
        (the next minute when it names none). Returns the wait in seconds."""
        if retry_after is None:
            named = _NAMED_WINDOW.search(message)
            window = window_name(named.group(2), int(named.group(1))) if named else None
            length = window[1] if window is not None else 60.0
            retry_after = (now // length + 1) * length - now
        self.blocked_until = max(self.blocked_until, now + retry_after)
        self.rate_limited += 1
        self.last_rate_limited = now
        log.warning("exchange order rate limit hit (-1015): new orders wait", retry_after_s=round(retry_after, 1),
                    counts={w.name: w.count(now) for w in self.windows}, message=message[:200])
        return retry_after

    def degraded(self, now: float) -> bool:
        """The exchange refused an order for the order rate within ORDER_RATE_DEGRADED_S."""
        return self.last_rate_limited is not None and now - self.last_rate_limited < ORDER_RATE_DEGRADED_S

    def snapshot(self, now: float) -> dict[str, object]:
        """The order rate as /health shows it under `request_budget.order_rate` (and /metrics exports)."""
        return {
            "entry_share_pct": self.entry_share_pct, "sent": self.sent, "entries_held_back": self.entries_held_back,
            "blocked_for_s": round(max(0.0, self.blocked_until - now), 1),
            "windows": {w.name: {"count": w.count(now), "limit": w.limit, "peak": w.peak,
                                 "used_pct": round(100.0 * w.count(now) / w.limit, 1) if w.limit else 0.0}
                        for w in self.windows},
        }
