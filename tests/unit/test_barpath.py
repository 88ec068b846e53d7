"""The intra-bar path rule: nearer extreme first, documented ties, exact crossings, gaps fill at the open."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.sim.barpath import (
    FALLING,
    RISING,
    first_touch,
    intrabar_path,
    low_first_mask,
    segment_crossing,
    visits_low_first,
)

D = Decimal


@pytest.mark.parametrize(
    ("bar", "expected"),
    [
        pytest.param((100, 101, 98, 99), (100, 101, 98, 99), id="high-nearer"),
        pytest.param((100, 103, 99.5, 102), (100, 99.5, 103, 102), id="low-nearer"),
        pytest.param((100, 102, 98, 101), (100, 98, 102, 101), id="tie-up-close-goes-low-first"),
        pytest.param((100, 102, 98, 99), (100, 102, 98, 99), id="tie-down-close-goes-high-first"),
        pytest.param((100, 102, 98, 100), (100, 98, 102, 100), id="tie-doji-goes-low-first"),
        pytest.param((100, 100, 100, 100), (100, 100, 100, 100), id="flat"),
        pytest.param((100, 100, 97, 98), (100, 100, 97, 98), id="open-at-high"),
    ],
)
def test_intrabar_path_table(bar: tuple[float, ...], expected: tuple[float, ...]) -> None:
    floats = tuple(float(x) for x in bar)
    assert intrabar_path(*floats) == tuple(float(x) for x in expected)
    decimals = tuple(D(str(x)) for x in bar)
    path = intrabar_path(*decimals)
    assert path == tuple(D(str(x)) for x in expected)
    assert all(isinstance(p, Decimal) for p in path)


@st.composite
def ohlc(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """A consistent OHLC bar on an integer grid, so ties happen often."""
    o, c = draw(st.integers(90, 110)), draw(st.integers(90, 110))
    h = max(o, c) + draw(st.integers(0, 5))
    lo = min(o, c) - draw(st.integers(0, 5))
    return o, h, lo, c


@given(ohlc())
def test_path_starts_at_open_ends_at_close_and_visits_both_extremes(bar: tuple[int, int, int, int]) -> None:
    o, h, lo, c = (D(x) for x in bar)
    path = intrabar_path(o, h, lo, c)
    assert path[0] == o
    assert path[3] == c
    assert {path[1], path[2]} == {h, lo}
    # The first leg is never the longer one.
    assert abs(path[1] - o) <= abs(path[2] - o)


@given(st.lists(ohlc(), min_size=1, max_size=30))
def test_low_first_mask_is_the_scalar_rule(bars: list[tuple[int, int, int, int]]) -> None:
    arr = np.array(bars, dtype=np.float64)
    mask = low_first_mask(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
    assert mask.tolist() == [visits_low_first(*(float(x) for x in bar)) for bar in bars]


@given(ohlc(), st.integers(80, 120), st.sampled_from([RISING, FALLING]))
def test_crossing_exists_exactly_when_the_range_reaches_the_trigger(
    bar: tuple[int, int, int, int], trigger: int, direction: int
) -> None:
    o, h, lo, c = bar
    index = segment_crossing(intrabar_path(o, h, lo, c), trigger, direction)
    reachable = h >= trigger if direction == RISING else lo <= trigger
    assert (index is not None) == reachable


def test_gap_through_trigger_fills_at_open() -> None:
    # Previous close 100, SELL stop at 99, bar opens at 97 (a gap): fill at the open, not at 99.
    path = intrabar_path(D(97), D(98), D(96), D(97.5))
    assert segment_crossing(path, D(99), FALLING) == 0
    assert first_touch(path, D(99), FALLING) == (0, D(97))


def test_crossing_inside_a_segment_fills_at_the_trigger() -> None:
    # open 100 → high 101 → low 95 → close 96: the fall through 98 happens on segment 1 → 2.
    path = intrabar_path(D(100), D(101), D(95), D(96))
    assert segment_crossing(path, D(98), FALLING) == 2
    assert first_touch(path, D(98), FALLING) == (2, D(98))
    assert segment_crossing(path, D("100.5"), RISING) == 1
    assert first_touch(path, D(102), RISING) is None


def test_nearer_extreme_decides_which_of_stop_and_take_profit_fires_first() -> None:
    # A long with stop 98 and take-profit 102 in a bar that reaches both: the nearer extreme wins.
    low_near = intrabar_path(100.0, 103.0, 98.0, 101.0)
    assert segment_crossing(low_near, 98.0, FALLING) == 1
    assert segment_crossing(low_near, 102.0, RISING) == 2
    high_near = intrabar_path(100.0, 102.0, 97.0, 99.0)
    assert segment_crossing(high_near, 102.0, RISING) == 1
    assert segment_crossing(high_near, 98.0, FALLING) == 2


def test_invalid_direction_is_rejected() -> None:
    with pytest.raises(ValueError, match="direction"):
        segment_crossing((1.0, 2.0, 0.5, 1.5), 1.0, 0)
