"""Decimal helpers: money crosses every boundary as Decimal and leaves as Binance-style strings."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class Rounding(StrEnum):
    """Rounding direction on a tick/step grid. DOWN/UP are toward -inf/+inf, not toward zero."""

    DOWN = "down"
    UP = "up"
    NEAREST = "nearest"

    @property
    def decimal_mode(self) -> str:
        return {Rounding.DOWN: ROUND_FLOOR, Rounding.UP: ROUND_CEILING, Rounding.NEAREST: ROUND_HALF_UP}[self]


def to_decimal(value: object, field: str = "value") -> Decimal:
    """Parse a wire value (str, int, Decimal; floats via their shortest repr) or raise ValueError naming it."""
    if type(value) is str:  # the common case first: a clean decimal string off the wire
        try:
            result = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if result.is_finite():
                return result
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"{field}: expected a number, got a boolean")
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"{field}: {value!r} is not a number") from exc
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise ValueError(f"{field}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return result


def round_to_grid(value: Decimal, step: Decimal, rounding: Rounding, origin: Decimal = ZERO) -> Decimal:
    """Snap `value` onto origin + k*step in the given direction; a zero step leaves it unchanged."""
    if step == 0:
        return value
    units = ((value - origin) / step).to_integral_value(rounding=rounding.decimal_mode)
    snapped = origin + units * step
    exponent = step.as_tuple().exponent
    return snapped.quantize(step) if isinstance(exponent, int) and exponent < 0 else snapped


def on_grid(value: Decimal, step: Decimal, origin: Decimal = ZERO) -> bool:
    return step == 0 or (value - origin) % step == 0


def decimals_of(value: Decimal) -> int:
    """Number of significant decimal places (trailing zeros do not count: 1.2300 has 2)."""
    exponent = value.normalize().as_tuple().exponent
    if not isinstance(exponent, int):
        return 0
    return max(0, -exponent)


def fmt(value: Decimal) -> str:
    """Binance-style decimal string: plain notation, no exponent, no trailing zeros ("0" for zero)."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def pct(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in percent; zero when the whole is zero (nothing to compare against)."""
    return ZERO if whole == 0 else part / whole * HUNDRED
