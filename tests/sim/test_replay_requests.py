"""The bars a backtest asks the replay to stop at, less the symbols it muted.

Muting is how the backtest skips bars where a signal cannot lead anywhere (the symbol already holds a
position, or every slot is taken): a muted symbol's requests must stop nothing, an unmuted one's must
stop the replay again from the bar where it was unmuted, and a mute must never hide another symbol's
request at the same bar.
"""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.sim.replay_requests import NEVER, StopRequests

SYMBOLS = {"AAA": 0, "BBB": 1, "CCC": 2}


def requests_at(n_bars: int, cells: list[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros((n_bars, len(SYMBOLS)), np.bool_)
    for t, s in cells:
        mask[t, s] = True
    return mask


def stops(requests: StopRequests, mask: np.ndarray) -> list[int]:
    """Every bar the replay would stop at, walking the chunk as `steps` does."""
    plan = requests.plan(mask, len(mask))
    found, t = [], 0
    while (bar := requests.next_stop(plan, t)) != NEVER:
        found.append(bar)
        t = bar + 1
    return found


def test_without_mutes_every_requested_bar_stops_the_replay() -> None:
    mask = requests_at(10, [(2, 0), (2, 1), (5, 2), (9, 0)])
    assert stops(StopRequests(SYMBOLS), mask) == [2, 5, 9]
    assert StopRequests(SYMBOLS).next_stop(None, 0) == NEVER  # nothing requested


def test_a_muted_symbol_stops_nothing_and_hides_no_other_symbol() -> None:
    requests = StopRequests(SYMBOLS)
    requests.mute({"AAA"})
    mask = requests_at(10, [(2, 0), (2, 1), (5, 0), (9, 2)])
    assert stops(requests, mask) == [2, 9]  # bar 2 for BBB; bar 5 was AAA's only
    plan = requests.plan(mask, 10)
    assert plan is not None
    assert requests.wanted_at(plan, 2).tolist() == [1]


def test_a_mute_changed_mid_chunk_applies_from_that_bar_on() -> None:
    requests = StopRequests(SYMBOLS)
    mask = requests_at(12, [(1, 0), (4, 0), (7, 1), (10, 0)])
    plan = requests.plan(mask, 12)
    assert plan is not None
    assert requests.next_stop(plan, 0) == 1
    requests.mute({"AAA"})  # e.g. AAA's entry filled at bar 1
    assert requests.next_stop(plan, 2) == 7
    requests.mute(set())  # AAA stopped out at bar 7: its signals count again
    assert requests.next_stop(plan, 8) == 10
    assert requests.wanted_at(plan, 10).tolist() == [0]


def test_a_request_mask_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"stops must have the chunk's shape \(5, 3\)"):
        StopRequests(SYMBOLS).plan(np.zeros((5, 2), np.bool_), 5)


def test_every_symbol_muted_stops_nothing_until_one_is_unmuted() -> None:
    requests = StopRequests(SYMBOLS)
    mask = requests_at(10, [(1, 0), (3, 1), (6, 2), (8, 0)])
    plan = requests.plan(mask, 10)
    requests.mute({"AAA", "BBB", "CCC"})
    assert requests.next_stop(plan, 2) == NEVER
    requests.mute({"AAA", "BBB"})
    assert requests.next_stop(plan, 2) == 6
    requests.mute(set())
    assert requests.next_stop(plan, 7) == 8


@pytest.mark.parametrize("seed", range(40))
def test_next_stop_is_the_first_unmuted_request_whatever_the_mutes_before(seed: int) -> None:
    """Against the definition, over random masks and random mutes (none, some, all) as a walk goes on."""
    rng = np.random.default_rng(seed)
    names = list(SYMBOLS)
    mask = rng.random((60, len(SYMBOLS))) < 0.08
    requests = StopRequests(SYMBOLS)
    plan = requests.plan(mask, len(mask))
    t = 0
    while t < len(mask):
        muted = {name for name in names if rng.random() < 0.5}
        requests.mute(muted)
        live = [SYMBOLS[name] for name in names if name not in muted]
        expected = next((bar for bar in range(t, len(mask)) if mask[bar, live].any()), NEVER)
        assert requests.next_stop(plan, t) == expected
        t += int(rng.integers(1, 6))
