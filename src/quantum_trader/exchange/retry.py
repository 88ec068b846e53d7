"""Retries for transient failures, and placement that can never duplicate an order.

Only `RetryableExchangeError` (timeouts, dropped connections, 5xx, 429) is retried: a rejection is
the exchange's decision and sending it again changes nothing. Backoff is exponential with a cap and
no jitter (runs must be reproducible); a server's Retry-After is honoured as a minimum wait.

A timed-out POST may have reached the matching engine. So before placing again, `RetryingExchange`
asks the exchange for the intent's client id and returns what it finds: one client id, one order. Not
found, an order is sent again only once the lost request can no longer arrive (`in_flight_window`),
except a closePosition stop or take-profit: the exchange holds one of a type per direction and refuses a
twin (-4130), so it cannot be duplicated, and waiting would leave the position without its stop for the
whole window after every 5xx. Its re-send refused with -4130 (or -4116) is looked up like a duplicate.

Start-up is patient (`patient()`): a restarted bot that gives up after five attempts (~4 s) exits and
leaves its positions unwatched until something restarts it, so inside that scope every read keeps
retrying retryable errors (5xx, timeouts, 429 and 418 until their Retry-After) with capped backoff,
logging each wait, until the scope's deadline. Normal running keeps the short policy: there a failed
read is simply read again by the next sweep.

A placement retried here is invisible to its caller until it succeeds or the attempts are spent (~3.75 s of
backoff with the default policy), yet a stop-loss that is not placed is a position without a stop: whoever
must know (execution's `ProtectionOutage`) hears each retried try through `RetryingExchange.on_place_retry`
(`observe_place_retries`), with the exchange's answer and the wait before the next try.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from ..core.loggers import get_logger
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
from .budget import BudgetRefused, reading_affordable, reading_pace_s
from .order_rate import TOO_MANY_ORDERS
from .port import Exchange

log = get_logger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
#: -4116 "ClientOrderId is duplicated": our own earlier attempt is resting under that id.
DUPLICATE_CLIENT_ID = -4116
#: -4130: a closePosition order of this type and direction exists: perhaps our own earlier attempt.
CLOSE_POSITION_EXISTS = -4130
UNKNOWN_ORDER_CODES = frozenset({-2011, -2013})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 8.0
    #: A Retry-After beyond this is not waited for: the error surfaces instead.
    max_retry_after: float = 60.0
    #: How long a lost request may still reach the exchange (its recvWindow plus clock margin). A
    #: placement not found by client id is re-sent only once this has passed since it was sent.
    in_flight_window: float = 0.0

    def delay(self, attempt: int, exc: RetryableExchangeError) -> float:
        """Wait before retry number `attempt` (0-based): backoff, or the server's Retry-After if longer."""
        backoff = self.backoff(attempt)
        retry_after: float | None = getattr(exc, "retry_after", None)
        return max(backoff, retry_after) if retry_after is not None else backoff

    def backoff(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2.0**attempt)

    def waits_s(self, after: int = 0) -> float:
        """The backoff still to come after try number `after` (0-based) fails, if every later try fails too
        (Retry-After and the requests' own time not counted): 0.25 + 0.5 + 1 + 2 = 3.75 s for a whole call
        with the default policy, the least time a call that keeps failing takes to give up."""
        return sum(self.backoff(attempt) for attempt in range(after, self.attempts - 1))


@dataclass
class Patience:
    """How long start-up waits on the exchange, and what it has waited on (the session keeps it for tests).

    Shared by every task that inherits the scope's context: `active` is cleared when the scope ends, so a
    task created inside it (a stream's keep-alive) falls back to the normal policy instead of waiting."""

    limit_s: float
    #: The backoff between waits (its `attempts` do not apply: the deadline does).
    backoff: RetryPolicy = RetryPolicy(base_delay=0.25, max_delay=10.0)
    started: float = field(default_factory=time.monotonic)
    active: bool = True
    #: The read start-up is waiting for and why ("positions: 503 ..."); None while nothing is waited on.
    waiting: str | None = None
    waits: int = 0
    waited_s: float = 0.0

    def delay(self, attempt: int, exc: RetryableExchangeError) -> float | None:
        """Capped backoff, or the server's Retry-After (a 429, a ban) if longer; None past the deadline."""
        wait = self.backoff.delay(min(attempt, 30), exc)
        return wait if time.monotonic() + wait <= self.started + self.limit_s else None


_PATIENCE: ContextVar[Patience | None] = ContextVar("qt_retry_patience", default=None)


@contextmanager
def patient(limit_s: float) -> Iterator[Patience]:
    """Reads inside (this task and tasks it creates while the scope lasts) wait out retryable errors for up
    to `limit_s` seconds in all, instead of giving up after `RetryPolicy.attempts`."""
    patience = Patience(limit_s)
    token = _PATIENCE.set(patience)
    try:
        yield patience
    finally:
        patience.active = False
        patience.waiting = None
        _PATIENCE.reset(token)


