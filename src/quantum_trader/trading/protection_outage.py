"""A protection outage said out loud: each failed try to place a stop-loss or take-profit in the log and the
journal, and one line when the order is placed at last, saying after how many failures and how long.

Why: a user trial injected 503s on `POST /fapi/v1/algoOrder` for 6 s and cancelled a stop-loss by hand. The
position had no stop for 4.5 s, and nothing said so but `/metrics`: no log line, no journal row but the final
`placed`. The adapter retries a placement by itself (exchange/retry.py: five tries, 3.75 s of backoff), and
execution and the monitor send it up to `PROTECTION_ATTEMPTS` times before the emergency exit, so an operator
saw neither the outage nor that the bot was about to close the position at market.

An episode is one (symbol, purpose)'s run of failures: it begins at the first failed try (a retried one,
heard from the adapter through `retrying`, or a send given up on, `failed`) and ends when an order of that
purpose is placed (`placed`) or the emergency exit is sent. Its lines are rate-limited so a long outage does
not flood: the first failure at once, then one whenever the episode's age has doubled (at least
`MIN_REPEAT_S` after the last), and the give-up before an emergency exit always. Each line names the symbol,
the trade, the purpose, the exchange's answer (HTTP status, code and message) and what happens next (the
retry's wait, and for a stop-loss how long the remaining tries take before the emergency exit); each is
journaled as protection action `place_failed`, which readiness does not read (it reads `verified` actions and
the orders' statuses, and an exchange outage is no error of the monitor's: `monitor_clean` stays untouched).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.deadline import DeadlineReached, await_by
from ..core.loggers import get_logger
from ..domain.errors import ExchangeError
from ..domain.events import ProtectionAction
from ..domain.exchange_types import OrderIntent
from ..domain.fast_init import fast_init
from ..exchange.retry import PlaceRetry, RetryPolicy
from .sending import SendResult

log = get_logger(__name__)
T = TypeVar("T")
#: After an episode's first line, the next waits until its age has doubled, and at least this long (seconds).
MIN_REPEAT_S = 2.0
#: An episode without a failure for this long is over (its position closed, or it was placed unseen).
STALE_S = 120.0
#: Placements remembered by client id, for the adapter's retries to be named (bounded: oldest forgotten).
KEPT = 1_000
PLACE_FAILED = "place_failed"
PURPOSES = {"sl": "stop-loss", "tp": "take-profit"}

#: Sends of one stop-loss (or take-profit, or emergency exit) before execution or the monitor gives up. Each send is
#: the adapter's whole retrying call (exchange/retry.py `RetryPolicy`: five tries, 0.25 s backoff doubling, 3.75 s
#: of waits), so a stop-loss the exchange keeps failing (5xx, timeouts) is tried 15 times over at least
#: `give_up_after_s` = 11.25 s, then the position is closed at market (the emergency exit). Why a bound at all: a
#: position without a stop is the risk this bot exists to prevent, and while the stop endpoint fails nothing caps
#: the loss but a close. Why about 11 s: it rides out the short bursts of 5xx an exchange's order gateway has (a
#: restart, a 503 storm of a few seconds: the trial's 6 s outage ended with the stop placed, not a close), while
#: a 1 % move of a 5x position within 11 s is rare and would cost what the stop was there to bound (a longer
#: wait risks more than the spread and fees of a close and a new entry). A refusal for good (-2021 crossed, a
#: filter) exits at once. A reduce-only stop (the monitor's replacement next to a wrong closePosition one) waits
#: out each try's in-flight window (~6 s) before it is sent again, so it is given up on later (by `STOP_DEADLINE_S`).
PROTECTION_ATTEMPTS = 3
#: The most time (seconds) a position without a stop-loss waits for one, from the first send of it to the emergency
#: exit, whatever the exchange does. `PROTECTION_ATTEMPTS` counts tries, not time: an endpoint that does not answer
#: at all (Binance's Algo Order service hanging while the classic order endpoint, where the exit goes, works) costs
#: each try the HTTP timeout (10 s), and a placement whose outcome is unknown also its in-flight window and a
#: look-up, so 15 tries would leave the position naked for minutes (~160 s). At this deadline the send still
#: waiting is cancelled (on the event loop's clock) and the position is closed at market. 15 s is a little over
#: `give_up_after_s` (11.25 s), so a stop endpoint answering 5xx is given up on by its tries as before; the
#: deadline only cuts short an exchange that does not answer. A send cancelled at the deadline may still reach
#: the exchange: the exit is reduce-only, and the monitor cancels the protection orders of a flat position
#: (monitor_rules.py `orphans`). A take-profit has no deadline: the stop protects the position meanwhile.
STOP_DEADLINE_S = 15.0


def give_up_after_s(policy: RetryPolicy) -> float:
    """The least time a protective placement that keeps failing is tried before it is given up on (a stop-loss:
    the emergency exit): `PROTECTION_ATTEMPTS` sends, each the adapter's backoff. The requests' own time comes on
    top (a 503 answers in milliseconds; a request that times out takes the HTTP timeout, 10 s, per try), up to
    `STOP_DEADLINE_S` for a stop-loss."""
    return PROTECTION_ATTEMPTS * policy.waits_s()


class StopDeadlinePassed(Exception):
    """A stop-loss's deadline passed while its send (or read-back) was still waiting on the exchange."""


