"""The server's clock, shiftable by hand: the chaos of a machine whose clock is off the exchange's.

Binance signs requests against its own clock (binance_futures.md §5.3), and a machine's clock drifts or steps
(no NTP, a suspended VM, an NTP correction). `POST /sim/v1/clock {"offset_ms": N}` (routes_control.py) moves
this server's time N ms from the clock it was built with, so a client 3 s fast (N = -3000) or 7 s slow
(N = 7000) meets exactly the -1021 refusals Binance would give it. Only the time requests are signed against,
`serverTime`, and the simulator's own time (which follows it, never going back) move: the IP's weight and
order-rate windows keep the unshifted clock, as those limits are not about whose clock is right.
"""

from __future__ import annotations

from collections.abc import Callable

#: A shift of more than a day is a typo, not a clock.
MAX_OFFSET_MS = 86_400_000


class ShiftedClock:
    """`base()` plus `offset_ms` (0 until a test or the chaos campaign sets it)."""

    def __init__(self, base: Callable[[], int]) -> None:
        self.base = base
        self.offset_ms = 0

    def __call__(self) -> int:
        return self.base() + self.offset_ms
