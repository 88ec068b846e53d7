"""domain/money.py as the one home of conversions: floats without binary artefacts, averages as Binance
reports `avgPrice` (pricePrecision + 3 decimals, half-up), wire values with the field named."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.domain.money import (
    AVG_PRICE_EXTRA_DECIMALS,
    DEFAULT_AVG_PRICE_DECIMALS,
    average_price,
    fmt,
    from_float,
    to_decimal,
)

D = Decimal


@pytest.mark.parametrize(("value", "text"), [
    (0.1, "0.1"), (0.3, "0.3"), (2.942889225415646, "2.942889225415646"), (600.02, "600.02"),
    (1e-7, "1E-7"), (123456789.125, "123456789.125"), (-0.5, "-0.5"), (3, "3"),
    (np.float64(0.1), "0.1"), (np.float32(0.1), "0.1"), (np.float64(1) / 3, "0.3333333333333333"),
    (Fraction(1, 10), "0.1"),
])
def test_from_float_is_the_shortest_decimal(value: object, text: str) -> None:
    result = from_float(value)  # type: ignore[arg-type]
    assert result == D(text) and str(result) == text
    assert result != D(0.1) or text != "0.1"  # not the binary value 0.1000000000000000055511151231257827


def test_a_plain_decimal_of_a_float_would_carry_the_binary_artefact() -> None:
    """What the helper exists to avoid: Decimal(0.1) is not 0.1."""
    assert str(D(0.1)).startswith("0.1000000000000000055")
    assert fmt(from_float(0.1)) == "0.1"
    assert fmt(from_float(np.float64(600.02) * 3)) == "1800.06"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan"), True])
def test_from_float_refuses_what_is_not_a_finite_number(bad: object) -> None:
    with pytest.raises(ValueError, match="close"):
        from_float(bad, "close")  # type: ignore[arg-type]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_from_float_round_trips_and_stays_short(value: float) -> None:
    result = from_float(value)
    assert float(result) == value
    assert len(result.as_tuple().digits) <= 17


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_values_keep_their_own_shortest_form(value: float) -> None:
    narrow = np.float32(value)
    assert np.float32(float(from_float(narrow))) == narrow
    assert len(from_float(narrow).as_tuple().digits) <= 9


def test_to_decimal_uses_the_same_float_rule_and_names_the_field() -> None:
    assert to_decimal(0.1) == from_float(0.1) == D("0.1")
    assert to_decimal("0.10") == D("0.10") and to_decimal(7) == D(7)
    with pytest.raises(ValueError, match="avgPrice"):
        to_decimal("abc", "avgPrice")
    with pytest.raises(ValueError, match="price: nan is not a finite number"):
        to_decimal(math.nan, "price")


def test_average_price_has_price_precision_plus_three_decimals() -> None:
    """BTCUSDT (pricePrecision 2): Binance shows avgPrice "38148.90000" for 0.003 filled for 114.4467."""
    btc = average_price(D("114.4467"), D("0.003"), 2)
    assert btc == D("38148.9") and str(btc) == "38148.90000"
    assert AVG_PRICE_EXTRA_DECIMALS == 3


def test_an_average_that_does_not_terminate_is_rounded_half_up() -> None:
    # 1 @ 2.94 + 2 @ 2.9443 + 4 @ 2.9428 = 20.5998 over 7 lots = 2.942828571428...
    avg = average_price(D("2.94") + 2 * D("2.9443") + 4 * D("2.9428"), D(7), 4)
    assert avg == D("2.9428286") and avg.as_tuple().exponent == -7
    assert average_price(D("10"), D("3"), 4) == D("3.3333333")
    assert average_price(D("20"), D("3"), 4) == D("6.6666667")  # half-up, not truncated
    assert average_price(D("0.0000005"), D(1), 3) == D("0.000001")  # an exact half goes up


def test_average_price_edge_cases() -> None:
    assert average_price(D(0), D(0), 2) == 0  # nothing filled: Binance's "0"
    unknown = average_price(D("10"), D("3"), None)
    assert unknown == D("3.33333333") and -unknown.as_tuple().exponent == DEFAULT_AVG_PRICE_DECIMALS  # type: ignore[operator]
    huge = average_price(D("123456789.123") * 3 + D("0.001"), D(3), 3)
    assert huge == D("123456789.123333")
