"""Where a position's stop-loss and take-profit go: a fixed % from the entry, on the tick grid.

Rounded toward the entry, so rounding can only shrink the planned loss (the stop is never further
away than configured); risk sizes with these prices and execution places exactly them.
"""

from __future__ import annotations

from decimal import Decimal

from .events import Direction
from .instrument import Instrument
from .money import Rounding

HUNDRED = Decimal(100)


def protection_prices(inst: Instrument, direction: Direction, entry: Decimal,
                      stop_pct: Decimal, take_pct: Decimal) -> tuple[Decimal, Decimal]:
    """SL and TP at the configured distances, rounded toward the entry (the stop never further away)."""
    sign = direction.sign
    stop_raw = entry * (1 - sign * stop_pct / HUNDRED)
    take_raw = entry * (1 + sign * take_pct / HUNDRED)
    toward_entry = Rounding.UP if direction is Direction.LONG else Rounding.DOWN
    away = Rounding.DOWN if direction is Direction.LONG else Rounding.UP
    return inst.round_price(stop_raw, toward_entry), inst.round_price(take_raw, away)
