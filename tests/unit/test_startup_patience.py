"""Start-up's patience with the exchange (exchange/retry.py `patient`, runtime/startup.py; task K, issue 10).

A restarting bot that gives up on its first readings after RetryPolicy's five attempts exits and leaves
its positions unwatched. Inside `patient()` a retryable error is waited out (capped backoff, Retry-After
of a 429 or a ban honoured, a read the request budget held back waited for) until the scope's limit;
a refusal that waiting cannot fix is raised at once; outside the scope, and in a task that outlives it,
the normal policy holds. The reads go to the in-process simulator; only the failures are scripted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from quantum_trader.domain.errors import ConfigError, ExchangeError, RetryableExchangeError
from quantum_trader.domain.exchange_types import PositionSnapshot
from quantum_trader.exchange.budget import BudgetRefused, Priority
from quantum_trader.exchange.ccxt_errors import TransientExchangeError
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.retry import RetryingExchange, RetryPolicy, current_patience, patient, with_retries
from quantum_trader.runtime.startup import ExchangeUnavailableError, startup_errors
from quantum_trader.settings.model import Settings
from quantum_trader.sim.engine import ExchangeSimulator

T = TypeVar("T")
POLICY = RetryPolicy()  # 5 attempts, as the running bot uses


class Recorder:
    """A sleep that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(times: int, error: Callable[[], Exception]) -> Callable[[], Awaitable[list[PositionSnapshot]]]:
    """The simulator's positions, after `times` failures."""
    exchange = InProcessExchange(ExchangeSimulator())
    calls = 0

    async def call() -> list[PositionSnapshot]:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise error()
        return await exchange.positions()

    return call


def unavailable() -> RetryableExchangeError:
    return TransientExchangeError(-1000, "Service Unavailable", 503)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def test_outside_start_up_five_attempts_then_the_error() -> None:
    sleep = Recorder()
    with pytest.raises(RetryableExchangeError):
        run(with_retries(failing(5, unavailable), POLICY, sleep))
    assert len(sleep.waits) == 4


def test_start_up_outlasts_many_5xx_with_capped_backoff() -> None:
    sleep = Recorder()

    async def start() -> list[PositionSnapshot]:
        with patient(300) as patience:
            result = await with_retries(failing(12, unavailable), POLICY, sleep, "positions")
            assert patience.waits == 12 and patience.waiting is None
            return result

    assert run(start()) == []
    assert sleep.waits[:7] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert max(sleep.waits) == 10.0


def test_a_429_and_a_ban_are_waited_for_their_retry_after() -> None:
    sleep = Recorder()
    errors = iter([TransientExchangeError(-1003, "Too many requests.", 429, retry_after=7.0),
                   TransientExchangeError(-1003, "Way too many requests; IP banned until 1.", 418, retry_after=120.0)])

    async def start() -> list[PositionSnapshot]:
        with patient(300):
            return await with_retries(failing(2, lambda: next(errors)), POLICY, sleep)

    run(start())
    assert sleep.waits == [7.0, 120.0]  # 120 s: beyond the running policy's 60 s cap on a Retry-After


def test_a_read_the_budget_held_back_is_waited_for_at_start_up() -> None:
    sleep = Recorder()

    def refused() -> RetryableExchangeError:
        return BudgetRefused("routine share used", 3.0, priority=Priority.ROUTINE, blocked=False)

    with pytest.raises(BudgetRefused):  # running: skipped, the next sweep reads instead
        run(with_retries(failing(1, refused), POLICY, sleep))

    async def start() -> list[PositionSnapshot]:
        with patient(300):
            return await with_retries(failing(1, refused), POLICY, sleep)

    assert run(start()) == []
    assert sleep.waits == [3.0]


def test_a_wait_past_the_limit_raises_the_last_error() -> None:
    sleep = Recorder()

    async def start() -> None:
        with patient(60) as patience:
            patience.started -= 55.0  # 55 s already waited: a 503's 0.25 s fits, a 10 s Retry-After does not
            late = TransientExchangeError(-1003, "Too many requests.", 429, retry_after=10.0)
            errors = iter([unavailable(), late])
            await with_retries(failing(2, lambda: next(errors)), POLICY, sleep)

    with pytest.raises(TransientExchangeError) as caught:
        run(start())
    assert caught.value.http_status == 429 and sleep.waits == [0.25]


def test_a_refusal_is_not_waited_on() -> None:
    sleep = Recorder()

    async def start() -> None:
        with patient(300):
            await with_retries(failing(1, lambda: ExchangeError(-2015, "Invalid API-key, IP, or permissions.", 401)),
                               POLICY, sleep)

    with pytest.raises(ExchangeError):
        run(start())
    assert sleep.waits == []


def test_a_task_started_inside_the_scope_is_not_patient_once_it_ends() -> None:
    async def start() -> tuple[bool, bool]:
        release = asyncio.Event()

        async def background() -> bool:
            await release.wait()
            return current_patience() is not None

        with patient(300):
            task = asyncio.create_task(background())  # inherits the scope's context
            inside = current_patience() is not None
        release.set()
        return inside, await task

    assert run(start()) == (True, False)


def test_the_adapter_wrapper_names_the_read_it_waits_on() -> None:
    exchange = InProcessExchange(ExchangeSimulator())
    calls = 0

    class Flaky(InProcessExchange):
        async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
            nonlocal calls
            calls += 1
            if calls < 8:
                raise unavailable()
            return await exchange.positions(symbol)

    seen: list[str | None] = []

    async def sleep(_: float) -> None:
        patience = current_patience()
        seen.append(patience.waiting if patience else None)

    async def start() -> list[PositionSnapshot]:
        with patient(300):
            return await RetryingExchange(Flaky(ExchangeSimulator()), POLICY, sleep=sleep).positions()

    assert run(start()) == []
    assert len(seen) == 7 and all(w is not None and w.startswith("positions: HTTP 503") for w in seen)


def settings() -> Settings:
    return Settings(exchange="http://127.0.0.1:9", startup_patience_s=30)


def test_a_bad_key_at_start_up_is_a_config_error_naming_the_settings() -> None:
    with pytest.raises(ConfigError, match=r"QT_API_KEY / QT_API_SECRET.*-2015"), startup_errors(settings()):
        raise ExchangeError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def test_an_exchange_that_stays_away_names_the_patience_setting() -> None:
    with pytest.raises(ExchangeUnavailableError, match="QT_STARTUP_PATIENCE_S=30 s"), startup_errors(settings()):
        raise unavailable()


def test_other_refusals_pass_through_unchanged() -> None:
    with pytest.raises(ExchangeError, match="-1121"), startup_errors(settings()):
        raise ExchangeError(-1121, "Invalid symbol.")
