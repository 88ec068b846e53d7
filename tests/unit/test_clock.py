"""SimulatedClock moves only when told and wakes sleepers in deadline order; WallClock basics."""

from __future__ import annotations

import asyncio

from quantum_trader.core.clock import Clock, SimulatedClock, WallClock


async def _settle() -> None:
    """Let woken tasks run (a few loop turns; no wall time involved)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_starts_at_given_time_and_advance_to_never_goes_back() -> None:
    clock = SimulatedClock(start_ms=1_000)
    assert clock.now_ms() == 1_000
    clock.advance_to(5_000)
    assert clock.now_ms() == 5_000
    clock.advance_to(2_000)
    assert clock.now_ms() == 5_000
    clock.advance(1.5)
    assert clock.now_ms() == 6_500


def test_sleepers_wake_in_deadline_order_not_before() -> None:
    async def main() -> None:
        clock = SimulatedClock(start_ms=0)
        woke: list[tuple[str, int]] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append((name, clock.now_ms()))

        tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("c", 3), ("a", 1), ("b", 2), ("a2", 1))]
        await _settle()
        assert woke == []
        clock.advance_to(999)
        await _settle()
        assert woke == []
        clock.advance_to(1_000)
        await _settle()
        assert woke == [("a", 1_000), ("a2", 1_000)]
        clock.advance_to(10_000)
        await _settle()
        assert [n for n, _ in woke] == ["a", "a2", "b", "c"]
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_one_big_jump_wakes_sleepers_in_deadline_order() -> None:
    async def main() -> None:
        clock = SimulatedClock()
        woke: list[int] = []

        async def sleeper(seconds: int) -> None:
            await clock.sleep(seconds)
            woke.append(seconds)

        tasks = [asyncio.create_task(sleeper(s)) for s in (5, 3, 4, 1, 2)]
        await _settle()
        clock.advance_to(60_000)
        await asyncio.gather(*tasks)
        assert woke == [1, 2, 3, 4, 5]

    asyncio.run(main())


def test_next_deadline_ms_is_the_earliest_pending_deadline() -> None:
    async def main() -> None:
        clock = SimulatedClock(start_ms=100)
        assert clock.next_deadline_ms is None
        t1 = asyncio.create_task(clock.sleep(2))
        t2 = asyncio.create_task(clock.sleep(0.5))
        await _settle()
        assert clock.next_deadline_ms == 600
        clock.advance_to(600)
        await _settle()
        assert t2.done() and not t1.done()
        assert clock.next_deadline_ms == 2_100
        clock.advance_to(2_100)
        await asyncio.gather(t1, t2)
        assert clock.next_deadline_ms is None

    asyncio.run(main())


def test_cancelled_sleeper_is_skipped_by_next_deadline() -> None:
    async def main() -> None:
        clock = SimulatedClock()
        early = asyncio.create_task(clock.sleep(1))
        late = asyncio.create_task(clock.sleep(5))
        await _settle()
        early.cancel()
        await _settle()
        assert clock.next_deadline_ms == 5_000
        clock.advance_to(5_000)
        await late

    asyncio.run(main())


def test_zero_or_negative_sleep_returns_without_time_passing() -> None:
    async def main() -> None:
        clock = SimulatedClock(start_ms=42)
        await clock.sleep(0)
        await clock.sleep(-3)
        assert clock.now_ms() == 42
        assert clock.next_deadline_ms is None

    asyncio.run(main())


async def _timed_sleep(clock: Clock, seconds: float) -> int:
    """What a component does with whichever clock it was given: sleep, and see how much of its time passed."""
    before = clock.now_ms()
    await clock.sleep(seconds)
    return clock.now_ms() - before


def test_a_sleeper_on_either_clock_wakes_once_that_clocks_time_has_passed_not_before() -> None:
    """The same code, given either clock, sleeps exactly its interval in that clock's time: the wall clock
    really waits, the simulated one waits for its driver to move time past the deadline."""

    async def main() -> None:
        wall = await _timed_sleep(WallClock(), 0.05)
        assert 49 <= wall < 5_000

        clock = SimulatedClock(start_ms=1_000)
        sleeper = asyncio.create_task(_timed_sleep(clock, 2.5))
        await _settle()
        clock.advance_to(3_499)
        await _settle()
        assert not sleeper.done()  # 1 ms short of its deadline: still asleep
        clock.advance_to(3_500)
        assert await asyncio.wait_for(sleeper, 1) == 2_500

    asyncio.run(main())
    assert repr(SimulatedClock(7)) == "SimulatedClock(now_ms=7)"


def test_wall_clock_reads_epoch_milliseconds_and_sleeps() -> None:
    clock = WallClock()
    now = clock.now_ms()
    assert now > 1_600_000_000_000  # after 2020, in milliseconds (not seconds, not ns)
    assert now < 10_000_000_000_000
    asyncio.run(clock.sleep(0))
    asyncio.run(clock.sleep(-1))  # negative is clamped, not an error
    assert clock.now_ms() >= now
