"""One request budget per adapter: every REST call's weight, Binance's per-IP minute, 429s and 418 bans.

Binance counts request weight per IP in wall-clock minutes (binance_futures.md §5.4: 2 400 per minute,
configurable because its documents disagree) and answers 429 past the limit, then 418 bans of minutes
to days for a client that keeps going. A bot that reads too hard is therefore blinded by the exchange
exactly when it matters, so every REST call passes `admit` first:

- its weight comes from `weight_of`, the same table as the simulator server's (simserver/weights.py;
  the layers forbid importing it, a test compares the two);
- the minute's use is the larger of our own count and the server's `X-MBX-USED-WEIGHT-1M` (`observe`),
  so other clients on the same IP and a clock offset to the server are covered;
- routine reads (reconciliation: full listings, account, klines) are refused past `share` of the limit,
  paced over the minute so a burst at its start cannot blind the rest of it; reads of one symbol and of
  one order (protection read-back) may use up to `PROTECTION_SHARE`; orders are never refused for
  weight (they weigh 0 IP weight and count the order rate instead);
- after a 429 or 418 (`rate_limited`) no request at all leaves until its `Retry-After` has passed;
- the account's order rate (Binance's ORDERS limits, `X-MBX-ORDER-COUNT-*`, -1015) is `orders`
  (order_rate.py): a new entry is refused near its limit, an order that only reduces a position never
  is, and after a -1015 (`order_rate_limited`) new orders wait for its Retry-After; other calls go on.

A refusal raises `BudgetRefused` (a `RetryableExchangeError`, so every caller that survives a 429
survives it too) and is counted, so a monitor that is held back is never reported with 0 errors.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum

from ..core.loggers import get_logger
from ..domain.errors import RetryableExchangeError
from ..domain.request_weights import WITHOUT_SYMBOL
from .order_rate import TOO_MANY_ORDERS, OrderKind, OrderRate

log = get_logger(__name__)

DEFAULT_WEIGHT_LIMIT = 2400
DEFAULT_SHARE_PCT = 50.0
MINUTE_S = 60.0
#: Reads of one symbol or one order (what protection read-back needs) stop here, short of a 429.
PROTECTION_SHARE = 0.9
#: Routine reads may run this many seconds ahead of an even spread of their share over the minute.
PACE_SLACK_S = 10.0
#: A Retry-After this short delays a call instead of refusing it (a longer one: `BudgetRefused`).
MAX_DELAY_S = 5.0
#: 429s within this many seconds that make /health degraded ("repeated").
REPEATED_429_WINDOW_S = 300.0
USED_WEIGHT_HEADER = "x-mbx-used-weight-1m"
BANNED_UNTIL = re.compile(r"banned until (\d{10,})")

ORDER_PATHS = frozenset({"/fapi/v1/order", "/fapi/v1/algoOrder"})


def reading_affordable(reader: object) -> bool:
    """Whether `reader` can afford a full REST reading now: its own `reading_affordable()` when it has a
    request budget (the Binance adapter and wrappers of it), else True (the in-process simulator).

    The seam the monitor uses: it asks a question about cost, never about weights or endpoints, so
    trading/ stays free of exchange specifics and every adapter without a budget answers yes."""
    ask = getattr(reader, "reading_affordable", None)
    return bool(ask()) if callable(ask) else True


def reading_pace_s(reader: object) -> float:
    """The fewest seconds between two full REST readings `reader` wants: its own `reading_pace_s()` when it
    has one (the Binance adapter: QT_RECONCILE_INTERVAL while its user-data stream is up, 0 while it is
    not), else 0 (in process a reading costs nothing, so the monitor reads every interval)."""
    ask = getattr(reader, "reading_pace_s", None)
    return float(ask()) if callable(ask) else 0.0


class Priority(IntEnum):
    """Who goes first when weight is short: lower values are never starved by higher ones."""

    ORDER = 0  # place, cancel, leverage, margin type, listen key: never refused for weight
    PROTECTION = 1  # one order, one symbol: reading protection back
    ROUTINE = 2  # reconciliation and market reads: full listings, account, klines, exchangeInfo


def priority_of(method: str, path: str, params: Mapping[str, str]) -> Priority:
    """By endpoint: anything that changes state is an order; a read of one order or one symbol protects."""
    if method != "GET":
        return Priority.ORDER
    if path in ORDER_PATHS or (params.get("symbol") and path in WITHOUT_SYMBOL):
        return Priority.PROTECTION
    if params.get("symbol") and path.endswith("/positionRisk"):
        return Priority.PROTECTION
    return Priority.ROUTINE


_URGENT: ContextVar[bool] = ContextVar("qt_budget_urgent", default=False)


@contextmanager
def urgent() -> Iterator[None]:
    """Reads made inside (in this task) are never routine: the kill switch's full listings of orders and
    positions must not be refused because reconciliation has used its share of the minute."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