def current_patience() -> Patience | None:
    patience = _PATIENCE.get()
    return patience if patience is not None and patience.active else None


async def _patiently(call: Callable[[], Awaitable[T]], patience: Patience, sleep: Sleep, what: str) -> T:
    """`call()` until it succeeds, raises a non-retryable error, or the next wait would pass the deadline
    (then the last error is raised). Each wait is logged with its cause; a read the request budget held back
    is waited for too (at start-up there is no next sweep to read it instead)."""
    attempt = 0
    while True:
        try:
            result = await call()
        except RetryableExchangeError as exc:
            wait = patience.delay(attempt, exc)
            cause = f"{what or 'read'}: HTTP {exc.http_status} code {exc.code} {exc.msg}"[:300]
            if wait is None:
                log.error("start-up gave up waiting on the exchange", cause=cause, waited_s=round(patience.waited_s, 1),
                          limit_s=patience.limit_s, setting="QT_STARTUP_PATIENCE_S")
                raise
            patience.waiting, patience.waits = cause, patience.waits + 1
            log.warning("start-up waiting on the exchange", cause=cause, retry_in_s=round(wait, 2),
                        attempt=attempt + 1, waited_s=round(patience.waited_s, 1), limit_s=patience.limit_s)
            await sleep(wait)
            patience.waited_s += wait
            attempt += 1
            continue
        patience.waiting = None
        return result


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, sleep: Sleep = asyncio.sleep,
                       what: str = "") -> T:
    """`call()` until it succeeds, raises a non-retryable error, or the attempts are used up; inside
    `patient()`, until its deadline instead (`what` names the read in the log)."""
    patience = current_patience()
    if patience is not None:
        return await _patiently(call, patience, sleep, what)
    for attempt in range(policy.attempts):
        try:
            return await call()
        except RetryableExchangeError as exc:
            wait = policy.delay(attempt, exc)
            if attempt == policy.attempts - 1 or wait > policy.max_retry_after or not worth_waiting(exc):
                raise
            await sleep(wait)
    raise AssertionError("unreachable: attempts must be >= 1")


def worth_waiting(exc: RetryableExchangeError) -> bool:
    """A routine read the request budget held back is skipped, not waited for (budget.py): waiting would
    stall its caller (the monitor's loop) for up to a minute to read what the next interval reads anyway."""
    return not isinstance(exc, BudgetRefused) or exc.worth_waiting


def late_entry(intent: OrderIntent, exc: RetryableExchangeError) -> bool:
    """An entry the exchange refused for the account's order rate (-1015: certainly not processed) is not
    sent again after its Retry-After: by then the signal it acts on has passed. (One the budget held back
    before sending is not retried either: `worth_waiting`.) Stops and closes are retried."""
    return exc.code == TOO_MANY_ORDERS and not (intent.reduce_only or intent.close_position)


@dataclass(frozen=True, slots=True)
class PlaceRetry:
    """One try of a placement that failed and will be tried again: what the exchange answered and when."""

    intent: OrderIntent
    error: RetryableExchangeError
    #: The try that failed (0-based) and the policy's tries in all.
    attempt: int
    attempts: int
    #: The wait before the next try, and the backoff after it if that one fails too (`RetryPolicy.waits_s`).
    wait_s: float
    waits_left_s: float


PlaceRetryObserver = Callable[[PlaceRetry], Awaitable[None]]


async def place_once(exchange: Exchange, intent: OrderIntent, policy: RetryPolicy,
                     sleep: Sleep = asyncio.sleep, on_retry: PlaceRetryObserver | None = None) -> OrderSnapshot:
    """Place `intent`; after any transient failure, look the client id up before sending again.
    `on_retry` hears each failed try that is tried again, before the wait."""
    def lookup() -> Awaitable[OrderSnapshot | None]:
        return with_retries(lambda: exchange.query(intent.symbol, intent.client_id), policy, sleep)

    for attempt in range(policy.attempts):
        sent_at = time.monotonic()
        try:
            return await exchange.place(intent)
        except RetryableExchangeError as exc:
            wait = policy.delay(attempt, exc)
            if (attempt == policy.attempts - 1 or wait > policy.max_retry_after or not worth_waiting(exc)
                    or late_entry(intent, exc)):
                raise
            if on_retry is not None:
                await on_retry(PlaceRetry(intent, exc, attempt, policy.attempts, wait, policy.waits_s(attempt + 1)))
            await sleep(wait)
        except OrderRejected as exc:
            if attempt == 0 or exc.code not in _twin_codes(intent):
                raise
            if exc.code == CLOSE_POSITION_EXISTS:
                found = await lookup()
                if found is None:
                    raise  # not ours: another closePosition order holds the place (the caller reads it)
                return found
        found = await lookup()
        late = sent_at + policy.in_flight_window - time.monotonic()
        if found is None and late > 0 and not intent.close_position:  # may still arrive: wait, look again
            await sleep(late)
            found = await lookup()
        if found is not None:
            return found
    raise AssertionError("unreachable: attempts must be >= 1")


