"""Per-minute request weight per IP, and the bans that follow, as Binance counts them (binance_futures.md §5.4).

A bot that polls too hard is banned on the real exchange, so the simulator answers the same way: every
response carries the caller's `X-MBX-USED-WEIGHT-1M`, a request that takes the IP's minute past the limit
gets HTTP 429 with -1003 and `Retry-After`, and an IP that keeps going after 429s in that minute gets
HTTP 418 (-1003 "IP banned until <ms>") for 2 minutes, doubling with each ban up to 3 days. Binance
does not say how many requests after a 429 cost a ban ("repeatedly ... failing to back off"), so
`ban_after` 429s are tolerated per minute (requests already in flight when the first came back) and the
next over-limit request is banned. The limit is configurable because Binance's documents disagree
(2400 vs 6000 per minute); the ban length and tolerance are, so tests need not wait minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..domain import binance_errors as be
from ..domain.errors import ExchangeError
from ..domain.request_weights import weight_of as binance_weight_of

DEFAULT_WEIGHT_LIMIT = 2400
MINUTE_MS = 60_000
#: First ban length; each further ban of the same IP doubles it, up to BAN_MAX_MS (Binance: 2 min to 3 days).
BAN_BASE_MS = 120_000
BAN_MAX_MS = 3 * 24 * 3600 * 1000
#: 429s answered to one IP within one minute before its next over-limit request is banned instead.
DEFAULT_BAN_AFTER = 3
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"

def weight_of(method: str, path: str, params: Mapping[str, str]) -> int:
    """The request's weight as Binance charges it; the server's own paths (control, websockets) are free."""
    if path.startswith("/sim/") or path.startswith("/ws") or path.startswith("/private"):
        return 0
    return binance_weight_of(method, path, params)


@dataclass
class IpBudget:
    """One IP's minute: weight used, 429s answered, and its ban history (kept for the server's life).

    `peak`, `refused_total`, `requests_total` and `weight_total` outlive the minute: a chaos campaign grades a
    whole run by them, and a test counts what a client sent over a reading longer than a minute.
    `limited_until_ms` is the end of a fault-injected 429's Retry-After (`rate_limit`).
    """

    minute: int = -1
    used: int = 0
    refused: int = 0
    banned_until_ms: int = 0
    bans: int = 0
    peak: int = 0
    refused_total: int = 0
    limited_until_ms: int = 0
    #: Every request the IP sent (a banned one too) and every weight it was charged, since the server started.
    requests_total: int = 0
    weight_total: int = 0


@dataclass
class WeightCounter:
    """Weight used per IP in the current wall-clock minute, with 429s and 418 bans; thread-safe."""

    clock: Callable[[], int]
    limit: int = DEFAULT_WEIGHT_LIMIT
    ban_base_ms: int = BAN_BASE_MS
    ban_after: int = DEFAULT_BAN_AFTER
    _ips: dict[str, IpBudget] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self, weight: int, ip: str = "") -> int:
        """Add `weight` to `ip`'s minute; its total, or 429 past the limit, or 418 while banned.

        A refused request still counts, as on Binance, so hammering through a 429 keeps it refused; a
        banned IP is refused before anything is counted and its ban is not lengthened by trying. Inside a
        `rate_limit` window the IP is refused as if over the limit, so ignoring Retry-After gets it banned.
        """
        with self._lock:
            now = self.clock()
            budget = self._budget(ip, now)
            budget.requests_total += 1
            if budget.banned_until_ms > now:
                raise be.ip_banned(budget.banned_until_ms)
            budget.used += weight
            budget.weight_total += weight
            budget.peak = max(budget.peak, budget.used)
            if budget.used <= self.limit and budget.limited_until_ms <= now:
                return budget.used
            if budget.refused >= self.ban_after:
                budget.banned_until_ms = now + self.ban_length_ms(budget.bans)
                budget.bans += 1
                raise be.ip_banned(budget.banned_until_ms)
            budget.refused += 1
            budget.refused_total += 1
            raise be.too_many_requests(self.limit)

    def rate_limit(self, ip: str, retry_after_s: int) -> ExchangeError:
        """A 429 answered to `ip` although under its weight (an injected fault): the error to answer.

        It counts as a refused request, and the IP stays limited for `retry_after_s` seconds, as a real
        429 leaves it: `charge` refuses it meanwhile and bans it after `ban_after` refusals.
        """
        with self._lock:
            now = self.clock()
            budget = self._budget(ip, now)
            budget.refused += 1
            budget.refused_total += 1
            budget.limited_until_ms = max(budget.limited_until_ms, now + retry_after_s * 1000)
        return be.too_many_requests(self.limit)

    def ban(self, ip: str, seconds: int) -> ExchangeError:
        """A 418 answered to `ip` and a ban of `seconds` (an injected fault, as if it had kept going after its
        429s): the error to answer. It counts as one of the IP's bans; `charge` refuses it until the ban ends."""
        with self._lock:
            now = self.clock()
            budget = self._budget(ip, now)
            budget.banned_until_ms = max(budget.banned_until_ms, now + seconds * 1000)
            budget.bans += 1
            return be.ip_banned(budget.banned_until_ms)

    def ban_length_ms(self, previous_bans: int) -> int:
        """2 minutes (the base) for a first ban, doubling for each earlier one, never above 3 days."""
        return min(self.ban_base_ms << min(previous_bans, 40), BAN_MAX_MS)

    def used_by(self, ip: str) -> int:
        """`ip`'s weight this minute: its `X-MBX-USED-WEIGHT-1M`."""
        with self._lock:
            budget = self._ips.get(ip)
            return 0 if budget is None else self._budget(ip, self.clock()).used

    def banned_until(self, ip: str) -> int | None:
        """When `ip`'s ban ends (epoch ms), or None when it is not banned."""
        with self._lock:
            budget = self._ips.get(ip)
            until = budget.banned_until_ms if budget is not None else 0
        return until if until > self.clock() else None

    @property
    def used(self) -> int:
        """All IPs' weight this minute together."""
        with self._lock:
            now = self.clock()
            return sum(self._budget(ip, now).used for ip in list(self._ips))

    def retry_after_seconds(self, ip: str = "") -> int:
        """Whole seconds (at least 1) until `ip` may send again: its ban's end, else the end of a
        `rate_limit` window, else the next minute (the later of those two when both hold it back)."""
        now = self.clock()
        with self._lock:
            budget = self._budget(ip, now) if ip in self._ips else IpBudget()
            banned_until, limited_until, used = budget.banned_until_ms, budget.limited_until_ms, budget.used
        if banned_until > now:
            return max(1, -(-(banned_until - now) // 1000))
        minute = -(-(MINUTE_MS - now % MINUTE_MS) // 1000)
        if limited_until > now:
            window = -(-(limited_until - now) // 1000)
            return max(1, window, minute if used > self.limit else 0)
        return max(1, minute)

    def report(self) -> dict[str, object]:
        """The limits and every IP's state, for `GET /sim/v1/limits` (a ban is visible, never silent)."""
        with self._lock:
            now = self.clock()
            budgets = [(ip, self._budget(ip, now)) for ip in sorted(self._ips)]
            ips = [{"ip": ip, "usedWeight": b.used, "refused429": b.refused,
                    "bannedUntil": b.banned_until_ms if b.banned_until_ms > now else None, "bans": b.bans,
                    "peakWeight1m": b.peak, "refused429Total": b.refused_total,
                    "requestsTotal": b.requests_total, "weightTotal": b.weight_total}
                   for ip, b in budgets]
        return {"weightLimit": self.limit, "intervalMs": MINUTE_MS, "banAfter429s": self.ban_after,
                "banBaseMs": self.ban_base_ms, "banMaxMs": BAN_MAX_MS, "serverTime": now, "ips": ips}

    def _budget(self, ip: str, now: int) -> IpBudget:
        """`ip`'s state with its minute rolled forward (caller holds the lock)."""
        budget = self._ips.setdefault(ip, IpBudget())
        minute = now // MINUTE_MS
        if minute != budget.minute:
            budget.minute, budget.used, budget.refused = minute, 0, 0
        return budget


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