def is_urgent() -> bool:
    return _URGENT.get()


def effective(priority: Priority) -> Priority:
    """`priority`, raised to PROTECTION inside `urgent()`."""
    return min(priority, Priority.PROTECTION) if _URGENT.get() else priority


class BudgetRefused(RetryableExchangeError):
    """A call the budget did not send. `blocked`: the server's Retry-After (a 429 or a ban) holds every
    call; otherwise the call's priority has used its share of this minute. `retry_after` in seconds.
    `entry`: a new entry held back for the account's order rate (code -1015, as the exchange would say)."""

    def __init__(self, msg: str, retry_after: float, *, priority: Priority, blocked: bool,
                 entry: bool = False, code: int = -1003) -> None:
        super().__init__(code, msg, 429)
        self.retry_after = retry_after
        self.priority = priority
        self.blocked = blocked
        self.entry = entry

    @property
    def worth_waiting(self) -> bool:
        """Orders and protection reads wait out a block; a routine read is simply skipped this time, and so
        is an entry held back for the order rate: sent late, it would act on a signal that has passed."""
        return self.priority is not Priority.ROUTINE and not self.entry


def held_back(exc: BaseException) -> bool:
    """A routine read the budget did not send (its share of the minute used, or a 429's Retry-After): the
    caller skips it by design and counts the skip, it is not an error. A refused order or protection read is."""
    return isinstance(exc, BudgetRefused) and exc.priority is Priority.ROUTINE


