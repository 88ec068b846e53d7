"""`round_to_grid` (which remembers its steps), `average_price` (one wide context for every call) and `fmt` against
their definitions: the same value and the same text, -0 and exponents included, whatever they have seen before."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

from quantum_trader.domain.money import _DECIMAL_MODES, ZERO, Rounding, average_price, fmt, round_to_grid

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


@pytest.mark.parametrize("seed", range(3))
def test_fmt_is_binances_plain_text_of_the_value(seed: int) -> None:
    rng = random.Random(seed)
    values = [Decimal(v) for v in ("0", "-0", "0E-8", "1.50", "1.5", "1E+1", "10", "-0.00010", "1E-10")]
    values += [Decimal(rng.randint(-10**12, 10**12)).scaleb(-rng.randint(-3, 12)) for _ in range(5000)]
    values += [Decimal(str(v)) for v in values[:2000]]  # equal values spelled again (other exponents)
    rng.shuffle(values)
    for value in values * 2:  # the second time from memory
        want = "0" if value == 0 else format(value.normalize(), "f")
        assert fmt(value) == want, value
        assert "E" not in want and (want == "0" or not want.endswith("0") or "." not in want)


def test_average_price_is_the_wide_division_rounded_half_up_to_three_more_decimals() -> None:
    rng = random.Random(5)
    for _ in range(20000):
        quote = Decimal(rng.randint(1, 10**12)).scaleb(-rng.randint(0, 10))
        qty = Decimal(rng.randint(1, 10**9)).scaleb(-rng.randint(0, 6))
        precision = rng.choice([None, 0, 1, 2, 4, 7])
        with localcontext() as ctx:
            ctx.prec = 60
            want = (quote / qty).quantize(Decimal(1).scaleb(-(8 if precision is None else precision + 3)),
                                          rounding=ROUND_HALF_UP)
        got = average_price(quote, qty, precision)
        assert (got, str(got)) == (want, str(want)), (quote, qty, precision)
    assert average_price(Decimal(5), ZERO, 2) == ZERO