def _twin_codes(intent: OrderIntent) -> frozenset[int]:
    """Refusals of a re-send that may mean our own earlier attempt got through."""
    if intent.close_position:
        return frozenset({DUPLICATE_CLIENT_ID, CLOSE_POSITION_EXISTS})
    return frozenset({DUPLICATE_CLIENT_ID})


async def cancel_once(exchange: Exchange, symbol: str, client_id: str, policy: RetryPolicy,
                      sleep: Sleep = asyncio.sleep) -> OrderSnapshot:
    """Cancel; if a retry says "unknown order" because our first attempt already worked, return that."""
    retried = False

    async def attempt() -> OrderSnapshot:
        nonlocal retried
        try:
            return await exchange.cancel(symbol, client_id)
        except RetryableExchangeError:
            retried = True
            raise

    try:
        return await with_retries(attempt, policy, sleep)
    except OrderRejected as exc:
        if not retried or exc.code not in UNKNOWN_ORDER_CODES:
            raise
        found = await with_retries(lambda: exchange.query(symbol, client_id), policy, sleep)
        if found is None or found.status.is_open:
            raise
        return found


class RetryingExchange:
    """Any `Exchange`, with retries on reads and idempotent place/cancel."""

    def __init__(self, inner: Exchange, policy: RetryPolicy | None = None, *, sleep: Sleep = asyncio.sleep) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        #: Hears each retried try of a placement (`observe_place_retries`).
        self.on_place_retry: PlaceRetryObserver | None = None

    def __repr__(self) -> str:
        return f"RetryingExchange({self.inner!r})"

    def _retry(self, call: Callable[[], Awaitable[T]], what: str = "") -> Awaitable[T]:
        return with_retries(call, self.policy, self._sleep, what)

    async def instruments(self) -> Mapping[str, Instrument]:
        return await self._retry(self.inner.instruments, "exchange info")

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        wanted = None if symbols is None else list(symbols)
        return await self._retry(lambda: self.inner.mark_prices(wanted), "mark prices")

    def mark_since(self, symbol: str, since_ms: int) -> HeldMark | None:
        return self.inner.mark_since(symbol, since_ms)  # no request: nothing to retry

    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        return await self._retry(lambda: self.inner.positions(symbol), "positions")

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        return await self._retry(lambda: self.inner.open_orders(symbol), "open orders")

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        return await place_once(self.inner, intent, self.policy, self._sleep, self.on_place_retry)

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        return await cancel_once(self.inner, symbol, client_id, self.policy, self._sleep)

    async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
        return await self._retry(lambda: self.inner.query(symbol, client_id), "order lookup")

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        return await self._retry(lambda: self.inner.set_leverage(symbol, leverage))

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        await self._retry(lambda: self.inner.set_margin_type(symbol, margin_type))

    async def account(self) -> AccountSnapshot:
        return await self._retry(self.inner.account, "account")

    async def account_trades(self, symbol: str, start_ms: int) -> list[FillUpdate]:
        return await self._retry(lambda: self.inner.account_trades(symbol, start_ms), "account trades")

    async def income(self, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
        return await self._retry(lambda: self.inner.income(start_ms, income_type), "income history")

    async def hedge_mode(self) -> bool:
        return await self._retry(self.inner.hedge_mode, "position mode")

    async def klines(self, symbol: str, start_ms: int, end_ms: int) -> list[Kline]:
        return await self._retry(lambda: self.inner.klines(symbol, start_ms, end_ms), "klines")

    def events(self) -> AsyncIterator[ExchangeEvent]:
        return self.inner.events()

    def reading_affordable(self) -> bool:
        """The inner adapter's answer (budget.reading_affordable); True where it has no request budget."""
        return reading_affordable(self.inner)

    def reading_pace_s(self) -> float:
        """The inner adapter's answer (budget.reading_pace_s); 0 where it has none."""
        return reading_pace_s(self.inner)

    async def close(self) -> None:
        await self.inner.close()


def observe_place_retries(exchange: object, observer: PlaceRetryObserver) -> RetryPolicy | None:
    """Have `observer` hear every retried try of the placements `exchange` makes, if it retries them (a
    `RetryingExchange`); its policy, or None where placements are not retried (in process, staging)."""
    if not isinstance(exchange, RetryingExchange):
        return None
    exchange.on_place_retry = observer
    return exchange.policy