@dataclass(frozen=True, slots=True)
class StopDeadline:
    """One stop-loss's deadline (`STOP_DEADLINE_S` by default) on the event loop's clock, from its first send.
    The in-process adapter of a backtest never waits, so there it never fires: results stay identical."""

    seconds: float
    at: float  # the loop's time

    @classmethod
    def start(cls, seconds: float) -> StopDeadline:
        return cls(seconds, asyncio.get_running_loop().time() + seconds)

    @property
    def passed(self) -> bool:
        return self.remaining_s <= 0

    @property
    def remaining_s(self) -> float:
        return self.at - asyncio.get_running_loop().time()

    async def bound(self, call: Awaitable[T]) -> T:
        """`call`'s result, unless the deadline comes first: then the call is cancelled and StopDeadlinePassed
        raised (an order cancelled on its way may still have reached the exchange: its outcome is unknown)."""
        try:
            return await await_by(call, self.at)
        except DeadlineReached:
            raise StopDeadlinePassed(f"no answer within the stop-loss deadline ({self.seconds:g} s since its "
                                     "first send); outcome unknown") from None


async def within(call: Awaitable[T], deadline: StopDeadline | None) -> T:
    """`call`'s answer, by a stop-loss's `deadline` if it has one (StopDeadlinePassed otherwise)."""
    return await (call if deadline is None else deadline.bound(call))


class Fallback(StrEnum):
    """What becomes of the position if the placement fails for good (the caller's rule, in words)."""

    EXIT = "emergency exit"
    NEXT_SWEEP = "the monitor tries again at its next sweep; the stop-loss still protects the position"
    KEEP_STOP = "the current stop-loss stays; the trail is tried again at the next sweep"


@fast_init
@dataclass(frozen=True, slots=True)
class Plan:
    """One send of a protective order: its trade and purpose, which send it is, and the fallback."""

    trade_id: str
    purpose: str
    send: int  # 0-based, of `sends`
    sends: int
    fallback: Fallback
    #: A stop-loss's deadline (`STOP_DEADLINE_S`): the emergency exit comes by then even if tries are left.
    deadline: StopDeadline | None = None


@dataclass
class Episode:
    started_ms: int
    last_ms: int
    failures: int = 0
    #: The episode's age (ms) at its last logged line; None before the first.
    logged_age_ms: int | None = None


