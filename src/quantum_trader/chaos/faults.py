"""A fault-injecting `Exchange` wrapper for the chaos campaign: seeded, so every run can be replayed.

Real venues fail in a handful of ways the bot must survive, and each has its own consequence, so each
is injected separately and counted:

- `reject`: a business refusal *before* anything happens (`OrderRejected`, place only). Execution must
  not retry it; for a stop that means the emergency exit.
- `server_error` / `rate_limit`: 5xx (-1001) and 429 (-1003) *before* the call reaches the venue
  (`RetryableExchangeError`): nothing happened, a retry is safe.
- `timeout_after`: the call is performed, then a timeout (-1007, "execution status unknown") is
  raised. The order IS on the exchange; only an idempotent retry (look the client id up first,
  `RetryingExchange`) avoids a duplicate.
- `crash_before` / `crash_after`: the bot process dies at this call, before sending or after the
  venue accepted (mutating calls only). From then on every call through this wrapper raises
  `BotKilled`, as a dead process sends nothing; the campaign sees `dead` and starts a new bot.
- `drop_events`: the user-data stream drops: for `drop_window` consecutive `drain()` calls the events
  are lost, as they are between a websocket disconnect and the next reconcile.

One uniform draw per call decides the fault (cumulative ranges), so each fault happens at exactly its
configured rate in the long run and the sequence depends only on the seed and the calls made.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Protocol, TypeVar, runtime_checkable

from ..domain import binance_errors as be
from ..domain.enums import MarginType
from ..domain.errors import OrderRejected, RetryableExchangeError
from ..domain.exchange_types import (
    AccountSnapshot,
    BalanceUpdate,
    ExchangeEvent,
    FillUpdate,
    HeldMark,
    OrderIntent,
    OrderSnapshot,
    PositionSnapshot,
)
from ..domain.instrument import Instrument
from ..domain.kline import Kline
from ..exchange.port import Exchange

T = TypeVar("T")
#: Calls that change the exchange: the only ones where a crash point matters (and the only ones rejected).
MUTATING = frozenset({"place", "cancel"})


class BotKilled(Exception):
    """The simulated process died: the call (and every later one through the same wrapper) never returns."""


@runtime_checkable
class Drainable(Protocol):
    def drain(self) -> list[ExchangeEvent]: ...


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Probability of each fault per call (per `drain()` for `drop_events`); per-call rates must sum to <= 1."""

    reject: float = 0.0
    server_error: float = 0.0
    rate_limit: float = 0.0
    timeout_after: float = 0.0
    crash_before: float = 0.0
    crash_after: float = 0.0
    drop_events: float = 0.0
    #: How many consecutive drains a dropped stream stays down.
    drop_window: int = 3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (f.name != "drop_window" and value > 1):
                raise ValueError(f"FaultRates.{f.name}: {value} must be within 0..1 (drop_window: >= 0)")
        if self.per_call_total > 1:
            raise ValueError(f"FaultRates: per-call rates sum to {self.per_call_total}, more than 1")

    @property
    def per_call_total(self) -> float:
        return (self.reject + self.server_error + self.rate_limit + self.timeout_after + self.crash_before
                + self.crash_after)

    @classmethod
    def none(cls) -> FaultRates:
        return cls()


def server_error() -> RetryableExchangeError:
    return RetryableExchangeError(-1001, "Internal error; unable to process your request. Please try again.", 503)


def rate_limited() -> RetryableExchangeError:
    exc = RetryableExchangeError(-1003, "Too many requests; current limit of IP is 2400 requests per minute.", 429)
    exc.retry_after = 1.0  # type: ignore[attr-defined]  # what RetryPolicy.delay reads (a Retry-After header)
    return exc


def timed_out() -> RetryableExchangeError:
    return RetryableExchangeError(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                                         "execution status unknown.", 408)


def business_reject(intent: OrderIntent) -> OrderRejected:
    """What Binance says when it refuses an otherwise valid order at a bad moment."""
    return be.max_algo_orders() if intent.conditional else be.market_percent_price()


