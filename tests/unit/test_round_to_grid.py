"""`round_to_grid` against its definition (origin + k * step, quantized to a fractional step): the same value and
the same text, -0 and exponents included, whatever steps it has seen before."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from quantum_trader.domain.money import _DECIMAL_MODES, ZERO, Rounding, round_to_grid

STEPS = [Decimal(s) for s in ("0.010", "0.1", "1", "10", "0.00001", "5", "1E+1", "0.50", "0.001")]


def by_definition(value: Decimal, step: Decimal, rounding: Rounding, origin: Decimal) -> Decimal:
    units = ((value - origin) / step).to_integral_value(rounding=_DECIMAL_MODES[rounding])
    snapped = origin + units * step
    exponent = step.as_tuple().exponent
    return snapped.quantize(step) if isinstance(exponent, int) and exponent < 0 else snapped


@pytest.mark.parametrize("seed", range(3))
def test_round_to_grid_is_its_definition_to_the_last_digit(seed: int) -> None:
    rng = random.Random(seed)
    values = [Decimal(0), Decimal("-0"), Decimal("-0.000"), Decimal("1E+3"), Decimal("1.2E+5"), Decimal("-7.50")]
    values += [Decimal(rng.randint(-10**9, 10**9)) / Decimal(10 ** rng.randint(0, 8)) for _ in range(2000)]
    for value in values:
        for step in rng.sample(STEPS, len(STEPS)):  # the memo of steps filled in any order
            for rounding in Rounding:
                for origin in (ZERO, Decimal("0.003"), Decimal("-2")):
                    got = round_to_grid(value, step, rounding, origin)
                    want = by_definition(value, step, rounding, origin)
                    assert (got, str(got)) == (want, str(want)), (value, step, rounding, origin)


def test_a_zero_step_leaves_the_value() -> None:
    assert str(round_to_grid(Decimal("1.23456"), Decimal(0), Rounding.DOWN)) == "1.23456"
