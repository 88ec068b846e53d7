"""The intra-bar path rule: which prices a bar visits, in which order, and what that means for fills.

A bar only tells us four prices. To decide whether a stop or a take-profit triggered inside it, and at
what price it fills, the simulator assumes the bar travelled along a fixed path through them:

    open → nearer extreme → farther extreme → close

where "nearer" is the extreme (high or low) closer to the open. It is the shortest path that visits
both extremes, and it beats a fixed O→H→L→C order because a price usually reaches the nearby extreme
first; a fixed order would make every bar's high come first, biasing which of a long's stop and
take-profit fires.

Ties (|open − high| == |open − low|) go to the extreme *opposite* the close: an up-close bar visits the
low first and a down-close bar the high first, so the bar finishes on its way towards the close
(O→L→H→C for up bars, O→H→L→C for down bars, the classic OHLC convention). A symmetric doji
(close == open) visits the low first; the choice is arbitrary but fixed, and it means a long's
stop-loss below fires before its take-profit above — the pessimistic outcome for a long.

Between the four points the price moves *continuously* (each segment is monotone), so a trigger that
lies inside a segment is crossed there and a stop-market fills at the trigger (plus the slippage the
liquidity model adds). The jump from the previous bar's close to this bar's open is different: it is
a *gap*, no trade happened in between, so a trigger crossed by the gap fills at the open — exactly
what a stop-market on Binance does when the market jumps through it (binance_futures.md §2.4).

This rule is what makes bar backtests see the same triggers ticks would: every tick path inside a bar
touches the high and the low, so a trigger within [low, high] is crossed by ticks and by the path;
only *which* of two triggers fires first inside one bar depends on the assumed order, and that is
decided here, in one place.

The functions are pure and generic over the numeric type: the engine replays triggering bars in
`Decimal`, the vectorised search uses `float`. `low_first_mask` is the same rule over numpy arrays.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import numpy as np
import numpy.typing as npt

Num = TypeVar("Num", float, Decimal)

#: Directions of a trigger condition: RISING means "P ≥ trigger", FALLING means "P ≤ trigger".
RISING = 1
FALLING = -1


def visits_low_first(open_: Num, high: Num, low: Num, close: Num) -> bool:
    """True when the path goes open → low → high → close (see the module docstring for the tie rule)."""
    to_high = high - open_
    to_low = open_ - low
    if to_low != to_high:
        return to_low < to_high
    return close >= open_


def intrabar_path(open_: Num, high: Num, low: Num, close: Num) -> tuple[Num, Num, Num, Num]:
    """The four vertices of the bar's assumed path: open, nearer extreme, farther extreme, close."""
    if visits_low_first(open_, high, low, close):
        return (open_, low, high, close)
    return (open_, high, low, close)


def low_first_mask(
    open_: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """`visits_low_first` over arrays of any (equal) shape; NaN bars come out False."""
    to_high = high - open_
    to_low = open_ - low
    tie = to_low == to_high
    return np.where(tie, close >= open_, to_low < to_high)


def _meets(price: Num, trigger: Num, direction: int) -> bool:
    return price >= trigger if direction == RISING else price <= trigger


def segment_crossing(path: tuple[Num, Num, Num, Num], trigger: Num, direction: int) -> int | None:
    """Index of the first path vertex at which the condition holds, or None if the bar never meets it.

    `direction` is RISING for "P ≥ trigger" and FALLING for "P ≤ trigger". Index 0 means the open
    already meets it: the trigger was crossed by the gap from the previous close. Index i ≥ 1 means it
    was crossed inside segment path[i-1] → path[i]; because segments are monotone and the previous
    vertex did not meet the condition, checking the vertices is exact.
    """
    if direction not in (RISING, FALLING):
        raise ValueError(f"direction must be +1 (P >= trigger) or -1 (P <= trigger), got {direction}")
    for index, price in enumerate(path):
        if _meets(price, trigger, direction):
            return index
    return None


def first_touch(path: tuple[Num, Num, Num, Num], trigger: Num, direction: int) -> tuple[int, Num] | None:
    """Where the trigger is first met and the price a market order fills at before slippage.

    A gap (index 0) fills at the open, which is beyond the trigger; a crossing inside a segment fills
    at the trigger itself, because the price passed through it continuously.
    """
    index = segment_crossing(path, trigger, direction)
    if index is None:
        return None
    return (index, path[0] if index == 0 else trigger)