class FaultyExchange:
    """Wraps any `Exchange`; `injected` counts each fault by name, `dead` tells that the bot was killed."""

    def __init__(self, inner: Exchange, rng: random.Random, rates: FaultRates) -> None:
        self.inner, self.rng, self.rates = inner, rng, rates
        self.injected: Counter[str] = Counter()
        self.dead = False
        self.dropped_events = 0
        self._drop_left = 0

    def __repr__(self) -> str:
        return f"FaultyExchange({self.inner!r})"

    async def _call(self, name: str, call: Callable[[], Awaitable[T]], intent: OrderIntent | None = None) -> T:
        if self.dead:
            raise BotKilled(f"{name}: the bot is dead")
        fault = self._draw(name)
        if fault is not None:
            self.injected[fault] += 1
        if fault == "reject" and intent is not None:
            raise business_reject(intent)
        if fault == "server_error":
            raise server_error()
        if fault == "rate_limit":
            raise rate_limited()
        if fault == "crash_before":
            self.dead = True
            raise BotKilled(f"{name}: killed before sending")
        result = await call()
        if fault == "timeout_after":
            raise timed_out()
        if fault == "crash_after":
            self.dead = True
            raise BotKilled(f"{name}: killed after the exchange accepted")
        return result

    def _draw(self, name: str) -> str | None:
        """One draw per call; faults that do not apply to this call fall through to "no fault"."""
        r = self.rates
        u = self.rng.random()
        mutating = name in MUTATING
        for fault, rate, applies in (("reject", r.reject, name == "place"), ("server_error", r.server_error, True),
                                     ("rate_limit", r.rate_limit, True), ("timeout_after", r.timeout_after, True),
                                     ("crash_before", r.crash_before, mutating),
                                     ("crash_after", r.crash_after, mutating)):
            if u < rate:
                return fault if applies else None
            u -= rate
        return None

    # --- the port -----------------------------------------------------------------------------------
    async def instruments(self) -> Mapping[str, Instrument]:
        return await self._call("instruments", self.inner.instruments)

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        wanted = None if symbols is None else list(symbols)
        return await self._call("mark_prices", lambda: self.inner.mark_prices(wanted))

    def mark_since(self, symbol: str, since_ms: int) -> HeldMark | None:
        """Not a call to the venue (a mark the bot already holds): no fault applies, and no draw is made."""
        return self.inner.mark_since(symbol, since_ms)

    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        return await self._call("positions", lambda: self.inner.positions(symbol))

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        return await self._call("open_orders", lambda: self.inner.open_orders(symbol))

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        return await self._call("place", lambda: self.inner.place(intent), intent)

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        return await self._call("cancel", lambda: self.inner.cancel(symbol, client_id))

    async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
        return await self._call("query", lambda: self.inner.query(symbol, client_id))

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        return await self._call("set_leverage", lambda: self.inner.set_leverage(symbol, leverage))

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        await self._call("set_margin_type", lambda: self.inner.set_margin_type(symbol, margin_type))

    async def account(self) -> AccountSnapshot:
        return await self._call("account", self.inner.account)

    async def account_trades(self, symbol: str, start_ms: int) -> list[FillUpdate]:
        return await self._call("account_trades", lambda: self.inner.account_trades(symbol, start_ms))

    async def income(self, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
        return await self._call("income", lambda: self.inner.income(start_ms, income_type))

    async def hedge_mode(self) -> bool:
        return await self._call("hedge_mode", self.inner.hedge_mode)

    async def klines(self, symbol: str, start_ms: int, end_ms: int) -> list[Kline]:
        return await self._call("klines", lambda: self.inner.klines(symbol, start_ms, end_ms))

    def events(self) -> AsyncIterator[ExchangeEvent]:
        return self.inner.events()

    async def close(self) -> None:
        await self.inner.close()

    # --- the stream, for drain()-driven runs ----------------------------------------------------------
    def drain(self) -> list[ExchangeEvent]:
        """The inner adapter's drained events, unless the stream is down (then they are lost for good)."""
        if not isinstance(self.inner, Drainable):
            raise TypeError(f"{self.inner!r} has no drain(): dropped streams need a drain()-driven adapter")
        events = self.inner.drain()
        if self._drop_left == 0 and self.rates.drop_events and self.rng.random() < self.rates.drop_events:
            self.injected["drop_events"] += 1
            self._drop_left = self.rates.drop_window
        if self._drop_left > 0:
            self._drop_left -= 1
            self.dropped_events += len(events)
            return []
        return events
