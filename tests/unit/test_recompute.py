"""A whole-journal reading of a running bot (stop audit, readiness) is kept while nothing moved, recomputed
after a change no sooner than 2 s or 20 times its own cost, and refreshed every minute all the same."""

from __future__ import annotations

from quantum_trader.readmodels.recompute import COST_FACTOR, MAX_AGE_S, MIN_AGE_S, Recomputed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reading(clock: Clock, cost_s: float = 0.0) -> tuple[Recomputed[int], list[int], list[int]]:
    """A reading whose computation takes `cost_s` of `clock`, counting its computations; and its revision."""
    computed: list[int] = []
    revision = [0]

    def compute() -> int:
        clock.now += cost_s
        computed.append(revision[0])
        return len(computed)

    return Recomputed(compute, lambda: revision[0], clock), computed, revision


def test_kept_while_the_revision_stands_and_refreshed_after_a_minute() -> None:
    clock = Clock()
    memo, computed, _ = reading(clock)
    assert (memo.get(), memo.get()) == (1, 1)
    clock.now += MAX_AGE_S - 0.1
    assert memo.get() == 1
    clock.now += 0.2
    assert memo.get() == 2 and len(computed) == 2


def test_a_change_is_read_once_the_minimum_age_has_passed() -> None:
    clock = Clock()
    memo, computed, revision = reading(clock)
    memo.get()
    revision[0] = 1
    clock.now += MIN_AGE_S / 2
    assert memo.get() == 1  # too soon: the dashboard asks every 1.5 s while the bot trades
    clock.now += MIN_AGE_S
    assert memo.get() == 2 and computed == [0, 1]


def test_a_costly_reading_waits_twenty_times_its_cost() -> None:
    clock = Clock()
    memo, computed, revision = reading(clock, cost_s=1.0)  # a journal of ten thousand trades
    memo.get()
    revision[0] = 1
    clock.now += COST_FACTOR * 1.0 - 1.5  # measured from the start of the computation, which took 1 s
    assert memo.get() == 1
    clock.now += 1.0
    assert memo.get() == 2 and len(computed) == 2