@dataclass
class WeightBudget:
    """The minute's weight for one IP as this client sees it; `clock` is wall time in seconds (the
    server's minutes are wall-clock minutes)."""

    limit: int = DEFAULT_WEIGHT_LIMIT
    share_pct: float = DEFAULT_SHARE_PCT
    clock: Callable[[], float] = time.time
    _window: int = -1
    _own: int = 0
    _server: int = 0
    blocked_until: float = 0.0
    banned_until: float = 0.0
    last_429: float | None = None
    last_418: float | None = None
    rate_limited_429: int = 0
    rate_limited_418: int = 0
    peak_used: int = 0
    sent: int = 0
    delayed: int = 0
    refused: dict[str, int] = field(default_factory=lambda: {p.name.lower(): 0 for p in Priority})
    #: The account's new orders per window (order_rate.py); its limits follow exchangeInfo too.
    orders: OrderRate = field(default_factory=OrderRate)
    _recent_429: deque[float] = field(default_factory=deque)

    @property
    def share(self) -> float:
        return self.share_pct / 100.0

    def used(self) -> int:
        """The minute's weight: ours or the server's, whichever is higher."""
        self._roll(self.clock())
        return max(self._own, self._server)

    def cap(self, priority: Priority, now: float | None = None) -> int:
        """What `priority` may bring the minute's weight up to at `now`."""
        now = self.clock() if now is None else now
        if priority is Priority.ORDER:
            return self.limit
        if priority is Priority.PROTECTION:
            return int(self.limit * PROTECTION_SHARE)
        elapsed = now - (now // MINUTE_S) * MINUTE_S
        return int(self.limit * self.share * min(1.0, (elapsed + PACE_SLACK_S) / MINUTE_S))

    def affordable(self, weight: int, priority: Priority = Priority.ROUTINE) -> bool:
        """Whether `admit` would send a call of this weight now (nothing is counted)."""
        now = self.clock()
        self._roll(now)
        if now < self.blocked_until:
            return False
        return priority is Priority.ORDER or max(self._own, self._server) + weight <= self.cap(priority, now)

    async def acquire(self, weight: int, priority: Priority, what: str = "", order: OrderKind | None = None) -> None:
        """`admit`, after waiting out a 429's Retry-After of at most MAX_DELAY_S (counted in `delayed`): a
        short block delays the call; a long one (a 429 early in a minute) and any ban (418) refuse it. An
        order that only reduces a position waits out a short -1015 block the same way; an entry does not."""
        now = self.clock()
        until = max(self.blocked_until, self.orders.blocked_until if order is OrderKind.REDUCE else 0.0)
        wait = until - now
        if 0 < wait <= MAX_DELAY_S and now >= self.banned_until:
            self.delayed += 1
            await asyncio.sleep(wait + 0.01)  # timers may fire a hair early
        self.admit(weight, priority, what, order)

    def admit(self, weight: int, priority: Priority, what: str = "", order: OrderKind | None = None) -> None:
        """Count the call, or raise `BudgetRefused` without sending anything. `order`: what a new order
        can do to a position (`order_rate.order_kind`), None for every other call."""
        now = self.clock()
        self._roll(now)
        if now < self.blocked_until:
            self.refused[priority.name.lower()] += 1
            kind = "banned (418)" if now < self.banned_until else "rate limited (429)"
            raise BudgetRefused(f"request budget: {kind}, no request for {self.blocked_until - now:.1f} s"
                                f" ({what})", self.blocked_until - now, priority=priority, blocked=True)
        used = max(self._own, self._server)
        if priority is not Priority.ORDER and used + weight > self.cap(priority, now):
            self.refused[priority.name.lower()] += 1
            wait = (now // MINUTE_S + 1) * MINUTE_S - now
            raise BudgetRefused(f"request budget: {what} (weight {weight}) not sent: {self._over(priority, used, now)}",
                                wait, priority=priority, blocked=False)
        if order is not None:
            self._admit_order(order, now, what)
            self.orders.charge(now)
        self._own += weight
        self.sent += 1
        self.peak_used = max(self.peak_used, self._own, self._server)

    def _over(self, priority: Priority, used: int, now: float) -> str:
        """Which ceiling a refused read met, in words: the figure refused at is the bot's own, not the
        exchange's limit (a bare "past 297 of 2400" read as if the exchange had been reached)."""
        cap, limit = self.cap(priority, now), f"of the exchange's {self.limit} a minute"
        if priority is Priority.PROTECTION:
            return f"the minute's weight is {used}; protection reads stop at {cap} ({PROTECTION_SHARE:.0%} {limit})"
        share = int(self.limit * self.share)
        if cap >= share:
            return f"the minute's weight is {used}; routine reads stop at their share, {share} {limit}"
        return (f"the minute's weight is {used}; routine reads may reach {cap} by second {int(now % MINUTE_S)} "
                f"(an even spread of their share, {share} {limit})")

    def _admit_order(self, order: OrderKind, now: float, what: str) -> None:
        """The order-rate rule (order_rate.py): during a -1015's Retry-After no new order; past the entry
        share of a window no new entry. An order that only reduces a position is refused only by the former."""
        if now < self.orders.blocked_until:
            self.refused[Priority.ORDER.name.lower()] += 1
            self.orders.entries_held_back += int(order is OrderKind.ENTRY)
            raise BudgetRefused(f"request budget: order rate limited (-1015), no new order for "
                                f"{self.orders.blocked_until - now:.1f} s ({what})", self.orders.blocked_until - now,
                                priority=Priority.ORDER, blocked=True, entry=order is OrderKind.ENTRY,
                                code=TOO_MANY_ORDERS)
        refusal = self.orders.entry_refusal(now) if order is OrderKind.ENTRY else None
        if refusal is None:
            return
        reason, window_left_s = refusal
        self.refused[Priority.ORDER.name.lower()] += 1
        self.orders.entries_held_back += 1
        log.warning("entry held back for the order rate; not sent", reason=reason, what=what)
        raise BudgetRefused(f"request budget: new entry not sent: {reason} ({what})", window_left_s,
                            priority=Priority.ORDER, blocked=False, entry=True, code=TOO_MANY_ORDERS)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """The server's `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-*` from a response (any case)."""
        self.orders.observe(headers, self.clock())
        for name, value in (headers or {}).items():
            if name.lower() == USED_WEIGHT_HEADER:
                try:
                    server = int(value)
                except ValueError:
                    return
                self._roll(self.clock())
                self._server = max(self._server, server)
                self.peak_used = max(self.peak_used, self._server)
                return

    def rate_limited(self, status: int, retry_after: float | None, message: str = "") -> None:
        """A 429 or 418 came back: nothing is sent until its Retry-After (a ban: until its end)."""
        now = self.clock()
        banned = BANNED_UNTIL.search(message)
        if status == 418 or banned:
            until = int(banned.group(1)) / 1000 if banned else now + (retry_after or 120.0)
            if retry_after is not None:
                until = max(until, now + retry_after)
            self.banned_until = max(self.banned_until, until)
            self.blocked_until = max(self.blocked_until, until)
            self.last_418, self.rate_limited_418 = now, self.rate_limited_418 + 1
            log.warning("exchange banned this IP (418)", retry_after_s=round(until - now, 1), message=message[:200])
            return
        wait = retry_after if retry_after is not None else (now // MINUTE_S + 1) * MINUTE_S - now
        self.blocked_until = max(self.blocked_until, now + wait)
        self.last_429, self.rate_limited_429 = now, self.rate_limited_429 + 1
        self._recent_429.append(now)
        log.warning("exchange rate limit hit (429)", retry_after_s=round(wait, 1), used=self.used(), limit=self.limit)

    def order_rate_limited(self, retry_after: float | None, message: str = "") -> None:
        """A -1015 came back (HTTP 429 for the account's order rate, not the IP's weight): new orders wait
        for its Retry-After, every other call goes on; counted apart from 429s (`order_rate_limited`)."""
        self.orders.server_refused(self.clock(), retry_after, message)

    def banned(self) -> bool:
        return self.clock() < self.banned_until

    def repeated_429s(self) -> bool:
        """Two or more 429s in the last five minutes: the budget is not holding."""
        now = self.clock()
        while self._recent_429 and self._recent_429[0] < now - REPEATED_429_WINDOW_S:
            self._recent_429.popleft()
        return len(self._recent_429) >= 2

    def status(self) -> str:
        """`unhealthy` while banned, `degraded` after repeated 429s or a recent -1015, else `healthy`."""
        if self.banned():
            return "unhealthy"
        return "degraded" if self.repeated_429s() or self.orders.degraded(self.clock()) else "healthy"

    def snapshot(self) -> dict[str, object]:
        """The budget as /health shows it (and /metrics exports)."""
        now = self.clock()
        used = self.used()
        return {
            "status": self.status(), "used_weight": used, "limit": self.limit, "share_pct": self.share_pct,
            "used_pct": round(100.0 * used / self.limit, 1) if self.limit else 0.0, "peak_used_weight": self.peak_used,
            "sent": self.sent, "delayed": self.delayed, "refused": dict(self.refused),
            "rate_limited_429": self.rate_limited_429, "rate_limited_418": self.rate_limited_418,
            "last_429_age_s": None if self.last_429 is None else round(now - self.last_429, 1),
            "last_418_age_s": None if self.last_418 is None else round(now - self.last_418, 1),
            "blocked_for_s": round(max(0.0, self.blocked_until - now), 1),
            "banned_until_ms": int(self.banned_until * 1000) if self.banned_until > now else None,
            "order_rate_limited": self.orders.rate_limited,
            "last_order_rate_limited_age_s": (None if self.orders.last_rate_limited is None
                                              else round(now - self.orders.last_rate_limited, 1)),
            "order_rate": self.orders.snapshot(now),
        }

    def _roll(self, now: float) -> None:
        window = int(now // MINUTE_S)
        if window != self._window:
            self._window, self._own, self._server = window, 0, 0