class ProtectionOutage:
    """Execution's account of protective placements that fail: logged, journaled, rate-limited per episode."""

    def __init__(self, bus: EventBus, clock: Clock) -> None:
        self.bus, self.clock = bus, clock
        #: The adapter's retry policy when it retries placements (exchange/retry.py), else None.
        self.policy: RetryPolicy | None = None
        self._plans: dict[str, tuple[OrderIntent, Plan]] = {}
        self._episodes: dict[tuple[str, str], Episode] = {}

    def sending(self, intent: OrderIntent, plan: Plan) -> None:
        """Called before each send of a protective order: the adapter's retries of it are then named."""
        self._plans[intent.client_id] = (intent, plan)
        while len(self._plans) > KEPT:
            del self._plans[next(iter(self._plans))]

    async def retrying(self, note: PlaceRetry) -> None:
        """The adapter's observer (`RetryingExchange.on_place_retry`): a try failed and is tried again."""
        known = self._plans.get(note.intent.client_id)
        if known is None:
            return  # not a protective order (an entry, an exit)
        intent, plan = known
        left = note.wait_s + note.waits_left_s + self._later_sends_s(plan)
        then = f"retry in {note.wait_s:g} s (try {note.attempt + 2} of {note.attempts}, send {plan.send + 1} of " \
               f"{plan.sends})" + self._then(plan, left)
        await self._failed(intent, plan, _answer(note.error), then, final=False)

    async def failed(self, intent: OrderIntent, result: SendResult, *, final: bool) -> None:
        """A send given up on (the adapter's tries spent, refused, or not read back); `final`: no send follows."""
        known = self._plans.get(intent.client_id)
        if known is None or result.not_sent:
            return  # a dry run sends nothing by design; a journal that refused the intent is its own error
        plan = known[1]
        if final:
            then = f"{plan.fallback.value} now" if plan.fallback is Fallback.EXIT else plan.fallback.value
        else:
            then = f"send again now (send {plan.send + 2} of {plan.sends})" + self._then(
                plan, self._later_sends_s(plan))
        await self._failed(intent, plan, _result_answer(result), then, final=final)

    def placed(self, intent: OrderIntent) -> tuple[int, float] | None:
        """The order is on the exchange: ends its episode; (failed tries, seconds failing) if there was one."""
        episode = self._episodes.pop((intent.symbol, _purpose(intent, self._plans)), None)
        if episode is None or self._stale(episode):
            return None
        return episode.failures, (self.clock.now_ms() - episode.started_ms) / 1000

    def covered(self, symbol: str, purpose: str) -> None:
        """The purpose is covered without a placement of ours (an order already there): the episode ends."""
        self._episodes.pop((symbol, purpose), None)

    # --- the episode's lines ----------------------------------------------------------------------
    async def _failed(self, intent: OrderIntent, plan: Plan, answer: str, then: str, *, final: bool) -> None:
        now = self.clock.now_ms()
        key = (intent.symbol, plan.purpose)
        episode = self._episodes.get(key)
        if episode is None or self._stale(episode):
            episode = self._episodes[key] = Episode(started_ms=now, last_ms=now)
        episode.failures += 1
        episode.last_ms = now
        exits = final and plan.fallback is Fallback.EXIT
        if exits:
            del self._episodes[key]  # the exit ends it; a later placement starts a new one
        age_ms = now - episode.started_ms
        if not exits and episode.logged_age_ms is not None and age_ms < max(MIN_REPEAT_S * 1000,
                                                                           2 * episode.logged_age_ms):
            return
        episode.logged_age_ms = age_ms
        what = PURPOSES.get(plan.purpose, plan.purpose)
        log.warning("protective order not placed", symbol=intent.symbol, trade_id=plan.trade_id, purpose=what,
                    type=intent.type.value, client_id=intent.client_id, answer=answer, next=then,
                    failed_tries=episode.failures, failing_for_s=round(age_ms / 1000, 1))
        await self.bus.publish(ProtectionAction(
            symbol=intent.symbol, action=PLACE_FAILED, time_ms=now, trade_id=plan.trade_id,
            client_id=intent.client_id, order_type=intent.type.value, price=intent.trigger_price,
            reason=f"{what} not placed ({answer}); next: {then}; {_tries(episode.failures)} failed in "
                   f"{age_ms / 1000:.1f} s"))

    def _later_sends_s(self, plan: Plan) -> float:
        """The least time the sends after this one take to give up, if each fails every try (their backoff)."""
        return (plan.sends - plan.send - 1) * (self.policy.waits_s() if self.policy is not None else 0.0)

    @staticmethod
    def _then(plan: Plan, left_s: float) -> str:
        if plan.deadline is not None:  # an exchange that stops answering meets the deadline before the tries end
            left_s = max(0.0, min(left_s, plan.deadline.remaining_s))
        if plan.fallback is Fallback.EXIT:
            return f"; emergency exit if still not placed in ~{left_s:.1f} s"
        return f"; if still not placed in ~{left_s:.1f} s: {plan.fallback.value}"

    def _stale(self, episode: Episode) -> bool:
        return self.clock.now_ms() - episode.last_ms > STALE_S * 1000


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


def _answer(error: ExchangeError) -> str:
    return _words(error.http_status, error.code, error.msg)


def _result_answer(result: SendResult) -> str:
    if result.accepted:
        return "accepted but not read back as working"
    return _words(result.http_status, result.code, result.message)


def _words(http_status: int | None, code: int | None, message: str) -> str:
    """The exchange's answer as a line says it: "HTTP 503 code -1001: Internal error", leaving out what it lacks."""
    status = "" if http_status is None else f"HTTP {http_status} "
    return f"{status}{'' if code is None else f'code {code}: '}{message}"


def _purpose(intent: OrderIntent, plans: dict[str, tuple[OrderIntent, Plan]]) -> str:
    known = plans.get(intent.client_id)
    if known is not None:
        return known[1].purpose
    return "sl" if intent.type.value.startswith(("STOP", "TRAILING")) else "tp"
