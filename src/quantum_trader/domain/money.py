"""Decimal helpers: money crosses every boundary as Decimal and leaves as Binance-style strings.

The one home of conversions into Decimal, so every edge converts alike:
- `to_decimal` for values off the wire, a file or the journal (text, int, Decimal), naming the field
  when one is not a number;
- `from_float` for floats out of numeric code (numpy arrays, vectorised maths): the shortest decimal
  that reads back as the same float, so 0.1 becomes 0.1 and never 0.1000000000000000055511151231257827.
Averages of fills are rounded the way Binance reports `avgPrice` (`average_price`), never left as an
unbounded division such as 2.942889225415646346178631267.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from enum import StrEnum
from typing import SupportsFloat

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
#: Binance reports an order's `avgPrice` with three decimals more than the symbol's `pricePrecision`
#: (BTCUSDT, pricePrecision 2: "38148.90000"; a 0.027 coin, pricePrecision 5: "0.02737000").
AVG_PRICE_EXTRA_DECIMALS = 3
#: Decimals of an average whose symbol precision is unknown (an order built without its instrument).
DEFAULT_AVG_PRICE_DECIMALS = 8


class Rounding(StrEnum):
    """Rounding direction on a tick/step grid. DOWN/UP are toward -inf/+inf, not toward zero."""

    DOWN = "down"
    UP = "up"
    NEAREST = "nearest"

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


#: Built once: `round_to_grid` runs tens of thousands of times a backtest (a dict per call showed up).
_DECIMAL_MODES = {Rounding.DOWN: ROUND_FLOOR, Rounding.UP: ROUND_CEILING, Rounding.NEAREST: ROUND_HALF_UP}


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
        return from_float(value, field)
    else:
        raise ValueError(f"{field}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return result


def from_float(value: SupportsFloat, field: str = "value") -> Decimal:
    """A float (Python or numpy) as the shortest decimal that round-trips to it; ValueError if not finite.

    `str` rather than `Decimal(value)`: the exact binary value of 0.1 is 0.1000000000000000055...,
    which no user typed and no exchange sends. numpy scalars print their own shortest form (a float32
    0.1 prints 0.1, not the float64 0.10000000149011612 it widens to).
    """
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a number, got a boolean")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{field}: {value!r} is not a finite number")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:  # a type whose text is not decimal (a Fraction prints 1/10)
        result = Decimal(repr(number))
    return result if result.is_finite() else Decimal(repr(number))


def average_price(total_quote: Decimal, total_qty: Decimal, price_precision: int | None) -> Decimal:
    """Quantity-weighted average price, rounded half-up as Binance's `avgPrice`: pricePrecision + 3 decimals.

    Zero when nothing filled (Binance's "0" avgPrice). The division runs at a wide precision so the
    single rounding to the reported decimals is the only one.
    """
    if total_qty == 0:
        return ZERO
    decimals = DEFAULT_AVG_PRICE_DECIMALS if price_precision is None else price_precision + AVG_PRICE_EXTRA_DECIMALS
    quantum = _QUANTA.get(decimals)
    if quantum is None:
        quantum = _QUANTA[decimals] = Decimal(1).scaleb(-decimals)
    return _WIDE.divide(total_quote, total_qty).quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE)


#: The wide context of `average_price`, made once (a `localcontext` per call was half its cost; an order's average
#: is read for every event and answer about it): the default context's rounding and traps at 60 digits.
_WIDE = Context(prec=60)
_QUANTA: dict[int, Decimal] = {}


def round_to_grid(value: Decimal, step: Decimal, rounding: Rounding, origin: Decimal = ZERO) -> Decimal:
    """Snap `value` onto origin + k*step in the given direction; a zero step leaves it unchanged."""
    if step == 0:
        return value
    quantize = _FRACTIONAL_STEPS.get(step)
    if quantize is None:  # a step seen first (the instruments' ticks and steps: a handful)
        exponent = step.as_tuple().exponent
        quantize = isinstance(exponent, int) and exponent < 0
        if len(_FRACTIONAL_STEPS) < _STEPS_KEPT:
            _FRACTIONAL_STEPS[step] = quantize
    units = ((value - origin) if origin else value) / step
    snapped = origin + units.to_integral_value(rounding=_DECIMAL_MODES[rounding]) * step  # + 0 turns -0 into 0
    return snapped.quantize(step) if quantize else snapped


#: Whether a step has decimals (its grid's values are quantized to it), by step: every price and quantity is
#: rounded here, and reading a step's exponent cost a third of the call.
_FRACTIONAL_STEPS: dict[Decimal, bool] = {}
_STEPS_KEPT = 4096


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


def price_text(value: Decimal | None) -> str:
    """A price as users read it (alerts, reasons in the journal): `fmt`, or `none` when there is none. A price
    rounded onto a tick such as BNBUSDT's `0.010` is Decimal('672.150'); it reads `672.15` like the rest."""
    return "none" if value is None else fmt(value)


#: Percentages keep two decimals, or two significant digits when smaller, up to this many places: a
#: 0.004 % loss must not print as "0 %".
PCT_MIN_PLACES, PCT_MAX_PLACES = 2, 8


def pct_text(value: Decimal) -> str:
    """A percentage as the API, the CLI and the dashboard show it: `-1.36`, `0.10`, `-0.0058`: two decimals, more
    for a figure under 0.1 so that it keeps two significant digits. Trailing zeros are kept: `fmt` dropped them,
    so 0.1033 % read `0.1` beside `-1.36` in the same column, and a small loss of the day read `0 %`."""
    places = PCT_MIN_PLACES if value == 0 else min(max(PCT_MIN_PLACES, 1 - value.adjusted()), PCT_MAX_PLACES)
    rounded = value.quantize(Decimal(1).scaleb(-places))
    return "0.00" if rounded == 0 else format(rounded, "f")  # not "-0.00000000" for a loss too small to show


def pct(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in percent; zero when the whole is zero (nothing to compare against)."""
    return ZERO if whole == 0 else part / whole * HUNDRED
